"""verify/dsc.py under real MicroPython: the DCC trust table (GGDT) the host
writes (greengate/dcc/table.py) is searched on flash by kid; every lookup
agrees with the host's reader; RAM stays under 2 KB for 1,000 keys; hostile
files are refused whole with CTRL_MALFORMED."""

import json
import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dcc_kit import LocalSigner, fake_signers  # noqa: E402
from greengate.dcc import table  # noqa: E402
from mpy import run_micropython  # noqa: E402

HERE = Path(__file__).resolve().parent
DRIVER = HERE / "dsc_driver.py"
JSONL = HERE.parent / "crypto"
CTRL_MALFORMED = 45
TYPES = {"v": 1, "t": 2, "r": 4}


def drive(reqs):
    proc = run_micropython(DRIVER, stdin="".join(json.dumps(r) + "\n" for r in reqs),
                           extra_path=[JSONL], timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    out = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(out) == len(reqs), proc.stderr.decode()[-2000:]
    for a in out:
        assert "err" not in a, a
    return out


def expect(entry):
    if entry is None or entry.alg == 0:
        return None
    mask = sum(TYPES[t] for t in entry.types)
    return [entry.alg, entry.key.hex(), entry.not_before, entry.not_after, entry.country, mask]


def test_lookups_agree_with_host_and_ram_under_2kb(tmp_path):
    signers = fake_signers(1000, rsa_every=25)
    data = table.table_bytes(signers, 3)
    snap = tmp_path / "snap.bin"
    snap.write_bytes(data)
    host = table.parse(data)
    kids = [s.kid for s in signers] + [bytes(8), b"\xff" * 8] + [bytes(s.kid[:7]) + b"\x00" for s in signers[:50]]
    opened, looked = drive([{"op": "open", "snap": str(snap)},
                            {"op": "lookup", "kids": [k.hex() for k in kids]}])
    assert opened["count"] == 1000
    assert opened["ram"] <= 2048, opened
    assert looked["r"] == [expect(host.find(k)) for k in kids]


def test_delta_adds_changes_removes(tmp_path):
    old = fake_signers(300, seed=4)
    new = old[30:] + fake_signers(20, seed=5)
    new[0] = LocalSigner(**{**new[0].__dict__, "types": "r", "not_after": 123})
    (tmp_path / "s").write_bytes(table.table_bytes(old, 10))
    (tmp_path / "d").write_bytes(table.delta_bytes(old, new, 11, 10))
    kids = [s.kid for s in old] + [s.kid for s in new]
    opened, looked = drive([{"op": "open", "snap": str(tmp_path / "s"), "delta": str(tmp_path / "d")},
                            {"op": "lookup", "kids": [k.hex() for k in kids]}])
    assert opened["count"] == len(new)
    ref = table.parse(table.table_bytes(new))
    assert looked["r"] == [expect(ref.find(k)) for k in kids]


def _hostile_tables():
    good = table.table_bytes(fake_signers(40, rsa_every=7), 5)
    count = struct.unpack_from(">I", good, 8)[0]
    idx = lambda i: 32 + 16 * i  # noqa: E731
    out = {
        "truncated": good[:-1],
        "header only": good[:32],
        "longer": good + b"\0",
        "bad magic": b"GGDX" + good[4:],
        "bad format": good[:4] + b"\x02" + good[5:],
        "huge count": good[:8] + struct.pack(">I", 0xFFFFFFF0) + good[12:],
        "count > max": good[:8] + struct.pack(">I", 20001) + good[12:],
    }
    b = bytearray(good)  # swap two index entries: unsorted
    b[idx(3):idx(4)], b[idx(4):idx(5)] = good[idx(4):idx(5)], good[idx(3):idx(4)]
    out["unsorted"] = bytes(b)
    b = bytearray(good)  # kid 5 = kid 4: duplicate
    b[idx(5):idx(5) + 8] = good[idx(4):idx(4) + 8]
    out["duplicate kid"] = bytes(b)
    for name, pos, val in [("alg 3", 14, 3), ("alg removed in snapshot", 14, 0), ("types 0", 15, 0),
                           ("types 8", 15, 8)]:
        b = bytearray(good)
        b[idx(2) + pos] = val
        out[name] = bytes(b)
    b = bytearray(good)
    struct.pack_into(">I", b, idx(6) + 8, len(good))  # record offset past the data
    out["offset past end"] = bytes(b)
    b = bytearray(good)
    struct.pack_into(">H", b, idx(6) + 12, 20)  # key length wrong
    out["short key"] = bytes(b)
    data_start = 32 + 16 * count
    off = struct.unpack_from(">I", good, idx(1) + 8)[0]
    b = bytearray(good)
    b[data_start + off + 8] = ord("v")
    out["bad country"] = bytes(b)
    return out


HOSTILE = _hostile_tables()


def test_hostile_tables_refused_whole(tmp_path):
    reqs = []
    for i, data in enumerate(HOSTILE.values()):
        p = tmp_path / f"h{i}"
        p.write_bytes(data)
        reqs.append({"op": "open", "snap": str(p)})
    for name, got in zip(HOSTILE, drive(reqs)):
        assert got.get("reason") == CTRL_MALFORMED, (name, got)


def test_delta_for_another_snapshot_or_a_delta_as_snapshot_refused(tmp_path):
    a = fake_signers(10, seed=6)
    (tmp_path / "s").write_bytes(table.table_bytes(a, 10))
    (tmp_path / "d").write_bytes(table.delta_bytes(a, a[1:], 12, 11))
    (tmp_path / "d2").write_bytes(table.delta_bytes(a, a[1:], 11, 10))
    bad_base, as_snap, ok = drive([
        {"op": "open", "snap": str(tmp_path / "s"), "delta": str(tmp_path / "d")},
        {"op": "open", "snap": str(tmp_path / "d2")},
        {"op": "open", "snap": str(tmp_path / "s"), "delta": str(tmp_path / "d2")},
    ])
    assert bad_base["reason"] == CTRL_MALFORMED and as_snap["reason"] == CTRL_MALFORMED
    assert ok["count"] == 9


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_host_reader_refuses_the_same(name):
    with pytest.raises(ValueError):
        table.parse(HOSTILE[name])
