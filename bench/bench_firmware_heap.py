"""Heap of the running firmware (MicroPython unix port), measured as on a device.

    python3 bench/bench_firmware_heap.py               # everything below (~10-20 min)
    python3 bench/bench_firmware_heap.py --imports     # import cost per module
    python3 bench/bench_firmware_heap.py --components  # objects each part of main.py builds
    python3 bench/bench_firmware_heap.py --steady      # steady state, boot breakdown, heap map
    python3 bench/bench_firmware_heap.py --check       # pass check / decider rebuild working heap
    python3 bench/bench_firmware_heap.py --search      # smallest -X heapsize that survives
    options: --mode rom|mpy|source (default rom), --scans N (200), --revoked N
             (1,000,000), --firmware DIR (a copy of firmware/, for before/after)

How (docs/memory.md has the numbers and the reasoning):
- firmware/ is compiled to .mpy for the host (`mpy-cross -march=x64`) into a
  temp dir mirroring firmware/ (fonts copied) and packed into a ROMFS image
  mounted with vfs.VfsRom: the bytecode executes in place, as frozen modules
  or a ROMFS partition do on the ESP32. The image is one heap block here,
  subtracted from every number and added to each -X heapsize.
  --mode mpy / source: .mpy files / .py source (bytecode on the heap).
- The simulator's device is provisioned as in the field: trust list,
  revocation snapshot of 1,000,000 entries, a site config with rules and a
  500-entry worker allowlist blob, fleet key in config.json; a real
  mosquitto carries the MQTT side (scan reports, state, signed control
  messages, blob fetches).
- The real firmware (main.mpy, `micropython -X heapsize=... -c "import main"`)
  boots under greengate.sim.terminal; a bench-only wrapper around
  hal.unix.Port.event adds a `mem` event (gc.collect(); gc.mem_alloc()) after
  boot, each decision, control message and command: the steady state, live
  objects only. Nothing in firmware/ is changed for the measurement.
- Scans: 4 different passes in turn (resident admitted, revoked, listed
  worker admitted, unlisted worker) typed into the scanner pty, one at a
  time, each verdict checked; every 50 scans the fleet publishes a newer
  signed site config (the device fetches the allowlist blob and rebuilds its
  decider) and a signed "open gate" command.
- --search: binary search on -X heapsize for the smallest heap that survives
  the whole run (every scan decided with the expected verdict, every control
  message applied, no crash).
The unix port is 64-bit (8-byte pointers and object slots, 32-byte GC
blocks); the ESP32 is 32-bit (16-byte blocks): the ESP32 estimate printed
with --steady and its limits are explained in docs/memory.md.
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
import builtins
_imported = set()  # every module imported, also those unloaded again
_import = builtins.__import__
def _track(name, *args):
    m = _import(name, *args)
    _imported.add(name)
    if len(args) > 2 and type(args[2]) in (tuple, list):
        for sub in args[2]:
            if name + "." + sub in sys.modules:
                _imported.add(name + "." + sub)
    return m
builtins.__import__ = _track
from hal import unix as _u
_ev = _u.Port.event
def _event(self, kind, fields=None):
    _ev(self, kind, fields)
    if kind in ("decision", "control", "command") or (kind == "scanner" and fields and fields.get("state") == "ready"):
        _gc.collect()
        _ev(self, "mem", {"after": kind, "alloc": _gc.mem_alloc() - _rom, "free": _gc.mem_free(), "rom": _rom})
        if kind == "control" and os.getenv("GG_HEAP_MAP_CONTROL"):
            # and after the first control message (control plane loaded)
            import micropython
            print("MAP-CONTROL")
            micropython.mem_info(1)
            micropython.qstr_info()
            print("MODULES " + " ".join(sys.modules))
            print("MAP-END")
            os.unsetenv("GG_HEAP_MAP_CONTROL")
        if kind == "decision" and os.getenv("GG_HEAP_MAP"):
            # the heap block map after the first scan, for the ESP32 estimate
            import micropython
            micropython.mem_info(1)
            micropython.qstr_info()
            print("MODULES " + " ".join(sys.modules))
            print("IMPORTED " + " ".join(_imported | set(sys.modules)))
            _census()
            print("MAP-END")
            os.unsetenv("GG_HEAP_MAP")
def _census():
    # bytearrays / arrays reachable from the modules (globals, instance
    # attributes, containers): their lengths, for the byte-data correction
    seen = set()
    out = []
    todo = [m for m in sys.modules.values()]
    n = 0
    while todo and n < 20000:
        o = todo.pop()
        n += 1
        if id(o) in seen:
            continue
        seen.add(id(o))
        t = type(o)
        if t is bytearray:  # (bytes / str: constants keep their data in ROM)
            out.append(len(o))
        elif t.__name__ == "array":
            out.append(len(bytes(o)))
        elif t in (list, tuple):
            todo.extend(o)
        elif t is dict:
            todo.extend(o.values())
        else:
            try:
                d = o.__dict__
            except AttributeError:
                continue
            if type(d) is dict:
                todo.extend(d.values())
    print("BUFFERS " + " ".join(str(x) for x in out))
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

    def __init__(self, mode: str, workdir: Path, src: Path = FIRMWARE):
        self.mode = mode
        self.src = src
        self.romfs = None
        self.rom_kb = 0  # heap the ROMFS image occupies here (added to -X heapsize)
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

    def __init__(self, allowlist_size: int = 500, revoked: int = 1_000_000):
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
        others = [hashlib.sha256(b"other-%d" % i).digest()[:16] for i in range(revoked - 1)]
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
        for i, data in enumerate(self.blobs.values()):  # APPLY stores them as blob.py names them
            p = tmp / f"blob{i}.bin"
            p.write_bytes(data)
            req["blobs"].append({"path": str(p)})
        if apply_messages(req) != [True, True, True]:
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

    def __init__(self, root: Path, tree: Path, trace: bool = False, errfile=None,
                 romfs: Path | None = None, **kw):
        super().__init__(root, **kw)
        self.tree = tree
        self.romfs = romfs
        self.trace = trace
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
        if self.trace:
            env_["GG_HEAP_TRACE"] = "1"
            env_["GG_HEAP_MAP"] = "1"
            env_["GG_HEAP_MAP_CONTROL"] = "1"
        if self.romfs:
            env_.update(MICROPYPATH=".frozen", GG_ROMFS=str(self.romfs))
        self.proc = subprocess.Popen(
            [micropython_binary(), "-X", f"heapsize={self.heap}", "-c", BOOT],
            env=env_, cwd=str(p.root), stdout=self._stdout, stderr=self._stderr)


# what a code cut in two (or garbled) by the pty under host load decodes to;
# a heap failure shows as INTERNAL / NOT_PROVISIONED / a crash instead
_CUT = ("PREFIX", "BASE45", "INFLATE", "CBOR", "COSE")


def is_kind(k, **match):
    return lambda e: e.get("kind") == k and all(e.get(a) == b for a, b in match.items())


def run(build: Build, heap_kb: int, scans: int = 200, control_every: int = 50,
        trace: bool = False, quiet: bool = True) -> dict:
    """Boot the provisioned firmware, do `scans` scans (+ control messages).
    Returns {"ok", "error", "boot", "mem": [...], "decisions", "stderr"}."""
    tmp = Path(tempfile.mkdtemp(prefix="gg-heap-"))
    prov = Provisioning(revoked=REVOKED[0])
    out = {"ok": False, "error": None, "mem": [], "decisions": 0, "rescans": 0, "heap_kb": heap_kb}
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
            "map": heap_map(r["stderr"].split("MAP-CONTROL")[0], mem[0].get("rom", 0) if mem else 0),
            "map_control": heap_map(r["stderr"].split("MAP-CONTROL", 1)[1], mem[0].get("rom", 0))
            if "MAP-CONTROL" in r["stderr"] and mem else {},
            "decisions": r["decisions"], "trace": [ln for ln in r["stderr"].splitlines()
                                                    if ln.startswith("HEAP ")],
            "stderr_tail": r["stderr"][-2000:] if not r["ok"] else ""}


def heap_map(text: str, exclude: int = 0) -> dict:
    """Parse micropython.mem_info(1)'s block map (one char per 32-byte block on
    the 64-bit port: a head letter, then '=' per extra block) and estimate the
    same live objects on the 32-bit ESP32 (16-byte blocks, 4-byte pointers):
    allocations of 8+ blocks that are raw storage (head 'h': byte buffers,
    tables) keep their size; smaller ones and typed objects halve (their
    fields are pointers / machine words), at least one 16-byte block. The
    qstr pool (interned names) is reported apart: frozen modules keep their
    qstrs in flash. `exclude`: bytes of one allocation to leave out (the
    ROMFS image)."""
    if "GC memory layout" not in text:
        return {}
    body = text.split("GC memory layout", 1)[1].split("MAP-END", 1)[0]
    allocs: list[tuple[str, int]] = []
    import re

    for line in body.splitlines()[1:]:
        m = re.match(r"^[0-9a-f]{8}: (\S+)$", line)
        if not m:
            continue  # "(N lines all free)", or the firmware's own log lines
        for ch in m.group(1):
            if ch == "=":
                if allocs:
                    allocs[-1] = (allocs[-1][0], allocs[-1][1] + 1)
            elif ch == ".":
                allocs.append((".", 0))
            elif ch.strip():
                allocs.append((ch, 1))
    allocs = [a for a in allocs if a[0] != "."]
    if exclude and allocs:
        i = max(range(len(allocs)), key=lambda j: allocs[j][1])
        if allocs[i][1] * 32 >= exclude * 9 // 10:  # the image: by far the largest block
            del allocs[i]
    big = sum(n * 32 for ch, n in allocs if ch == "h" and n >= 8)
    small = sum(n * 32 for ch, n in allocs if not (ch == "h" and n >= 8))
    est = big + sum(max(16, (n * 32) // 2) for ch, n in allocs if not (ch == "h" and n >= 8))
    qstr = qstr_data = n_qstr = n_pool = 0
    if "n_total_bytes=" in body:
        qstr = int(body.split("n_total_bytes=")[1].split()[0])
        qstr_data = int(body.split("n_str_data_bytes=")[1].split(",")[0].split()[0])
        n_qstr = int(body.split("n_qstr=")[1].split(",")[0].split()[0])
        n_pool = int(body.split("n_pool=")[1].split(",")[0].split()[0])
    # the pool tables are raw blocks of 8+ blocks (counted whole above); the
    # string data sits in 128-byte chunks (4 blocks: counted half above), so
    # a frozen build saves the tables and half the data from the estimate
    in_est = (qstr - qstr_data) + qstr_data // 2
    by_type: dict[str, list[int]] = {}
    for ch, n in allocs:
        t = by_type.setdefault(ch, [0, 0])
        t[0] += 1
        t[1] += n * 32
    sizes = sorted((n * 32 for ch, n in allocs if ch == "h" and n >= 8), reverse=True)
    modules = body.split("MODULES ", 1)[1].split("\n", 1)[0].split() if "MODULES " in body else []
    buffers = [int(x) for x in body.split("BUFFERS ", 1)[1].split("\n", 1)[0].split()] \
        if "BUFFERS " in body else []
    imported = body.split("IMPORTED ", 1)[1].split("\n", 1)[0].split() if "IMPORTED " in body else modules
    # the qstr pool tables: each pool twice the size of the one before, the
    # newest the largest raw block (n_pool of them, all in the heap here)
    raw = sorted((n * 32 for ch, n in allocs if ch == "h"), reverse=True)
    pools: list[int] = raw[:1] if n_pool else []
    raw = raw[1:]
    while raw and len(pools) < n_pool:
        b = min(raw, key=lambda x: abs(x - pools[-1] / 2))
        if abs(b - pools[-1] / 2) > pools[-1] * 0.04:
            break
        pools.append(b)
        raw.remove(b)
    rest = list(sizes)
    for b in pools:
        if b in rest:
            rest.remove(b)
    return {"big": big, "small": small, "esp32": est, "qstr": qstr, "largest": sizes[:24], "raw_big": rest, "pools": pools, "buffers": buffers, "imported": imported,
            "esp32_frozen": est - in_est, "by_type": by_type, "count": len(allocs),
            "modules": modules, "n_qstr": n_qstr, "qstr_data": qstr_data}


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
        for p in sorted(tree.rglob("*.mpy" if build.mode != "source" else "*.py")):
            rel = p.relative_to(tree).with_suffix("")
            if rel.name == "main":
                continue
            mods.append(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
    env_ = dict(os.environ, MICROPYPATH=f"{tree}:.frozen")
    script = IMPORTS
    if build.romfs:
        env_.update(MICROPYPATH=".frozen", GG_ROMFS=str(build.romfs))
        script = ROM_MOUNT + IMPORTS
    res = subprocess.run([micropython_binary(), "-X", "heapsize=4m", "-c", script, *mods],
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


PORT_IMPORTS = """
import gc, sys, micropython
def qstr_bytes():
    import io
    micropython.qstr_info()
