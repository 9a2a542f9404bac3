"""Tampered, rolled-back, replayed and expired signed control messages
published to the real firmware through a real mosquitto are refused: the
device's state files stay byte-identical, the refusal is in its retained
state (key 12), a refused command does not run; then a valid newer message
is applied."""

from __future__ import annotations

import time
from pathlib import Path

import cbor2
import paho.mqtt.publish as publish

from e2e_kit import Subscriber, boot, kind, provision_site, reason_code

DEVICE = "gg-0000000e2e04"
VERSIONS = {1: 3, 2: 2, 3: 2}  # applied at provisioning


def state_files(flash: Path) -> dict[str, bytes]:
    """The device's persistent state: control files (ctrl_*.bin, blobs),
    config.json and the NVS (clock floor)."""
    files = {p.relative_to(flash).as_posix(): p.read_bytes()
             for p in sorted((flash / "control").iterdir()) if p.is_file()}
    for name in ("config.json", "nvs.json"):
        files[name] = (flash / name).read_bytes()
    assert any(n.startswith("control/ctrl_") for n in files)
    return files


def tamper(message: bytes) -> bytes:
    """Bump the signed version (an attacker's edit), keep the signature."""
    tag = cbor2.loads(message)
    protected, unprotected, payload, signature = tag.value
    fields = cbor2.loads(payload)
    fields[2] += 10
    return cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, cbor2.dumps(fields), signature]))


