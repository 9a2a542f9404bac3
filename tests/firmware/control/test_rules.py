"""Site rules under real MicroPython: every rule type admits and denies with
its own reason; broken rules deny with RULE_ERROR; malformed configurations
are refused with a clear error."""

import calendar

import cbor2
import pytest
from ctrl_kit import config_body, run_driver

OK, ROLE, VACC, TEST, F0, HEALTH, HOURS, WRONG_BIZ, NOT_LISTED, CAPACITY, DUP, SUSP, ZONE, RULE_ERROR, CLOCK = (
    0, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 28)
MALFORMED = 45

# Wednesday 2021-09-22 10:00 local (UTC+7) = 03:00 UTC
NOW = calendar.timegm((2021, 9, 22, 3, 0, 0))
TODAY = (NOW + 25200) // 86400
H = bytes(range(16))
CTI = b"cti-0001"


def claims(**kw):
    base = {"role": 0, "iss": "HCM", "iat": NOW - 86400, "exp": NOW + 86400}
    base.update(kw)
    return base


def case(rules, c, now=NOW, **kw):
    d = {"config": config_body(rules), "claims": c, "hash": H, "now": now}
    d.update(kw)
    return d


def run(cases):
    cmds = [{"cbor": cbor2.dumps(c).hex()} for c in cases]
    return run_driver("rules_driver.py", [], cmds)


def weekdays(windows):
    return [list(windows) for _ in range(7)]


