"""gate/occupancy.py under MicroPython: counts and the bounded duplicate window."""

from mpy import run_micropython

SCRIPT = r"""
from gate.occupancy import Occupancy
o = Occupancy()
for i in range(256):
    o.admit(b"h%d" % i, 1000 + i)
o.admit(b"h0", 2000)              # re-admitted: takes a fresh ring slot
for i in range(256, 511):
    o.admit(b"h%d" % i, 2001 + i)
print(len(o._recent), o.seen_within(b"h0", 2005, 60), o.seen_within(b"h1", 1002, 10**6),
      o.seen_within(b"h510", 2511, 1), o.seen_within(b"h510", 2512, 1), o.inside)
o.exit(5); o.exit(10**6)
print(o.inside, o.exits, o.entries)
o.admit(None, None)
print(o.inside)
"""


def test_duplicate_window_is_bounded_and_keeps_readmitted_passes():
    r = run_micropython(SCRIPT)
    assert r.returncode == 0, r.stderr.decode()
    lines = r.stdout.decode().split("\n")
    assert lines[0].split() == ["256", "True", "False", "True", "False", "512"]
    assert lines[1].split() == ["0", str(5 + 10**6), "512"]
    assert lines[2].strip() == "1"
