"""Benchmark the device's ECDSA P-256 / SHA-256 verify (crypto/p256.py).

    python3 bench/bench_p256.py [runs]

The host signs a 236-byte message with `cryptography` (a fixed key), writes
key and signature as a small module beside the firmware's crypto/ compiled to
.mpy (-march=x64, a temp folder: the device runs compiled or frozen code) and
runs this file under `micropython -m bench_p256 device time|memory`.
Under MicroPython: median and min of `runs` calls (time.ticks_us) of
verify_prepared(), verify() and prepare(), with a 256 KB heap so the GC works
as on a small device; then, with an 8 MB heap, the bytes allocated by one
call (gc.mem_alloc delta, GC off: an upper bound of its peak) and the
smallest free heap one call succeeds in (bench/mpy_heap.py headroom: its
real peak). The ESP32 column is the unix-port time x 70 (58-97x,
docs/benchmarks.md).
"""

import sys

MSG = b"GG1 benchmark message of a typical COSE Sig_structure size" * 4  # 236 bytes
D = 0x1F2E3D4C5B6A79880F1E2D3C4B5A69788796A5B4C3D2E1F00112233445566778


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def device_part(mode, runs):
    import gc
    import time

    from crypto import p256

    from bench_p256_vectors import PK, SIG

    key = p256.prepare(PK)
    assert p256.verify_prepared(key, SIG, MSG) and p256.verify(PK, SIG, MSG)
    assert not p256.verify_prepared(key, SIG, MSG[:-1])
    out = {}
    calls = (("verify_prepared", lambda: p256.verify_prepared(key, SIG, MSG)),
             ("verify", lambda: p256.verify(PK, SIG, MSG)),
             ("prepare", lambda: p256.prepare(PK)))
    if mode == "time":
        for name, fn in calls:
            ts = []
            for _ in range(runs):
                t = time.ticks_us()
                fn()
                ts.append(time.ticks_diff(time.ticks_us(), t))
            out[name + "_us"] = median(ts)
            out[name + "_min_us"] = min(ts)
        return out
    from mpy_heap import headroom

    for name, fn in calls:
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        fn()
        out[name + "_alloc_bytes"] = gc.mem_alloc() - before
        gc.enable()
        out[name + "_headroom_bytes"] = headroom(fn)
    gc.collect()
    before = gc.mem_alloc()
    keep = p256.prepare(PK)
    gc.collect()
    out["resident_per_key_bytes"] = gc.mem_alloc() - before
    del keep
    return out


def host_main(runs):
    import json
    import os
    import subprocess
    import tempfile
    import time
    from pathlib import Path

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from greengate.paths import tool

    mpy_cross, micropython = tool("mpy-cross"), tool("micropython")
    here = Path(__file__).resolve().parent
    priv = ec.derive_private_key(D, ec.SECP256R1())
    pub = priv.public_key()
    pk = pub.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    der = priv.sign(MSG, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")

    tmp = Path(tempfile.mkdtemp(prefix="bench_p256_"))
    (tmp / "src").mkdir()
    (tmp / "crypto").mkdir()
    vectors = tmp / "src" / "bench_p256_vectors.py"
    vectors.write_text("PK = %r\nSIG = %r\n" % (pk, sig))
    for src in (here.parent / "firmware" / "crypto").glob("*.py"):
        subprocess.run([mpy_cross, "-march=x64", str(src), "-o", str(tmp / "crypto" / (src.stem + ".mpy"))],
                       check=True)
    for src in (vectors, here / "bench_p256.py", here / "mpy_heap.py"):
        subprocess.run([mpy_cross, "-march=x64", str(src), "-o", str(tmp / (src.stem + ".mpy"))], check=True)
    env = dict(os.environ, MICROPYPATH=":".join([str(tmp), ".frozen"]))
    dev = {}
    for mode, heap in (("time", "256k"), ("memory", "8m")):
        proc = subprocess.run([micropython, "-X", "heapsize=" + heap, "-m", "bench_p256", "device", mode,
                               str(runs)], capture_output=True, text=True, env=env)
        if proc.returncode:
            sys.exit(proc.stderr)
        dev.update(json.loads(proc.stdout.strip().splitlines()[-1]))

    ts = []
    for _ in range(200):
        t = time.perf_counter()
        pub.verify(der, MSG, ec.ECDSA(hashes.SHA256()))
        ts.append(time.perf_counter() - t)
    openssl_us = median(ts) * 1e6

    print("P-256 verify, MicroPython unix port (x64 .mpy), median of %d (min)" % runs)
    for name in ("verify_prepared", "verify", "prepare"):
        us = dev[name + "_us"]
        print("  %-16s %7.2f ms (min %.2f)  ESP32 ~%4.0f ms (%.0f-%.0f)" % (
            name, us / 1000, dev[name + "_min_us"] / 1000, us * 70 / 1000, us * 58 / 1000, us * 97 / 1000))
    for name in ("verify_prepared", "verify", "prepare"):
        print("  %-16s allocated %6d B, runs in %6d B of free heap" % (
            name, dev[name + "_alloc_bytes"], dev[name + "_headroom_bytes"]))
    print("  resident PreparedKey: %d B; OpenSSL (cryptography) verify on CPython: %.0f us" % (
        dev["resident_per_key_bytes"], openssl_us))


if __name__ == "__main__":
    if sys.implementation.name == "micropython":
        print(__import__("json").dumps(device_part(sys.argv[2], int(sys.argv[3]))))
    else:
        host_main(int(sys.argv[1]) if len(sys.argv) > 1 else 51)