CASES = [
    # (name, case, expected)
    ("no rules admits", case([], claims()), OK),
    ("role admitted", case([[1, {1: [0, 2]}]], claims(role=2)), OK),
    ("role refused", case([[1, {1: [0, 2]}]], claims(role=1)), ROLE),
    ("vaccinated 2 doses 20 days ago", case([[2, {1: 2, 2: 14}]], claims(vaccination=[2, TODAY - 20])), OK),
    ("one dose only", case([[2, {1: 2, 2: 14}]], claims(vaccination=[1, TODAY - 20])), VACC),
    ("second dose too recent", case([[2, {1: 2, 2: 14}]], claims(vaccination=[2, TODAY - 13])), VACC),
    ("last dose too old", case([[2, {1: 2, 2: 14, 3: 270}]], claims(vaccination=[2, TODAY - 271])), VACC),
    ("unvaccinated", case([[2, {1: 1}]], claims()), VACC),
    ("rule for other roles skipped", case([[2, {1: 2, 9: [1]}]], claims(role=0)), OK),
    ("rule applies to this role", case([[2, {1: 2, 9: [1]}]], claims(role=1)), VACC),
    ("negative test 47 h ago", case([[3, {1: 48}]], claims(test=[0, NOW - 47 * 3600])), OK),
    ("negative test 49 h ago", case([[3, {1: 48}]], claims(test=[0, NOW - 49 * 3600])), TEST),
    ("positive test is not a negative test", case([[3, {1: 48}]], claims(test=[1, NOW - 3600])), TEST),
    ("no test", case([[3, {1: 72}]], claims()), TEST),
    ("F0 isolating until tomorrow", case([[4, {}]], claims(f0=[1, TODAY + 1])), F0),
    ("F0 isolation ended", case([[4, {}]], claims(f0=[1, TODAY - 1])), OK),
    ("F0 recovered", case([[4, {}]], claims(f0=[2, TODAY - 30])), OK),
    ("positive test 3 days ago", case([[4, {}]], claims(test=[1, NOW - 3 * 86400])), F0),
    ("positive test 20 days ago", case([[4, {}]], claims(test=[1, NOW - 20 * 86400])), OK),
    ("health declaration today", case([[5, {1: 1}]], claims(health_decl=TODAY)), OK),
    ("health declaration 2 days old", case([[5, {1: 1}]], claims(health_decl=TODAY - 2)), HEALTH),
    ("no health declaration", case([[5, {1: 1}]], claims()), HEALTH),
    ("green zone", case([[6, {1: [0, 1]}]], claims(zone=0)), OK),
    ("red zone", case([[6, {1: [0, 1]}]], claims(zone=3)), ZONE),
    ("zone unknown", case([[6, {1: [0, 1]}]], claims()), ZONE),
    ("open 08:00-17:00", case([[7, {1: weekdays([[480, 1020]])}]], claims()), OK),
    ("closed at 10:00 (opens 11:00)", case([[7, {1: weekdays([[660, 1020]])}]], claims()), HOURS),
    ("closing minute excluded", case([[7, {1: weekdays([[0, 600]])}]], claims()), HOURS),
    ("Wednesday only open", case([[7, {1: [[], [], [[0, 1440]], [], [], [], []]}]], claims()), OK),
    ("Wednesday closed", case([[7, {1: [[[0, 1440]]] * 2 + [[]] + [[[0, 1440]]] * 4}]], claims()), HOURS),
    ("worker listed by hash", case([[8, {}]], claims(role=1, business="BIZ-0001"), allowlist=[H]), OK),
    ("worker listed by cti", case([[8, {}]], claims(role=1, business="BIZ-0001", cti=CTI), allowlist=[CTI]), OK),
    ("worker not listed", case([[8, {}]], claims(role=1, business="BIZ-0001"), allowlist=[CTI]), NOT_LISTED),
    ("worker of another business", case([[8, {}]], claims(role=1, business="BIZ-9"), allowlist=[H]), WRONG_BIZ),
    ("worker rule ignores residents", case([[8, {}]], claims(role=0)), OK),
    ("business match off", case([[8, {2: False}]], claims(role=1, business="X"), allowlist=[H]), OK),
    ("capacity free", case([[9, {1: 50}]], claims(), inside=49), OK),
    ("capacity full", case([[9, {1: 50}]], claims(), inside=50), CAPACITY),
    ("duplicate within window", case([[10, {1: 600}]], claims(), admitted=[[H, NOW - 100]]), DUP),
    ("duplicate window passed", case([[10, {1: 600}]], claims(), admitted=[[H, NOW - 601]]), OK),
    ("other pass not duplicate", case([[10, {1: 600}]], claims(), admitted=[[bytes(16), NOW - 1]]), OK),
    ("suspended site", case([], claims()) | {"config": config_body([], {4: True})}, SUSP),
    ("vaccinated or tested: vaccinated",
     case([[11, {1: [[2, {1: 2, 2: 14}], [3, {1: 72}]]}]], claims(vaccination=[2, TODAY - 30])), OK),
    ("vaccinated or tested: tested",
     case([[11, {1: [[2, {1: 2, 2: 14}], [3, {1: 72}]]}]], claims(test=[0, NOW - 3600])), OK),
    ("vaccinated or tested: neither",
     case([[11, {1: [[2, {1: 2, 2: 14}], [3, {1: 72}]]}]], claims()), VACC),
    ("first failing rule decides",
     case([[1, {1: [0]}], [6, {1: [0]}], [5, {1: 1}]], claims(zone=2)), ZONE),
    ("time rule without trusted clock", case([[3, {1: 48}]], claims(test=[0, NOW]), now=None), CLOCK),
    ("role rule without clock still works", case([[1, {1: [0]}]], claims(), now=None), OK),
    ("claim of an unexpected shape", case([[2, {1: 2}]], claims(vaccination="2 doses")), RULE_ERROR),
]

BROKEN = [
    ("unknown rule type", [[99, {}]]),
    ("rule not a list", [{1: 2}]),
    ("params not a map", [[1, [0]]]),
    ("roles param missing", [[1, {}]]),
    ("roles param not a list", [[1, {1: 0}]]),
    ("min doses is text", [[2, {1: "two"}]]),
    ("hours: 6 days", [[7, {1: [[]] * 6}]]),
    ("hours: window malformed", [[7, {1: [[[1]]] * 7}]]),
    ("applies-to not a list", [[1, {1: [0], 9: 1}]]),
    ("nested any", [[11, {1: [[11, {1: [[1, {1: [0]}]]}]]}]]),
    ("empty any", [[11, {1: []}]]),
    ("broken rule after a good one", [[1, {1: [0]}], [3, {}]]),
    ("business match not bool", [[8, {2: 1}]]),
    ("broken rule for another role", [[2, {1: "x", 9: [4]}]]),
    ("broken hours for another role", [[7, {1: [], 9: [4]}]]),
]

