"""The control plane end to end on a real mosquitto: the fleet side (paho +
greengate.control) publishes retained signed lists and answers blob fetches;
the device side is the real MicroPython MQTT client + control service."""

import hashlib
import os
import subprocess
import threading

import cbor2
import paho.mqtt.client as mqtt
from ctrl_kit import DEVICE, DRIVERS, SITE, Fleet, config_body
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from greengate.control import blobs
from greengate.control import envelope as env
from greengate.control import revocation as rv
from greengate.passes.keys import kid_for, raw_public
from mpy import MICROPYTHON, mpy_env

DEV = f"gg/v1/dev/{DEVICE}/"


def test_lists_blobs_and_a_command_over_mosquitto(mosquitto_broker, tmp_path):
    import time

    now = int(time.time())
    fleet = Fleet(tmp_path)
    root = tmp_path / "flash"
    root.mkdir()
    snap, _ = rv.build_snapshot([os.urandom(16) for _ in range(20000)], list_version=1)  # ~55 KB
    allow = cbor2.dumps([os.urandom(16) for _ in range(500)])
    store = {hashlib.sha256(b).digest(): b for b in (snap, allow)}
    pk = raw_public(Ed25519PrivateKey.generate())
    msgs = {
        "gg/v1/fleet/trust": fleet.msg(2, 1, [[kid_for(pk), pk, "SYT-HCM", 0]], iat=now, until=now + 86400),
        "gg/v1/fleet/revocation": fleet.msg(3, 1, {1: blobs.blob_ref(snap), 2: None}, iat=now, until=now + 86400),
        DEV + "config": fleet.msg(1, 1, config_body([], {6: blobs.blob_ref(allow)}), iat=now, until=now + 86400),
    }
    replies = []
    served = [0]
    bridge = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="fleet-bridge")

    def on_message(c, _u, m):
        if m.topic.endswith("/fetch"):
            req = blobs.parse_fetch(m.payload)
            for chunk in blobs.answer_fetch(req, store[req.sha256]):
                c.publish(DEV + "blob", chunk, qos=1)
                served[0] += 1
        elif m.topic.endswith("/reply"):
            replies.append(cbor2.loads(m.payload))

    bridge.on_message = on_message
    bridge.connect("127.0.0.1", mosquitto_broker.port)
    bridge.subscribe([(DEV + "fetch", 1), (DEV + "reply", 1)])
    bridge.loop_start()
    for topic, data in msgs.items():
        bridge.publish(topic, data, qos=1, retain=True).wait_for_publish(5)
    bridge.publish(DEV + "cmd", fleet.msg(4, 1, {1: 2, 2: {1: 3}}, iat=now, until=now + 120), qos=1)
    # the command is not retained: publish it again once the device is up
    timer = threading.Timer(2.0, lambda: bridge.publish(
        DEV + "cmd", fleet.msg(4, 1, {1: 2, 2: {1: 3}}, iat=now, until=now + 120), qos=1))
    timer.start()
    try:
        r = subprocess.run(
            [MICROPYTHON, "-X", "heapsize=4m", str(DRIVERS / "e2e_driver.py"), str(root), DEVICE, SITE,
             str(fleet.key_file), str(mosquitto_broker.port), "60"],
            capture_output=True, timeout=120, env=mpy_env())
    finally:
        timer.cancel()
        bridge.loop_stop()
        bridge.disconnect()
    assert r.returncode == 0, r.stderr.decode()
    import json

    out = json.loads(r.stdout.decode().splitlines()[-1])
    assert out["versions"] == {"1": 1, "2": 1, "3": 1, "4": 1}, (out, r.stderr.decode())
    assert out["error"] is None and out["fetching"] is False
    for sha, data in store.items():
        assert (root / f"blob_{sha[:8].hex()}.bin").read_bytes() == data
    assert served[0] >= sum(blobs.chunk_count(len(b), blobs.DEFAULT_CHUNK) for b in store.values())
    assert {1: 1, 2: 0, 3: "ok 2"} in replies
    assert env.digest(msgs[DEV + "config"]) == bytes(
        cbor2.loads((root / "ctrl_1.bin").read_bytes())[1])
