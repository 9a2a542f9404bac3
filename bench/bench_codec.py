"""Decoding layers of a scan: median time and heap per call, under MicroPython.

Run (from the repo root):
    MICROPYPATH=firmware:.frozen micropython -X heapsize=4m bench/bench_codec.py

Measures, on a representative GG1 pass built here with the firmware's own
encoder (random kid/cti/signature bytes, fixed seed):
  unwrap       qr.unwrap of the QR text (prefix + base45 [+ inflate])
  cbor.loads   the CWT claims (~100 bytes)
  cose         parse_sign1 + sig_structure of the COSE_Sign1
Heap: bytes allocated by one call with the GC disabled (an upper bound of
the call's peak heap use), and the GC heap the imports take (source
modules; frozen modules on the device take next to none).
"""
import gc
import time
from binascii import unhexlify

gc.collect()
_HEAP0 = gc.mem_alloc()
from codec import base45, cbor, inflate  # noqa: E402,F401  (inflate: its import cost too)
from verify import cose, qr  # noqa: E402

gc.collect()
IMPORT_HEAP = gc.mem_alloc() - _HEAP0

RUNS = 500
_ZLIB_PASS = (
    "78dabbd4e2bb88519dc5a332e7afc07fc9f5090b22d2973166b9bbeb7a38fb3aebba98b3"
    "4825e6ec6460954a74ab6d600393ec0177585257c9af958dbaf5748db45cbc708115032303"
    "c34a4646a664bf30476649f6832c4d4c929e07589b18a4125d7518d89a1818d8253d4f7164"
    "077bf807e81a00818911274384832ccb9a2db24cda6e15c5569feec7afdbce1179f19da5c0"
    "698fa95bcf746a0afe67db96a477dfe6a7e95fef291aa7386b5c3633c54d8bdffc2a77cd15"
    "ddc6bcccf50f9e0100495b425f"
)


def _bytes(n, seed=[12345]):
    # Tiny LCG so the bench does not depend on the `random` module.
    out = bytearray(n)
    s = seed[0]
    for i in range(n):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = s >> 16 & 0xFF
    seed[0] = s
    return bytes(out)


def build_pass():
    claims = {
        1: "GG-HCMC-D7",
        4: 1634515200,
        5: 1632009600,
        6: 1632009600,
        7: _bytes(16),
        -65537: {1: 1, 2: "NVA", 3: 1985, 4: [2, 18880], 5: [0, 1631923200], 6: [0, 0],
                 7: 18890, 8: "SHOP-000042", 9: 0},
    }
    payload = cbor.dumps(claims)
    protected = cbor.dumps({1: -8, 4: _bytes(8)})
    sign1 = cbor.dumps(cbor.Tag(18, [protected, {}, payload, _bytes(64)]))
    return payload, sign1


def median_us(fn, arg):
    times = []
    for _ in range(RUNS):
        gc.collect()
        t0 = time.ticks_us()
        fn(arg)
        times.append(time.ticks_diff(time.ticks_us(), t0))
    times.sort()
    return times[len(times) // 2]


def alloc_bytes(fn, arg):
    gc.collect()
    gc.disable()
    try:
        m0 = gc.mem_alloc()
        fn(arg)
        return gc.mem_alloc() - m0
    finally:
        gc.enable()


def cose_step(data):
    s = cose.parse_sign1(data)
    return cose.sig_structure(s)


def main():
    payload, sign1 = build_pass()
    raw_text = "GG1:" + base45.b45encode(sign1)
    # The zlib form of the same pass (zlib.compress(sign1, 9) made once by
    # CPython: most MicroPython builds cannot compress). Random kid/cti/
    # signature bytes do not compress, so an issuer would send this pass
    # raw; the row shows what the inflate path costs anyway.
    zl_text = None
    body = unhexlify(_ZLIB_PASS)
    if qr.unwrap("GG1:" + base45.b45encode(body)) == sign1:
        zl_text = "GG1:" + base45.b45encode(body)
    else:
        print("zlib sample does not match the pass: zlib row skipped")

    rows = [
        ("unwrap raw (%d chars)" % len(raw_text), qr.unwrap, raw_text),
        ("cbor.loads CWT (%d B)" % len(payload), cbor.loads, payload),
        ("parse_sign1+sig_structure (%d B)" % len(sign1), cose_step, sign1),
    ]
    if zl_text:
        rows.insert(1, ("unwrap zlib (%d chars)" % len(zl_text), qr.unwrap, zl_text))
    total = 0
    print("%-36s %10s %12s" % ("layer", "median us", "alloc bytes"))
    for name, fn, arg in rows:
        t = median_us(fn, arg)
        a = alloc_bytes(fn, arg)
        if not name.startswith("unwrap zlib"):
            total += t
        print("%-36s %10d %12d" % (name, t, a))
    print("%-36s %10d" % ("total (raw unwrap + loads + cose)", total))
    print("heap taken by importing the five modules: %d bytes" % IMPORT_HEAP)


main()
