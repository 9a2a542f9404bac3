"""JSON-lines driver for crypto/rsa_pss.py tests; runs under MicroPython AND CPython.

One request per stdin line, one answer per stdout line:
  {"op": "many", "n": hex, "e": int | "eb": hex, "salt": int, "cases": [[sig, msg]]}
        -> {"c": [check() code], "v": [verify()], "d": [check_digest() code]}
  {"op": "der", "der": hex} -> {"c": code, "n": hex or null, "e": int/hex or null}
  {"op": "types"}           -> {"raised": [..], "codes": [..]}: odd argument types
  {"op": "impl"}            -> {"file": where crypto.rsa_pss was loaded from}
Any exception becomes {"err": "..."} so the host sees it.
"""

import hashlib

from crypto import rsa_pss
from jsonl_serve import serve


def _many(req):
    n = bytes.fromhex(req["n"])
    e = bytes.fromhex(req["eb"]) if "eb" in req else req["e"]
    salt = req.get("salt", rsa_pss.SALT_DEFAULT)
    out = {"c": [], "v": [], "d": []}
    for sig, msg in req["cases"]:
        sig, msg = bytes.fromhex(sig), bytes.fromhex(msg)
        out["c"].append(rsa_pss.check(n, e, sig, msg, salt))
        out["v"].append(rsa_pss.verify(n, e, memoryview(sig), bytearray(msg), salt))
        out["d"].append(rsa_pss.check_digest(n, e, sig, hashlib.sha256(msg).digest(), salt))
    return out


def _der(req):
    code, n, e = rsa_pss.public_key_from_der(bytes.fromhex(req["der"]))
    if isinstance(e, (bytes, bytearray)):
        e = e.hex()
    return {"c": code, "n": n.hex() if n is not None else None, "e": e}


def _types():
    n = b"\xc1" + bytes(254) + b"\x01"
    weird = [None, 0, -1, 1.5, "x" * 256, [0] * 256, (1,), {}, object(), True, 2**70]
    raised, codes = [], []
    for w in weird:
        for args in ((w, 65537, bytes(256), b""), (n, w, bytes(256), b""),
                     (n, 65537, w, b""), (n, 65537, bytes(256), w)):
            for salt in (32, w):
                try:
                    codes.append(rsa_pss.check(*args, salt_len=salt))
                    codes.append(rsa_pss.check_digest(args[0], args[1], args[2], w, salt))
                    if rsa_pss.verify(*args, salt_len=salt) is not False:
                        raised.append("verify accepted %r" % (w,))
                    rsa_pss.check_key(args[0], args[1])
                except Exception as ex:
                    raised.append("%s: %r" % (type(w).__name__, ex))
        try:
            codes.append(rsa_pss.public_key_from_der(w)[0])
        except Exception as ex:
            raised.append("der %s: %r" % (type(w).__name__, ex))
    return {"raised": raised, "codes": codes}


def handle(req):
    op = req["op"]
    if op == "many":
        return _many(req)
    if op == "der":
        return _der(req)
    if op == "types":
        return _types()
    if op == "impl":
        return {"file": rsa_pss.__file__}
    return {"err": "unknown op"}


serve(handle)