MALFORMED_CONFIGS = [
    ("not a map", [1, 2]),
    ("no site id", {5: []}),
    ("site id not text", {1: 5, 5: []}),
    ("rules not a list", {1: "s", 5: {}}),
    ("too many rules", {1: "s", 5: [[1, {1: [0]}]] * 65}),
    ("tz out of range", {1: "s", 3: 99999, 5: []}),
    ("suspended not bool", {1: "s", 4: 1, 5: []}),
    ("max_age not a map", {1: "s", 5: [], 7: [86400]}),
    ("allowlist ref malformed", {1: "s", 5: [], 6: {1: b"short"}}),
    ("business id too long", {1: "s", 2: "B" * 17, 5: []}),
]


def test_every_rule_type_admits_and_denies():
    out = run([c for _, c, _ in CASES])
    for (name, _, expected), got in zip(CASES, out):
        assert got == {"reason": expected}, name


def test_broken_rules_deny_with_rule_error():
    cases = [case(rules, claims(vaccination=[2, TODAY - 30], test=[0, NOW])) for _, rules in BROKEN]
    out = run(cases)
    for (name, _), got in zip(BROKEN, out):
        assert got == {"reason": RULE_ERROR}, name


@pytest.mark.parametrize("name,body", MALFORMED_CONFIGS, ids=[n for n, _ in MALFORMED_CONFIGS])
def test_malformed_config_is_refused_with_a_clear_error(name, body):
    (got,) = run([{"config": body, "claims": claims(), "hash": H, "now": NOW}])
    assert got["config_error"][0] == MALFORMED, name
    assert got["config_error"][1].startswith("config:"), got


def test_host_rule_builders_are_understood_by_the_device():
    from greengate.control import config as hc

    allow_hash = H
    week = [[(420, 1140)]] * 5 + [[(480, 720)]] + [[]]  # Mon-Fri 07-19, Sat 08-12, Sun closed
    rules_list = [
        hc.roles([0, 1, 2]),
        hc.any_of(hc.vaccination(2, 14), hc.negative_test(72)),
        hc.no_f0(),
        hc.health_declaration(1, for_roles=[1, 2]),
        hc.zones([0, 1]),
        hc.opening_hours(week),
        hc.workers(),
        hc.capacity(100),
        hc.duplicate_window(300),
    ]
    body = hc.site_config("q7-bhx-012", rules_list, business_id="BIZ-0001")
    good = claims(role=1, business="BIZ-0001", vaccination=[2, TODAY - 30], health_decl=TODAY, zone=0)
    cases = [
        {"config": body, "claims": good, "hash": allow_hash, "now": NOW, "allowlist": [allow_hash]},
        {"config": body, "claims": good, "hash": allow_hash, "now": NOW, "allowlist": []},
        {"config": body, "claims": good | {"zone": 2}, "hash": allow_hash, "now": NOW,
         "allowlist": [allow_hash]},
        # Sunday 2021-09-26 10:00 local: closed
        {"config": body, "claims": good | {"health_decl": TODAY + 4}, "hash": allow_hash,
         "now": NOW + 4 * 86400, "allowlist": [allow_hash]},
    ]
    out = run(cases)
    assert [o["reason"] for o in out] == [OK, NOT_LISTED, ZONE, HOURS]
    with pytest.raises(ValueError):
        hc.site_config("", [])
    with pytest.raises(ValueError):
        hc.opening_hours([[(600, 500)]] * 7)
    with pytest.raises(ValueError):
        hc.any_of(hc.any_of(hc.roles([0])))
    assert cbor2.loads(hc.allowlist_blob([H, H, CTI])) == sorted([H, CTI])


@pytest.mark.parametrize("name,body", MALFORMED_CONFIGS, ids=[n for n, _ in MALFORMED_CONFIGS])
def test_host_check_refuses_what_the_device_refuses(name, body):
    from greengate.control import config as hc

    with pytest.raises(ValueError, match="config"):
        hc.check_config(body)
