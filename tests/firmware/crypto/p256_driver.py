"""JSON-lines driver for the P-256 tests; runs under MicroPython AND CPython.

One request per stdin line, one answer per stdout line:
  {"op": "ver_many", "pk": hex, "cases": [[sig, msg]], "one": bool, "mv": bool}
        -> {"p": prepare() ok, "vp": [verify_prepared()], "v": [verify()] or null}
  {"op": "digest", "pk": hex, "sig": hex, "h": hex} -> {"v": verify_digest(),
        "v1": the one-shot path (verify() without hashing) on the same digest}
  {"op": "types"}        -> {"raised": [..]}: non-bytes arguments that raised
                            or returned something else than True/False/None
  {"op": "base_table"}   -> {"same": bool}: stored G table == build_table()
  {"op": "inv", "xs": [hex]} -> {"w": [hex]}: the module's s^-1 mod n
  {"op": "where"}        -> {"file": crypto.p256.__file__} (.py or .mpy)
Any exception becomes {"err": "..."} so the host sees it.
"""

from crypto import p256
from jsonl_serve import serve


def _b(h, mv=False):
    raw = bytes.fromhex(h)
    # callers may pass slices of a bigger buffer
    return memoryview(b"_" + raw)[1:] if mv else raw


def _ver_many(req):
    mv = req.get("mv", False)
    pk = _b(req["pk"], mv)
    key = p256.prepare(pk)
    one = req.get("one", True)
    out = {"p": key is not None, "vp": [], "v": [] if one else None}
    for sig, msg in req["cases"]:
        sig = _b(sig, mv)
        msg = _b(msg, mv)
        out["vp"].append(p256.verify_prepared(key, sig, msg))
        if one:
            out["v"].append(p256.verify(pk, sig, msg))
    return out


def _types():
    good_pk = bytes.fromhex(
        "042927b10512bae3eddcfe467828128bad2903269919f7086069c8c4df6c732838"
        "c7787964eaac00e5921fb1498a60f4606766b3d9685001558d1a974e7341513e")
    key = p256.prepare(good_pk)
    weird = [None, 0, -1, 1.5, "x" * 64, "x" * 65, [4] * 65, (1,), {}, object(), 2 ** 300]
    raised = []
    for w in weird:
        for fn, args in (
            (p256.verify, (w, bytes(64), b"")),
            (p256.verify, (good_pk, w, b"")),
            (p256.verify, (good_pk, bytes(64), w)),
            (p256.prepare, (w,)),
            (p256.verify_prepared, (w, bytes(64), b"")),
            (p256.verify_prepared, (key, w, b"")),
            (p256.verify_prepared, (key, bytes(64), w)),
            (p256.verify_digest, (key, bytes(64), w)),
        ):
            try:
                r = fn(*args)
                if r not in (True, False, None):
                    raised.append("bad return %r" % (r,))
            except Exception as e:
                raised.append("%s(%s): %r" % (fn.__name__, type(w).__name__, e))
    return {"raised": raised}


def handle(req):
    op = req["op"]
    if op == "ver_many":
        return _ver_many(req)
    if op == "digest":
        return {"v": p256.verify_digest(p256.prepare(_b(req["pk"])), _b(req["sig"]), _b(req["h"])),
                "v1": p256._check(_b(req["sig"]), _b(req["h"]), p256.decode_point(_b(req["pk"])))}
    if op == "types":
        return _types()
    if op == "base_table":
        from crypto._p256_base import TABLE

        return {"same": bytes(p256.build_table()) == TABLE}
    if op == "inv":
        return {"w": ["%x" % p256._inverse_mod_n(int(x, 16)) for x in req["xs"]]}
    if op == "where":
        return {"file": p256.__file__}
    return {"err": "unknown op"}


serve(handle)
