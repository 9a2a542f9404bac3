"""Build site configuration bodies (kind 1) and their rules on the host.

The device evaluates them with firmware/gate/rules.py; docs/protocol.md
section 8 is the schema. Constructors return plain CBOR-ready lists/dicts;
`check_config` applies the same shape checks the device applies when the
configuration arrives, so the fleet refuses a bad body before signing it.
"""

from __future__ import annotations

from collections.abc import Iterable

import cbor2

ROLES, VACCINATION, TEST, F0, HEALTH_DECL, ZONE, HOURS, WORKER, CAPACITY, DUPLICATE, ANY, RECOVERY = range(1, 13)
FORMAT_GG1, FORMAT_DCC = 1, 2  # config key 9: the pass formats a site accepts
TZ_HCMC = 7 * 3600
APPLIES_TO = 9
MINUTES_PER_DAY = 1440


def _scoped(rule_type: int, params: dict, roles: Iterable[int] | None) -> list:
    if roles is not None:
        params[APPLIES_TO] = sorted(set(roles))
    return [rule_type, params]


def roles(admitted: Iterable[int]) -> list:
    return [ROLES, {1: sorted(set(admitted))}]


def vaccination(min_doses: int, min_days: int = 0, max_days: int = 0, for_roles=None,
                products: Iterable[str] | None = None) -> list:
    """products: accepted DCC vaccine products (mp, e.g. "EU/1/20/1528");
    None: any. A DCC must also be complete (dn >= sd); GG1 passes carry
    neither, so the rule judges them as before."""
    params = {1: min_doses, 2: min_days, 3: max_days}
    if products is not None:
        params[4] = sorted(set(products))
    return _scoped(VACCINATION, params, for_roles)


def negative_test(max_hours: int, for_roles=None, test_types: Iterable[str] | None = None) -> list:
    """test_types: accepted DCC test types (tt: "LP6464-4" NAAT, "LP217198-3"
    rapid antigen); None: any."""
    params = {1: max_hours}
    if test_types is not None:
        params[2] = sorted(set(test_types))
    return _scoped(TEST, params, for_roles)


def recovery(min_days: int = 11, max_days: int = 180, for_roles=None) -> list:
    """A DCC recovery certificate inside its own df..du and min..max days
    after the first positive test (fr)."""
    return _scoped(RECOVERY, {1: min_days, 2: max_days}, for_roles)


def no_f0(positive_test_hours: int = 336, for_roles=None) -> list:
    return _scoped(F0, {1: positive_test_hours}, for_roles)


def health_declaration(max_days: int, for_roles=None) -> list:
    return _scoped(HEALTH_DECL, {1: max_days}, for_roles)


def zones(admitted: Iterable[int], for_roles=None) -> list:
    return _scoped(ZONE, {1: sorted(set(admitted))}, for_roles)


def opening_hours(week: list[list[tuple[int, int]]]) -> list:
    """week: 7 lists (Monday first) of (open, close) minutes of the local day."""
    if len(week) != 7:
        raise ValueError("opening hours need 7 days, Monday first")
    out = []
    for day in week:
        windows = []
        for start, end in day:
            if not 0 <= start < end <= MINUTES_PER_DAY:
                raise ValueError(f"bad window {start}-{end}")
            windows.append([start, end])
        out.append(windows)
    return [HOURS, {1: out}]


def workers(business_must_match: bool = True, for_roles=None) -> list:
    return _scoped(WORKER, {2: business_must_match}, for_roles)


def capacity(max_inside: int) -> list:
    return [CAPACITY, {1: max_inside}]


def duplicate_window(seconds: int) -> list:
    return [DUPLICATE, {1: seconds}]


def any_of(*rules: list) -> list:
    for r in rules:
        if r[0] == ANY:
            raise ValueError("any-of cannot nest")
    return [ANY, {1: list(rules)}]


def allowlist_blob(entries: Iterable[bytes]) -> bytes:
    """CBOR array of pass hashes (16 B) / cti (8..16 B), sorted, unique."""
    items = sorted(set(entries))
    for e in items:
        if not 8 <= len(e) <= 16:
            raise ValueError("allowlist entries are 8..16 bytes")
    return cbor2.dumps(items)


def site_config(
    site_id: str,
    rules: list[list],
    business_id: str | None = None,
    tz: int = TZ_HCMC,
    suspended: bool = False,
    allowlist_ref: dict | None = None,
    max_age: dict[int, int] | None = None,
    name_vi: str | None = None,
    name_en: str | None = None,
    formats: Iterable[int] | None = None,
) -> dict:
    """formats: the pass formats accepted (FORMAT_GG1, FORMAT_DCC); None
    leaves key 9 out: GG1 only, as before."""
    body = {1: site_id, 2: business_id, 3: tz, 4: suspended, 5: rules, 6: allowlist_ref,
            7: dict(max_age or {})}
    if name_vi or name_en:
        body[8] = {1: name_vi or "", 2: name_en or ""}
    if formats is not None:
        body[9] = sorted(set(formats))
    check_config(body)
    return body


def check_config(body: dict) -> None:
    """The device's apply-time checks (gate/rules.py SiteConfig); ValueError."""
    if not isinstance(body, dict):
        raise ValueError("config: body is not a map")
    site = body.get(1)
    if not isinstance(site, str) or not 1 <= len(site) <= 64:
        raise ValueError("config: 1 site_id must be text 1..64")
    biz = body.get(2)
    if biz is not None and (not isinstance(biz, str) or not 1 <= len(biz) <= 16):
        raise ValueError("config: 2 business_id must be text 1..16 or null")
    tz = body.get(3, TZ_HCMC)
    if type(tz) is not int or not -50400 <= tz <= 50400:
        raise ValueError("config: 3 tz offset must be int seconds within +-14 h")
    if type(body.get(4, False)) is not bool:
        raise ValueError("config: 4 suspended must be a bool")
    rules = body.get(5)
    if not isinstance(rules, list) or len(rules) > 64:
        raise ValueError("config: 5 rules must be a list of at most 64 rules")
    ref = body.get(6)
    if ref is not None and not (isinstance(ref, dict) and isinstance(ref.get(1), bytes) and len(ref[1]) == 32):
        raise ValueError("config: 6 allowlist must be a blob reference")
    ages = body.get(7, {})
    if not isinstance(ages, dict) or any(type(k) is not int or type(v) is not int or v <= 0 for k, v in ages.items()):
        raise ValueError("config: 7 max_age must be a map kind -> seconds")
    formats = body.get(9, [FORMAT_GG1])
    if (not isinstance(formats, list) or not 1 <= len(formats) <= 2
            or any(type(f) is not int or f not in (FORMAT_GG1, FORMAT_DCC) for f in formats)):
        raise ValueError("config: 9 formats must be a list of 1 (GG1) and/or 2 (DCC)")
