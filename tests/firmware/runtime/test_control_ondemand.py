"""The control plane on demand (firmware/control/link.py), the real firmware
under the simulator with a real mosquitto: on a provisioned device at steady
state the control service and its modules are not loaded (the retained
copies of the applied messages at connect load nothing); a signed message
loads it, is handled, and once nothing is pending and the quiet period
(config.json control_quiet_ms) passed, its modules leave sys.modules and the
heap is back where it was; it works again after that; a blob fetch in
progress keeps it loaded; the reported error (state key 12) outlives it."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import cbor2
import paho.mqtt.client as mqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from greengate.control import config as cc
from greengate.control import envelope as env
from greengate.control.blobs import answer_fetch, blob_ref, parse_fetch
from greengate.sim.terminal import SimTerminal, micropython_binary
from provision_kit import SITE, provision, write_device_config

DEVICE = "gg-ctl-ondemand"
DRIVER = Path(__file__).with_name("driver_control_ondemand.py")
QUIET_MS = 2000
DEV = f"gg/v1/dev/{DEVICE}/"
TOPIC = {2: "gg/v1/fleet/trust", 3: "gg/v1/fleet/revocation", 1: DEV + "config", 4: DEV + "cmd"}
SERVICE = ["app.controlservice", "control.service", "control.envelope"]  # loaded with it


def kind(k, **match):
    return lambda e: e.get("kind") == k and all(e.get(a) == b for a, b in match.items())


class Sim(SimTerminal):
    """The simulator, booting main.py through the test driver (mem events)."""

    def _spawn(self) -> None:
        import subprocess

        from greengate.paths import FIRMWARE

        p = self.paths
        env_ = dict(os.environ)
        env_.update(MICROPYPATH=f"{FIRMWARE}:.frozen", GG_FLASH_DIR=str(p.flash),
                    GG_SCANNER_PTY=os.ttyname(self._slave),
                    GG_CONSOLE_PTY=os.ttyname(self._console[1]), GG_EVENT_FILE=str(p.events),
                    GG_INPUT_DIR=str(p.inputs), GG_DISPLAY_DUMP=str(p.display))
        self.proc = subprocess.Popen([micropython_binary(), "-X", f"heapsize={self.heap}", str(DRIVER)],
                                     env=env_, cwd=str(p.root), stdout=self._stdout,
                                     stderr=self._stderr)

    def mem(self, since: int = 0, **match) -> dict:
        """The first mem event from event index `since` on (the driver's
        `after` field: which event it follows)."""
        ev = self.wait_for(lambda e: e.get("kind") == "mem" and all(
            e.get(a) == b for a, b in match.items()), after=since, timeout=60)
        ev["qstr"] = self.qstr(ev["seq"])
        return ev

    def probe(self) -> dict:
        """The live heap now (the exit button's event is the sample point)."""
        time.sleep(0.15)  # a press right after the last one's release is debounced away
        n = len(self.events())
        self.press()
        return self.mem(n, after="exit")

    def qstr(self, seq: int) -> int:
        """The qstr pool's total bytes printed after SEQ <seq>."""
        lines = (self.paths.root / "stdout.txt").read_text().splitlines()
        at = lines.index(f"SEQ {seq}")
        pool = next(ln for ln in lines[at:] if ln.startswith("qstr pool:"))
        return int(pool.split("n_total_bytes=")[1])


class Fleet:
    """Retained lists, commands, blob fetches answered while `serve` is set,
    device state reports."""

    def __init__(self, port: int, blobs: list[bytes]):
        self.blobs = {hashlib.sha256(b).digest(): b for b in blobs}
        self.serve = threading.Event()
        self.serve.set()
        self.fetches = 0
        self.states: list[dict] = []
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fleet-ondemand")
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.subscribe([(DEV + "fetch", 1), (DEV + "state", 1)])
        self.c.loop_start()

    def _on_message(self, client, userdata, msg):
        if msg.topic.endswith("/state"):
            if msg.payload:
                self.states.append(cbor2.loads(msg.payload))
            return
        self.fetches += 1
        if self.serve.is_set():
            req = parse_fetch(msg.payload)
            for chunk in answer_fetch(req, self.blobs[req.sha256], 256):
                client.publish(DEV + "blob", chunk, qos=1)

    def publish(self, k: int, payload: bytes) -> None:
        self.c.publish(TOPIC[k], payload, qos=1, retain=k != 4).wait_for_publish(5)

    def wait_state(self, predicate, after: int = 0, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for st in list(self.states)[after:]:
                if predicate(st):
                    return st
            time.sleep(0.05)
        raise AssertionError(f"no such device state; last: {self.states[-1:]}")

    def close(self) -> None:
        for k in (1, 2, 3):  # clear the retained messages
            self.c.publish(TOPIC[k], b"", qos=1, retain=True).wait_for_publish(5)
        self.c.loop_stop()
        self.c.disconnect()


def test_control_service_loads_per_message_and_unloads_when_quiet(tmp_path, mosquitto_broker):
    root = tmp_path / "sim"
    flash = root / "flash"
    bundle = provision(flash, DEVICE, tmp_path)  # trust, revocation, config v1 applied
    write_device_config(flash, DEVICE, bundle.fleet_public)
    cfg_path = flash / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["control_quiet_ms"] = QUIET_MS
    cfg_path.write_text(json.dumps(cfg))
    allow = cc.allowlist_blob([os.urandom(16) for _ in range(40)])
    fleet = Fleet(mosquitto_broker.port, [allow])
    now = int(time.time())

    def sign(k, version, body, iat=now - 30, key=None):
        scope = env.fleet_scope() if k in (2, 3) else env.device_scope(DEVICE)
        return env.sign_message(k, version, body, scope, key or bundle.fleet_key, iat, now + 3600)

    config_v1 = cbor2.loads(cbor2.loads(bundle.messages[2][1]).value[2])[6]
    for k, data in bundle.messages:  # the applied messages, retained as the fleet keeps them
        fleet.publish(k, data)
    root.mkdir(parents=True, exist_ok=True)
    out = (root / "stdout.txt").open("wb")
    sim = Sim(root, device_id=DEVICE, broker=f"mqtt://127.0.0.1:{mosquitto_broker.port}")
    try:
        sim.start(stdout=out)
        sim.wait_for(kind("scanner", state="ready"), timeout=30)
        fleet.wait_state(lambda s: s.get(1) is True)  # online: subscribed, retained ones came
        time.sleep(QUIET_MS * 2 / 1000)  # time enough to load and drop it, if it were loaded

        # steady state (after a first pass check, which loads the Ed25519
        # base-point table the signature check of a control message uses too):
        # nothing of the service loaded, never a session
        n = len(sim.events())
        sim.scan(bundle.good_pass)
        assert sim.wait_for(kind("decision"), after=n, timeout=30)["verdict"] is True
        sim.wait_for(kind("pin", name="relay", value=0), after=n)  # its 3 s pulse is over
        assert not [e for e in sim.events() if e["kind"] in ("control_service", "control")]
        pre = sim.probe()
        assert pre["loaded"] == []
        st = fleet.wait_state(lambda s: 3 in s)
        assert st[3] == {1: 1, 2: 1, 3: 1} and st[12] is None and st[13] is None

        # a signed command loads it, runs, and it is dropped once quiet
        n = len(sim.events())
        fleet.publish(4, sign(4, 1, {1: 2, 2: {1: 1}}))
        on = sim.mem(n, after="control_service")
        assert set(SERVICE) <= set(on["loaded"])
        sim.wait_for(kind("command", code=2), after=n)
        sim.wait_for(kind("pin", name="relay", value=1), after=n)
        off = sim.mem(n, after="control_service", loaded=[])
        # the service and its modules (~15 KB here: .py source, bytecode on the heap)
        assert on["alloc"] - off["alloc"] > 8_000, (on, off)
        after1 = sim.probe()
        assert after1["loaded"] == []

        # a new config (rebuild: app.provisioned, control.blob too) works after
        # the unload, and the heap is back where it was before any message
        n = len(sim.events())
        fleet.publish(1, sign(1, 2, config_v1))
        ev = sim.wait_for(kind("control", msg_kind=1), after=n)
        assert ev["applied"] is True and ev["version"] == 2
        sim.mem(n, after="control_service", loaded=[])
        after2 = sim.probe()
        # Margin: what the first loads keep for good, measured here: the
        # qstrs they interned (subtracted: names are never freed; in flash
        # when frozen), sys.modules' hash table grown once by the imports
        # (dicts never shrink: ~50 slots x 16 B = 768 B at ~80 modules), the
        # record of the first applied command (~100 B), and ~300 B that vary
        # from run to run (MQTT slots, screen): 700-800 B measured.
        for after in (after1, after2):
            left = after["alloc"] - pre["alloc"] - (after["qstr"] - pre["qstr"])
            assert left <= 1536, (pre, after)

        # and a second command: a later session leaves nothing behind (0-320 B
        # measured: the run-to-run noise above; a module left loaded is KBs)
        n = len(sim.events())
        fleet.publish(4, sign(4, 2, {1: 2, 2: {1: 1}}))
        sim.wait_for(kind("command", code=2), after=n)
        sim.mem(n, after="control_service", loaded=[])
        after3 = sim.probe()
        assert after3["alloc"] - after2["alloc"] - (after3["qstr"] - after2["qstr"]) <= 512, (after2, after3)

        # a refusal reported in state key 12 is still reported after the unload
        n, n_st = len(sim.events()), len(fleet.states)
        fleet.publish(1, sign(1, 3, config_v1, key=Ed25519PrivateKey.generate()))  # forged
        refused = fleet.wait_state(lambda s: s.get(12) is not None, after=n_st)
        sim.mem(n, after="control_service", loaded=[])
        n, n_st = len(sim.events()), len(fleet.states)
        fleet.publish(4, sign(4, 3, {1: 1, 2: {}}))  # "sync": publishes the state
        st = fleet.wait_state(lambda s: 3 in s and s[3].get(4) == 3, after=n_st)
        assert st[12] == refused[12] and refused[12][0] == 1
        sim.mem(n, after="control_service", loaded=[])

        # a blob fetch in progress keeps it loaded
        fleet.serve.clear()
        body = dict(config_v1)
        body[6] = blob_ref(allow, 256)
        n, fetches = len(sim.events()), fleet.fetches
        fleet.publish(1, sign(1, 4, body))
        sim.wait_for(kind("control_service", loaded=True), after=n)
        deadline = time.monotonic() + 30
        while fleet.fetches == fetches and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fleet.fetches > fetches  # asked for the blob, got nothing
        time.sleep(QUIET_MS * 3 / 1000)
        busy = sim.probe()
        assert set(SERVICE + ["control.blob"]) <= set(busy["loaded"])  # the fetch is pending
        assert not [e for e in sim.events()[n:] if kind("control_service", loaded=False)(e)]
        n_st = len(fleet.states)
        fleet.serve.set()  # the fetch retry (every 10 s) is answered now
        ev = sim.wait_for(kind("control", msg_kind=1, version=4), after=n, timeout=60)
        assert ev["applied"] is True
        sim.mem(n, after="control_service", loaded=[])
        assert (flash / "control" / f"blob_{hashlib.sha256(allow).digest()[:8].hex()}.bin").read_bytes() == allow
        st = fleet.wait_state(lambda s: 3 in s and s[3].get(1) == 4, after=n_st)
        assert st[13] is None
    finally:
        sim.stop()
        out.close()
        fleet.close()
