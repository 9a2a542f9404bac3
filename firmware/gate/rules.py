# Site rules: declarative, versioned data evaluated on every scan.
#
# The rules arrive inside the signed site configuration (docs/protocol.md,
# "Site configuration and rules"). A rule is [type, params] with small-int
# keys; the list is evaluated in order and the first rule that fails decides
# the reason. Every rule may carry params[9] = roles it applies to (absent:
# every role). Types:
#    1 ROLES        {1: [roles]}                                  -> ROLE
#    2 VACCINATION  {1: min doses, 2: min days since last dose,
#                    3: max days since last dose (0/absent: none),
#                    4: accepted products (DCC mp codes; absent: any)} -> VACCINATION
#                   (a DCC must also be complete: dn >= sd)
#    3 TEST         {1: max hours since a negative test sample,
#                    2: accepted test types (DCC tt codes; absent: any)} -> TEST
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
#   12 RECOVERY     {1: min days since the first positive test (default 11),
#                    2: max days since it (default 180)} and today inside the
#                   certificate's own df..du                       -> RECOVERY
# Products and test types constrain only passes that carry them (DCCs): a
# GG1 pass is judged exactly as before. Config key 9 lists the pass formats
# the site accepts (1 GG1, 2 DCC; absent: GG1 only); gate/decide.py answers
# FORMAT for another one.
# The site-wide suspended flag (config key 4) denies with SUSPENDED first.
#
# Rules are checked and compiled once, when the configuration is applied
# (SiteConfig.compiled; SiteConfig.broken counts the broken ones); a scan then
# only runs the logic (~16 us for 9 rules on the unix port).
# evaluate() never raises: an unknown type, a missing or wrongly typed
# parameter, a claim of an unexpected shape -> RULE_ERROR (deny). A broken
# rule denies every holder, even those it does not apply to, so it shows at
# once in the scan reports and not when the first worker arrives. A configuration whose
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
RECOVERY = const(12)
FORMAT_GG1 = const(1)
FORMAT_DCC = const(2)

_APPLIES_TO = const(9)
_DAY = const(86400)
_WORKER_ROLE = const(1)
_TZ_DEFAULT = const(25200)  # UTC+7, Ho Chi Minh City
_MAX_RULES = const(64)

# config body keys
_C_SITE = const(1)
_C_BUSINESS = const(2)
_C_TZ = const(3)
_C_SUSPENDED = const(4)
_C_RULES = const(5)
_C_ALLOWLIST = const(6)
_C_MAX_AGE = const(7)
_C_NAME = const(8)
_C_FORMATS = const(9)


class _Broken(Exception):
    pass  # internal: a rule or claim that cannot be evaluated


def _malformed(detail):
    return errors.ControlError(reasons.CTRL_MALFORMED, "config: " + detail)


class SiteConfig:
    """A validated site configuration (the body of a KIND_CONFIG message).

    allowlist: container of bytes (pass hashes / cti; `in`) opened on the
    allowlist blob (load_allowlist: a gate.allowlist.Allowlist); the config
    references it by hash, the caller loads it."""

    def __init__(self, body, allowlist=None):
        if type(body) is not dict:
            raise _malformed("body is not a map")
        site = body.get(_C_SITE)
        if type(site) is not str or not 1 <= len(site) <= 64:
            raise _malformed("1 site_id must be text 1..64")
        business = body.get(_C_BUSINESS)
        if business is not None and (type(business) is not str or not 1 <= len(business) <= 16):
            raise _malformed("2 business_id must be text 1..16 or null")
        tz = body.get(_C_TZ, _TZ_DEFAULT)
        if type(tz) is not int or not -50400 <= tz <= 50400:
            raise _malformed("3 tz offset must be int seconds within +-14 h")
        suspended = body.get(_C_SUSPENDED, False)
        if type(suspended) is not bool:
            raise _malformed("4 suspended must be a bool")
        rules = body.get(_C_RULES)
        if type(rules) is not list or len(rules) > _MAX_RULES:
            raise _malformed("5 rules must be a list of at most 64 rules")
        max_age = body.get(_C_MAX_AGE, {})
        if type(max_age) is not dict:
            raise _malformed("7 max_age must be a map kind -> seconds")
        for k in max_age:
            v = max_age[k]
            if type(k) is not int or type(v) is not int or v <= 0:
                raise _malformed("7 max_age must be a map kind -> seconds")
        ref = body.get(_C_ALLOWLIST)
        if ref is not None and (type(ref) is not dict or type(ref.get(1)) is not bytes
                                or len(ref[1]) != 32):
            raise _malformed("6 allowlist must be a blob reference {1: sha256, ...}")
        formats = body.get(_C_FORMATS, [FORMAT_GG1])
        if (type(formats) is not list or not 1 <= len(formats) <= 2
                or any(f not in (FORMAT_GG1, FORMAT_DCC) or type(f) is not int for f in formats)):
            raise _malformed("9 formats must be a list of 1 (GG1) and/or 2 (DCC)")
        self.formats = tuple(formats)
        self.site_id = site
        self.business_id = business
        self.tz = tz
        self.suspended = suspended
        self.rules = rules
        self.max_age = max_age
        self.allowlist_ref = ref
        self.allowlist = allowlist if allowlist is not None else set()
        # validated once here; a broken rule stays in place as None and
        # denies every scan with RULE_ERROR (visible at once in the reports)
        self.compiled = [_compile(r, False) for r in rules]
        self.broken = 0
        for c in self.compiled:
            if c is None:
                self.broken += 1


