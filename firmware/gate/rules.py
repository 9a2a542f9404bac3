# Site rules: declarative, versioned data evaluated on every scan.
#
# The rules arrive inside the signed site configuration (docs/protocol.md,
# "Site configuration and rules"). A rule is [type, params] with small-int
# keys; the list is evaluated in order and the first rule that fails decides
# the reason. Every rule may carry params[9] = roles it applies to (absent:
# every role). Types:
#    1 ROLES        {1: [roles]}                                  -> ROLE
#    2 VACCINATION  {1: min doses, 2: min days since last dose,
#                    3: max days since last dose (0/absent: none)} -> VACCINATION
#    3 TEST         {1: max hours since a negative test sample}    -> TEST
#    4 F0           {1: hours a positive test keeps counting (336)} -> F0
#    5 HEALTH_DECL  {1: max days since the declaration}            -> HEALTH_DECL
#    6 ZONE         {1: [admitted zone colours 0..3]}              -> ZONE
#    7 HOURS        {1: 7 lists (Mon..Sun) of [open, close) minutes of the
#                    local day}                                    -> HOURS
#    8 WORKER       {2: business must match (default true); applies to
#                   role 1 (worker) unless 9 says otherwise}       -> WRONG_BUSINESS,
#                   pass hash or cti must be on the allowlist      -> NOT_LISTED
#    9 CAPACITY     {1: max people inside}                         -> CAPACITY
#   10 DUPLICATE    {1: window seconds}                            -> DUPLICATE
#   11 ANY          {1: [rules]} passes if one of them passes (one level, no
#                   nested ANY); else the first sub-rule's reason
# The site-wide suspended flag (config key 4) denies with SUSPENDED first.
#
# evaluate() never raises: an unknown type, a missing or wrongly typed
# parameter, anything unexpected -> RULE_ERROR (deny). A configuration whose
# overall shape is wrong is refused when it is applied: SiteConfig() raises
# errors.ControlError(CTRL_MALFORMED) with a detail naming the field.
from micropython import const

import errors
from verify import reasons

ROLES = const(1)
VACCINATION = const(2)
TEST = const(3)
F0 = const(4)
HEALTH_DECL = const(5)
ZONE = const(6)
HOURS = const(7)
WORKER = const(8)
CAPACITY = const(9)
DUPLICATE = const(10)
ANY = const(11)

_APPLIES_TO = const(9)
_DAY = const(86400)
_WORKER_ROLE = const(1)
TZ_DEFAULT = const(25200)  # UTC+7, Ho Chi Minh City
_MAX_RULES = const(64)

# config body keys
C_SITE = const(1)
C_BUSINESS = const(2)
C_TZ = const(3)
C_SUSPENDED = const(4)
C_RULES = const(5)
C_ALLOWLIST = const(6)
C_MAX_AGE = const(7)
C_NAME = const(8)


class _Broken(Exception):
    pass


def _malformed(detail):
    return errors.ControlError(reasons.CTRL_MALFORMED, "config: " + detail)


