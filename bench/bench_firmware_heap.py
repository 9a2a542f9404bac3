"""Heap of the running firmware (MicroPython unix port), measured as on a device.

    python3 bench/bench_firmware_heap.py              # everything below
    python3 bench/bench_firmware_heap.py --steady     # steady state only
    python3 bench/bench_firmware_heap.py --imports    # import cost per module
    python3 bench/bench_firmware_heap.py --search     # smallest -X heapsize
    python3 bench/bench_firmware_heap.py --source     # run the .py sources instead

How (docs/memory.md has the numbers and the reasoning):
- firmware/ is compiled to .mpy for the host (`mpy-cross -march=x64`) into a
  temp dir mirroring firmware/ (fonts copied): on the device the modules are
  .mpy or frozen, never source compiled on the heap.
- The simulator's device is provisioned as in the field: trust list,
  revocation snapshot, a site config with rules and a 500-entry worker
  allowlist blob, fleet key in config.json; a real mosquitto carries the
  MQTT side (scan reports, state, signed control messages).
- The real firmware (main.mpy, `micropython -X heapsize=... -c "import main"`)
  boots; a bench-only wrapper around hal.unix.Port.event adds a `mem` event
  (gc.collect(); gc.mem_alloc()) after boot, each decision and each applied
  control message: that is the steady state, live objects only.
- Scans: 4 different passes in turn (resident admitted, revoked, listed
  worker admitted, unlisted worker) typed into the scanner pty, one at a time;
  every 50 scans the fleet publishes a newer signed site config (the device
  fetches the allowlist blob and rebuilds its whole decider: trust keys
  prepared again = the heap peak) and a signed "open gate" command.
- --search: binary search on -X heapsize for the smallest heap that survives
  the whole run (every scan decided with the expected verdict, every control
  message applied, no crash).
The unix port is 64-bit (8-byte pointers and object slots); the ESP32 is
32-bit: see docs/memory.md for the conversion.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "firmware" / "runtime")]

import cbor2  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from brokers import mosquitto  # noqa: E402
from greengate.control import config as cc  # noqa: E402
from greengate.control import envelope as env  # noqa: E402
from greengate.control.blobs import answer_fetch, blob_ref, parse_fetch  # noqa: E402
from greengate.control.revocation import build_snapshot, revocation_body  # noqa: E402
from greengate.passes import claims as c  # noqa: E402
from greengate.passes.issue import issue  # noqa: E402
from greengate.passes.keys import TrustEntry, device_trust_bytes, kid_for, raw_public  # noqa: E402
from greengate.sim.terminal import SimError, SimTerminal, micropython_binary  # noqa: E402
from mpy import FIRMWARE, run_micropython  # noqa: E402
from provision_kit import APPLY, pass_hash, write_device_config  # noqa: E402

DEVICE = "gg-heap-1"
SITE = "q7-heap-001"
BUSINESS = "BIZ-0001"
CHUNK = 768
TOPIC = {2: "gg/v1/fleet/trust", 3: "gg/v1/fleet/revocation", 1: f"gg/v1/dev/{DEVICE}/config"}

# bench-only instrumentation, not part of the firmware: a `mem` event with
# the live heap after boot (scanner ready), each decision, control message
# and command. Optionally (GG_HEAP_TRACE) every gc.collect() of the firmware
# logs the live heap and the modules imported since the previous one.
BOOT = """
import sys, os, gc as _gc
_rom = 0
if os.getenv("GG_ROMFS"):
    # the modules execute in place from a ROMFS image (as frozen modules or
    # a ROMFS partition do on the ESP32); the image itself is one heap block
    # here, measured and subtracted from every number
    import vfs
    _gc.collect()
    _a = _gc.mem_alloc()
    with open(os.getenv("GG_ROMFS"), "rb") as _f:
        _img = _f.read()
    vfs.mount(vfs.VfsRom(_img), "/rom")
    sys.path.insert(0, "/rom")
    _gc.collect()
    _rom = _gc.mem_alloc() - _a
from hal import unix as _u
_ev = _u.Port.event
def _event(self, kind, fields=None):
    _ev(self, kind, fields)
    if kind in ("decision", "control", "command") or (kind == "scanner" and fields and fields.get("state") == "ready"):
        _gc.collect()
        _ev(self, "mem", {"after": kind, "alloc": _gc.mem_alloc() - _rom, "free": _gc.mem_free(), "rom": _rom})
