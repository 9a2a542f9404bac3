"""The persistent outbox under real MicroPython: order, persistence, torn
tails at every byte offset, the overflow rule and its drop counter, CRC
corruption, sequence numbers that never repeat."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from net_helpers import MpyProcess

HDR = 12


@pytest.fixture
def ob(tmp_path):
    p = MpyProcess("outbox_driver.py", {}, tmp_path / "cfg")
    yield p
    p.close()


def payload(i: int) -> bytes:
    return bytes((i * 7 + j) & 0xFF for j in range(5 + i % 23))


def records(ans) -> list[tuple[int, bytes]]:
    return [(s, bytes.fromhex(h)) for s, h in ans["records"]]


def seg_files(d: Path) -> list[Path]:
    return sorted(d.glob("o*.seg"))


def test_append_pending_ack_and_restart(ob, tmp_path):
    d = str(tmp_path / "ob")
    assert ob.call(op="open", dir=d, capacity=64, segment_records=8)["next_seq"] == 1
    seqs = [ob.call(op="append", data=payload(i).hex())["seq"] for i in range(30)]
    assert seqs == list(range(1, 31))
    assert records(ob.call(op="pending", n=100)) == [(i + 1, payload(i)) for i in range(30)]
    # max_n and max_bytes bound a batch; at least one record always comes.
    assert [s for s, _ in records(ob.call(op="pending", n=4))] == [1, 2, 3, 4]
    limited = records(ob.call(op="pending", n=100, max_bytes=40))
    assert sum(len(p) for _, p in limited) <= 40 and limited[0][0] == 1
    assert len(records(ob.call(op="pending", n=100, max_bytes=1))) == 1
    info = ob.call(op="ack", seq=12)
    assert info["depth"] == 18 and info["acked"] == 12
    ob.call(op="close")
    # Restart: acked records are not pending again, seq continues.
    info = ob.call(op="open", dir=d, capacity=64, segment_records=8)
    assert (info["next_seq"], info["acked"], info["depth"]) == (31, 12, 18)
    assert records(ob.call(op="pending", n=100)) == [(i + 1, payload(i)) for i in range(12, 30)]
    assert ob.call(op="append", data="ff")["seq"] == 31
    assert ob.call(op="ack", seq=31)["depth"] == 0
    assert ob.call(op="pending", n=10)["records"] == []
    big = ob.call(op="append", data="00" * 1025)
    assert big["error"] == "GateError" and "too large" in big["detail"]


def test_torn_tail_at_every_byte_offset(ob, tmp_path):
    for i, cut in enumerate(range(HDR + len(payload(5)))):
        d = tmp_path / f"torn{i}"
        ob.call(op="open", dir=str(d), capacity=64, segment_records=8)
        for k in range(6):
            ob.call(op="append", data=payload(k).hex())
        ob.call(op="close")
        (seg,) = seg_files(d)
        size = seg.stat().st_size
        last_start = size - HDR - len(payload(5))
        with open(seg, "r+b") as f:
            f.truncate(last_start + cut)  # power cut while appending record 6
        info = ob.call(op="open", dir=str(d), capacity=64, segment_records=8)
        assert info["next_seq"] == 6 and info["depth"] == 5, cut
        assert records(ob.call(op="pending", n=10)) == [(k + 1, payload(k)) for k in range(5)]
        assert seg.stat().st_size == last_start  # torn tail cut off
        assert ob.call(op="append", data="abcd")["seq"] == 6
        ob.call(op="close")
        ob.call(op="open", dir=str(d), capacity=64, segment_records=8)
        got = records(ob.call(op="pending", n=10))
        assert got == [(k + 1, payload(k)) for k in range(5)] + [(6, b"\xab\xcd")], cut
        ob.call(op="close")


def test_torn_state_write_falls_back_to_the_other_copy(ob, tmp_path):
    d = tmp_path / "st"
    ob.call(op="open", dir=str(d), capacity=64, segment_records=8)
    for k in range(10):
        ob.call(op="append", data=payload(k).hex())
    ob.call(op="ack", seq=3)
    ob.call(op="ack", seq=7)  # the newest state copy
    ob.call(op="close")
    # State copy layout: "GGOS", generation u32 LE, ... (store/outbox.py).
    newest = max((d / "st.a", d / "st.b"),
                 key=lambda p: int.from_bytes(p.read_bytes()[4:8], "little"))
    good = newest.read_bytes()
    for cut in range(len(good)):
        newest.write_bytes(good[:cut])
        info = ob.call(op="open", dir=str(d), capacity=64, segment_records=8)
        # Falls back to the older copy: acked 3 (re-sends 4..7, at-least-once),
        # never a lost record, never a seq going back.
        assert info["acked"] == 3 and info["next_seq"] == 11, cut
        assert [s for s, _ in records(ob.call(op="pending", n=20))] == list(range(4, 11))
        ob.call(op="close")
    newest.write_bytes(good)
    assert ob.call(op="open", dir=str(d), capacity=64, segment_records=8)["acked"] == 7


class RingModel:
    """The documented overflow rule, independently: starting segment index i
    erases segment i - segments; its unacked records count as dropped."""

    def __init__(self, capacity: int, seg: int):
        self.seg = seg
        self.n = -(-capacity // seg)
        self.floor = 1
        self.acked = 0
        self.dropped = 0
        self.next = 1

    def append(self) -> None:
        s = self.next
        if s % self.seg == 0 or s == 1:
            new_floor = (s // self.seg - self.n + 1) * self.seg
            if new_floor > self.floor:
                self.dropped += new_floor - self.floor
                self.floor = new_floor
        self.next += 1

    def ack(self, s: int) -> None:
        self.acked = max(self.acked, s)
        self.floor = max(self.floor, s + 1)


def test_overflow_drops_oldest_unsent_and_counts_them(ob, tmp_path):
    d = str(tmp_path / "ring")
    rng = random.Random(7)
    model = RingModel(32, 8)
    ob.call(op="open", dir=d, capacity=32, segment_records=8)
    for step in range(12):
        n = rng.randint(1, 25)
        ob.call(op="fill", n=n, size=6)
        for _ in range(n):
            model.append()
        if step % 3 == 2:
            pend = records(ob.call(op="pending", n=5))
            ob.call(op="ack", seq=pend[-1][0])
            model.ack(pend[-1][0])
        info = ob.call(op="info")
        assert (info["dropped"], info["depth"]) == (model.dropped, model.next - model.floor)
        got = [s for s, _ in records(ob.call(op="pending", n=100))]
        assert got == list(range(model.floor, model.next))
    assert model.dropped > 0
    ob.call(op="close")
    # The drop counter is persisted.
    info = ob.call(op="open", dir=d, capacity=32, segment_records=8)
    assert (info["dropped"], info["next_seq"]) == (model.dropped, model.next)
    assert len(seg_files(Path(d))) <= 4


def test_crc_corruption_is_detected_and_skipped(ob, tmp_path):
    d = tmp_path / "crc"
    ob.call(op="open", dir=str(d), capacity=64, segment_records=8)
    for k in range(14):
        ob.call(op="append", data=payload(k).hex())
    ob.call(op="close")
    first = d / "o0.seg"   # seqs 1..7 (segment 0 holds seqs 0..7)
    data = bytearray(first.read_bytes())
    offsets, off = [], 0
    for k in range(7):
        offsets.append(off)
        off += HDR + len(payload(k))
    data[offsets[2] + HDR + 1] ^= 0x01     # payload bit flip in seq 3
    data[offsets[4] + 2] ^= 0x40           # length field of seq 5 broken
    first.write_bytes(bytes(data))
    info = ob.call(op="open", dir=str(d), capacity=64, segment_records=8)
    assert info["next_seq"] == 15
    got = records(ob.call(op="pending", n=100))
    assert [s for s, _ in got] == [1, 2]  # the batch stops before the hole
    for s, p in got:
        assert p == payload(s - 1)
    ob.call(op="ack", seq=2)
    # Seq 3 is skipped (nothing unacked before it); the batch stops at seq 5.
    assert records(ob.call(op="pending", n=100)) == [(4, payload(3))]
    ob.call(op="ack", seq=4)
    got = records(ob.call(op="pending", n=100))
    assert [s for s, _ in got] == list(range(6, 15))
    assert all(p == payload(s - 1) for s, p in got)
    assert ob.call(op="info")["dropped"] == 2  # seq 3 and seq 5


def test_seq_never_repeats_across_restarts(ob, tmp_path):
    d = str(tmp_path / "seq")
    rng = random.Random(3)
    seen = []
    for _ in range(15):
        ob.call(op="open", dir=d, capacity=32, segment_records=8)
        for _ in range(rng.randint(0, 20)):
            seen.append(ob.call(op="append", data="01")["seq"])
        if seen and rng.random() < 0.5:
            ob.call(op="ack", seq=seen[-1] - rng.randint(0, 3))
        ob.call(op="close")
    assert seen == list(range(1, len(seen) + 1))
    # Even with every segment file lost, seq does not go back below the
    # acked / high-water mark kept in the state.
    acked = ob.call(op="open", dir=d, capacity=32, segment_records=8)["acked"]
    ob.call(op="close")
    for f in seg_files(Path(d)):
        os.remove(f)
    info = ob.call(op="open", dir=d, capacity=32, segment_records=8)
    assert info["next_seq"] > acked