class Fleet:
    def __init__(self, port: int, site):
        self.port = port
        self.site = site
        self.sub = Subscriber(port, [f"gg/v1/dev/{DEVICE}/state", f"gg/v1/dev/{DEVICE}/reply"])

    def publish(self, k: int, payload: bytes) -> None:
        # lists are retained (as the fleet publishes them), commands are not
        publish.single(self.site.topic(k), payload, qos=1, retain=k != 4,
                       hostname="127.0.0.1", port=self.port)

    def states(self) -> list[dict]:
        return [cbor2.loads(p) for t, p, _ in self.sub.snapshot()
                if t.endswith("/state") and p != b"\xa1\x01\xf4"]

    def replies(self) -> list[dict]:
        return [cbor2.loads(p) for t, p, _ in self.sub.snapshot() if t.endswith("/reply")]

    def wait_state(self, predicate, after: int = 0, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for st in self.states()[after:]:
                if predicate(st):
                    return st
            time.sleep(0.05)
        raise AssertionError(f"no such device state; last: {self.states()[-1:]}")


def test_bad_control_messages_are_refused_and_change_nothing(tmp_path, mosquitto_broker):
    root = tmp_path / "sim"
    flash = root / "flash"
    site = provision_site(flash, tmp_path, DEVICE, versions=VERSIONS)
    good_pass = site.issue(bytes.fromhex("0011223344556677"))
    fleet = Fleet(mosquitto_broker.port, site)
    sim = boot(root, DEVICE, mosquitto_broker.port)
    now = int(time.time())
    try:
        sim.start()
        sim.wait_for(kind("scanner", state="ready"), timeout=30)
        sim.wait_for(kind("screen", screen="idle"), timeout=20)
        fleet.wait_state(lambda st: st.get(1) is True and st.get(3) == VERSIONS)

        # a valid command first, so the command slot has an applied version
        opened = site.sign(4, 1, {1: 2, 2: {1: 1}})
        n = len(sim.events())
        fleet.publish(4, opened)
        sim.wait_for(kind("command", code=2), after=n, timeout=20)
        sim.wait_for(kind("pin", name="relay", value=1), after=n)
        sim.wait_for(kind("pin", name="relay", value=0), after=n, timeout=10)
        assert fleet.sub.wait(lambda m: any(r.get(1) == 1 and r.get(2) == 0
                                            for r in fleet.replies()), timeout=10)
        time.sleep(0.5)  # let the clock sync / state writes of the boot settle
        before = state_files(flash)
        applied = {**VERSIONS, 4: 1}  # the command's version is recorded too
        assert cbor2.loads(before["control/ctrl_4.bin"])[0] == 1

        trust_v1 = site.sign(2, 1, _trust_body(site))
        cases = [
            # (name, kind, message, key 12 [kind, reason, version])
            ("tampered config", 1, tamper(site.sign(1, 4, _config(site))),
             [1, reason_code("CTRL_SIGNATURE"), 0]),
            ("rolled-back config", 1, site.sign(1, 2, _config(site)),
             [1, reason_code("CTRL_ROLLBACK"), 2]),
            ("replayed config (same version, new bytes)", 1,
             site.sign(1, 3, _config(site), iat=now - 30),
             [1, reason_code("CTRL_REPLAY"), 3]),
            ("expired config", 1, site.sign(1, 4, _config(site), iat=now - 7200, until=now - 3600),
             [1, reason_code("CTRL_EXPIRED"), 4]),
            ("rolled-back trust list", 2, trust_v1, [2, reason_code("CTRL_ROLLBACK"), 1]),
            ("tampered revocation manifest", 3, tamper(site.messages[3]),
             [3, reason_code("CTRL_SIGNATURE"), 0]),
            ("expired revocation manifest", 3,
             site.sign(3, 3, cbor2.loads(cbor2.loads(site.messages[3]).value[2])[6],
                       iat=now - 7200, until=now - 3600),
             [3, reason_code("CTRL_EXPIRED"), 3]),
            ("replayed command (same version, new bytes)", 4,
             site.sign(4, 1, {1: 2, 2: {1: 1}}, iat=now - 20),
             [4, reason_code("CTRL_REPLAY"), 1]),
            ("rolled-back command", 4, site.sign(4, 0, {1: 2, 2: {1: 1}}),
             [4, reason_code("CTRL_ROLLBACK"), 0]),
            ("expired command", 4, site.sign(4, 2, {1: 2, 2: {1: 1}}, iat=now - 600,
                                             until=now - 480),
             [4, reason_code("CTRL_EXPIRED"), 2]),
            ("tampered command", 4, tamper(site.sign(4, 3, {1: 2, 2: {1: 1}})),
             [4, reason_code("CTRL_SIGNATURE"), 0]),
        ]
        last = None
        for name, k, message, refused in cases:
            assert refused != last  # each refusal is told apart from the one before
            n_states, n_events, n_replies = len(fleet.states()), len(sim.events()), len(fleet.replies())
            fleet.publish(k, message)
            st = fleet.wait_state(lambda s: s.get(12) == refused, after=n_states)
            assert st[3] == applied, name  # applied versions unchanged
            if k == 4:  # a refused command is answered with version 0 and its reason
                assert fleet.sub.wait(lambda m: len(fleet.replies()) > n_replies, timeout=10), name
                reply = fleet.replies()[n_replies]
                assert reply[1] == 0 and reply[2] == refused[1], (name, reply)
            time.sleep(0.3)
            evs = sim.events()[n_events:]
            assert not [e for e in evs if e.get("kind") in ("control", "command")], (name, evs)
            assert not [e for e in evs if e.get("name") == "relay" and e.get("value") == 1], name
            assert state_files(flash) == before, f"{name} changed the device's state files"
            last = refused

        # the exact command bytes again: a no-op, the gate does not open twice
        n = len(sim.events())
        fleet.publish(4, opened)
        time.sleep(1.5)
        assert not [e for e in sim.events()[n:] if e.get("kind") == "command"
                    or (e.get("name") == "relay" and e.get("value") == 1)]
        assert state_files(flash) == before

        # the gate still decides with the old lists
        n = len(sim.events())
        sim.scan(good_pass)
        d = sim.wait_for(kind("decision"), after=n, timeout=30)
        assert d["verdict"] is True and d["reason"] == "OK"

        # a valid newer config is applied: the site is suspended
        n_states, n = len(fleet.states()), len(sim.events())
        fleet.publish(1, site.sign(1, 4, _config(site, suspended=True)))
        ev = sim.wait_for(kind("control", msg_kind=1), after=n, timeout=30)
        assert ev["applied"] is True and ev["version"] == 4
        st = fleet.wait_state(lambda s: s.get(3) == {**applied, 1: 4}, after=n_states)
        assert st[12] is None
        after = state_files(flash)
        assert cbor2.loads(after["control/ctrl_1.bin"])[0] == 4
        assert after["control/ctrl_2.bin"] == before["control/ctrl_2.bin"]
        sim.wait_for(kind("screen", screen="idle"), after=n, timeout=10)
        time.sleep(3)  # the same pass again, outside the scanner's repeat window
        n = len(sim.events())
        sim.scan(good_pass)
        d = sim.wait_for(kind("decision"), after=n, timeout=30)
        assert d["verdict"] is False and d["reason"] == "SUSPENDED"
    finally:
        sim.stop()
        fleet.sub.close()


def _config(site, suspended: bool = False) -> dict:
    from e2e_kit import config_body

    body = config_body()
    body[4] = suspended
    return body


def _trust_body(site) -> list:
    return cbor2.loads(cbor2.loads(site.messages[2]).value[2])[6]
