"""JSON-lines driver for the field module; runs under MicroPython (viper).

  {"op": "run", "n": slots, "init": [[slot, [20 limbs]], ...], "prog": hex,
   "ext": hex, "off": int}      -> {"slots": [[20 limbs] x n], "ext": hex}
  {"op": "recode", "s": hex}    -> {"d": [64 digits]}
  {"op": "impl"}                -> {"run": module of ed25519's field code}
Any exception becomes {"err": "..."} so the host sees it.
"""

from array import array

from crypto import _fe25519_viper as fe
from crypto import ed25519
from jsonl_serve import serve


def _run(req):
    n = req["n"]
    mem = fe.new_mem(n)
    for s, limbs in req["init"]:
        for i, v in enumerate(limbs):
            o = 40 * s + 2 * i
            mem[o:o + 2] = v.to_bytes(2, "little")
    ext = bytearray(bytes.fromhex(req["ext"]))
    fe.run(mem, mem, bytes.fromhex(req["prog"]), ext, req.get("off", 0))
    slots = [[int.from_bytes(mem[40 * s + 2 * i:40 * s + 2 * i + 2], "little") for i in range(20)]
             for s in range(n)]
    return {"slots": slots, "ext": ext.hex()}


def handle(req):
    if req["op"] == "run":
        return _run(req)
    if req["op"] == "recode":
        d = array("b", bytes(64))
        fe.recode(d, bytes.fromhex(req["s"]))
        return {"d": list(d)}
    if req["op"] == "impl":
        return {"run": "viper" if ed25519._run is fe.run else "other"}
    return {"err": "unknown op"}


serve(handle)
