"""The demo's scenario data, checked against the host builders and the
firmware's own rule shapes: the residents' shopping slot never contains the
current minute (so HOURS denials really happen), every site's rule list is a
valid site configuration, and each gate's scan mix is what its rules say."""

from __future__ import annotations

import time

import pytest

from greengate.control import config as cc
from greengate.demo import district7 as d7
from greengate.demo.seed import TZ, Person, World, resident_slots, site_rules
from greengate.demo.traffic import candidates


@pytest.mark.parametrize("hour", range(0, 24))
def test_resident_slot_excludes_now_and_is_a_valid_week(hour):
    day0 = 1632096000 - TZ  # Monday 2021-09-20 00:00 in Ho Chi Minh City
    for minute in (0, 17, 29, 30, 59):
        now = day0 + hour * 3600 + minute * 60 + 2 * 86400  # a Wednesday
        week = resident_slots(now)
        cc.opening_hours([[tuple(w) for w in day] for day in week])  # raises on a bad window
        local = time.gmtime(now + TZ)
        m = local.tm_hour * 60 + local.tm_min
        today = week[local.tm_wday]
        assert all(not (a <= m < b) for a, b in today), (hour, minute, today)
        # the other days keep the ward's usual slots
        assert week[(local.tm_wday + 1) % 7] == [[420, 540], [900, 1020]]


def test_every_site_configuration_is_valid():
    for b in d7.BUSINESSES:
        rules = site_rules(b)
        wire = [[t, {int(k): v for k, v in params.items()}] for t, params in rules]
        cc.check_config(cc.site_config(f"{b.id}-gate", wire, business_id=b.id))
        assert rules[0] == [1, {"1": sorted(b.admits)}]
        assert (b.capacity is not None) == any(t == 9 for t, _ in rules)


def _world() -> World:
    people = [Person("worker", d7.WORKER, "w1", "Q1", "Q7-SM01", listed=True),
              Person("worker", d7.WORKER, "w2", "Q2", "Q7-SM01", listed=False),
              Person("worker", d7.WORKER, "w3", "Q3", "Q7-FP03", listed=True),
              Person("resident", d7.RESIDENT, "r1", "Q4"),
              Person("shopper", d7.SHOPPER, "s1", "Q5"),
              Person("expired", d7.RESIDENT, "e1", "Q6"),
              Person("resident", d7.RESIDENT, "r2", "Q7")]
    w = World(gates=[], people=people)
    w.revoked.append(people[-1])
    return w


def test_scan_mix_follows_the_gate_rules():
    world = _world()
    sm = next(b for b in d7.BUSINESSES if b.id == "Q7-SM01")
    c = candidates(world, sm)
    assert {p.pass_hash for p in c.valid} == {"w1", "s1"}  # residents wait for their slot
    assert [p.pass_hash for p in c.hours] == ["r1"]
    assert [p.pass_hash for p in c.not_listed] == ["w2"]
    assert [p.pass_hash for p in c.wrong_business] == ["w3"]
    assert [p.pass_hash for p in c.revoked] == ["r2"] and [p.pass_hash for p in c.expired] == ["e1"]
    factory = next(b for b in d7.BUSINESSES if b.id == "Q7-FP03")
    c = candidates(world, factory)
    assert {p.pass_hash for p in c.valid} == {"w3"}
    assert {p.pass_hash for p in c.role} == {"r1", "s1"}  # not admitted at a factory
    assert not c.hours


def test_data_dir_a_previous_demo_is_reused_anything_else_refused(tmp_path):
    from greengate.demo.runner import MARKER, DemoError, prepare_dir

    mine = tmp_path / "var" / "demo"
    path, remove = prepare_dir(mine)
    assert path == mine.resolve() and not remove and path.is_dir()
    (path / MARKER).write_text("x")
    (path / "fleet").mkdir()
    assert prepare_dir(mine)[0] == path and not (path / "fleet").exists()  # wiped, reused
    other = tmp_path / "photos"
    other.mkdir()
    (other / "a.jpg").write_text("keep me")
    with pytest.raises(DemoError):
        prepare_dir(other)
    assert (other / "a.jpg").read_text() == "keep me"
    temp, remove = prepare_dir(None)
    assert remove and temp.is_dir()
    temp.rmdir()
