"""Heap of the running firmware, measured as on a device (docs/memory.md).

    python3 bench/bench_firmware_heap.py               # everything below (~10-20 min)
    python3 bench/bench_firmware_heap.py --steady      # steady state (+ every reading)
    python3 bench/bench_firmware_heap.py --imports     # import cost per module
    python3 bench/bench_firmware_heap.py --components  # objects each part of the wiring builds
    python3 bench/bench_firmware_heap.py --check       # pass check / decider rebuild working heap
    python3 bench/bench_firmware_heap.py --search      # smallest -X heapsize that survives
    python3 bench/bench_firmware_heap.py --steady --dcc  # + a 1,000-signer EU DCC table, DCCs scanned
    python3 bench/bench_firmware_heap.py --check --dcc   # + the DCC checks' working heap
    options: --mode frozen32|rom|mpy|source (default frozen32), --scans N (200),
             --revoked N (1,000,000), --firmware DIR (a copy of firmware/, for before/after)

How:
- --mode frozen32 (the ESP32 number): the firmware frozen into a 32-bit
  MicroPython by tools/esp32/manifest.py (tests/mpy32.py builds it from
  ../shared, cached): the ESP32's object sizes and its frozen modules;
  main.py stays source, as on the board. 64-bit PyPI build: --mode rom
  (.mpy in a ROMFS image executed in place), mpy (.mpy files on the heap),
  source (.py).
- The simulator's device is provisioned as in the field: trust list,
  revocation snapshot of 1,000,000 entries, a site config with rules and a
  500-entry worker allowlist blob, fleet key in config.json; a real
  mosquitto carries the MQTT side (scan reports, state, signed control
  messages, blob fetches).
- The real firmware boots under greengate.sim.terminal; a bench-only
  wrapper around hal.unix.Port.event adds a `mem` event (gc.collect();
  gc.mem_alloc() less a base read before `import main`) after boot, each
  decision, control message and command. The wrapper and the unix-only
  modules load before the base: they are not in the number (BOOT below).
  Nothing in firmware/ is changed for the measurement.
- Scans: 4 different passes in turn (resident admitted, revoked, listed
  worker admitted, unlisted worker) typed into the scanner pty, one at a
  time, each verdict checked; every 50 scans the fleet publishes a newer
  signed site config (the device fetches the allowlist blob and rebuilds its
  decider) and a signed "open gate" command.
- --search: binary search on -X heapsize for the smallest heap that survives
  the whole run (every scan decided with the expected verdict, every control
  message applied, no crash).
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
from mpy import FIRMWARE, MPY_CROSS  # noqa: E402
from provision_kit import apply_messages, pass_hash, write_device_config  # noqa: E402

DEVICE = "gg-heap-1"
SITE = "q7-heap-001"
BUSINESS = "BIZ-0001"
CHUNK = 768
REVOKED = [1_000_000]  # entries in the revocation snapshot (--revoked)
TOPIC = {2: "gg/v1/fleet/trust", 3: "gg/v1/fleet/revocation", 1: f"gg/v1/dev/{DEVICE}/config"}

# bench-only instrumentation, not part of the firmware: a `mem` event with
# the live heap after boot (scanner ready), each decision, control message
# and command. Kept out of the number: the instrumentation itself and the
# unix port's own modules (hal.unix, display.filedisp and what only they
# import), all loaded before the base reading; the device modules those two
# need and the ESP32's own HAL (SHARED_DEPS: hal.esp32 imports on the unix
# port too) are loaded and measured first and counted.
SHARED_DEPS = ("fsutil", "hal", "hal.esp32", "display", "display.ssd1306")
BOOT = """
import sys, os, gc
if os.getenv("GG_ROMFS"):
    # the modules execute in place from a ROMFS image (as frozen modules or
    # a ROMFS partition do on the ESP32); the image is one heap block here,
    # loaded before the base reading
    import vfs
    with open(os.getenv("GG_ROMFS"), "rb") as _f:
        vfs.mount(vfs.VfsRom(_f.read()), "/rom")
    sys.path.insert(0, "/rom")
    _f = None
