"""Provisioning over MQTT, end to end: the fleet publishes retained signed
trust / revocation / config messages and answers the device's blob fetches;
the terminal applies them and then admits a valid pass. A signed "open gate"
command pulses the relay and is answered on the reply topic."""

from __future__ import annotations

import hashlib
import io
import os
import time

import cbor2
import paho.mqtt.client as mqtt
from PIL import Image
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from greengate.control import envelope as env
from greengate.control.blobs import answer_fetch, parse_fetch
from greengate.sim.terminal import SimTerminal
from provision_kit import fleet_bundle, write_device_config

DEVICE = "gg-ctl-1"
TOPIC = {2: "gg/v1/fleet/trust", 3: "gg/v1/fleet/revocation", 1: f"gg/v1/dev/{DEVICE}/config"}


def reason_code(name: str) -> int:
    from greengate.passes import reasons

    return reasons.code(name)


def kind(k, **match):
    return lambda e: e.get("kind") == k and all(e.get(a) == b for a, b in match.items())


class Fleet:
    """The fleet side: retained control messages + a blob server."""

    def __init__(self, port: int, blobs: list[bytes], chunk: int):
        self.blobs = {hashlib.sha256(b).digest(): b for b in blobs}
        self.chunk = chunk
        self.fetches = 0
        self.replies: list[dict] = []
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fleet-test")
        self.c.on_message = self._on_message
        self.c.connect("127.0.0.1", port)
        self.c.subscribe(f"gg/v1/dev/{DEVICE}/fetch", qos=1)
        self.c.subscribe(f"gg/v1/dev/{DEVICE}/reply", qos=1)
        self.c.subscribe(f"gg/v1/dev/{DEVICE}/state", qos=1)
        self.states: list[dict] = []
        self.c.loop_start()

    def _on_message(self, client, userdata, msg):
        if msg.topic.endswith("/fetch"):
            req = parse_fetch(msg.payload)
            self.fetches += 1
            for chunk in answer_fetch(req, self.blobs[req.sha256], self.chunk):
                client.publish(f"gg/v1/dev/{DEVICE}/blob", chunk, qos=1)
        elif msg.topic.endswith("/state"):
            self.states.append(cbor2.loads(msg.payload))
        else:
            self.replies.append(cbor2.loads(msg.payload))

    def publish(self, topic: str, payload: bytes, retain: bool = True) -> None:
        self.c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        for t in TOPIC.values():  # clear the retained messages
            self.c.publish(t, b"", qos=1, retain=True).wait_for_publish(5)
        self.c.loop_stop()
        self.c.disconnect()


