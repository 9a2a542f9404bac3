"""Benchmark an EU DCC check on the device code (issue 13, docs/benchmarks.md).

    python3 bench/bench_dcc.py [--runs N] [--keys 1000] [--mpy32]

Host part: a test DSC per algorithm (ES256, PS256-2048, PS256-4096) plus
`--keys` other signers in one GGDT table file (greengate/dcc/table.py), one
vaccination DCC per DSC (greengate/dcc/issue.py). Device part, this file
under MicroPython (firmware from source, -X heapsize=256k; --mpy32: the
32-bit build of tests/mpy32.py, as on an ESP32), median and min of N runs:
  - verify only: crypto/p256.verify, crypto/rsa_pss.check (SALT_AUTO) on the
    DCC's own Sig_structure;
  - scan to verdict: DccVerifier.check(text, now) = HC1 decode + table
    lookup on flash + signature + claims;
  - heap: bytes allocated by one check (gc off) and the smallest free heap
    it runs in (bench/mpy_heap.headroom), modules already imported;
  - RAM resident of the opened table (gc.mem_free before/after), and the
    table's flash bytes per signer.
"""

import sys


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def device_part(path, runs):
    import gc
    import json
    import time

    from mpy_heap import headroom

    req = json.loads(open(path).read())
    from crypto import p256, rsa_pss
    from verify import dsc, hc1
    from verify.dcc import DccVerifier

    gc.collect()
    before = gc.mem_free()
    trust = dsc.open_files(req["table"])
    gc.collect()
    out = {"table_ram": before - gc.mem_free(), "keys": trust.key_count()}
    v = DccVerifier(req["table"])
    now = req["now"]
    for name, text in req["texts"].items():
        r = v.check(text, now)
        if r.reason != 0:
            raise SystemExit("%s does not verify: %d" % (name, r.reason))
        _, d = hc1.decode(text)
        s = trust.lookup(d["kid"])
        tbs = hc1.to_be_signed(d)
        sig = d["signature"]
        if s.alg == -7:
            verify = lambda: p256.verify(s.key, sig, tbs)  # noqa: E731
        else:
            verify = lambda: rsa_pss.check(s.key, 65537, sig, tbs, rsa_pss.SALT_AUTO) == 0  # noqa: E731
        for label, fn in (("verify", verify), ("scan", lambda: v.check(text, now).reason == 0)):
            ts = []
            for _ in range(runs):
                t = time.ticks_us()
                fn()
                ts.append(time.ticks_diff(time.ticks_us(), t))
            out["%s_%s" % (label, name)] = median(ts)
            out["%s_%s_min" % (label, name)] = min(ts)
        gc.collect()
        gc.disable()
        a = gc.mem_alloc()
        v.check(text, now)
        out["alloc_" + name] = gc.mem_alloc() - a
        gc.enable()
        out["headroom_" + name] = headroom(lambda: v.check(text, now).reason == 0, top=96 * 1024)
    print(json.dumps(out))


def host_main():
    import argparse
    import json
    import os
    import subprocess
    import tempfile
    import time
    from pathlib import Path

    here = Path(__file__).resolve().parent
    repo = here.parent
    sys.path[:0] = [str(repo), str(repo / "tests")]
    from dcc_kit import fake_signers
    from greengate.dcc import issue, table, trustlist
    from greengate.paths import tool

    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=51)
    ap.add_argument("--keys", type=int, default=1000)
    ap.add_argument("--mpy32", action="store_true", help="the 32-bit build (tests/mpy32.py)")
    args = ap.parse_args()
    if args.mpy32:
        import mpy32

        micropython = str(mpy32.interpreter())
    else:
        micropython = tool("micropython")
    now = int(time.time())
    dscs = {"es256": issue.make_dsc(issue.ES256, "VN"), "ps2048": issue.make_dsc(issue.PS256, "VN"),
            "ps4096": issue.make_dsc(issue.PS256, "DE", rsa_bits=4096)}
    signers = [trustlist.signer_from_der(d.der, d.country) for d in dscs.values()]
    signers += fake_signers(max(0, args.keys - len(signers)), seed=7, rsa_every=20)
    data = table.table_bytes(signers, 1)
    texts = {k: issue.sign_hc1(issue.dcc_payload("v", d.country, now - 3600, now + 86400 * 300,
                                                 "URN:UVCI:01:VN:BENCH%s" % k), d) for k, d in dscs.items()}
    tmp = tempfile.TemporaryDirectory(prefix="bench_dcc_")
    tp = Path(tmp.name) / "table.bin"
    tp.write_bytes(data)
    req = Path(tmp.name) / "req.json"
    req.write_text(json.dumps({"table": str(tp), "now": now, "texts": texts}))
    env = dict(os.environ, MICROPYPATH=":".join([str(here), str(repo / "firmware"), ".frozen"]))
    proc = subprocess.run([micropython, "-X", "heapsize=256k", str(here / "bench_dcc.py"), "device",
                           str(req), str(args.runs)], capture_output=True, text=True, env=env)
    if proc.returncode:
        sys.exit(proc.stderr or proc.stdout)
    dev = json.loads(proc.stdout.strip().splitlines()[-1])
    ec_bytes = 16 + 10 + 64
    print("build: %s; runs %d; table: %d signers, %d bytes (%.1f per signer; P-256: %d, RSA-2048: %d)"
          % ("32-bit" if args.mpy32 else "64-bit", args.runs, dev["keys"], len(data), len(data) / dev["keys"],
             ec_bytes, 16 + 10 + 256))
    print("table RAM resident: %d bytes" % dev["table_ram"])
    print("%-34s %14s %14s %14s" % ("median (min) us", "ES256", "PS256-2048", "PS256-4096"))
    for label, key in (("signature verify only", "verify"), ("DCC scan to verdict (check)", "scan")):
        print("%-34s %s" % (label, " ".join("%14s" % ("%d (%d)" % (dev["%s_%s" % (key, n)],
                                                                    dev["%s_%s_min" % (key, n)]))
                                             for n in ("es256", "ps2048", "ps4096"))))
    print("%-34s %s" % ("heap allocated per check, bytes", " ".join("%14d" % dev["alloc_" + n]
                                                                    for n in ("es256", "ps2048", "ps4096"))))
    print("%-34s %s" % ("free heap a check needs, bytes", " ".join("%14d" % dev["headroom_" + n]
                                                                  for n in ("es256", "ps2048", "ps4096"))))
    print("text lengths: %s" % {k: len(t) for k, t in texts.items()})
    tmp.cleanup()


if __name__ == "__main__":
    if sys.implementation.name == "micropython":
        device_part(sys.argv[2], int(sys.argv[3]))
    else:
        host_main()