_u.Port.event = _event
if os.getenv("GG_HEAP_TRACE"):
    _seen = set(sys.modules)
    class _G:
        def collect(self):
            _gc.collect()
            new = [m for m in sys.modules if m not in _seen]
            for m in new:
                _seen.add(m)
            sys.stderr.write("HEAP %d %s\\n" % (_gc.mem_alloc() - _rom, " ".join(new)))
        def __getattr__(self, n):
            return getattr(_gc, n)
    sys.modules["gc"] = _G()
import main
"""


# -- firmware build -----------------------------------------------------------

class Build:
    """The firmware as the device runs it. mode "rom": .mpy in a ROMFS image,
    executed in place (frozen modules / ROMFS partition on the ESP32);
    "mpy": .mpy files loaded into the heap; "source": firmware/*.py."""

    def __init__(self, mode: str, workdir: Path):
        self.mode = mode
        self.romfs = None
        self.rom_kb = 0  # heap the ROMFS image occupies here (added to -X heapsize)
        if mode == "source":
            self.tree = FIRMWARE
            return
        self.tree = compile_tree(workdir / "fw")
        if mode == "rom":
            import contextlib
            import io

            from mpremote.romfs import make_romfs

            with contextlib.redirect_stdout(io.StringIO()):
                image = make_romfs(str(self.tree), mpy_cross=False)
            self.romfs = workdir / "fw.romfs"
            self.romfs.write_bytes(image)
            # one heap block + the GC's own tables for it (~1/64)
            self.rom_kb = (len(image) * 66 // 64) // 1024 + 2

    def heap(self, kb: int) -> str:
        return f"{kb + self.rom_kb}k"


def compile_tree(dst: Path, src: Path = FIRMWARE) -> Path:
    """firmware/ -> dst as .mpy for the host arch (+ every non-.py file)."""
    for path in src.rglob("*"):
        if "__pycache__" in path.parts or path.is_dir():
            continue
        rel = path.relative_to(src)
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".py":
            subprocess.run(["mpy-cross", "-march=x64", str(path), "-o", str(out.with_suffix(".mpy"))],
                           check=True)
        else:
            shutil.copyfile(path, out)
    return dst


# -- the fleet side -------------------------------------------------------------

class Provisioning:
    """Keys, passes and signed control messages for one simulated device."""

    def __init__(self, allowlist_size: int = 500):
        now = int(time.time())
        self.now = now
        self.fleet = Ed25519PrivateKey.generate()
        issuer = Ed25519PrivateKey.generate()
        pub = raw_public(issuer)

        def person(role, cti, business=None):
            return issue(c.PassClaims(
                iss="HCM-D7", iat=now - 3600, exp=now + 7 * 86400, cti=cti, role=role,
                initials="NVA", birth_year=1985, vaccination=c.Vaccination(2, date(2021, 8, 1)),
                health_decl=date.fromtimestamp(now), zone=c.Zone.GREEN, business=business), issuer)

        self.good = person(c.Role.RESIDENT, bytes.fromhex("0011223344556677"))
        self.revoked = person(c.Role.RESIDENT, bytes.fromhex("8899aabbccddeeff"))
        self.worker = person(c.Role.WORKER, bytes.fromhex("1122334455667788"), BUSINESS)
        self.stranger = person(c.Role.WORKER, bytes.fromhex("2233445566778899"), BUSINESS)
        # (text, verdict, reason) in scan order
        self.scans = [(self.good, True, "OK"), (self.revoked, False, "REVOKED"),
                      (self.worker, True, "OK"), (self.stranger, False, "NOT_LISTED")]
        others = [hashlib.sha256(b"other-%d" % i).digest()[:16] for i in range(300)]
        self.snapshot, _ = build_snapshot([pass_hash(self.revoked)] + others)
        listed = [hashlib.sha256(b"worker-%d" % i).digest()[:16] for i in range(allowlist_size - 1)]
        self.allowlist = cc.allowlist_blob(listed + [pass_hash(self.worker)])
        self.trust = cbor2.loads(device_trust_bytes([TrustEntry("HCM-D7", kid_for(pub), pub, None)]))
        self.blobs = {hashlib.sha256(b).digest(): b for b in (self.snapshot, self.allowlist)}

    def config(self, version: int) -> bytes:
        body = cc.site_config(SITE, [cc.vaccination(2), cc.workers()], business_id=BUSINESS,
                              allowlist_ref=blob_ref(self.allowlist, CHUNK))
        return env.sign_message(1, version, body, env.device_scope(DEVICE), self.fleet,
                                int(time.time()) - 60, int(time.time()) + 86400)

    def messages(self) -> list[tuple[int, bytes]]:
        iat, until = self.now - 60, self.now + 86400
        rev = revocation_body(self.snapshot, chunk_size=CHUNK)
        return [(2, env.sign_message(2, 1, self.trust, env.fleet_scope(), self.fleet, iat, until)),
                (3, env.sign_message(3, 1, rev, env.fleet_scope(), self.fleet, iat, until)),
                (1, self.config(1))]

    def command_open(self, seq: int) -> bytes:
        now = int(time.time())
        return env.sign_message(4, seq, {1: 2, 2: {1: 1}}, env.device_scope(DEVICE), self.fleet,
                                now - 5, now + 120)

    def install(self, flash: Path, tmp: Path) -> None:
        """Apply trust, revocation and config v1 onto the flash (as if received
        earlier), with the device's own control code under MicroPython."""
        root = flash / "control"
        root.mkdir(parents=True, exist_ok=True)
        req = {"root": str(root), "device": DEVICE, "site": SITE, "now": int(time.time()),
               "fleet_keys": [raw_public(self.fleet).hex()], "messages": [], "blobs": []}
        for i, (kind, data) in enumerate(self.messages()):
            p = tmp / f"ctrl{i}.bin"
            p.write_bytes(data)
            req["messages"].append({"kind": kind, "path": str(p)})
        for i, data in enumerate(self.blobs.values()):
            p = tmp / f"blob{i}.bin"
            p.write_bytes(data)
            req["blobs"].append({"path": str(p)})
        res = run_micropython(APPLY, stdin=json.dumps(req))
        if res.returncode != 0 or json.loads(res.stdout) != [True, True, True]:
            raise RuntimeError("provisioning failed: " + res.stderr.decode())
        write_device_config(flash, DEVICE, raw_public(self.fleet))


class Fleet:
    """MQTT side: publishes signed messages, answers the device's blob fetches."""

    def __init__(self, port: int, prov: Provisioning):
        import paho.mqtt.client as mqtt

        self.prov = prov
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fleet-heap")
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.subscribe(f"gg/v1/dev/{DEVICE}/fetch", qos=1)
        self.c.loop_start()

    def _on_message(self, client, userdata, msg):
        req = parse_fetch(msg.payload)
        for chunk in answer_fetch(req, self.prov.blobs[req.sha256], CHUNK):
            client.publish(f"gg/v1/dev/{DEVICE}/blob", chunk, qos=1)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.c.publish(TOPIC[1], b"", qos=1, retain=True).wait_for_publish(5)
        self.c.loop_stop()
        self.c.disconnect()


# -- the device -----------------------------------------------------------------

class HeapSim(SimTerminal):
    """The simulator, booting main from a given module tree (the .mpy build)."""

    def __init__(self, root: Path, tree: Path, trace: bool = False, errfile=None,
                 romfs: Path | None = None, **kw):
        super().__init__(root, **kw)
        self.tree = tree
        self.romfs = romfs
        self.trace = trace
        self.errfile = errfile  # the firmware's stderr (log lines, HEAP trace)

    def start(self, stdout=None, stderr=None) -> "HeapSim":
        return super().start(stdout, stderr or self.errfile)

    def _spawn(self) -> None:
        p = self.paths
        env_ = dict(os.environ)
        env_.update(
            MICROPYPATH=f"{self.tree}:.frozen", GG_FLASH_DIR=str(p.flash),
            GG_SCANNER_PTY=os.ttyname(self._slave), GG_CONSOLE_PTY=os.ttyname(self._console[1]),
            GG_EVENT_FILE=str(p.events), GG_INPUT_DIR=str(p.inputs), GG_DISPLAY_DUMP=str(p.display),
        )
        if self.trace:
            env_["GG_HEAP_TRACE"] = "1"
        if self.romfs:
            env_.update(MICROPYPATH=".frozen", GG_ROMFS=str(self.romfs))
        self.proc = subprocess.Popen(
            [micropython_binary(), "-X", f"heapsize={self.heap}", "-c", BOOT],
            env=env_, cwd=str(p.root), stdout=self._stdout, stderr=self._stderr)


def is_kind(k, **match):
    return lambda e: e.get("kind") == k and all(e.get(a) == b for a, b in match.items())


def run(build: Build, heap_kb: int, scans: int = 200, control_every: int = 50,
        trace: bool = False, quiet: bool = True) -> dict:
    """Boot the provisioned firmware, do `scans` scans (+ control messages).
    Returns {"ok", "error", "boot", "mem": [...], "decisions", "stderr"}."""
    tmp = Path(tempfile.mkdtemp(prefix="gg-heap-"))
    prov = Provisioning()
    out = {"ok": False, "error": None, "mem": [], "decisions": 0, "heap_kb": heap_kb}
    broker = mosquitto(tmp / "broker").start()
    fleet = None
    errf = (tmp / "stderr.txt").open("wb")
    try:
        prov.install(tmp / "sim" / "flash", tmp)
        fleet = Fleet(broker.port, prov)
        with HeapSim(tmp / "sim", build.tree, trace=trace, errfile=errf, romfs=build.romfs,
                     device_id=DEVICE, broker=f"mqtt://127.0.0.1:{broker.port}",
                     heap=build.heap(heap_kb)) as sim:
            try:
                sim.wait_for(is_kind("scanner", state="ready"), timeout=60)
                version = 1
                for i in range(scans):
                    if control_every and i and i % control_every == 0:
                        version += 1
                        n = len(sim.events())
                        fleet.publish(TOPIC[1], prov.config(version), retain=True)
                        ev = sim.wait_for(is_kind("control", msg_kind=1), after=n, timeout=60)
                        if not ev.get("applied"):
                            raise SimError(f"config v{version} not applied: {ev}")
                        n = len(sim.events())
                        fleet.publish(f"gg/v1/dev/{DEVICE}/cmd", prov.command_open(version))
                        sim.wait_for(is_kind("command", code=2), after=n, timeout=30)
                    text, verdict, reason = prov.scans[i % len(prov.scans)]
                    n = len(sim.events())
                    sim.scan(text)
                    d = sim.wait_for(is_kind("decision"), after=n, timeout=30)
                    if d["verdict"] is not verdict or d["reason"] != reason:
                        raise SimError(f"scan {i}: expected {reason}, got {d}")
                    out["decisions"] += 1
                out["ok"] = True
            except SimError as e:
                out["error"] = str(e)
            out["mem"] = [e for e in sim.events() if e.get("kind") == "mem"]
    finally:
        if fleet is not None:
            fleet.close()
        broker.stop()
        errf.close()
        out["stderr"] = (tmp / "stderr.txt").read_text(errors="replace")
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def steady(build: Build, heap_kb: int = 1024, scans: int = 200) -> dict:
    r = run(build, heap_kb, scans=scans, trace=True)
    mem = r["mem"]
    boot = next((m["alloc"] for m in mem if m["after"] == "scanner"), None)
    dec = [m["alloc"] for m in mem if m["after"] == "decision"]
    ctl = [m["alloc"] for m in mem if m["after"] in ("control", "command")]
    return {"ok": r["ok"], "error": r["error"], "boot": boot,
            "after_first_scan": dec[0] if dec else None,
            "after_all_scans": dec[-1] if dec else None,
            "max_after_scan": max(dec) if dec else None,
            "after_control": max(ctl) if ctl else None,
            "decisions": r["decisions"], "trace": [ln for ln in r["stderr"].splitlines()
                                                    if ln.startswith("HEAP ")],
            "stderr_tail": r["stderr"][-2000:] if not r["ok"] else ""}


def search(build: Build, lo: int, hi: int, scans: int = 200, step: int = 4) -> tuple[int, int, dict]:
    """Smallest heap (KB, beyond the ROMFS image) in (lo, hi] that survives run()."""
    last = run(build, hi, scans=scans)
    if not last["ok"]:
        return hi, hi, last
    while hi - lo > step:
        mid = (lo + hi) // 2
        r = run(build, mid, scans=scans)
        print(f"  heapsize={mid}k: {'ok' if r['ok'] else 'FAIL ' + str(r['error'])[:80]}",
              file=sys.stderr, flush=True)
        if r["ok"]:
            hi = mid
        else:
            lo = mid
    return hi, lo, last


ROM_MOUNT = """
import gc, sys, os, vfs
with open(os.getenv("GG_ROMFS"), "rb") as f:
    vfs.mount(vfs.VfsRom(f.read()), "/rom")
sys.path.insert(0, "/rom")
"""

IMPORTS = """
import gc, sys
gc.collect()
base = gc.mem_alloc()
prev = base
for m in sys.argv[1:]:
    __import__(m)
    gc.collect()
    a = gc.mem_alloc()
    print("%s %d" % (m, a - prev))
    prev = a
print("TOTAL %d" % (prev - base))
"""


def import_costs(build: Build) -> list[tuple[str, int]]:
    mods = []
    tree = build.tree
    for p in sorted(tree.rglob("*.mpy" if build.mode != "source" else "*.py")):
        rel = p.relative_to(tree).with_suffix("")
        if rel.name == "main":
            continue
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        mods.append(name)
    env_ = dict(os.environ, MICROPYPATH=f"{tree}:.frozen")
    script = IMPORTS
    if build.romfs:
        env_.update(MICROPYPATH=".frozen", GG_ROMFS=str(build.romfs))
        script = ROM_MOUNT + IMPORTS
    res = subprocess.run([micropython_binary(), "-X", "heapsize=4m", "-c", script, *mods],
                         capture_output=True, text=True, env=env_, timeout=120)
    if res.returncode:
        raise RuntimeError(res.stderr)
    return [(ln.split()[0], int(ln.split()[1])) for ln in res.stdout.splitlines()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steady", action="store_true")
    ap.add_argument("--imports", action="store_true")
    ap.add_argument("--search", action="store_true")
    ap.add_argument("--mode", choices=("rom", "mpy", "source"), default="rom",
                    help="rom: .mpy executed in place from a ROMFS image (as frozen on the"
                         " device, default); mpy: .mpy files loaded into the heap; source: .py")
    ap.add_argument("--scans", type=int, default=200)
    ap.add_argument("--lo", type=int, default=64)
    ap.add_argument("--hi", type=int, default=512)
    args = ap.parse_args()
    everything = not (args.steady or args.imports or args.search)
    with tempfile.TemporaryDirectory(prefix="gg-mpy-") as d:
        build = Build(args.mode, Path(d))
        kind = {"rom": ".mpy (mpy-cross -march=x64) in a ROMFS image, executed in place",
                "mpy": ".mpy (mpy-cross -march=x64) files, loaded into the heap",
                "source": "firmware/*.py source"}[args.mode]
        print(f"firmware as {kind}; MicroPython unix port (64-bit)")
        if build.romfs:
            print(f"(ROMFS image {build.romfs.stat().st_size:,} bytes: subtracted from every live-heap"
                  f" number, {build.rom_kb} KB added to each -X heapsize)")
        if everything or args.imports:
            costs = import_costs(build)
            print("\nimport cost per module (live heap after gc.collect(), bytes; in import order,"
                  " a package's cost includes its __init__):")
            for name, n in costs:
                print(f"  {name:28s} {n:7,d}")
        if everything or args.steady:
            s = steady(build, scans=args.scans)
            print(f"\nsteady state, live heap (gc.collect(); gc.mem_alloc()), {s['decisions']} scans,"
                  f" ok={s['ok']} {s['error'] or ''}")
            for k in ("boot", "after_first_scan", "after_all_scans", "max_after_scan", "after_control"):
                print(f"  {k:18s} {s[k] if s[k] is None else format(s[k], ',')}")
            print("  boot timeline (live heap at each gc.collect() of the firmware, + modules"
                  " imported since the previous one):")
            for ln in s["trace"]:
                print("   ", ln[5:])
            if s["stderr_tail"]:
                print(s["stderr_tail"])
        if everything or args.search:
            hi, lo, last = search(build, args.lo, args.hi, scans=args.scans)
            if hi == lo:
                print(f"\ndoes not survive even with -X heapsize={hi}k: {last['error']}\n"
                      f"{last['stderr'][-1500:]}")
            else:
                print(f"\nsmallest heap surviving {args.scans} scans + control messages:"
                      f" {hi} KB (fails at {lo} KB)" + (" beyond the ROMFS image" if build.romfs else ""))


if __name__ == "__main__":
    main()