class SiteConfig:
    """A validated site configuration (the body of a KIND_CONFIG message).

    allowlist: set of bytes (pass hashes / cti) loaded from the allowlist blob;
    the config references it by hash, the caller loads it (load_allowlist)."""

    def __init__(self, body, allowlist=None):
        if type(body) is not dict:
            raise _malformed("body is not a map")
        site = body.get(C_SITE)
        if type(site) is not str or not 1 <= len(site) <= 64:
            raise _malformed("1 site_id must be text 1..64")
        business = body.get(C_BUSINESS)
        if business is not None and (type(business) is not str or not 1 <= len(business) <= 16):
            raise _malformed("2 business_id must be text 1..16 or null")
        tz = body.get(C_TZ, TZ_DEFAULT)
        if type(tz) is not int or not -50400 <= tz <= 50400:
            raise _malformed("3 tz offset must be int seconds within +-14 h")
        suspended = body.get(C_SUSPENDED, False)
        if type(suspended) is not bool:
            raise _malformed("4 suspended must be a bool")
        rules = body.get(C_RULES)
        if type(rules) is not list or len(rules) > _MAX_RULES:
            raise _malformed("5 rules must be a list of at most 64 rules")
        max_age = body.get(C_MAX_AGE, {})
        if type(max_age) is not dict:
            raise _malformed("7 max_age must be a map kind -> seconds")
        for k in max_age:
            v = max_age[k]
            if type(k) is not int or type(v) is not int or v <= 0:
                raise _malformed("7 max_age must be a map kind -> seconds")
        ref = body.get(C_ALLOWLIST)
        if ref is not None and (type(ref) is not dict or type(ref.get(1)) is not bytes
                                or len(ref[1]) != 32):
            raise _malformed("6 allowlist must be a blob reference {1: sha256, ...}")
        self.site_id = site
        self.business_id = business
        self.tz = tz
        self.suspended = suspended
        self.rules = rules
        self.max_age = max_age
        self.allowlist_ref = ref
        self.allowlist = allowlist if allowlist is not None else set()
        self.time_rules = False
        for r in rules:
            if type(r) is list and len(r) == 2 and r[0] in (HOURS, VACCINATION, TEST, F0,
                                                             HEALTH_DECL, DUPLICATE, ANY):
                self.time_rules = True


def load_allowlist(data):
    """Allowlist blob (CBOR array of bstr, 8..16 bytes each) -> set of bytes."""
    from codec import cbor

    try:
        items = cbor.loads(data, max_items=20000, max_bytes=400000)
    except errors.GateError:
        raise _malformed("allowlist is not CBOR")
    if type(items) is not list:
        raise _malformed("allowlist is not an array")
    out = set()
    for it in items:
        if type(it) is not bytes or not 8 <= len(it) <= 16:
            raise _malformed("allowlist entries are 8..16 byte strings")
        out.add(it)
    return out


def _int(p, key, default=None):
    v = p.get(key, default)
    if type(v) is not int:
        raise _Broken()
    return v


def _int_list(p, key):
    v = p.get(key)
    if type(v) is not list:
        raise _Broken()
    for x in v:
        if type(x) is not int:
            raise _Broken()
    return v


def _pair(claims, name):
    v = claims.get(name)
    if v is None:
        return None
    if type(v) is not list or len(v) != 2:
        raise _Broken()
    return v


def _time_params(t, p):
    # the parameters of time-based rules, checked even when the rule is skipped
    if t == VACCINATION:
        _int(p, 1)
        _int(p, 2, 0)
        _int(p, 3, 0)
    elif t == F0:
        _int(p, 1, 336)
    elif t == HOURS:
        week = p.get(1)
        if type(week) is not list or len(week) != 7:
            raise _Broken()
        for windows in week:
            if type(windows) is not list:
                raise _Broken()
            for w in windows:
                if (type(w) is not list or len(w) != 2 or type(w[0]) is not int
                        or type(w[1]) is not int):
                    raise _Broken()
    else:  # TEST, HEALTH_DECL, DUPLICATE
        _int(p, 1)