common, measured = sys.stdin.read().split(), sys.argv[1:]  # a long argv can break the wrapper
for m in common:
    try:
        __import__(m)
    except ImportError:
        pass
for m in measured:
    gc.collect()
    a = gc.mem_alloc()
    print("QSTR-BEFORE")
    micropython.qstr_info()
    __import__(m)
    gc.collect()
    print("COST %s %d" % (m, gc.mem_alloc() - a))
    micropython.qstr_info()
"""

# dict / map tables grow through these slot counts (py/map.c
# hash_allocation_sizes); a table is 2 words a slot: 16 B here, 8 B on the ESP32
DICT_SLOTS = (17, 23, 29, 37, 47, 59, 73, 97, 127, 167, 223)


def dict_tables(raw_big: list[int], const_tables: list[int]) -> list[int]:
    """The raw blocks of 8+ GC blocks that are dict tables: those of a dict
    table's size, less as many of each size as there are module constant
    tables of that size (the only other raw blocks of those sizes found:
    checked against the module and class dicts of an import-only run)."""
    sizes = {(n * 16 + 31) // 32 * 32 for n in DICT_SLOTS}
    consts: dict[int, int] = {}
    for t in const_tables:
        consts[t] = consts.get(t, 0) + 1
    out = []
    for b in raw_big:
        if b in sizes:
            if consts.get(b):
                consts[b] -= 1
            else:
                out.append(b)
    return out


def _importable(build: Build, modules: list[str]) -> list[str]:
    """The firmware modules (and the port's asyncio) among sys.modules names."""
    from rom_parts import module_file

    return [m for m in modules if m != "main"
            and (module_file(build.tree, m, ".mpy") or m.startswith("asyncio"))]


def _rom_run(build: Build, script: str, args: list[str], stdin: str) -> subprocess.CompletedProcess:
    """`script` under MicroPython with the ROMFS image mounted (ROM_MOUNT)."""
    env_ = dict(os.environ, MICROPYPATH=".frozen", GG_ROMFS=str(build.romfs))
    return subprocess.run([micropython_binary(), "-X", "heapsize=4m", "-c", ROM_MOUNT + script, *args],
                          input=stdin, capture_output=True, text=True, env=env_, timeout=120)


def import_qstrs(build: Build, modules: list[str]) -> int:
    """Names (qstrs) interned by importing `modules` alone, in a fresh process."""
    script = (
        "import micropython\n"
        "for m in sys.stdin.read().split():\n"
        "    try:\n"
        "        __import__(m)\n"
        "    except ImportError:\n"
        "        pass\n"
        "micropython.qstr_info()\n")
    base = _rom_run(build, script, [], "")
    res = _rom_run(build, script, [], " ".join(_importable(build, modules)))
    if res.returncode or base.returncode:
        raise RuntimeError(res.stderr + base.stderr)

    def n(out: str) -> int:
        return int(out.split("n_qstr=")[1].split(",")[0])
    return n(res.stdout) - n(base.stdout)


# modules this port loads that an ESP32 with its SSD1306 would not, and back
PORT_ONLY = ("display.png", "display.st7789", "display.filedisp", "hal.unix")
DEVICE_ONLY = ("hal.esp32",)


def port_modules(build: Build, modules: list[str]) -> dict:
    """Import cost of the unix-port-only modules among `modules` and of the
    ESP32's own HAL instead, each imported after all the common modules
    (so the cost is that module's own objects), as {name: (live heap growth,
    of which qstr pool growth)}."""
    common = [m for m in _importable(build, modules) if m not in PORT_ONLY]
    measured = [m for m in PORT_ONLY if m in modules] + list(DEVICE_ONLY)
    res = _rom_run(build, PORT_IMPORTS, measured, " ".join(common))
    if res.returncode:
        raise RuntimeError(f"{res.stderr.strip()} (importing {common + measured})")
    out, before, name = {}, 0, None
    for ln in res.stdout.splitlines():
        if ln.startswith("COST "):
            name, cost = ln.split()[1], int(ln.split()[2])
            out[name] = [cost, 0]
        elif ln.startswith("qstr pool:"):
            total = int(ln.split("n_total_bytes=")[1])
            if name is not None and out[name][1] == 0 and before:
                out[name][1] = total - before
            before = total
        elif ln == "QSTR-BEFORE":
            name = None
    return {k: tuple(v) for k, v in out.items()}


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
for text, reason in req["passes"]:
    want = getattr(reasons, reason)
    def check():
        return decider.decide(text, now).reason == want
    if not check():
        raise SystemExit("unexpected verdict for " + reason)
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    check()
    volume = gc.mem_alloc() - a
    gc.enable()
    out["checks"].append({"expect": reason, "headroom": headroom(check, 512 * 1024, 2048),
                      "allocated": volume})
decider = None
gc.collect()
out["rebuild_headroom"] = headroom(build, 512 * 1024, 2048)  # old decider dropped first (policy.reload)
print(json.dumps(out))
"""


def pass_check(build: Build) -> dict:
    """Heap a full pass check needs beyond the steady state (decode, COSE,
    Ed25519 verify, revocation lookup, rules) and the rebuild of the decider
    after a control message (trust keys prepared again)."""
    tmp = Path(tempfile.mkdtemp(prefix="gg-check-"))
    try:
        prov = Provisioning(revoked=REVOKED[0])
        prov.install(tmp / "flash", tmp)
        req = {"root": str(tmp / "flash" / "control"), "device": DEVICE, "site": SITE,
               "passes": [[t, r] for t, _, r in prov.scans]}
        bench = REPO / "bench"  # mpy_heap.headroom
        env_ = dict(os.environ, MICROPYPATH=f"{build.tree}:.frozen:{bench}")
        script = CHECK
        if build.romfs:
            env_.update(MICROPYPATH=f".frozen:{bench}", GG_ROMFS=str(build.romfs))
            script = ROM_MOUNT + CHECK
        res = subprocess.run([micropython_binary(), "-X", "heapsize=4m", "-c", script],
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
print("  of which revocation sparse index + slice + block buffers|%d" % (len(s._keys) + len(s._slice) + len(s._buf)))
al = d.config.allowlist
print("  of which allowlist page index + page buffer (%d entries)|%d"
      % (len(al), len(al._firsts) + len(al._offs) * 4 + len(al._buf) + len(al._rec)))
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
from app.netservice import NetService, ClockSync
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
        mods = []
        for p in sorted(build.tree.rglob("*.mpy" if build.mode != "source" else "*.py")):
            rel = p.relative_to(build.tree).with_suffix("")
            if rel.name != "main":
                mods.append(".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts))
        env_ = dict(os.environ, MICROPYPATH=f"{build.tree}:.frozen", GG_FLASH_DIR=str(tmp / "flash"),
                    GG_CONSOLE_PTY=os.ttyname(slave), GG_EVENT_FILE=str(tmp / "events.jsonl"),
                    GG_DISPLAY_DUMP=str(tmp / "display.png"), GG_INPUT_DIR=str(tmp / "inputs"))
        script = COMPONENTS
        if build.romfs:
            env_.update(MICROPYPATH=".frozen", GG_ROMFS=str(build.romfs))
            script = ROM_MOUNT + COMPONENTS
        res = subprocess.run([micropython_binary(), "-X", "heapsize=4m", "-c", script, *mods],
                             capture_output=True, text=True, env=env_, cwd=str(tmp), timeout=300)
        if res.returncode:
            raise RuntimeError(res.stdout + res.stderr)
        return [(ln.split("|")[0], int(ln.split("|")[1])) for ln in res.stdout.splitlines() if "|" in ln]
    finally:
        os.close(master)
        os.close(slave)
        shutil.rmtree(tmp, ignore_errors=True)


def frozen_estimate(build: Build, hm: dict, brief: bool = False) -> int:
    """Steps 2-5 of the ESP32 estimate (docs/memory.md, Method) on a parsed
    heap map; prints each step (the final line only with `brief`)."""
    out = print if not brief else (lambda *a, **k: None)
    from rom_parts import rom_parts, rule_share

    parts = rom_parts(build.tree, build.src, hm["modules"])
    share = rule_share(parts)
    out(f"    less what the .mpy loader put on the heap that a frozen module keeps in"
          f" flash (bench/rom_parts.py; {len(parts['per_module'])} modules loaded):"
          f" constant tables {sum(parts['tables']):,}, constant objects"
          f" {sum(parts['objects']):,} ({len(parts['objects'])}), nested code"
          f" {sum(parts['nested']):,} ({len(parts['nested'])} scopes) here;"
          f" the rule had counted {share:,} of them")
    frozen = hm["esp32_frozen"] - share
    # names interned at run time (not in any loaded module's
    # .mpy) stay in a RAM pool on a frozen build too: ~7 B of
    # pool entry (hash, length, pointer) + the text each
    # (modules imported and unloaded again left their names in the pool:
    # frozen, those are in flash too)
    # counted: the pool of a fresh process that imports the same modules
    # (ROM_MOUNT's own few names are in both)
    names = import_qstrs(build, hm["imported"])
    made = max(0, hm["n_qstr"] - names)
    avg = hm["qstr_data"] // max(1, hm["n_qstr"])
    runtime = made * (7 + avg)
    frozen += runtime
    out(f"    plus names interned at run time (qstr pool {hm['n_qstr']:,}; importing the same"
        f" modules alone: {names:,}): {made} x ~{7 + avg} B = {runtime:,}")
    out(f"  ESP32 estimate, modules frozen: {frozen:,}")
    # dict tables of 17+ slots (2 words a slot) are raw blocks of
    # 8+ GC blocks: the rule kept them whole, on the ESP32 they
    # are half; known by their sizes, less the constant tables
    # of the same sizes (docs/memory.md, Method, step 4)
    tables = dict_tables(hm["raw_big"], parts["tables"])
    half = sum(tables) // 2
    out(f"    less half of {len(tables)} dict tables of 17+ slots ({sum(tables):,} here,"
          f" sizes {', '.join(f'{n:,}' for n in sorted(set(tables)))}): {half:,}")
    frozen -= half
    out(f"  ESP32 estimate, modules frozen, dict tables halved: {frozen:,}")
    # byte data does not shrink on a 32-bit target, but the rule halved the
    # small blocks (< 8 GC blocks) of bytearrays / arrays: add the difference
    small = [n for n in hm["buffers"] if 0 < n < 8 * 32]
    under = sum(max(16, (n + 15) // 16 * 16) - max(16, (n + 31) // 32 * 16) for n in small)
    frozen += under
    out(f"    plus the byte data of {len(small)} small bytearrays / arrays the rule halved"
        f" ({sum(small):,} bytes): {under:,}")
    out(f"  ESP32 estimate, modules frozen, dict tables halved, small buffers whole: {frozen:,}")
    top = sorted(parts["per_module"].items(), key=lambda kv: -kv[1])[:8]
    out("    largest per module here: " + ", ".join(f"{m} {n:,}" for m, n in top))
    # the module set of an ESP32 with an SSD1306: without the
    # unix HAL and file panels, with hal.esp32; each module's
    # own objects (import cost less qstrs and ROM parts) halved
    pm = port_modules(build, hm["modules"])
    rom = rom_parts(build.tree, build.src, list(pm))["per_module"]
    share_of = {m: max(0, c - q - rom.get(m, 0)) // 2 for m, (c, q) in pm.items()}
    port_only = sum(n for m, n in share_of.items() if m not in DEVICE_ONLY)
    device = sum(n for m, n in share_of.items() if m in DEVICE_ONLY)
    out("    module objects (import cost less qstrs and ROM parts, halved): "
        + ", ".join(f"{m} {n:,}" for m, n in share_of.items()))
    final = frozen - port_only + device
    print(f"  ESP32 estimate, frozen, the ESP32's modules (- {port_only:,} unix port"
          f" only, + {device:,} hal.esp32): {final:,}")
    return final


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steady", action="store_true")
    ap.add_argument("--imports", action="store_true")
    ap.add_argument("--search", action="store_true")
    ap.add_argument("--check", action="store_true", help="heap of one pass check / decider rebuild")
    ap.add_argument("--components", action="store_true", help="objects built by each part of main.py")
    ap.add_argument("--mode", choices=("rom", "mpy", "source"), default="rom",
                    help="rom: .mpy executed in place from a ROMFS image (as frozen on the"
                         " device, default); mpy: .mpy files loaded into the heap; source: .py")
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
        kind = {"rom": ".mpy (mpy-cross -march=x64) in a ROMFS image, executed in place",
                "mpy": ".mpy (mpy-cross -march=x64) files, loaded into the heap",
                "source": "firmware/*.py source"}[args.mode]
        print(f"firmware as {kind}; MicroPython unix port (64-bit)")
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
            s = steady(build, scans=args.scans)
            print(f"\nsteady state, live heap (gc.collect(); gc.mem_alloc()), {s['decisions']} scans,"
                  f" ok={s['ok']} {s['error'] or ''}")
            for k in ("boot", "after_first_scan", "after_all_scans", "max_after_scan", "after_control"):
                print(f"  {k:18s} {s[k] if s[k] is None else format(s[k], ',')}")
            phases = [(int(ln.split()[1]), ln.split()[2:]) for ln in s["trace"]]
            order = [m for _, mods in phases for m in mods if m not in ("main", "gc")]
            costs, qstr = import_costs(build, order)
            cost = dict(costs)
            print("  boot, at each gc.collect() of the firmware: live heap, growth, of which"
                  " imports (code: measured alone, same order) / data (objects the firmware built)")
            prev = 0
            for alloc, mods in phases:
                if not [m for m in mods if m != "gc"]:
                    break  # boot is over (later collections: decider rebuilds)
                code = sum(cost.get(m, 0) for m in mods)
                grow = alloc - prev
                label = " ".join(sorted(m for m in mods if m != "gc"))
                print(f"    {alloc:8,d} {grow:+8,d}  code {code:7,d}  data {grow - code:+8,d}  {label[:90]}")
                prev = alloc
            total_code = sum(cost.values())
            print(f"  imports of the running firmware: {total_code:,} (qstr pool {qstr:,});"
                  f" data at boot: {s['boot'] - total_code:,}")
            hm = s["map"]
            if hm:
                names = {"h": "raw/untyped", "T": "tuple", "L": "list", "D": "dict", "S": "str/bytes",
                         "A": "bytearray/array", "B": "function", "M": "module", "F": "float"}
                print(f"  heap map after the first scan: {hm['count']:,} allocations;"
                      f" raw buffers >= 256 B: {hm['big']:,}, other objects: {hm['small']:,}")
                print("    largest raw buffers: " + " ".join(f"{b:,}" for b in hm["largest"]))
                for ch, (cnt, b) in sorted(hm["by_type"].items(), key=lambda kv: -kv[1][1]):
                    print(f"    {names.get(ch, ch):16s} {cnt:6,d} allocations {b:9,d} bytes")
                print(f"  ESP32 estimate (32-bit: raw buffers same size, other objects half):"
                      f" {hm['esp32']:,}" + (f"; with the modules frozen (qstr pool {hm['qstr']:,}"
                                             f" in flash): {hm['esp32_frozen']:,}"
                                             if build.romfs else " (bytecode on the heap)"))
                if build.romfs and hm["modules"]:
                    frozen_estimate(build, hm)
            cm = s.get("map_control")
            if cm and build.romfs and cm["modules"]:
                print(f"  after the first control message ({len(cm['modules'])} modules loaded,"
                      f" the control plane with them):")
                frozen_estimate(build, cm, brief=True)
            if s["stderr_tail"]:
                print(s["stderr_tail"])
        if everything or args.check:
            r = pass_check(build)
            print(f"\npass check (decider alone, {r['decider_bytes']:,} bytes live): free heap needed"
                  " (ballast method, 256-byte steps) / bytes allocated with the GC off")
            for ch in r["checks"]:
                print(f"  {ch['expect']:12s} {ch['headroom']:8,d} {ch['allocated']:10,d}")
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