def test_provisioning_over_mqtt_then_admit_and_command(tmp_path, mosquitto_broker):
    bundle = fleet_bundle(DEVICE, snapshot_chunk=256)
    root = tmp_path / "sim"
    write_device_config(root / "flash", DEVICE, bundle.fleet_public)
    fleet = Fleet(mosquitto_broker.port, bundle.blobs, 256)
    try:
        for k, data in bundle.messages:
            fleet.publish(TOPIC[k], data)
        with SimTerminal(root, device_id=DEVICE,
                         broker=f"mqtt://127.0.0.1:{mosquitto_broker.port}") as sim:
            for k in (2, 3, 1):
                ev = sim.wait_for(kind("control", msg_kind=k), timeout=40)
                assert ev["applied"] is True, ev
            assert fleet.fetches >= 1  # the snapshot came in chunks on request
            sim.wait_for(kind("screen", screen="idle"), timeout=20)
            sim.wait_for(kind("scanner", state="ready"))  # a scan during set-up is lost
            n = len(sim.events())
            sim.scan(bundle.good_pass)
            decision = sim.wait_for(kind("decision"), after=n, timeout=30)
            assert decision["verdict"] is True, decision
            sim.wait_for(kind("pin", name="relay", value=1), after=n)
            sim.wait_for(kind("pin", name="relay", value=0), after=n)  # 3 s pulse over

            n = len(sim.events())
            sim.scan(bundle.revoked_pass)
            decision = sim.wait_for(kind("decision"), after=n, timeout=30)
            assert decision["reason"] == "REVOKED"

            # a config signed by another key is refused, state unchanged
            other = Ed25519PrivateKey.generate()
            now = int(time.time())
            forged = env.sign_message(1, 2, {1: "q7-sim-001", 5: [], 7: {}},
                                      env.device_scope(DEVICE), other, now - 10, now + 3600)
            fleet.publish(TOPIC[1], forged)
            refused = [1, reason_code("CTRL_SIGNATURE"), 0]
            deadline = time.monotonic() + 20
            while not any(st.get(12) == refused for st in fleet.states) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert any(st.get(12) == refused for st in fleet.states)  # device state: last error
            assert fleet.states[-1][3] == {1: 1, 2: 1, 3: 1}  # applied versions unchanged
            assert fleet.states[-1][10] == 301  # revocation entries in the snapshot

            # signed command: open the gate for 2 s
            cmd = env.sign_message(4, 1, {1: 2, 2: {1: 2}}, env.device_scope(DEVICE),
                                   bundle.fleet_key, now - 5, now + 120)
            n = len(sim.events())
            fleet.publish(f"gg/v1/dev/{DEVICE}/cmd", cmd, retain=False)
            sim.wait_for(kind("command", code=2), after=n, timeout=20)
            opened = sim.wait_for(kind("pin", name="relay", value=1), after=n)
            closed = sim.wait_for(kind("pin", name="relay", value=0), after=n)
            assert closed["ms"] - opened["ms"] >= 2000
            deadline = time.monotonic() + 10
            while not fleet.replies and time.monotonic() < deadline:
                time.sleep(0.1)
            assert fleet.replies and fleet.replies[-1][1] == 1 and fleet.replies[-1][2] == 0

            # signed command: screenshot, answered as PNG chunks
            fleet.replies.clear()
            shot = env.sign_message(4, 2, {1: 5, 2: {1: 256}}, env.device_scope(DEVICE),
                                    bundle.fleet_key, now - 5, now + 120)
            fleet.publish(f"gg/v1/dev/{DEVICE}/cmd", shot, retain=False)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if fleet.replies and len(fleet.replies) == fleet.replies[0].get(4, [0, 1])[1]:
                    break
                time.sleep(0.1)
            replied_at = time.time()
            parts = sorted(fleet.replies, key=lambda r: r[4][0])
            assert parts and all(r[1] == 2 and r[2] == 0 for r in parts)
            png = b"".join(r[5] for r in parts)
            assert hashlib.sha256(png).digest() == parts[0][6]
            shown = Image.open(io.BytesIO(png))
            assert shown.size == (128, 64)
            # the panel's own canvas, not a file: the same pixels as the display
            # dump (unless the screen was redrawn since, e.g. the idle clock ticked)
            if os.path.getmtime(sim.paths.display) <= replied_at - 1:
                dump = Image.open(sim.paths.display).convert("1")
                assert shown.convert("1").tobytes() == dump.tobytes()
            assert shown.convert("1").getbbox() is not None  # not a blank picture

            # signed command: reboot; the simulator boots the firmware again
            fleet.replies.clear()
            n = len(sim.events())
            boot = env.sign_message(4, 3, {1: 4, 2: {}}, env.device_scope(DEVICE),
                                    bundle.fleet_key, now - 5, now + 120)
            fleet.publish(f"gg/v1/dev/{DEVICE}/cmd", boot, retain=False)
            sim.wait_for(kind("command", code=4), after=n, timeout=20)
            sim.wait_for(kind("scanner", state="ready"), after=n, timeout=30)
            assert sim.reboots == 1
            assert fleet.replies and fleet.replies[0][1] == 3 and fleet.replies[0][2] == 0
            # still provisioned after the reboot: control state came from flash
            sim.wait_for(kind("screen", screen="idle"), after=n, timeout=20)
    finally:
        fleet.close()