def _rule(rule, cfg, claims, pass_hash, now, occupancy, nested):
    # -> reason (OK = pass); raises _Broken / anything on a broken rule
    if type(rule) is not list or len(rule) != 2 or type(rule[1]) is not dict:
        raise _Broken()
    t = rule[0]
    p = rule[1]
    role = claims.get("role")
    applies = p.get(_APPLIES_TO)
    if applies is None and t == WORKER:
        applies = (_WORKER_ROLE,)  # the allowlist is for worker passes
    skip = False
    if applies is not None:
        if type(applies) is not list and type(applies) is not tuple:
            raise _Broken()
        skip = role not in applies
    # parameters are checked before `skip` is honoured: a broken rule denies
    # every holder, so it shows up at once, not when the first worker comes
    if t == ROLES:
        return reasons.OK if skip or role in _int_list(p, 1) else reasons.ROLE
    if t == ZONE:
        allowed = _int_list(p, 1)
        return reasons.OK if skip or claims.get("zone") in allowed else reasons.ZONE
    if t == WORKER:
        match = p.get(2, True)
        if type(match) is not bool:
            raise _Broken()
        if skip:
            return reasons.OK
        if match and (cfg.business_id is None or claims.get("business") != cfg.business_id):
            return reasons.WRONG_BUSINESS
        cti = claims.get("cti")
        if pass_hash in cfg.allowlist or (cti is not None and bytes(cti) in cfg.allowlist):
            return reasons.OK
        return reasons.NOT_LISTED
    if t == CAPACITY:
        limit = _int(p, 1)
        if skip or occupancy is None:
            return reasons.OK
        return reasons.OK if occupancy.inside < limit else reasons.CAPACITY
    if t == ANY:
        subs = p.get(1)
        if nested or type(subs) is not list or not subs:
            raise _Broken()
        if skip:
            return reasons.OK
        first = None
        for sub in subs:
            r = _rule(sub, cfg, claims, pass_hash, now, occupancy, True)
            if r == reasons.OK:
                return r
            if r == reasons.RULE_ERROR or r == reasons.CLOCK:
                return r
            if first is None:
                first = r
        return first
    # every rule below needs the time
    if t not in (VACCINATION, TEST, F0, HEALTH_DECL, HOURS, DUPLICATE):
        raise _Broken()
    _time_params(t, p)
    if skip:
        return reasons.OK
    if now is None:
        return reasons.CLOCK
    local = now + cfg.tz
    today = local // _DAY
    if t == VACCINATION:
        need = _int(p, 1)
        lo = _int(p, 2, 0)
        hi = _int(p, 3, 0)
        v = _pair(claims, "vaccination")
        if v is None or v[0] < need:
            return reasons.VACCINATION
        age = today - v[1]
        if age < lo or (hi and age > hi):
            return reasons.VACCINATION
        return reasons.OK
    if t == TEST:
        hours = _int(p, 1)
        v = _pair(claims, "test")
        if v is None or v[0] != 0:
            return reasons.TEST
        age = now - v[1]
        return reasons.OK if -300 <= age <= hours * 3600 else reasons.TEST
    if t == F0:
        hours = _int(p, 1, 336)
        f0 = _pair(claims, "f0")
        if f0 is not None and f0[0] == 1 and f0[1] >= today:
            return reasons.F0
        v = _pair(claims, "test")
        if v is not None and v[0] == 1 and now - v[1] <= hours * 3600:
            return reasons.F0
        return reasons.OK
    if t == HEALTH_DECL:
        days = _int(p, 1)
        d = claims.get("health_decl")
        if d is None:
            return reasons.HEALTH_DECL
        if type(d) is not int:
            raise _Broken()
        return reasons.OK if 0 <= today - d <= days else reasons.HEALTH_DECL
    if t == HOURS:
        week = p.get(1)
        if type(week) is not list or len(week) != 7:
            raise _Broken()
        minute = (local % _DAY) // 60
        windows = week[(today + 3) % 7]  # 1970-01-01 was a Thursday; Monday = 0
        if type(windows) is not list:
            raise _Broken()
        for w in windows:
            if type(w) is not list or len(w) != 2 or type(w[0]) is not int or type(w[1]) is not int:
                raise _Broken()
            if w[0] <= minute < w[1]:
                return reasons.OK
        return reasons.HOURS
    # DUPLICATE
    window = _int(p, 1)
    if occupancy is not None and occupancy.seen_within(pass_hash, now, window):
        return reasons.DUPLICATE
    return reasons.OK


def evaluate(cfg, claims, pass_hash, now, occupancy=None):
    """Reason code for this holder at this site now (OK = admit). Never raises.

    claims: the verifier's readable dict (verify/claims.py); now: unix seconds,
    None when the clock is not trusted (time-based rules answer CLOCK)."""
    try:
        if cfg.suspended:
            return reasons.SUSPENDED
        for rule in cfg.rules:
            r = _rule(rule, cfg, claims, pass_hash, now, occupancy, False)
            if r != reasons.OK:
                return r
        return reasons.OK
    except Exception:  # noqa: a broken rule denies, it never crashes a scan
        return reasons.RULE_ERROR
