"""scanner.framer.Framer under MicroPython, fed bytes with a synthetic clock."""

from __future__ import annotations

import json
from pathlib import Path

from mpy import run_micropython

DRIVER = Path(__file__).with_name("driver_scanner.py")


def run_framer(steps, **opts):
    lines = "\n".join(json.dumps(s) for s in steps) + "\n"
    res = run_micropython(DRIVER, stdin=lines, args=["framer", json.dumps(opts)], timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    return [json.loads(l) for l in res.stdout.decode().splitlines()]


def feed(data: bytes, now: int) -> dict:
    return {"feed": data.hex(), "now": now}


def test_terminators_split_and_empty_lines_ignored():
    out = run_framer([feed(b"GG1:ONE\r\nGG1:TWO\n\r\r", 0), feed(b"GG1:THR", 10), feed(b"EE\r", 20)])
    assert out[0]["codes"] == ["GG1:ONE", "GG1:TWO"]
    assert out[1]["codes"] == []
    assert out[2]["codes"] == ["GG1:THREE"]
    assert out[2]["stats"]["noise"] == 0


def test_idle_ends_a_line_without_terminator():
    out = run_framer([feed(b"GG1:PARTIAL", 0), {"idle": 100}, {"idle": 200}])
    assert out[0]["codes"] == []
    assert out[1]["codes"] == ["GG1:PARTIAL"]
    assert out[2]["stats"]["timeouts"] == 1  # nothing pending the second time


def test_cap_exact_fits_one_more_is_rejected_and_counted():
    out = run_framer([feed(b"A" * 16 + b"\r", 0), feed(b"B" * 17 + b"\r", 1), feed(b"C\r", 2)], cap=16)
    assert out[0]["codes"] == ["A" * 16]
    # dropped, and rejected: the gate denies and reports it (BAD_INPUT)
    assert out[1]["codes"] == [None] and out[1]["stats"]["oversize"] == 1
    assert out[1]["stats"]["rejects"] == 1
    assert out[2]["codes"] == ["C"]  # the reader recovers at the next line


def test_oversize_line_ended_by_idle_is_rejected_too():
    out = run_framer([feed(b"X" * 40, 0), {"idle": 100}, feed(b"OK\r", 200)], cap=16)
    assert out[1]["codes"] == [None]
    assert out[1]["stats"]["oversize"] == 1
    assert out[2]["codes"] == ["OK"]


def test_noise_outside_and_inside_lines():
    # repeat_ms=0: every rejected line is reported (the window is tested below)
    out = run_framer([
        feed(b"\x00\xff\x7f", 0), {"idle": 100}, feed(b" GG1:A\r", 200),
        feed(b"GG1:\x80B\r", 300),
        feed(b"\x02\x00\x00\x01\x00\x33\x31", 400), feed(b"\r", 401),
        feed(b"\x00\xffGG1:GLUED\r", 500),
        feed(b"\xfe", 600), feed(b"\r", 601), feed(b"GG1:AFTER-CR\r", 602),
    ], repeat_ms=0)
    # junk, a pause, a code: the code stands, the junk was line noise only
    assert out[1]["codes"] == [] and out[2]["codes"] == [" GG1:A"]
    assert out[2]["stats"]["noise_bytes"] == 3 and out[2]["stats"]["rejects"] == 0
    # an 8-bit byte inside: rejected (deny screen + report)
    assert out[3]["codes"] == [None] and out[3]["stats"]["noise"] == 1
    # control bytes glued to a printable tail ("31"), then a terminator: rejected
    assert out[5]["codes"] == [None] and out[5]["stats"]["noise"] == 2
    assert out[6]["codes"] == [None] and out[6]["stats"]["noise"] == 3  # junk glued to a code
    assert out[8]["codes"] == [None]  # only an 8-bit byte, then a terminator: not ASCII
    assert out[9]["codes"] == ["GG1:AFTER-CR"]  # a terminator also clears the poison
    assert out[9]["stats"]["rejects"] == 4


def test_hostile_input_held_in_front_of_the_scanner_is_reported_once_per_window():
    long = b"GG1:" + b"A" * 1100
    out = run_framer([
        feed(long + b"\r", 0),                  # over 1,024: rejected
        feed(long + b"\r", 500),                # the same again within 1 s: merged
        feed("GG1:Ä\r".encode(), 1200),         # non-ASCII, 700 ms after the last: merged
        feed("GG1:Ä\r".encode(), 2300),         # 1.1 s quiet: reported again
        feed(b"GG1:OK\r", 2400),                # a good code is never held back by them
    ], repeat_ms=1000)
    assert [o["codes"] for o in out] == [[None], [], [], [None], ["GG1:OK"]]
    assert out[-1]["stats"]["rejects"] == 2 and out[-1]["stats"]["repeats"] == 2


def test_repeat_window_and_held_code():
    steps = [
        feed(b"GG1:R\r", 0),
        feed(b"GG1:R\r", 500),  # repeat: dropped
        feed(b"GG1:R\r", 1400),  # still held (window restarts at each sighting)
        feed(b"GG1:R\r", 3000),  # gone 1600 ms > 1000: accepted again
        feed(b"GG1:S\r", 3100),  # another code: accepted
        feed(b"GG1:R\r", 3200),  # R again after S: accepted (only the last code counts)
    ]
    out = run_framer(steps, repeat_ms=1000)
    assert [o["codes"] for o in out] == [["GG1:R"], [], [], ["GG1:R"], ["GG1:S"], ["GG1:R"]]
    assert out[-1]["stats"]["repeats"] == 2


def test_repeats_are_the_same_code_only():
    # the framer compares CRC-32s of codes (it does not keep the last code):
    # codes one byte or one length apart are different codes, a long code
    # seen again is a repeat
    long = b"GG1:" + bytes(0x41 + i % 26 for i in range(1000))
    steps = [
        feed(b"GG1:AB\r", 0),
        feed(b"GG1:AC\r", 10),  # one byte apart
        feed(b"GG1:AC \r", 20),  # one byte longer
        feed(b"GG1:A\r", 30),  # one byte shorter
        feed(long + b"\r", 40),
        feed(long + b"\r", 50),  # a repeat
        feed(long[:-1] + b"a\r", 60),  # last byte differs
    ]
    out = run_framer(steps, repeat_ms=1000)
    assert [o["codes"] for o in out] == [["GG1:AB"], ["GG1:AC"], ["GG1:AC "], ["GG1:A"],
                                        [long.decode()], [], [long[:-1].decode() + "a"]]
    assert out[-1]["stats"]["repeats"] == 1


def test_tick_wraparound_does_not_suppress_forever():
    # ticks_ms wraps (2**30 on the ESP32, 2**62 here); ticks_diff handles it
    res = run_micropython("import time; print(time.ticks_add(0, -1) + 1)")
    period = int(res.stdout)
    out = run_framer([feed(b"GG1:W\r", period - 100), feed(b"GG1:W\r", 50)], repeat_ms=1000)
    assert out[1]["codes"] == []  # 150 ms later across the wrap: still a repeat
    out = run_framer([feed(b"GG1:W\r", period - 100), feed(b"GG1:W\r", 5000)], repeat_ms=1000)
    assert out[1]["codes"] == ["GG1:W"]
