"""control/service.py under MicroPython with a fake MQTT client: signed
messages are applied, blobs are fetched in windows and committed only when
complete, commands run once and are answered, refusals are reported."""

import hashlib
import json
import os
import subprocess

import cbor2
import pytest
from ctrl_kit import DEVICE, DRIVERS, SITE, T0, Fleet, config_body
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from greengate.control import blobs
from greengate.control import revocation as rv
from greengate.passes.keys import kid_for, raw_public
from mpy import MICROPYTHON, mpy_env

NOW = T0 + 60
DEV = f"gg/v1/dev/{DEVICE}/"


class Device:
    def __init__(self, fleet: Fleet, root):
        self.fleet = fleet
        self.p = subprocess.Popen(
            [MICROPYTHON, "-X", "heapsize=4m", str(DRIVERS / "service_driver.py"), str(root), DEVICE, SITE,
             str(fleet.key_file)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=mpy_env())
        self.subs = self._read()["subs"]

    def _read(self):
        line = self.p.stdout.readline()
        if not line:
            raise AssertionError(self.p.stderr.read().decode())
        return json.loads(line)

    def cmd(self, c):
        self.p.stdin.write((json.dumps(c) + "\n").encode())
        self.p.stdin.flush()
        return self._read()

    def send(self, topic, data, now=NOW):
        return self.cmd({"op": "msg", "topic": topic, "path": self.fleet.file(data), "now": now})

    def out(self):
        o = self.cmd({"op": "out"})
        o["state"] = cbor2.loads(bytes.fromhex(o["state"]))
        o["replies"] = [cbor2.loads(bytes.fromhex(r)) for r in o["replies"]]
        return o

    def serve_fetches(self, store: dict, out: dict, limit=100) -> int:
        """Act as the fleet bridge: answer fetch requests until none is left."""
        served = 0
        pubs = out["pub"]
        while limit:
            limit -= 1
            reqs = [bytes.fromhex(h) for t, h, _ in pubs if t == DEV + "fetch"]
            if not reqs:
                return served
            for r in reqs:
                req = blobs.parse_fetch(r)
                for chunk in blobs.answer_fetch(req, store[req.sha256], 256):
                    self.send(DEV + "blob", chunk)
                    served += 1
            o = self.out()
            pubs = o["pub"]
            out["applied"] += o["applied"]
        raise AssertionError("fetch loop did not end")

    def close(self):
        self.p.stdin.close()
        self.p.wait(10)


@pytest.fixture
def device(tmp_path):
    fleet = Fleet(tmp_path)
    root = tmp_path / "flash"
    root.mkdir()
    d = Device(fleet, root)
    yield d, fleet, root
    d.close()


def trust_body():
    pk = raw_public(Ed25519PrivateKey.generate())
    return [[kid_for(pk), pk, "SYT-HCM", 0]]


def test_subscriptions_follow_the_protocol(device):
    d, _, _ = device
    assert sorted(t for t, _ in d.subs) == sorted(
        [DEV + "cmd", DEV + "config", DEV + "blob", DEV + "ota", "gg/v1/fleet/trust",
         "gg/v1/fleet/revocation"])
    assert all(q == 1 for _, q in d.subs)


def test_lists_with_blobs_are_fetched_then_committed(device):
    d, fleet, root = device
    snap, _ = rv.build_snapshot([os.urandom(16) for _ in range(3000)], list_version=1)  # ~8 KB
    delta = rv.build_delta([os.urandom(16) for _ in range(20)], [], 1)
    allow = cbor2.dumps([os.urandom(16) for _ in range(100)])
    store = {hashlib.sha256(b).digest(): b for b in (snap, delta, allow)}
    rev_body = {1: blobs.blob_ref(snap, 256), 2: blobs.blob_ref(delta, 256)}
    cfg = config_body([[1, {1: [0]}]], {6: blobs.blob_ref(allow, 256)})

    d.send("gg/v1/fleet/trust", fleet.msg(2, 1, trust_body()))
    d.send("gg/v1/fleet/revocation", fleet.msg(3, 1, rev_body))
    d.send(DEV + "config", fleet.msg(1, 1, cfg))
    out = d.out()
    assert out["applied"] == [2]  # trust has no blobs; the others wait
    st = out["state"]
    assert st[3] == {2: 1} and st[13][0] == rev_body[1][1] and st[13][1] == 0
    fetches = [cbor2.loads(bytes.fromhex(h)) for t, h, _ in out["pub"] if t == DEV + "fetch"]
    assert fetches == [{1: rev_body[1][1], 2: 0, 3: 16}]
    served = d.serve_fetches(store, out)
    assert served == sum(blobs.chunk_count(len(b), 256) for b in store.values())
    assert sorted(out["applied"]) == [1, 2, 3]
    final = d.out()
    assert final["state"][3] == {1: 1, 2: 1, 3: 1} and final["state"][13] is None
    names = {f"blob_{h[:8].hex()}.bin" for h in store}
    assert names <= set(final["files"])
    assert not [f for f in final["files"] if f.endswith(".part")]
    for sha, data in store.items():
        assert (root / f"blob_{sha[:8].hex()}.bin").read_bytes() == data

    # a new revocation list replaces the old blobs; the retained copy of the
    # applied config arriving again is a no-op
    snap2, _ = rv.build_snapshot([os.urandom(16) for _ in range(500)], list_version=2)
    store[hashlib.sha256(snap2).digest()] = snap2
    d.send("gg/v1/fleet/revocation", fleet.msg(3, 2, {1: blobs.blob_ref(snap2, 256), 2: None}))
    d.send(DEV + "config", fleet.msg(1, 1, cfg))  # same version, new signature bytes -> replay
    out = d.out()
    d.serve_fetches(store, out)
    assert out["applied"] == [3]
    final = d.out()
    assert final["state"][12] is None or final["state"][12][1] == 43
    files = set(final["files"])
    assert f"blob_{hashlib.sha256(snap2).digest()[:8].hex()}.bin" in files
    assert f"blob_{hashlib.sha256(snap).digest()[:8].hex()}.bin" not in files  # cleaned up
    assert f"blob_{hashlib.sha256(allow).digest()[:8].hex()}.bin" in files     # still named


def test_commands_run_once_and_are_answered(device):
    d, fleet, _ = device
    open_gate = fleet.msg(4, 1, {1: 2, 2: {1: 5}}, until=T0 + 120)
    d.send(DEV + "cmd", open_gate)
    d.send(DEV + "cmd", open_gate)                                   # identical: no-op
    d.send(DEV + "cmd", fleet.msg(4, 1, {1: 2, 2: {1: 9}}, until=T0 + 120))   # replay
    d.send(DEV + "cmd", fleet.msg(4, 2, {1: 5, 2: {1: 512}}, until=T0 + 120)) # screenshot
    d.send(DEV + "cmd", fleet.msg(4, 3, {1: 3, 2: {}}, until=T0 + 120))       # handler fails
    d.send(DEV + "cmd", fleet.msg(4, 4, {1: 4, 2: {}}, until=T0 + 30), now=T0 + 31)  # expired
    d.send(DEV + "cmd", fleet.msg(4, 5, {1: 4, 2: {}}, key=fleet.other))      # wrong key
    d.send(DEV + "cmd", fleet.msg(4, 6, {1: 99, 2: {}}))                      # unknown code
    d.send(DEV + "cmd", fleet.msg(4, 7, {1: 1, 2: {}}))                       # sync
    out = d.out()
    assert out["commands"] == [2, 5, 3]
    reps = out["replies"]
    assert reps[0] == {1: 1, 2: 0, 3: "opened 5s"}
    assert reps[1][2] == 43
    png = [r for r in reps if r[1] == 2]
    assert [r[4] for r in png] == [[i, 5] for i in range(5)]
    data = b"".join(r[5] for r in png)
    assert data == bytes(range(256)) * 10 and png[0][6] == hashlib.sha256(data).digest()
    assert [(r[1], r[2]) for r in reps] == (
        [(1, 0), (0, 43)] + [(2, 0)] * 5
        + [(3, 29), (0, 44), (0, 41), (0, 45), (7, 0)]  # handler failed: INTERNAL; refusals
    )
    assert reps[-1] == {1: 7, 2: 0, 3: "sync"}
    assert all(len(cbor2.dumps(r)) <= 1024 for r in reps)
    assert out["state"][3] == {4: 7}


def test_inbox_is_bounded(device):
    d, fleet, _ = device
    # a burst arriving before the control task runs: same-kind lists are
    # superseded by the newest, commands beyond the 4-slot inbox are dropped
    for v in range(1, 4):
        d.cmd({"op": "msg", "topic": "gg/v1/fleet/trust", "path": fleet.file(fleet.msg(2, v, trust_body())),
               "now": NOW, "step": False})
    for v in range(1, 6):
        d.cmd({"op": "msg", "topic": DEV + "cmd", "path": fleet.file(fleet.msg(4, v, {1: 2, 2: {1: v}})),
               "now": NOW, "step": False})
    d.send("gg/v1/dev/gg-ffffffffffff/cmd", fleet.msg(4, 9, {1: 2, 2: {}}))  # not our topic: ignored
    out = d.out()
    assert out["applied"] == [2] and out["state"][3][2] == 3   # only the newest trust list
    assert out["dropped"] == 1                                  # 5 commands > 4 slots
    assert out["commands"] == [2, 2, 2, 2]                      # versions 2..5 ran
    assert [r[1] for r in out["replies"]] == [2, 3, 4, 5]


def test_state_file_lost_after_apply_is_reported_and_heals(device):
    d, fleet, root = device
    snap, _ = rv.build_snapshot([os.urandom(16) for _ in range(300)], list_version=1)
    allow = cbor2.dumps([os.urandom(16) for _ in range(50)])
    store = {hashlib.sha256(b).digest(): b for b in (snap, allow)}
    cfg = fleet.msg(1, 1, config_body([[1, {1: [0]}]], {6: blobs.blob_ref(allow, 256)}))
    d.send("gg/v1/fleet/trust", fleet.msg(2, 1, trust_body()))
    d.send("gg/v1/fleet/revocation", fleet.msg(3, 1, {1: blobs.blob_ref(snap, 256), 2: None}))
    d.send(DEV + "config", cfg)
    out = d.out()
    d.serve_fetches(store, out)
    st = d.out()["state"]
    assert st[3] == {1: 1, 2: 1, 3: 1} and st[12] is None
    blob_files = {f"blob_{h[:8].hex()}.bin" for h in store}

    # the config's file is corrupted on flash (one bit of its signature)
    path = root / "ctrl_1.bin"
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x10
    path.write_bytes(bytes(data))
    # the next commit reads the applied messages back (blob clean-up, and
    # the app's decider rebuild): the config counts as not applied
    d.send("gg/v1/fleet/trust", fleet.msg(2, 2, trust_body()))
    out = d.out()
    assert out["applied"] == [2]
    assert out["state"][3] == {2: 2, 3: 1}
    assert out["state"][12] == [1, 29, 0]  # kind 1, INTERNAL
    assert blob_files <= set(out["files"])  # kept for the config's re-delivery

    # the retained config arrives again (reconnect): applied again, with the
    # allowlist blob still on flash (no new fetch)
    d.send(DEV + "config", cfg)
    out = d.out()
    assert out["applied"] == [1]
    assert not [t for t, _, _ in out["pub"] if t == DEV + "fetch"]
    assert out["state"][3] == {1: 1, 2: 2, 3: 1} and out["state"][12] is None
    assert path.read_bytes()[-5] == data[-5] ^ 0x10  # the file is whole again


def test_a_message_that_runs_out_of_heap_is_tried_again(device):
    # a MemoryError while handling (e.g. no hole for the verify table in a
    # fragmented heap) puts the message back; the run loop tries again after
    # a collection, 3 times in all, then it is dropped and reported
    d, fleet, _ = device
    d.cmd({"op": "oom", "n": 2})
    assert d.send("gg/v1/fleet/trust", fleet.msg(2, 1, trust_body())) == {"oom": True}
    assert d.cmd({"op": "step"}) == {"oom": True}
    assert d.cmd({"op": "step"}) == {}  # third try: heap enough
    out = d.out()
    assert out["applied"] == [2] and out["state"][3] == {2: 1} and out["inbox"] == 0
    assert out["state"][12] is None

    d.cmd({"op": "oom", "n": 3})
    assert d.send("gg/v1/fleet/trust", fleet.msg(2, 2, trust_body())) == {"oom": True}
    assert d.cmd({"op": "step"}) == {"oom": True}
    assert d.cmd({"op": "step"}) == {"oom": True}  # the third failure drops it
    assert d.cmd({"op": "step"}) == {}
    out = d.out()
    assert out["applied"] == [] and out["state"][3] == {2: 1} and out["inbox"] == 0
    assert out["state"][12] == [2, 29, 0]  # kind 2, INTERNAL: the fleet's GATE_ERROR alert
    # a newer message applies as usual afterwards
    d.send("gg/v1/fleet/trust", fleet.msg(2, 3, trust_body()))
    assert d.out()["state"][3] == {2: 3}
