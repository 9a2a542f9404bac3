"""Signed control messages under real MicroPython: every refusal carries its
CTRL_* reason and leaves the device's state files byte-identical."""

import cbor2
import pytest
from ctrl_kit import DEVICE, SITE, T0, Fleet, config_body, run_driver

from greengate.control import envelope as env

UNSIGNED, SIGNATURE, ROLLBACK, REPLAY, EXPIRED, MALFORMED, SCOPE = 40, 41, 42, 43, 44, 45, 46
NOW = T0 + 60


@pytest.fixture
def fleet(tmp_path):
    return Fleet(tmp_path)


def session(fleet, cmds, site=SITE):
    root = fleet.tmp / "state"
    root.mkdir(exist_ok=True)
    return run_driver("ctrl_driver.py", [str(root), DEVICE, site, str(fleet.key_file)], cmds)


def test_refused_messages_leave_state_byte_identical(fleet):
    good = fleet.msg(1, 5, config_body())
    payload = env.encode_payload(1, 6, config_body(), env.device_scope(DEVICE), T0, T0 + 86400)
    protected = cbor2.dumps({1: -8})
    bad = {
        "wrong key": (fleet.msg(1, 6, config_body(), key=fleet.other), SIGNATURE),
        "raw payload, no COSE": (payload, UNSIGNED),
        "empty signature": (cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, b""])), UNSIGNED),
        "not CBOR at all": (b"\xff\x00garbage", UNSIGNED),
        "alg only unprotected": (
            cbor2.dumps(cbor2.CBORTag(18, [b"", {1: -8}, payload, bytes(64)])), SIGNATURE),
        "rolled back": (fleet.msg(1, 4, config_body()), ROLLBACK),
        "replayed version": (fleet.msg(1, 5, config_body(name="x")), REPLAY),
        "expired": (fleet.msg(1, 6, config_body(), iat=T0 - 100, until=T0), EXPIRED),
        "other device": (fleet.msg(1, 6, config_body(), scope=env.device_scope("gg-ffffffffffff")), SCOPE),
        "other site": (fleet.msg(1, 6, config_body(), scope=env.site_scope("q1-other")), SCOPE),
        "fleet scope for config": (fleet.msg(1, 6, config_body(), scope=env.fleet_scope()), SCOPE),
        "wrong kind on topic": (fleet.msg(2, 6, [], scope=env.fleet_scope()), MALFORMED),
        "body not a config": (fleet.msg(1, 6, [1, 2, 3]), MALFORMED),
        "config missing site": (fleet.msg(1, 6, {5: []}), MALFORMED),
    }
    cmds = [{"op": "open", "path": fleet.file(good), "kind": 1, "now": NOW, "check": "config"},
            {"op": "state"}]
    for name, (data, _) in bad.items():
        cmds += [{"op": "open", "path": fleet.file(data), "kind": 1, "now": NOW, "check": "config"},
                 {"op": "state"}]
    # every single-bit flip of the good message (one bit per byte position)
    flips = []
    for i in range(len(good)):
        b = bytearray(good)
        b[i] ^= 1 << (i % 8)
        flips.append(bytes(b))
        cmds += [{"op": "open", "path": fleet.file(bytes(b)), "kind": 1, "now": NOW, "check": "config"}]
    cmds += [{"op": "state"}]
    out = session(fleet, cmds)
    assert out[0]["ok"] and not out[0]["noop"]
    applied = out[1]
    assert applied["versions"] == {"1": 5}
    assert list(applied["files"]) == ["ctrl_1.bin"]
    for n, (name, (_, reason)) in enumerate(bad.items()):
        res, st = out[2 + 2 * n], out[3 + 2 * n]
        assert not res["ok"], name
        assert res["reason"] == reason, (name, res)
        assert st["files"] == applied["files"], name
    flip_out = out[2 + 2 * len(bad): -1]
    for i, res in enumerate(flip_out):
        assert not res["ok"], f"bit flip at byte {i} accepted"
        assert res["reason"] in (UNSIGNED, SIGNATURE), (i, res)
    assert out[-1]["files"] == applied["files"]


def test_identical_redelivery_is_a_noop_and_newer_applies(fleet):
    v5 = fleet.msg(1, 5, config_body())
    v6 = fleet.msg(1, 6, config_body(name="v6"))
    out = session(fleet, [
        {"op": "open", "path": fleet.file(v5), "kind": 1, "now": NOW, "check": "config"},
        {"op": "state"},
        {"op": "open", "path": fleet.file(v5), "kind": 1, "now": NOW + 10 * 86400},  # even expired
        {"op": "state"},
        {"op": "open", "path": fleet.file(v6), "kind": 1, "now": NOW, "check": "config"},
        {"op": "state"},
        {"op": "open", "path": fleet.file(v5), "kind": 1, "now": NOW},
        {"op": "reload"},
        {"op": "body", "kind": 1},
    ])
    assert out[0]["ok"] and not out[0]["noop"]
    assert out[2] == {"ok": True, "noop": True, "body": "None"}
    assert out[3] == out[1]
    assert out[4]["ok"] and not out[4]["noop"]
    assert out[5]["files"] != out[1]["files"]
    assert out[6]["reason"] == ROLLBACK
    assert out[7]["versions"] == {"1": 6} and out[7]["errors"] == []
    assert "'v6'" in out[8]["body"]