gc.collect()
_a = gc.mem_alloc()
for _m in %r:
    __import__(_m)
gc.collect()
_shared = gc.mem_alloc() - _a
from hal import unix as _u
from display import filedisp as _fd
_ev = _u.Port.event
def _event(self, kind, fields=None):
    _ev(self, kind, fields)
    if kind in ("decision", "control", "command") or (kind == "scanner" and fields and fields.get("state") == "ready"):
        gc.collect()
        _ev(self, "mem", {"after": kind, "alloc": gc.mem_alloc() - _base, "free": gc.mem_free()})
_u.Port.event = _event
_m = _fd = None
gc.collect()
_base = gc.mem_alloc() - _shared
import main
""" % (SHARED_DEPS,)


# -- firmware build -----------------------------------------------------------

class Build:
    """The firmware as the device runs it. mode "frozen32": frozen into a
    32-bit MicroPython (tools/esp32/manifest.py, tests/mpy32.py): the ESP32's
    object sizes and its frozen firmware; "rom": .mpy in a ROMFS image on the
    64-bit PyPI build, executed in place; "mpy": .mpy files loaded into the
    heap; "source": firmware/*.py (both 64-bit)."""

    def __init__(self, mode: str, workdir: Path, src: Path = FIRMWARE):
        self.mode = mode
        self.src = src
        self.romfs = None
        self.rom_kb = 0  # heap the ROMFS image occupies here (added to -X heapsize)
        self.exe = micropython_binary()
        if mode == "frozen32":
            self.exe = str(frozen32(workdir, src))
            self.tree = workdir / "main"  # main.py stays on the board's filesystem
            self.tree.mkdir()
            shutil.copyfile(src / "main.py", self.tree / "main.py")
            return
        if mode == "source":
            self.tree = src
            return
        self.tree = compile_tree(workdir / "fw", src)
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

    def modules(self) -> list[str]:
        """Every firmware module but main, as import names."""
        out = []
        for p in sorted(self.src.rglob("*.py")):
            rel = p.relative_to(self.src).with_suffix("")
            if rel.name != "main" and "__pycache__" not in rel.parts:
                out.append(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
        return out


def frozen32(workdir: Path, src: Path = FIRMWARE) -> Path:
    """The 32-bit interpreter with `src` frozen in by the ESP32's manifest,
    run as the unix variant: the board's include swapped for the unix
    standard variant's, and the unix-only modules frozen too (a frozen
    package's submodules cannot come from the filesystem)."""
    import mpy32

    tools = workdir / "m32" / "tools" / "esp32"
    tools.mkdir(parents=True)
    shutil.copyfile(REPO / "tools" / "esp32" / "gen_data.py", tools / "gen_data.py")
    text = (REPO / "tools" / "esp32" / "manifest.py").read_text()
    board = 'include("$(PORT_DIR)/boards/manifest.py")'
    if board not in text:
        raise RuntimeError(f"tools/esp32/manifest.py: {board} not found")
    text = text.replace(board, 'include("$(PORT_DIR)/variants/standard/manifest.py")')
    text += "\nfor name in UNIX_ONLY:\n    module(name, base_path=FIRMWARE)\n"
    (tools / "manifest.py").write_text(text)
    (workdir / "m32" / "firmware").symlink_to(src.resolve())
    return mpy32.frozen_interpreter(tools / "manifest.py", src)


def compile_tree(dst: Path, src: Path = FIRMWARE) -> Path:
    """firmware/ -> dst as .mpy for the host arch (+ every non-.py file)."""
    for path in src.rglob("*"):
        if "__pycache__" in path.parts or path.is_dir():
            continue
        rel = path.relative_to(src)
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".py":
            subprocess.run([MPY_CROSS, "-march=x64", str(path), "-o", str(out.with_suffix(".mpy"))],
                           check=True)
        else:
            shutil.copyfile(path, out)
    return dst


# -- the fleet side -------------------------------------------------------------

class Provisioning:
    """Keys, passes and signed control messages for one simulated device."""

    def __init__(self, allowlist_size: int = 500, revoked: int = 1_000_000, dcc: bool = False):
        now = int(time.time())
        self.dcc = dcc
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
        others = [hashlib.sha256(b"other-%d" % i).digest()[:16] for i in range(revoked - 1)]
        self.snapshot, _ = build_snapshot([pass_hash(self.revoked)] + others)
        listed = [hashlib.sha256(b"worker-%d" % i).digest()[:16] for i in range(allowlist_size - 1)]
        self.allowlist = cc.allowlist_blob(listed + [pass_hash(self.worker)])
        self.trust = cbor2.loads(device_trust_bytes([TrustEntry("HCM-D7", kid_for(pub), pub, None)]))
        self.blobs = {hashlib.sha256(b).digest(): b for b in (self.snapshot, self.allowlist)}
        if dcc:
            self._add_dcc(now)

    def _add_dcc(self, now: int) -> None:
        """--dcc: a 1,000-signer DCC table (kind 7; 2 real test DSCs, ES256 and
        PS256-2048), the site accepting GG1 and DCC, and three DCCs in the scan
        rotation (two admitted, one from a signer not on the table)."""
        sys.path.insert(0, str(REPO / "tests"))
        from dcc_kit import fake_signers
        from greengate.control.dcc import dcc_body, dcc_files
        from greengate.dcc import issue as dcc_issue
        from greengate.dcc import trustlist

        es = dcc_issue.make_dsc(dcc_issue.ES256, "VN")
        ps = dcc_issue.make_dsc(dcc_issue.PS256, "VN")
        big = dcc_issue.make_dsc(dcc_issue.PS256, "VN", rsa_bits=4096)
        other = dcc_issue.make_dsc(dcc_issue.ES256, "VN")
        signers = ([trustlist.signer_from_der(d.der, d.country) for d in (es, ps, big)]
                   + fake_signers(997, seed=3, rsa_every=20))
        self.dcc_table, _ = dcc_files(signers, 1)
        self.dcc_body = dcc_body(self.dcc_table, chunk_size=CHUNK)
        self.blobs[hashlib.sha256(self.dcc_table).digest()] = self.dcc_table

        def cert(dsc, n):
            return dcc_issue.sign_hc1(dcc_issue.dcc_payload("v", "VN", now - 3600, now + 300 * 86400,
                                                            "URN:UVCI:01:VN:HEAP%d" % n), dsc)

        self.scans += [(cert(es, 1), True, "OK"), (cert(ps, 2), True, "OK"), (cert(other, 3), False, "KID_UNKNOWN")]
        # --check --dcc only (the --steady rotation keeps its 7 passes): the largest DCC
        self.dcc_extra = [(cert(big, 4), True, "OK")]

    def config(self, version: int) -> bytes:
        body = cc.site_config(SITE, [cc.vaccination(2), cc.workers()], business_id=BUSINESS,
                              allowlist_ref=blob_ref(self.allowlist, CHUNK),
                              formats=[cc.FORMAT_GG1, cc.FORMAT_DCC] if self.dcc else None)
        return env.sign_message(1, version, body, env.device_scope(DEVICE), self.fleet,
                                int(time.time()) - 60, int(time.time()) + 86400)

    def messages(self) -> list[tuple[int, bytes]]:
        iat, until = self.now - 60, self.now + 86400
        rev = revocation_body(self.snapshot, chunk_size=CHUNK)
        out = [(2, env.sign_message(2, 1, self.trust, env.fleet_scope(), self.fleet, iat, until)),
               (3, env.sign_message(3, 1, rev, env.fleet_scope(), self.fleet, iat, until)),
               (1, self.config(1))]
        if self.dcc:
            out.append((7, env.sign_message(7, 1, self.dcc_body, env.fleet_scope(), self.fleet, iat, until)))
        return out

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
        for i, data in enumerate(self.blobs.values()):  # APPLY stores them as blob.py names them
            p = tmp / f"blob{i}.bin"
            p.write_bytes(data)
            req["blobs"].append({"path": str(p)})
        if apply_messages(req) != [True] * len(req["messages"]):
            raise RuntimeError("provisioning failed")
        write_device_config(flash, DEVICE, raw_public(self.fleet))


class Fleet:
    """MQTT side: publishes signed messages, answers the device's blob fetches,
    acks every scan batch as the bridge does (docs/protocol.md 4.4)."""

    def __init__(self, port: int, prov: Provisioning):
        import paho.mqtt.client as mqtt

        self.prov = prov
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fleet-heap")
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.subscribe([(f"gg/v1/dev/{DEVICE}/fetch", 1), (f"gg/v1/dev/{DEVICE}/scans", 1)])
        self.c.loop_start()

    def _on_message(self, client, userdata, msg):
        if msg.topic.endswith("/scans"):
            import cbor2

            seqs = [s[0] for s in cbor2.loads(msg.payload)[2]]
            client.publish(f"gg/v1/dev/{DEVICE}/ack",
                           cbor2.dumps({1: min(seqs), 2: max(seqs)}), qos=0)
            return
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

    def __init__(self, root: Path, build: Build, errfile=None, **kw):
        super().__init__(root, **kw)
        self.tree = build.tree
        self.romfs = build.romfs
        self.exe = build.exe
        self.errfile = errfile  # the firmware's stderr (log lines, HEAP trace)

    def start(self, stdout=None, stderr=None) -> "HeapSim":
        return super().start(stdout or self.errfile, stderr or self.errfile)

    def _spawn(self) -> None:
        p = self.paths
        env_ = dict(os.environ)
        env_.update(
            MICROPYPATH=f"{self.tree}:.frozen", GG_FLASH_DIR=str(p.flash),
            GG_SCANNER_PTY=os.ttyname(self._slave), GG_CONSOLE_PTY=os.ttyname(self._console[1]),
            GG_EVENT_FILE=str(p.events), GG_INPUT_DIR=str(p.inputs), GG_DISPLAY_DUMP=str(p.display),
        )
        if self.romfs:
            env_.update(MICROPYPATH=".frozen", GG_ROMFS=str(self.romfs))
        self.proc = subprocess.Popen(
            [self.exe, "-X", f"heapsize={self.heap}", "-c", BOOT],
            env=env_, cwd=str(p.root), stdout=self._stdout, stderr=self._stderr)


# what a code cut in two (or garbled) by the pty under host load decodes to;
# a heap failure shows as INTERNAL / NOT_PROVISIONED / a crash instead
_CUT = ("PREFIX", "BASE45", "INFLATE", "CBOR", "COSE")


def is_kind(k, **match):
    return lambda e: e.get("kind") == k and all(e.get(a) == b for a, b in match.items())


def run(build: Build, heap_kb: int, scans: int = 200, control_every: int = 50, dcc: bool = False) -> dict:
    """Boot the provisioned firmware, do `scans` scans (+ control messages).
    Returns {"ok", "error", "boot", "mem": [...], "decisions", "stderr"}."""
    tmp = Path(tempfile.mkdtemp(prefix="gg-heap-"))
    prov = Provisioning(revoked=REVOKED[0], dcc=dcc)
    out = {"ok": False, "error": None, "mem": [], "decisions": 0, "rescans": 0, "heap_kb": heap_kb}
    broker = mosquitto(tmp / "broker").start()
    fleet = None
    errf = (tmp / "stderr.txt").open("wb")
    try:
        prov.install(tmp / "sim" / "flash", tmp)
        fleet = Fleet(broker.port, prov)
        with HeapSim(tmp / "sim", build, errfile=errf, device_id=DEVICE, broker=f"mqtt://127.0.0.1:{broker.port}",
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
                        # the control plane unloads once no message came for
                        # control_quiet_ms (30 s): scans go on after that, so
                        # every reading after a scan is the steady state
                        sim.wait_for(is_kind("control_service", loaded=False), after=n, timeout=120)
                    text, verdict, reason = prov.scans[i % len(prov.scans)]
                    for attempt in range(4):
                        n = len(sim.events())
                        sim.scan(text)
                        d = sim.wait_for(is_kind("decision"), after=n, timeout=30)
                        if d["reason"] not in _CUT or attempt == 3:
                            break
                        # the code reached the firmware cut in two (on a loaded
                        # host the fake module's typing can stall longer than
                        # the 60 ms inter-byte timeout): not a heap matter;
                        # let the pieces drain, wait out the scanner's 3 s
                        # repeat filter and show the pass again
                        out["rescans"] += 1
                        time.sleep(3.5)
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


def steady(build: Build, heap_kb: int = 1024, scans: int = 200, dcc: bool = False) -> dict:
    r = run(build, heap_kb, scans=scans, dcc=dcc)
    mem = r["mem"]
    boot = next((m["alloc"] for m in mem if m["after"] == "scanner"), None)
    dec = [m["alloc"] for m in mem if m["after"] == "decision"]

    ctl = [m["alloc"] for m in mem if m["after"] in ("control", "command")]
    return {"ok": r["ok"], "error": r["error"], "boot": boot,
            "after_first_scan": dec[0] if dec else None,
            "after_all_scans": dec[-1] if dec else None,
            "steady": max(dec) if dec else None,  # every scan: the control plane is unloaded
            "after_control": max(ctl) if ctl else None,
            "decisions": r["decisions"], "series": [("k" if m["after"] == "command" else m["after"][0], m["alloc"]) for m in mem],
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
import gc, sys, micropython
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
micropython.qstr_info()
"""


def import_costs(build: Build, modules: list[str] | None = None) -> tuple[list[tuple[str, int]], int]:
    """Live heap each module's import adds (in the given order: a module's
    cost includes whatever it imports first), and the qstr pool bytes after
    all of them (interned names: in ROM when the modules are frozen)."""
    mods = list(modules or [])
    tree = build.tree
    if modules is None:
        mods = build.modules()
    env_ = dict(os.environ, MICROPYPATH=f"{tree}:.frozen")
    script = IMPORTS
    if build.romfs:
        env_.update(MICROPYPATH=".frozen", GG_ROMFS=str(build.romfs))
        script = ROM_MOUNT + IMPORTS
    res = subprocess.run([build.exe, "-X", "heapsize=4m", "-c", script, *mods],
                         capture_output=True, text=True, env=env_, timeout=120)
    if res.returncode:
        raise RuntimeError(res.stderr)
    costs, qstr = [], 0
    for ln in res.stdout.splitlines():
        if ln.startswith("qstr pool:"):
            qstr = int(ln.split("n_total_bytes=")[1])
        elif ln.startswith("TOTAL"):
            continue
        else:
            costs.append((ln.split()[0], int(ln.split()[1])))
    return costs, qstr


CHECK = """
import gc, sys, json, time
from hal.clock import Clock
from control.state import ControlState
from app.provisioned import load_decider
from verify import reasons
req = json.loads(sys.stdin.read())


from mpy_heap import headroom  # bench/ is on the path (pass_check)


state = ControlState(req["root"], req["device"], req["site"])
clock = Clock(None, trusted=True)
now = clock.now()
build = lambda: load_decider(req["root"], state, clock, None, print) is not None
gc.collect()
a0 = gc.mem_alloc()
decider = load_decider(req["root"], state, clock, None, print)
gc.collect()
out = {"decider_bytes": gc.mem_alloc() - a0, "rebuild_headroom": 0, "checks": []}
def drop():  # what app/decisions.py does after every DCC scan
    from app import unload
    from verify.dcc import RARE
    unload(*RARE)


for label, text, reason, dcc in req["passes"]:
    want = getattr(reasons, reason)
    def check():
        return decider.decide(text, now).reason == want
    if not check():
        raise SystemExit("unexpected verdict for " + label)
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    check()
    volume = gc.mem_alloc() - a
    gc.enable()
    c = {"expect": label, "headroom": headroom(check, 512 * 1024, 2048), "allocated": volume}
    if dcc:  # as on the gate: the DCC modules imported again by the check
        c["cold"] = headroom(check, 512 * 1024, 2048, drop)
    out["checks"].append(c)
# the method's own yardsticks in the same heap: nothing, and one 2 KB buffer
out["noop"] = headroom(lambda: None, 512 * 1024, 2048)
out["bytearray2048"] = headroom(lambda: bytearray(2048), 512 * 1024, 2048)
decider = None
gc.collect()
out["rebuild_headroom"] = headroom(build, 512 * 1024, 2048)  # old decider dropped first (policy.reload)
print(json.dumps(out))
"""


DCC_LABELS = ("DCC ES256", "DCC PS256-2048", "DCC unknown kid", "DCC PS256-4096")


def pass_check(build: Build, dcc: bool = False) -> dict:
    """Heap a full pass check needs beyond the steady state (decode, COSE,
    Ed25519 verify, revocation lookup, rules) and the rebuild of the decider
    after a control message (trust keys prepared again). dcc: the DCC table
    applied too, and the DCCs checked (ES256, PS256-2048, unknown kid,
    PS256-4096), each also with its modules dropped first (as the gate does)."""
    tmp = Path(tempfile.mkdtemp(prefix="gg-check-"))
    try:
        prov = Provisioning(revoked=REVOKED[0], dcc=dcc)
        prov.install(tmp / "flash", tmp)
        scans = prov.scans + (prov.dcc_extra if dcc else [])
        labels = [r for _, _, r in scans[:4]] + list(DCC_LABELS[:len(scans) - 4])
        req = {"root": str(tmp / "flash" / "control"), "device": DEVICE, "site": SITE,
               "passes": [[lab, t, r, i >= 4] for i, (lab, (t, _, r)) in enumerate(zip(labels, scans))]}
        bench = REPO / "bench"  # mpy_heap.headroom
        env_ = dict(os.environ, MICROPYPATH=f"{build.tree}:.frozen:{bench}")
        script = CHECK
        if build.romfs:
            env_.update(MICROPYPATH=f".frozen:{bench}", GG_ROMFS=str(build.romfs))
            script = ROM_MOUNT + CHECK
        res = subprocess.run([build.exe, "-X", "heapsize=4m", "-c", script],
                             input=json.dumps(req), capture_output=True, text=True, env=env_,
                             timeout=600)
        if res.returncode:
            raise RuntimeError(res.stdout + res.stderr)
        return json.loads(res.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


COMPONENTS = """
import gc, sys
for m in sys.argv[1:]:  # every module first: what follows is data only
    try:
        __import__(m)
    except ImportError:
        pass  # the other port's HAL
gc.collect()
last = [gc.mem_alloc()]


def mark(label):
    gc.collect()
    a = gc.mem_alloc()
    print("%s|%d" % (label, a - last[0]))
    last[0] = a


# main.py's wiring, step by step (keep in step with firmware/main.py)
from hal import port as get_port
from hal.clock import Clock
from app import config, pins as pinmap
from app.codequeue import CodeQueue
from app.supervisor import Supervisor
port = get_port()
cfg = config.load(port.flash_dir())
pins = pinmap.merged(cfg.get("pins"))
clock = Clock(port.nvs())
mark("HAL port, config, pins, clock")
queue = CodeQueue(cfg.get("queue", 8))
sup = Supervisor(port.log)
mark("code queue (8 slots) + supervisor")
from app import gateparts
gate = gateparts.build(port, cfg, pins)
mark("gate I/O + occupancy")
from app import policy
plane = policy.Policy(port, cfg, clock, gate.occupancy)
mark("decider: control state, trust (prepared keys), revocation index, allowlist, rules")
d = plane._decider
k = d.verifier.trust.prepared_keys()
print("  of which prepared key tables|%d" % sum(len(p.table) for p in k.values()))
s = d.revocations.snapshot
print("  of which revocation sparse index (slice and block buffers: per lookup)|%d" % len(s._keys))
al = d.config.allowlist
print("  of which allowlist page index (page buffer: per lookup; %d entries)|%d"
      % (len(al), len(al._firsts) + len(al._offs) * 4 + len(al._rec)))
d = k = al = None
from crypto import ed25519
ed25519._base()
mark("Ed25519 base table (in ROM with ROMFS / frozen)")
from app.screen import ScreenService
screen = ScreenService(policy.make_screens(port, cfg, pins), port, plane.idle_fields)
mark("display panel, fonts, screens")
from app import netparts
client, reporter = netparts.build(port, cfg, plane, clock, on_connect=screen.refresh)
mark("outbox + MQTT client (rx/tx buffers) + reporter")
from app.config import fleet_keys
plane.start_control(fleet_keys(cfg), gate, screen)
plane.attach(client, reporter, screen, queue)
mark("control link (resident; the service loads per message)")
from app.scanner_service import ScannerService
from app.decisions import DecisionService
from app.netservice import NetService
scanner = ScannerService(port, cfg["scanner"], pins, queue.put)
decisions = DecisionService(queue, plane.decider, clock, gate, screen, reporter.record_scan, port)
net = NetService(port, cfg, clock, client, reporter)
mark("scanner, decision, net services")
from setup.watch import ConsoleWatch
try:  # provisioned: the watcher only; the SETUP service loads on the first frame
    console = ConsoleWatch(port, cfg, resident=not fleet_keys(cfg))
except OSError:
    pass
mark("setup console watcher (provisioned device)")
screen.idle()
mark("first idle screen drawn")
"""


def components(build: Build) -> list[tuple[str, int]]:
    """Objects each part of main.py's wiring builds (all modules imported
    beforehand, so this is data only; imports: import_costs)."""
    import pty

    tmp = Path(tempfile.mkdtemp(prefix="gg-comp-"))
    master, slave = pty.openpty()
    try:
        prov = Provisioning(revoked=REVOKED[0])
        prov.install(tmp / "flash", tmp)
        mods = build.modules()
        env_ = dict(os.environ, MICROPYPATH=f"{build.tree}:.frozen", GG_FLASH_DIR=str(tmp / "flash"),
                    GG_CONSOLE_PTY=os.ttyname(slave), GG_EVENT_FILE=str(tmp / "events.jsonl"),
                    GG_DISPLAY_DUMP=str(tmp / "display.png"), GG_INPUT_DIR=str(tmp / "inputs"))
        script = COMPONENTS
        if build.romfs:
            env_.update(MICROPYPATH=".frozen", GG_ROMFS=str(build.romfs))
            script = ROM_MOUNT + COMPONENTS
        res = subprocess.run([build.exe, "-X", "heapsize=4m", "-c", script, *mods],
                             capture_output=True, text=True, env=env_, cwd=str(tmp), timeout=300)
        if res.returncode:
            raise RuntimeError(res.stdout + res.stderr)
        return [(ln.split("|")[0], int(ln.split("|")[1])) for ln in res.stdout.splitlines() if "|" in ln]
    finally:
        os.close(master)
        os.close(slave)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steady", action="store_true")
    ap.add_argument("--imports", action="store_true")
    ap.add_argument("--search", action="store_true")
    ap.add_argument("--check", action="store_true", help="heap of one pass check / decider rebuild")
    ap.add_argument("--dcc", action="store_true",
                    help="--steady / --check with a 1,000-signer EU DCC table applied and DCCs"
                         " scanned / checked")
    ap.add_argument("--components", action="store_true", help="objects built by each part of main.py")
    ap.add_argument("--mode", choices=("frozen32", "rom", "mpy", "source"), default="frozen32",
                    help="frozen32: frozen into the 32-bit build, as on an ESP32 (default; needs"
                         " ../shared); 64-bit PyPI build: rom: .mpy executed in place from a"
                         " ROMFS image; mpy: .mpy files loaded into the heap; source: .py")
    ap.add_argument("--scans", type=int, default=200)
    ap.add_argument("--revoked", type=int, default=1_000_000, help="revocation snapshot entries")
    ap.add_argument("--firmware", type=Path, default=FIRMWARE,
                    help="firmware tree to measure (default: firmware/; e.g. a copy for a before/after)")
    ap.add_argument("--lo", type=int, default=64)
    ap.add_argument("--hi", type=int, default=512)
    args = ap.parse_args()
    REVOKED[0] = args.revoked
    everything = not (args.steady or args.imports or args.search or args.check or args.components)
    with tempfile.TemporaryDirectory(prefix="gg-mpy-") as d:
        build = Build(args.mode, Path(d), args.firmware)
        kind = {"frozen32": "frozen modules (tools/esp32/manifest.py; main.py as source);"
                            " 32-bit MicroPython unix port (tests/mpy32.py)",
                "rom": ".mpy (mpy-cross -march=x64) in a ROMFS image, executed in place;"
                       " MicroPython unix port (64-bit)",
                "mpy": ".mpy (mpy-cross -march=x64) files, loaded into the heap; 64-bit",
                "source": "firmware/*.py source; 64-bit"}[args.mode]
        print(f"firmware as {kind}")
        if build.romfs:
            print(f"(ROMFS image {build.romfs.stat().st_size:,} bytes: subtracted from every live-heap"
                  f" number, {build.rom_kb} KB added to each -X heapsize)")
        if everything or args.imports:
            costs, qstr = import_costs(build)
            print("\nimport cost per module (live heap after gc.collect(), bytes; alphabetical,"
                  " a module's cost includes what it imports first):")
            for name, n in costs:
                print(f"  {name:28s} {n:7,d}")
            print(f"  {'all modules':28s} {sum(n for _, n in costs):7,d}"
                  f"  (of which qstr pool {qstr:,})")
        if everything or args.components:
            print("\nobjects built by each part of main.py's wiring (all modules imported before;"
                  " live heap after gc.collect(), bytes):")
            for label, n in components(build):
                print(f"  {label:74s} {n:8,d}")
        if everything or args.steady:
            s = steady(build, scans=args.scans, dcc=args.dcc)
            print(f"\nsteady state, live heap (gc.collect(); gc.mem_alloc()), {s['decisions']} scans,"
                  f" ok={s['ok']} {s['error'] or ''}")
            for k in ("boot", "after_first_scan", "steady", "after_all_scans", "after_control"):
                print(f"  {k:18s} {s[k] if s[k] is None else format(s[k], ',')}")
            print("  every reading less boot (s=scanner ready d=decision c=control message"
                  " k=command): " + " ".join(f"{k}{v - s['boot']:+d}" for k, v in s["series"]))
            if args.mode == "frozen32":
                ok = lambda v, t: "met" if v is not None and v <= t else "NOT met"  # noqa: E731
                print(f"  targets (docs/memory.md): steady (largest reading after a scan)"
                      f" <= 60,000: {ok(s['steady'], 60000)}; with a control message <= 70,000:"
                      f" {ok(s['after_control'], 70000)}")
            if s["stderr_tail"]:
                print(s["stderr_tail"])
        if everything or args.check:
            r = pass_check(build, dcc=args.dcc)
            print(f"\npass check (decider alone, {r['decider_bytes']:,} bytes live): free heap needed"
                  " (ballast method, 256-byte steps) / bytes allocated with the GC off"
                  " [/ a DCC with its modules dropped first, as on the gate]")
            for ch in r["checks"]:
                cold = f" {ch['cold']:8,d}" if "cold" in ch else ""
                print(f"  {ch['expect']:16s} {ch['headroom']:8,d} {ch['allocated']:10,d}{cold}")
            print(f"  the method's yardsticks in the same heap: nothing {r['noop']:,},"
                  f" bytearray(2048) {r['bytearray2048']:,}")
            print(f"  rebuild of the decider (trust keys prepared again): {r['rebuild_headroom']:,}")
        if everything or args.search:
            hi, lo, last = search(build, args.lo, args.hi, scans=args.scans)
            if hi == lo:
                print(f"\ndoes not survive even with -X heapsize={hi}k: {last['error']}\n"
                      f"{last['stderr'][-1500:]}")
            else:
                print(f"\nsmallest heap surviving {args.scans} scans + control messages"
                      f" (rescans of a code cut in two by host load: {last['rescans']}):"
                      f" {hi} KB (fails at {lo} KB)" + (" beyond the ROMFS image" if build.romfs else ""))


if __name__ == "__main__":
    main()
