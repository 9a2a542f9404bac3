# MicroPython driver for tests/firmware/codec: one JSON request per stdin
# line, one JSON answer per stdout line. Values are returned as a "model":
# a JSON structure that keeps what JSON cannot (bytes, tags, float bits).
import sys
import json
import struct
from binascii import hexlify, unhexlify

import errors
from verify import reasons
from codec import base45, cbor, inflate
from verify import cose, qr


def hx(b):
    return hexlify(b).decode()


def model(v):
    if v is True or v is False:
        return ["bool", v]
    if v is None:
        return ["null"]
    if v is cbor.UNDEFINED:
        return ["undefined"]
    t = type(v)
    if t is int:
        return ["int", str(v)]
    if t is bytes:
        return ["bytes", hx(v)]
    if t is str:
        return ["str", v]
    if t is float:
        if v != v:
            return ["float", "nan"]
        return ["float", hx(struct.pack(">d", v))]
    if t is list:
        return ["list", [model(x) for x in v]]
    if t is dict:
        return ["map", [[model(k), model(x)] for k, x in v.items()]]
    if t is cbor.Tag:
        return ["tag", v.tag, model(v.value)]
    if t is cbor.Simple:
        return ["simple", v.value]
    return ["unknown", repr(v)]


def err(e):
    if isinstance(e, errors.GateError):
        return {"ok": False, "err": type(e).__name__, "reason": reasons.name(e.reason), "detail": e.detail}
    return {"ok": False, "err": type(e).__name__, "reason": None, "detail": repr(e)}


def do_b45dec(q):
    s = q["s"]
    if q.get("as_bytes"):
        s = s.encode()
    return {"ok": True, "hex": hx(base45.b45decode(s))}


def do_b45enc(q):
    return {"ok": True, "s": base45.b45encode(unhexlify(q["hex"]))}


def do_cbor(q):
    kw = q.get("limits") or {}
    data = unhexlify(q["hex"])
    kind = q.get("as")
    if kind == "bytearray":
        data = bytearray(data)
    elif kind == "memoryview":
        data = memoryview(data)
    elif kind == "str":
        data = q["hex"]
    v = cbor.loads(data, **kw)
    out = {"ok": True, "model": model(v)}
    try:
        out["dumps"] = hx(cbor.dumps(v))
    except Exception as e:  # report, the test decides
        out["dumps_err"] = err(e)
    return out


def do_dumps_model(q):
    # Encode a value built from a model (for encoder-only tests).
    return {"ok": True, "hex": hx(cbor.dumps(unmodel(q["model"])))}


def unmodel(m):
    k = m[0]
    if k == "int":
        return int(m[1])
    if k == "bytes":
        return unhexlify(m[1])
    if k == "str":
        return m[1]
    if k == "bool":
        return m[1]
    if k == "null":
        return None
    if k == "undefined":
        return cbor.UNDEFINED
    if k == "float":
        return float("nan") if m[1] == "nan" else struct.unpack(">d", unhexlify(m[1]))[0]
    if k == "list":
        return [unmodel(x) for x in m[1]]
    if k == "map":
        return {unmodel(a): unmodel(b) for a, b in m[1]}
    if k == "tag":
        return cbor.Tag(m[1], unmodel(m[2]))
    if k == "simple":
        return cbor.Simple(m[1])
    if k == "nested":  # m[1] lists around m[2], built without recursion
        o = unmodel(m[2])
        for _ in range(m[1]):
            o = [o]
        return o
    raise ValueError(k)


def do_cbor_truncations(q):
    data = unhexlify(q["hex"])
    bad = []
    for i in range(len(data)):
        try:
            cbor.loads(data[:i])
            bad.append([i, "accepted"])
        except errors.CBORError:
            pass
        except Exception as e:
            bad.append([i, repr(e)])
    return {"ok": True, "bad": bad, "n": len(data)}


def do_cbor_deep(q):
    # Build the deep input here: n nested arrays (definite or indefinite).
    n = q["n"]
    opener = b"\x9f" if q.get("indef") else b"\x81"
    closer = b"\xff" * n if q.get("indef") else b""
    data = opener * n + b"\x00" + closer
    cbor.loads(data, max_bytes=len(data))
    return {"ok": True}