def load_allowlist(path, page=0):
    """Allowlist blob file (CBOR array of bstr, 8..16 bytes each) ->
    gate.allowlist.Allowlist, searched on flash (`key in`). The usual blob
    (definite, sorted) is searched in place; any other shape is checked and
    sorted in RAM once and searched from a sorted copy written next to it.
    page: entries per page (tests; 0 = automatic)."""
    from gate import allowlist

    if type(path) is not str:
        raise TypeError("load_allowlist takes the blob file's path")
    try:
        return allowlist.Allowlist(path, page)
    except allowlist.Unusual:
        pass
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        raise errors.StoreError(reasons.NOT_PROVISIONED, "no allowlist blob")
    table = allowlist.parse(data)  # any order, no per-entry objects
    if table is None:
        from codec import cbor

        try:
            items = cbor.loads(data, max_items=20000, max_bytes=400000)
        except errors.GateError:
            raise _malformed("allowlist is not CBOR")
        if type(items) is not list:
            raise _malformed("allowlist is not an array")
        for it in items:
            if type(it) is not bytes or not 8 <= len(it) <= 16:
                raise _malformed("allowlist entries are 8..16 byte strings")
        table = allowlist.table_of(items)
        items = None
    data = None
    try:
        return allowlist.Allowlist(allowlist.write_sorted(path, table), page)
    except allowlist.Unusual:  # our own sorted copy: flash is failing
        raise errors.StoreError(reasons.INTERNAL, "sorted allowlist copy unreadable")


def _int(p, key, default=None):
    v = p.get(key, default)
    if type(v) is not int:
        raise _Broken()
    return v


def _list_of(p, key, typ, optional=False):
    # a list whose items are all of type typ, as a tuple (None: optional, absent)
    v = p.get(key)
    if v is None and optional:
        return None
    if type(v) is not list:
        raise _Broken()
    for x in v:
        if type(x) is not typ:
            raise _Broken()
    return tuple(v)


def _pair(claims, name):
    v = claims.get(name)
    if v is None:
        return None
    if type(v) is not list or len(v) != 2:
        raise _Broken()
    return v


def _compile(rule, nested):
    """[type, params] -> (type, args tuple, roles it applies to or None), or
    None for a broken rule. Done once when the configuration is applied, so
    a scan only runs the logic."""
    try:
        if type(rule) is not list or len(rule) != 2 or type(rule[1]) is not dict:
            raise _Broken()
        t = rule[0]
        p = rule[1]
        applies = p.get(_APPLIES_TO)
        if applies is not None:
            if type(applies) is not list:
                raise _Broken()
            applies = tuple(applies)
        elif t == WORKER:
            applies = (_WORKER_ROLE,)  # the allowlist is for worker passes
        if t == ROLES or t == ZONE:
            args = _list_of(p, 1, int)
        elif t == VACCINATION:
            args = (_int(p, 1), _int(p, 2, 0), _int(p, 3, 0), _list_of(p, 4, str, True))
        elif t == TEST:
            args = (_int(p, 1), _list_of(p, 2, str, True))
        elif t == RECOVERY:
            args = (_int(p, 1, 11), _int(p, 2, 180))
        elif t == HEALTH_DECL or t == CAPACITY or t == DUPLICATE:
            args = _int(p, 1)
        elif t == F0:
            args = _int(p, 1, 336)
        elif t == WORKER:
            args = p.get(2, True)
            if type(args) is not bool:
                raise _Broken()
        elif t == HOURS:
            week = p.get(1)
            if type(week) is not list or len(week) != 7:
                raise _Broken()
            days = []
            for windows in week:
                if type(windows) is not list:
                    raise _Broken()
                day = []
                for w in windows:
                    if (type(w) is not list or len(w) != 2 or type(w[0]) is not int
                            or type(w[1]) is not int):
                        raise _Broken()
                    day.append((w[0], w[1]))
                days.append(tuple(day))
            args = tuple(days)
        elif t == ANY:
            subs = p.get(1)
            if nested or type(subs) is not list or not subs:
                raise _Broken()
            args = []
            for sub in subs:
                c = _compile(sub, True)
                if c is None:
                    raise _Broken()
                args.append(c)
            args = tuple(args)
        else:
            raise _Broken()
        return (t, args, applies)
    except Exception:  # noqa: anything odd in a rule makes it broken
        return None


