"""The device's frame code (MicroPython) and the tool's (CPython) agree byte
for byte, and both survive noise, damage and cut frames."""

import json
import random
from pathlib import Path

from mpy import run_micropython
from provisioning import frame

DRIVER = Path(__file__).with_name("frame_driver.py")


def run_device(requests):
    r = run_micropython(DRIVER, stdin="".join(json.dumps(q) + "\n" for q in requests))
    assert r.returncode == 0, r.stderr.decode()
    return [json.loads(line) for line in r.stdout.decode().splitlines()]


def test_device_and_host_build_identical_frames():
    rng = random.Random(7)
    cases = [(rng.randrange(256), rng.randrange(256), rng.randbytes(rng.choice([0, 1, 5, 300, 2048])))
             for _ in range(60)]
    answers = run_device([{"op": "build", "type": t, "seq": s, "payload": p.hex()} for t, s, p in cases])
    for (t, s, p), a in zip(cases, answers):
        assert bytes.fromhex(a["hex"]) == frame.build(t, s, p)


def test_device_parses_host_frames_through_noise_and_damage():
    rng = random.Random(11)
    frames = [(rng.randrange(1, 0x7F), rng.randrange(255), rng.randbytes(rng.randrange(0, 700)))
              for _ in range(40)]
    stream = bytearray()
    expected = []
    for t, s, p in frames:
        stream += bytes(rng.randrange(256) for _ in range(rng.randrange(0, 20)))  # boot noise
        f = bytearray(frame.build(t, s, p))
        if rng.random() < 0.25:
            f[rng.randrange(2, len(f))] ^= 0x10  # damaged on the wire: must not come out
        else:
            expected.append([t, s, p.hex()])
        stream += f
    # feed in random slices, the way a serial line delivers bytes
    reqs, i = [], 0
    while i < len(stream):
        n = rng.randrange(1, 300)
        reqs.append({"op": "parse", "hex": stream[i:i + n].hex()})
        i += n
    reqs[-1]["idle"] = True
    got = [item for a in run_device(reqs) for item in a["items"] if isinstance(item, list)]
    assert got == expected


def test_host_parser_skips_noise_and_damaged_frames():
    good = frame.build(0x81, 3, b"\xa1\x01\x02")
    bad = bytearray(good)
    bad[-1] ^= 1
    p = frame.Parser()
    out = p.feed(b"\x00\xa5garbage" + bytes(bad) + b"\xa5\x5a\xff\xff" + good[:5])
    out += p.feed(good[5:])
    assert out == [(0x81, 3, b"\xa1\x01\x02")]
    assert p.crc_errors == 1


def test_oversized_length_is_refused_without_buffering():
    r = run_device([{"op": "parse", "hex": (b"\xa5\x5a\x01\x01\xff\xff" + b"x" * 10).hex()}])
    assert 2 in r[0]["items"]  # frame.TOO_LONG