def do_cbor_stack(q):
    # C stack in use at the innermost level of n nested containers, relative
    # to the caller (micropython.stack_use()): the innermost item is a float,
    # and the codec's own float helper is wrapped to take the reading.
    import micropython
    n, kind = q["n"], q["kind"]
    seen = []
    if q["dir"] == "enc":
        o = 1.5
        for _ in range(n):
            o = [o] if kind == "list" else ({1: o} if kind == "map" else cbor.Tag(6, o))
        orig, name = cbor._float, "_float"
        cbor._float = lambda out, f: seen.append(micropython.stack_use()) or orig(out, f)
        call = lambda: cbor.dumps(o)
    else:
        head = {"list": b"\x81", "map": b"\xa1\x01", "tag": b"\xc6", "indef": b"\x9f"}[kind]
        data = head * n + b"\xf9\x3e\x00" + (b"\xff" * n if kind == "indef" else b"")
        orig, name = cbor._half, "_half"
        cbor._half = lambda h: seen.append(micropython.stack_use()) or orig(h)
        call = lambda: cbor.loads(data)
    base = micropython.stack_use()
    try:
        call()
    finally:
        setattr(cbor, name, orig)
    return {"ok": True, "stack": seen[0] - base, "bits": 64 if sys.maxsize > 2**32 else 32}


def do_inflate(q):
    out = inflate.inflate(unhexlify(q["hex"]), q["cap"])
    return {"ok": True, "hex": hx(out)}


def do_unwrap(q):
    text = q["text"]
    if q.get("as_bytes"):
        text = text.encode()
    kw = {}
    for k in ("prefix", "cap", "zlib_required"):
        if k in q:
            kw[k] = q[k]
    return {"ok": True, "hex": hx(qr.unwrap(text, **kw))}


def sign1_out(s):
    return {
        "protected": hx(s.protected), "phdr": model(s.phdr), "uhdr": model(s.uhdr),
        "payload": hx(s.payload), "signature": hx(s.signature),
        "alg": s.alg, "kid": None if s.kid is None else hx(s.kid),
    }


def do_cose(q):
    if "max_bytes" in q:
        s = cose.parse_sign1(unhexlify(q["hex"]), q["max_bytes"])
    else:
        s = cose.parse_sign1(unhexlify(q["hex"]))
    out = {"ok": True}
    out.update(sign1_out(s))
    aad = unhexlify(q.get("aad", ""))
    out["tbs"] = hx(cose.sig_structure(s, aad))
    return out


def do_chain(q):
    # The device's decoding layers in order; report the layer that failed.
    out = {"ok": True, "layer": None}
    layer = "unwrap"
    try:
        cose_bytes = qr.unwrap(q["text"], q["prefix"], q.get("cap", 4096), q.get("zlib_required", False))
        out["cose"] = hx(cose_bytes)
        layer = "cose"
        s = cose.parse_sign1(cose_bytes)
        out["payload"] = hx(s.payload)
        out["alg"] = s.alg
        out["kid"] = None if s.kid is None else hx(s.kid)
        layer = "cbor"
        out["claims"] = model(cbor.loads(s.payload))
    except Exception as e:
        out = err(e)
        out["layer"] = layer
    return out


def _step(fn):
    try:
        return {"ok": True, "v": fn()}
    except Exception as e:
        return err(e)


def _cose_step(data):
    s = cose.parse_sign1(data)
    try:
        claims = model(cbor.loads(s.payload))
    except errors.CBORError as e:
        return {"payload": hx(s.payload), "claims_err": err(e)}
    return {"payload": hx(s.payload), "claims": claims}


def do_dcc(q):
    # Every device layer on the EU DCC file's own intermediate fields, and
    # the whole chain on its QR text.
    cap = q.get("cap", 4096)
    out = {"ok": True, "chain": do_chain(q)}
    if "base45" in q:
        out["b45"] = _step(lambda: hx(base45.b45decode(q["base45"])))
    if "compressed" in q:
        out["inflate"] = _step(lambda: hx(inflate.inflate(unhexlify(q["compressed"]), cap)))
    if "cose" in q:
        out["cose"] = _step(lambda: _cose_step(unhexlify(q["cose"])))
    if "cbor" in q:
        out["cbor"] = _step(lambda: model(cbor.loads(unhexlify(q["cbor"]))))
    return out


OPS = {
    "b45dec": do_b45dec, "b45enc": do_b45enc, "cbor": do_cbor,
    "dumps_model": do_dumps_model, "cbor_truncations": do_cbor_truncations,
    "cbor_deep": do_cbor_deep, "cbor_stack": do_cbor_stack, "inflate": do_inflate, "unwrap": do_unwrap,
    "cose": do_cose, "chain": do_chain, "dcc": do_dcc,
}


def main():
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        q = json.loads(line)
        try:
            out = OPS[q["op"]](q)
        except Exception as e:
            out = err(e)
        out["id"] = q.get("id")
        sys.stdout.write(json.dumps(out))
        sys.stdout.write("\n")


main()
