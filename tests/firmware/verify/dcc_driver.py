"""JSON-lines driver for verify/dcc.py (the device's DCC verifier); MicroPython.

{"op": "check", "cases": [{"snap": table path, "t": text | "h": hex, "now": int|null}]}
    -> {"r": [[reason, pass_hash hex|null, hashes [hex], claims|null]]}
One verifier per table path (each check opens its table).
"""
from jsonl_serve import serve
from verify.dcc import DccVerifier

_open = {}


def _verifier(path):
    v = _open.get(path)
    if v is None:
        if len(_open) > 8:
            _open.clear()
        v = _open[path] = DccVerifier(path)
    return v


def _hex(b):
    return None if b is None else b.hex()


def _check(req):
    out = []
    for c in req["cases"]:
        text = c["t"] if "t" in c else bytes.fromhex(c["h"])
        r = _verifier(c["snap"]).check(text, c.get("now"))
        out.append([r.reason, _hex(r.pass_hash), [h.hex() for h in getattr(r, "hashes", ())],
                    r.claims])
    return {"r": out}


def _handle(req):
    if req["op"] != "check":
        raise ValueError("op")
    return _check(req)


serve(_handle)
