"""gate/occupancy.py under MicroPython: counts and the bounded duplicate window,
checked by behaviour only (which passes are still "seen", and the heap)."""

import json

from mpy import run_micropython

PRELUDE = r"""
import gc, json, hashlib
from gate.occupancy import Occupancy

def h(i):
    # a pass hash as the verifier makes it: 16 bytes of SHA-256, a new object per scan
    return hashlib.sha256(b"pass %d" % i).digest()[:16]

out = {}
"""


def run(body):
    r = run_micropython(PRELUDE + body + "\nprint(json.dumps(out))\n")
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def test_counts_and_exit_button():
    out = run(r"""
o = Occupancy()
for i in range(7):
    o.admit(h(i), 1000 + i)
o.admit(None, None)            # no hash / untrusted clock: counted, not in the window
out["after_admit"] = [o.inside, o.entries, o.exits]
o.exit()
o.exit(3)
out["after_exit"] = [o.inside, o.entries, o.exits]
o.exit(10**6)                  # never below zero
out["floor"] = [o.inside, o.exits]
o.reset(12)
out["reset"] = [o.inside, o.entries]
out["none"] = [o.seen_within(None, 1010, 60), o.seen_within(h(1), None, 60)]
o2 = Occupancy(inside=5)
o2.admit(h(1), None)
out["untrusted"] = [o2.inside, o2.seen_within(h(1), 1000, 60)]
""")
    assert out["after_admit"] == [8, 8, 0]
    assert out["after_exit"] == [4, 8, 4]
    assert out["floor"] == [0, 4 + 10**6]
    assert out["reset"] == [12, 8]
    assert out["none"] == [False, False]
    assert out["untrusted"] == [6, False]


def test_oldest_admission_leaves_after_256_more():
    out = run(r"""
o = Occupancy()
for i in range(256):
    o.admit(h(i), 1000 + i)
out["full"] = [o.seen_within(h(i), 1300, 10**6) for i in range(256)]
o.admit(h(256), 1256)
out["first_gone"] = [o.seen_within(h(0), 1300, 10**6), o.seen_within(h(1), 1300, 10**6),
                     o.seen_within(h(256), 1300, 10**6)]
for i in range(257, 600):
    o.admit(h(i), 1000 + i)
out["last_256"] = sorted(i for i in range(600) if o.seen_within(h(i), 1700, 10**6))
""")
    assert all(out["full"])
    assert out["first_gone"] == [False, True, True]
    assert out["last_256"] == list(range(600 - 256, 600))


def test_readmitted_pass_is_judged_by_its_latest_admission():
    out = run(r"""
o = Occupancy()
for i in range(256):
    o.admit(h(i), 1000 + i)
o.admit(h(0), 2000)                # again: takes a fresh slot, the old one ages out
for i in range(256, 511):
    o.admit(h(i), 2001 + i)
out["a"] = [o.seen_within(h(0), 2005, 60), o.seen_within(h(1), 1002, 10**6),
            o.seen_within(h(510), 2511, 1), o.seen_within(h(510), 2512, 1)]
# twice in the same second, then the older record leaves the ring
p = Occupancy()
p.admit(h(7), 5000)
p.admit(h(7), 5000)
for i in range(255):
    p.admit(h(100 + i), 5000)
out["same_second"] = p.seen_within(h(7), 5001, 60)
""")
    assert out["a"] == [True, False, True, False]
    assert out["same_second"] is True


def test_window_compares_the_first_8_bytes_of_the_hash():
    # The ring keeps 8 bytes per pass (false duplicate ~256 / 2**64 per scan,
    # docs/pass-format.md 7): a difference in bytes 0..7 is another pass, one
    # only after byte 8 is not seen; shorter hashes count as zero-padded.
    out = run(r"""
o = Occupancy()
p = h(1)
o.admit(p, 1000)
def flip(b, i):
    x = bytearray(b)
    x[i] ^= 0x01
    return bytes(x)
out["first8"] = [o.seen_within(flip(p, i), 1000, 60) for i in range(8)]
out["after8"] = [o.seen_within(flip(p, i), 1000, 60) for i in range(8, 16)]
out["prefix_only"] = o.seen_within(p[:8], 1000, 60)
o.admit(b"\x05\x06", 1000)
out["short"] = [o.seen_within(b"\x05\x06\x00\x00", 1000, 60), o.seen_within(b"\x05\x06\x01", 1000, 60),
                o.seen_within(b"\x05", 1000, 60)]
""")
    assert out["first8"] == [False] * 8
    assert out["after8"] == [True] * 8
    assert out["prefix_only"] is True
    assert out["short"] == [True, False, False]


def test_window_expiry_and_future_admissions():
    out = run(r"""
o = Occupancy()
o.admit(h(1), 1_630_000_000)
out["ages"] = [o.seen_within(h(1), 1_630_000_000 + age, 60) for age in (0, 1, 59, 60, 61, 10**5)]
out["before"] = o.seen_within(h(1), 1_629_999_999, 60)   # clock set back: not "within"
out["other"] = o.seen_within(h(2), 1_630_000_000, 60)
out["window0"] = o.seen_within(h(1), 1_630_000_000, 0)
""")
    assert out["ages"] == [True, True, True, False, False, False]
    assert out["before"] is False
    assert out["other"] is False
    assert out["window0"] is False


def test_times_wrap_around_the_first_admission():
    out = run(r"""
o = Occupancy()
T = 1_630_000_000
o.admit(h(1), T)
o.admit(h(2), T - 3600)               # clock corrected backwards after the first admission
out["back"] = [o.seen_within(h(2), T - 3600 + 30, 60), o.seen_within(h(2), T - 3600 + 60, 60),
               o.seen_within(h(1), T - 3600 + 30, 60)]
far = T + 2**32 + 7                   # seconds since the first admission wrap around u32
o.admit(h(3), far)
out["wrap"] = [o.seen_within(h(3), far, 60), o.seen_within(h(3), far + 59, 60),
               o.seen_within(h(3), far + 60, 60), o.seen_within(h(3), far - 1, 60)]
o.admit(h(4), T + 2**31 + 5)          # more than 2**31 s after the first admission
out["half"] = [o.seen_within(h(4), T + 2**31 + 10, 60), o.seen_within(h(4), T + 2**31 + 70, 60)]
""")
    assert out["back"] == [True, False, False]
    assert out["wrap"] == [True, True, False, False]
    assert out["half"] == [True, False]


def test_window_memory_does_not_grow_with_admissions():
    out = run(r"""
def admit(o, lo, hi):
    for i in range(lo, hi):
        o.admit(h(i), 1_630_000_000 + i)
        o.seen_within(h(i + 1), 1_630_000_000 + i, 60)

o = Occupancy()
gc.collect()
base = gc.mem_alloc()
admit(o, 0, 1)
gc.collect()
out["one"] = gc.mem_alloc() - base
admit(o, 1, 256)
gc.collect()
out["256"] = gc.mem_alloc() - base
admit(o, 256, 1000)
gc.collect()
out["1000"] = gc.mem_alloc() - base
""")
    # a 16-byte hash object costs 64 B here: 1,000 of them kept would be 64 KB.
    # Allow a few GC blocks that stale stack/register references keep alive
    # (the conservative GC; how many depends on the interpreter's state).
    for k in ("one", "256", "1000"):
        assert out[k] <= 256, out
    assert out["1000"] - out["256"] <= 64, out  # flat, not growing
