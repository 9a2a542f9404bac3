"""JSON-lines driver for crypto/ tests; runs under MicroPython AND CPython.

One request per stdin line, one answer per stdout line:
  {"op": "sha", "d": hex, "py": bool}          -> {"h": hex}
  {"op": "sha_parts", "parts": [hex], "py": b}  -> {"h": hex}   incremental API
  {"op": "sha_rep", "chunk": hex, "n": int}     -> {"h": hex}   chunk * n, streamed
  {"op": "ver", "pk": hex, "sig": hex, "msg": hex, "one": bool, "mv": bool}
        -> {"v": verify() or null, "p": prepare() ok, "vp": verify_prepared()}
  {"op": "ver_many", "pk": hex, "cases": [[sig, msg]], "one": bool}
        -> {"p": bool, "vp": [bool], "v": [bool] (verify()) or null}
  {"op": "types"}        -> {"raised": [..]}: non-bytes arguments that raised
  {"op": "base_table"}   -> {"same": bool}: stored base table == build_table(B)
  {"op": "impl"}         -> {"sha": "viper"/"py" block function, "impl", "files"}
Any exception becomes {"err": "..."} so the host sees it.
"""

import sys

from crypto import ed25519, sha512
from jsonl_serve import serve


def _sha(req):
    fn = sha512.compress_py if req.get("py") else None
    h = sha512.SHA512(compress_fn=fn)
    if req["op"] == "sha":
        h.update(bytes.fromhex(req["d"]))
    elif req["op"] == "sha_parts":
        for part in req["parts"]:
            h.update(bytes.fromhex(part))
    else:
        chunk = bytes.fromhex(req["chunk"])
        for _ in range(req["n"]):
            h.update(chunk)
    return {"h": h.digest().hex()}


def _ver(req):
    pk = bytes.fromhex(req["pk"])
    sig = bytes.fromhex(req["sig"])
    msg = bytes.fromhex(req["msg"])
    if req.get("mv"):  # callers may pass slices of a bigger buffer
        pk, sig, msg = memoryview(b"_" + pk)[1:], memoryview(bytearray(sig)), memoryview(msg)
    key = ed25519.prepare(pk)
    out = {"p": key is not None, "vp": ed25519.verify_prepared(key, sig, msg)}
    out["v"] = ed25519.verify(pk, sig, msg) if req.get("one", True) else None
    return out


def _ver_many(req):
    """One key, many (sig, msg) cases: prepare once; verify() too unless
    "one" is false (it is the slower, separate one-shot path)."""
    pk = bytes.fromhex(req["pk"])
    key = ed25519.prepare(pk)
    one = req.get("one", True)
    out = {"p": key is not None, "vp": [], "v": [] if one else None}
    for sig, msg in req["cases"]:
        sig = bytes.fromhex(sig)
        msg = bytes.fromhex(msg)
        out["vp"].append(ed25519.verify_prepared(key, sig, msg))
        if one:
            out["v"].append(ed25519.verify(pk, sig, msg))
    return out


def _types():
    good_pk = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    key = ed25519.prepare(good_pk)
    weird = [None, 0, 1.5, "x" * 32, "x" * 64, [0] * 32, (1,), {}, object(), bytearray(64), memoryview(b"\0" * 64)]
    raised = []
    for w in weird:
        for fn, args in (
            (ed25519.verify, (w, bytes(64), b"")),
            (ed25519.verify, (good_pk, w, b"")),
            (ed25519.verify, (good_pk, bytes(64), w)),
            (ed25519.prepare, (w,)),
            (ed25519.verify_prepared, (w, bytes(64), b"")),
            (ed25519.verify_prepared, (key, w, b"")),
            (ed25519.verify_prepared, (key, bytes(64), w)),
        ):
            try:
                r = fn(*args)
                if r not in (True, False, None):
                    raised.append("bad return %r" % (r,))
            except Exception as e:
                raised.append("%s(%s): %r" % (fn.__name__, type(w).__name__, e))
    return {"raised": raised}


def _base_table(req):
    from crypto._ed25519_base import TABLE

    return {"same": bytes(ed25519.build_table(ed25519.BX, ed25519.BY)) == TABLE}


def handle(req):
    op = req["op"]
    if op.startswith("sha"):
        return _sha(req)
    if op == "ver":
        return _ver(req)
    if op == "ver_many":
        return _ver_many(req)
    if op == "types":
        return _types()
    if op == "base_table":
        return _base_table(req)
    if op == "impl":
        py = sha512.compress is sha512.compress_py
        return {"sha": "py" if py else "viper", "impl": sys.implementation.name,
                "files": [ed25519.__file__, sha512.__file__]}
    return {"err": "unknown op"}


serve(handle)