def _eval(c, cfg, claims, pass_hash, now, occupancy):
    # one compiled rule -> reason (OK = pass); a broken rule is RULE_ERROR
    if c is None:
        return reasons.RULE_ERROR
    t, a, applies = c
    if applies is not None and claims.get("role") not in applies:
        return reasons.OK
    if t == ROLES:
        return reasons.OK if claims.get("role") in a else reasons.ROLE
    if t == ZONE:
        return reasons.OK if claims.get("zone") in a else reasons.ZONE
    if t == WORKER:
        if a and (cfg.business_id is None or claims.get("business") != cfg.business_id):
            return reasons.WRONG_BUSINESS
        cti = claims.get("cti")
        if pass_hash in cfg.allowlist or (cti is not None and bytes(cti) in cfg.allowlist):
            return reasons.OK
        return reasons.NOT_LISTED
    if t == CAPACITY:
        if occupancy is None or occupancy.inside < a:
            return reasons.OK
        return reasons.CAPACITY
    if t == ANY:
        first = None
        for sub in a:
            r = _eval(sub, cfg, claims, pass_hash, now, occupancy)
            if r == reasons.OK or r == reasons.CLOCK:
                return r
            if first is None:
                first = r
        return first
    # every rule below needs the time
    if now is None:
        return reasons.CLOCK
    local = now + cfg.tz
    today = local // _DAY
    if t == VACCINATION:
        v = _pair(claims, "vaccination")
        if v is None or v[0] < a[0]:
            return reasons.VACCINATION
        age = today - v[1]
        if age < a[1] or (a[2] and age > a[2]):
            return reasons.VACCINATION
        if claims.get("complete") is False:
            return reasons.VACCINATION  # a DCC's dn < sd
        product = claims.get("product")
        if a[3] is not None and product is not None and product not in a[3]:
            return reasons.VACCINATION
        return reasons.OK
    if t == TEST:
        v = _pair(claims, "test")
        if v is None or v[0] != 0:
            return reasons.TEST
        tt = claims.get("test_type")
        if a[1] is not None and tt is not None and tt not in a[1]:
            return reasons.TEST
        age = now - v[1]
        return reasons.OK if -300 <= age <= a[0] * 3600 else reasons.TEST
    if t == RECOVERY:
        v = claims.get("recovery")
        if v is None:
            return reasons.RECOVERY
        if type(v) is not list or len(v) != 3:
            raise _Broken()
        since = today - v[0]
        if not (v[1] <= today <= v[2] and a[0] <= since <= a[1]):
            return reasons.RECOVERY
        return reasons.OK
    if t == F0:
        f0 = _pair(claims, "f0")
        if f0 is not None and f0[0] == 1 and f0[1] >= today:
            return reasons.F0
        v = _pair(claims, "test")
        if v is not None and v[0] == 1 and now - v[1] <= a * 3600:
            return reasons.F0
        return reasons.OK
    if t == HEALTH_DECL:
        d = claims.get("health_decl")
        if d is None:
            return reasons.HEALTH_DECL
        if type(d) is not int:
            raise _Broken()
        return reasons.OK if 0 <= today - d <= a else reasons.HEALTH_DECL
    if t == HOURS:
        minute = (local % _DAY) // 60
        for w in a[(today + 3) % 7]:  # 1970-01-01 was a Thursday; Monday = 0
            if w[0] <= minute < w[1]:
                return reasons.OK
        return reasons.HOURS
    # DUPLICATE
    if occupancy is not None and occupancy.seen_within(pass_hash, now, a):
        return reasons.DUPLICATE
    return reasons.OK


def evaluate(cfg, claims, pass_hash, now, occupancy=None):
    """Reason code for this holder at this site now (OK = admit). Never raises.

    claims: the verifier's readable dict (verify/claims.py); now: unix seconds,
    None when the clock is not trusted (time-based rules answer CLOCK)."""
    try:
        if cfg.suspended:
            return reasons.SUSPENDED
        for c in cfg.compiled:
            r = _eval(c, cfg, claims, pass_hash, now, occupancy)
            if r != reasons.OK:
                return r
        return reasons.OK
    except Exception:  # noqa: a broken rule denies, it never crashes a scan
        return reasons.RULE_ERROR
