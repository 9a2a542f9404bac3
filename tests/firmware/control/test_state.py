"""control/state.py under real MicroPython: only versions, digests and
times stay in RAM; message() / body() read the signed bytes back from the
state files. The files survive a restart byte-exact, anti-rollback and
replay checks hold across it, and a file missing or corrupted after it was
applied fails closed (nothing applied for that kind, listed in .errors with a
reason) until the message applies again."""

import hashlib
import json

import cbor2
import pytest
from arrival_heap import big_lists, run, signed_configs, state_heap
from ctrl_kit import DEVICE, SITE, T0, Fleet, config_body, run_driver

ROLLBACK, REPLAY = 42, 43
NOW = T0 + 60


@pytest.fixture
def fleet(tmp_path):
    return Fleet(tmp_path)


def session(fleet, cmds, root="state"):
    d = fleet.tmp / root
    d.mkdir(exist_ok=True)
    return run_driver("ctrl_driver.py", [str(d), DEVICE, SITE, str(fleet.key_file)], cmds)


def trust_body():
    return [[b"k1", bytes(range(32)), "SYT-HCM", 0]]


def lists(fleet, cfg_version=5):
    """Signed config, trust and revocation messages and a command."""
    return {
        1: fleet.msg(1, cfg_version, config_body(name="v%d" % cfg_version)),
        2: fleet.msg(2, 3, trust_body()),
        3: fleet.msg(3, 9, {1: {1: bytes(32), 2: 100}, 2: None}),
        4: fleet.msg(4, 11, {1: 2, 2: {1: 5}}),
    }


def version_of(signed: bytes) -> int:
    return cbor2.loads(cbor2.loads(signed).value[2])[2]


def apply_all(fleet, msgs):
    return [{"op": "open", "path": fleet.file(msgs[k]), "kind": k, "now": NOW} for k in (1, 2, 3, 4)]


def test_applied_state_reads_back_after_a_restart(fleet):
    msgs = lists(fleet)
    v4 = fleet.msg(1, 4, config_body(name="older"))
    v5_other = fleet.msg(1, 5, config_body(name="same version, other bytes"))
    out = session(fleet, apply_all(fleet, msgs) + [
        {"op": "info"}, {"op": "state"},
        {"op": "reload"},  # a restart: a new ControlState reads the files
        {"op": "info"},
        *[{"op": "message", "kind": k} for k in (1, 2, 3, 4)],
        *[{"op": "body", "kind": k} for k in (1, 2, 3, 4)],
        {"op": "stale", "now": NOW},
        # anti-rollback and replay hold across the restart
        {"op": "open", "path": fleet.file(msgs[1]), "kind": 1, "now": NOW},
        {"op": "open", "path": fleet.file(v4), "kind": 1, "now": NOW},
        {"op": "open", "path": fleet.file(v5_other), "kind": 1, "now": NOW},
        {"op": "open", "path": fleet.file(msgs[4]), "kind": 4, "now": NOW},
        {"op": "state"},
    ])
    assert all(r["ok"] and not r["noop"] for r in out[:4])
    before, files = out[4], out[5]["files"]
    assert before["versions"] == {"1": 5, "2": 3, "3": 9, "4": 11}
    assert out[6] == {"versions": {"1": 5, "2": 3, "3": 9, "4": 11}, "errors": []}
    after = out[7]
    assert after == before and after["errors"] == [] and after["last_error"] is None
    for k in (1, 2, 3, 4):
        assert after["applied"][str(k)] == [
            version_of(msgs[k]), hashlib.sha256(msgs[k]).digest()[:16].hex(), T0, T0 + 86400]
    # the signed bytes come back from flash, exactly (commands keep none)
    shas = [r["sha"] for r in out[8:12]]
    assert shas == [hashlib.sha256(msgs[k]).hexdigest() for k in (1, 2, 3)] + [None]
    assert [r["type"] for r in out[8:12]] == ["bytes", "bytes", "bytes", "NoneType"]
    bodies = [r["body"] for r in out[12:16]]
    assert "'v5'" in bodies[0] and "SYT-HCM" in bodies[1] and "100" in bodies[2]
    assert bodies[3] == "None"
    assert out[16]["stale"] is None
    assert out[17] == {"ok": True, "noop": True, "body": "None"}
    assert out[18]["reason"] == ROLLBACK
    assert out[19]["reason"] == REPLAY
    assert out[20]["ok"] and out[20]["noop"]  # a command never runs twice
    assert out[21]["files"] == files


def test_state_file_format_is_the_protocols(fleet, tmp_path):
    """docs/protocol.md 5.1 step 9: CBOR [version, digest16, issued_at,
    valid_until, signed bytes | null], byte-exact (deterministic CBOR)."""
    msgs = lists(fleet)
    session(fleet, apply_all(fleet, msgs))
    for k in (1, 2, 3, 4):
        raw = None if k == 4 else msgs[k]
        want = cbor2.dumps([version_of(msgs[k]), hashlib.sha256(msgs[k]).digest()[:16], T0, T0 + 86400, raw])
        assert (tmp_path / "state" / f"ctrl_{k}.bin").read_bytes() == want, k


