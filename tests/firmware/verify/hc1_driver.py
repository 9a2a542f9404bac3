"""JSON-lines driver for verify/hc1.py tests; runs under MicroPython.

{"op": "decode", "cases": [{"t": text} | {"h": hex bytes}]}
    -> {"r": [[reason, result or null]]}: bytes in a result as hex, plus
       "tbs" (hex of hc1.to_be_signed(result)).
Any exception becomes {"err": "..."} (jsonl_serve) so the host sees it.
"""

from jsonl_serve import serve
from verify import hc1


def _jsonable(res):
    if res is None:
        return None
    out = {}
    for k, v in res.items():
        out[k] = v.hex() if type(v) is bytes else v
    out["tbs"] = hc1.to_be_signed(res).hex()
    return out


def _handle(req):
    if req["op"] != "decode":
        raise ValueError("op")
    r = []
    for c in req["cases"]:
        text = c["t"] if "t" in c else bytes.fromhex(c["h"])
        reason, res = hc1.decode(text)
        r.append([reason, _jsonable(res)])
    return {"r": r}


serve(_handle)