def test_commands_trust_and_revocation_scopes(fleet):
    cmd1 = fleet.msg(4, 1, {1: 1, 2: {}})
    cmd1_again_new_bytes = fleet.msg(4, 1, {1: 2, 2: {}})
    cmd_site = fleet.msg(4, 2, {1: 2, 2: {}}, scope=env.site_scope(SITE))
    cmd_fleet = fleet.msg(4, 2, {1: 2, 2: {}}, scope=env.fleet_scope())
    trust = fleet.msg(2, 10, [[b"12345678", bytes(32), "hcm", 0]])
    trust_site = fleet.msg(2, 11, [], scope=env.site_scope(SITE))
    trust_dev = fleet.msg(2, 12, [], scope=env.device_scope(DEVICE))
    rev_body = {1: {1: bytes(32), 2: 100, 3: 768}, 2: None}
    rev = fleet.msg(3, 3, rev_body)
    rev_bad = fleet.msg(3, 4, {1: {1: b"short", 2: 100, 3: 768}})
    out = session(fleet, [
        {"op": "open", "path": fleet.file(cmd1), "kind": 4, "now": NOW},
        {"op": "open", "path": fleet.file(cmd1_again_new_bytes), "kind": 4, "now": NOW},
        {"op": "open", "path": fleet.file(cmd_site), "kind": 4, "now": NOW},
        {"op": "open", "path": fleet.file(cmd_fleet), "kind": 4, "now": NOW},
        {"op": "open", "path": fleet.file(trust), "kind": 2, "now": NOW},
        {"op": "open", "path": fleet.file(trust_site), "kind": 2, "now": NOW},
        {"op": "open", "path": fleet.file(trust_dev), "kind": 2, "now": NOW},
        {"op": "open", "path": fleet.file(rev), "kind": 3, "now": NOW, "check": "revocation"},
        {"op": "open", "path": fleet.file(rev_bad), "kind": 3, "now": NOW, "check": "revocation"},
        {"op": "reload"},
    ])
    assert out[0]["ok"]
    assert out[1]["reason"] == REPLAY
    assert out[2]["reason"] == SCOPE and out[3]["reason"] == SCOPE
    assert out[4]["ok"] and out[5]["ok"]
    assert out[6]["reason"] == SCOPE
    assert out[7]["ok"]
    assert out[8]["reason"] == MALFORMED
    assert out[9]["versions"] == {"2": 11, "3": 3, "4": 1}


def test_site_scope_needs_a_known_site(fleet):
    msg = fleet.msg(1, 1, config_body(), scope=env.site_scope(SITE))
    out = session(fleet, [{"op": "open", "path": fleet.file(msg), "kind": 1, "now": NOW}], site="")
    assert out[0]["reason"] == SCOPE
    out = session(fleet, [{"op": "open", "path": fleet.file(msg), "kind": 1, "now": NOW}])
    assert out[0]["ok"]


def test_out_of_sync_from_valid_until_and_max_age(fleet):
    day = 86400
    msgs = [fleet.msg(2, 1, []), fleet.msg(3, 1, {1: {1: bytes(32), 2: 1, 3: 768}}),
            fleet.msg(1, 1, config_body(), until=T0 + 2 * day)]
    cmds = [{"op": "stale", "now": NOW}]
    for kind, m in zip((2, 3, 1), msgs):
        cmds.append({"op": "open", "path": fleet.file(m), "kind": kind, "now": NOW})
        cmds.append({"op": "stale", "now": NOW})
    cmds += [
        {"op": "stale", "now": T0 + day + 1},                        # trust past valid_until
        {"op": "stale", "now": NOW, "max_age": {"2": 30}},            # max age (JSON keys)
        {"op": "stale", "now": None},
    ]
    out = session(fleet, cmds)
    assert out[0]["stale"] == 2          # nothing applied: trust missing first
    assert out[2]["stale"] == 3 and out[4]["stale"] == 1 and out[6]["stale"] is None
    assert out[7]["stale"] == 2
    assert out[8]["stale"] == 2
    assert out[9]["stale"] is None


def test_garbage_and_truncations_are_refused_cleanly(fleet):
    import random

    rnd = random.Random(42)
    good = fleet.msg(1, 5, config_body())
    cases = [good[:n] for n in range(0, len(good), 3)]
    cases += [rnd.randbytes(rnd.randrange(1, 200)) for _ in range(150)]
    cases += [good[:i] + rnd.randbytes(rnd.randrange(1, 8)) + good[i:] for i in rnd.sample(range(len(good)), 40)]
    cases += [cbor2.dumps(cbor2.CBORTag(18, [b"", {}, b"", b""])), cbor2.dumps(cbor2.CBORTag(18, "x")),
              b"\xd2\x84" + b"\x9f" * 3000]
    cmds = [{"op": "open", "path": fleet.file(c), "kind": 1, "now": NOW, "check": "config"} for c in cases]
    out = session(fleet, cmds + [{"op": "state"}])
    for c, res in zip(cases, out[:-1]):
        assert res["ok"] is False and 40 <= res["reason"] <= 46, (c.hex(), res)
    assert out[-1]["files"] == {}