# (how, at): what happens to ctrl_1.bin after the config was applied
DAMAGE = {
    "deleted": ("delete", 0),
    "truncated in the signed bytes": ("truncate", -20),
    "truncated in the header": ("truncate", 5),
    "empty": ("truncate", 0),
    "bit flip in the signature": ("flip", -3),
    "bit flip in the version": ("flip", 1),
    "bit flip in the digest": ("flip", 4),
    "bit flip in the array head": ("flip", 0),
    "older valid record put back": ("restore", 0),
    "garbage": ("write", "ffffffff00"),
    "larger than any record": ("write", "85" + "00" * 9000),
}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_state_file_lost_after_apply_fails_closed(fleet, name):
    how, at = DAMAGE[name]
    msgs = lists(fleet)
    v4 = fleet.msg(1, 4, config_body(name="v4"))
    cmds = [{"op": "open", "path": fleet.file(v4), "kind": 1, "now": NOW},
            {"op": "damage", "kind": 1, "how": "copy"}]
    cmds += apply_all(fleet, msgs)
    cmds += [{"op": "stale", "now": NOW}]
    damage = {"op": "damage", "kind": 1, "how": how, "at": at}
    if how == "write":
        damage["hex"] = at
    cmds += [
        damage,
        {"op": "info"},  # RAM only: the loss is not known yet
        {"op": "body", "kind": 1},  # a decider rebuild reads the file
        {"op": "info"},
        {"op": "body", "kind": 1},
        {"op": "message", "kind": 1},
        {"op": "stale", "now": NOW},
        {"op": "body", "kind": 2},  # the other kinds are untouched
        # the retained message delivered again applies again
        {"op": "open", "path": fleet.file(msgs[1]), "kind": 1, "now": NOW},
        {"op": "body", "kind": 1},
        {"op": "info"},
        {"op": "reload"},
    ]
    out = session(fleet, cmds)
    assert all(r["ok"] for r in out[:1] + out[2:6])
    assert out[6]["stale"] is None
    assert out[8]["versions"]["1"] == 5  # applied, as far as RAM knows
    assert out[9] == {"body": "None"}  # fail closed: no body, no decider
    info = out[10]
    assert "1" not in info["versions"] and "1" not in info["applied"]
    assert info["versions"] == {"2": 3, "3": 9, "4": 11}
    assert info["errors"] == [1]
    assert info["last_error"].startswith("ctrl_1.bin ")
    assert out[11] == {"body": "None"}
    assert out[12]["sha"] is None
    assert out[13]["stale"] == 1  # config missing: the gate refuses (OUT_OF_SYNC)
    assert "SYT-HCM" in out[14]["body"]
    assert out[15]["ok"] and not out[15]["noop"]
    assert "'v5'" in out[16]["body"]
    assert out[17]["errors"] == [] and out[17]["versions"]["1"] == 5
    assert out[18] == {"versions": {"1": 5, "2": 3, "3": 9, "4": 11}, "errors": []}


def test_state_file_damaged_before_a_restart_counts_as_not_applied(fleet):
    msgs = lists(fleet)
    out = session(fleet, apply_all(fleet, msgs) + [
        {"op": "damage", "kind": 2, "how": "flip", "at": -40},  # inside the signed bytes
        {"op": "damage", "kind": 3, "how": "delete"},
        {"op": "reload"},
        {"op": "info"},
        {"op": "body", "kind": 2},
        {"op": "stale", "now": NOW},
    ])
    assert out[6] == {"versions": {"1": 5, "4": 11}, "errors": [2]}
    assert "digest" in out[7]["last_error"]
    assert out[8] == {"body": "None"}
    assert out[9]["stale"] == 2


def test_resident_state_does_not_grow_with_message_size(fleet):
    msgs = big_lists(fleet)
    assert all(3800 < len(m) <= 4096 for m in msgs.values()), [len(m) for m in msgs.values()]
    out = state_heap(fleet, msgs)
    assert out["errors"] == []
    # three applied messages of ~4 KiB each (the cap): none of their bytes stay in RAM
    assert out["resident"] < 2048, out
    for kind, size, alloc in out["commit"]:
        # the record is written from one buffer of about the message's size
        assert alloc < 2 * size + 1024, out


def test_full_size_arrival_leaves_no_message_sized_buffer(fleet):
    """MQTT read -> inbox -> verify -> commit of signed configs near the
    4 KiB cap, three in a row: all applied, and what stays allocated (client
    + state + service) is the same as for a small message."""
    resident = {}
    for pad in (3800, 100):
        msgs = signed_configs(fleet, pad)
        ok, out = run(fleet, msgs, 4096)
        assert ok, out
        res = json.loads(out.splitlines()[-1])
        assert res["applied"] == 3, res
        resident[len(msgs[0])] = res["resident"]
    big, small = sorted(resident, reverse=True)
    assert big > 3800 and small < 400
    assert abs(resident[big] - resident[small]) <= 256, resident
