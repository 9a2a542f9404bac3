"""JSON-lines driver for verify/dsc.py (the DCC trust table); MicroPython.

{"op": "open", "snap": path, "delta": path|null, "check": bool}
    -> {"ok": true, "count": key_count, "ram": bytes resident} or {"reason": code}
{"op": "lookup", "kids": [hex]} (on the last opened trust)
    -> {"r": [null | [alg, key hex, not_before, not_after, country, types]]}
"""
import gc

import errors
from jsonl_serve import serve
from verify import dsc
from verify import dsccheck  # noqa: F401 - its code is not table RAM: loaded first

_trust = [None]


def _open(req):
    if _trust[0] is not None:
        _trust[0].close()
        _trust[0] = None
    gc.collect()
    before = gc.mem_free()
    try:
        t = dsc.open_files(req["snap"], req.get("delta"), req.get("check", True))
    except errors.GateError as e:
        return {"reason": e.reason, "detail": e.detail}
    gc.collect()
    ram = before - gc.mem_free()
    _trust[0] = t
    return {"ok": True, "count": t.key_count(), "ram": ram}


def _lookup(req):
    out = []
    for k in req["kids"]:
        s = _trust[0].lookup(bytes.fromhex(k))
        out.append(None if s is None else [s.alg, s.key.hex(), s.not_before, s.not_after,
                                           s.country, s.types])
    return {"r": out}


def _handle(req):
    return {"open": _open, "lookup": _lookup}[req["op"]](req)


serve(_handle)
