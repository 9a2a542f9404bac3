"""JSON-lines driver for the P-256 field module; runs under MicroPython (viper).

  {"op": "run", "n": slots, "init": [[slot, [20 limbs]], ...], "prog": hex,
   "ext": hex, "off": int}      -> {"slots": [[20 limbs] x n], "ext": hex}
  {"op": "mul2", "u1": hex, "u2": hex, "pk": hex, "prepared": bool}
        -> {"x": hex, "z": hex}: p256's field-program u1*G + u2*Q (Jacobian
           X and Z; Z = 0 where the caller would recompute exactly)
  {"op": "naf", "k": hex, "w": int} -> {"d": [258 signed digits], "last": int}
  {"op": "impl"}                -> {"run": module of p256's field code}
Any exception becomes {"err": "..."} so the host sees it.
"""

from crypto import _fe256_viper as fe
from crypto import p256
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


def _mul2(req):
    u1 = int(req["u1"], 16)
    u2 = int(req["u2"], 16)
    pk = bytes.fromhex(req["pk"])
    mem = p256._new_mem(16)
    if req["prepared"]:
        x, z = p256._fast(mem, u1, u2, None, p256.prepare(pk).table)
    else:
        x, z = p256._fast(mem, u1, u2, p256._q_multiples(mem, pk[1:]), None)
    return {"x": "%x" % x, "z": "%x" % z}


def handle(req):
    if req["op"] == "run":
        return _run(req)
    if req["op"] == "mul2":
        return _mul2(req)
    if req["op"] == "naf":
        out = bytearray(258)
        last = fe.naf(out, int(req["k"], 16).to_bytes(32, "big"), req["w"])
        return {"d": [v - 256 if v >= 128 else v for v in out], "last": last}
    if req["op"] == "impl":
        return {"run": "viper" if p256._run is fe.run else "other"}
    return {"err": "unknown op"}


serve(handle)
