# Runs under MicroPython (MICROPYPATH=<repo>/firmware:.frozen), not CPython.
#
# JSON-lines driver for the device's own verifier (verify/verifier.py):
#   line 1: {"trust": [{"kid": hex, "public_key": hex, "issuer": str,
#            "not_after": int}], "skew": int}
#       or {"dcc_table": path of a GGDT table, "skew": int}: EU DCCs through
#            verify/dcc.py (the table searched on "flash", as on a gate)
#   then one request per line: {"qr": text} or {"qr_hex": hex of raw scanner
#            bytes}, with "now": unix seconds or null
#   answers one line each: {"verdict": bool, "reason": NAME, "claims": dict or
#            null (cti as hex), "pass_hash": hex or null}
# Used by `greengate pass check --engine micropython`, the tests and the bench.
import sys

# The script's own directory (greengate/passes) goes first on sys.path and
# holds a host module named verify.py: drop it so `verify` is the firmware's.
if sys.path and sys.argv and sys.argv[0].startswith(sys.path[0]):
    sys.path.pop(0)

import json
from binascii import hexlify, unhexlify

from verify import reasons
from verify.trust import TrustStore
from verify.verifier import Verifier


def _jsonable(claims):
    if claims is None:
        return None
    out = {}
    for k in claims:
        v = claims[k]
        out[k] = hexlify(v).decode() if isinstance(v, bytes) else v
    return out


def _verifier(cfg):
    if "dcc_table" in cfg:
        from verify import dsc
        from verify.dcc import DccVerifier

        trust = dsc.open_files(cfg["dcc_table"], None, True)  # checked whole, as on apply
        try:
            count = trust.key_count()
        finally:
            trust.close()
        return DccVerifier(cfg["dcc_table"], None, cfg.get("skew", 300)), count, 0
    store = TrustStore()
    refused = 0
    for e in cfg["trust"]:
        if not store.add(unhexlify(e["public_key"]), e["issuer"], unhexlify(e["kid"]), e.get("not_after") or 0):
            refused += 1
    return Verifier(store, cfg.get("skew", 300)), len(store), refused


def main():
    cfg = json.loads(sys.stdin.readline())
    verifier, keys, refused = _verifier(cfg)
    print(json.dumps({"ready": True, "keys": keys, "refused": refused}))
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        if not line.strip():
            continue
        req = json.loads(line)
        qr = req["qr"] if "qr" in req else unhexlify(req["qr_hex"])
        r = verifier.check(qr, req.get("now"))
        print(json.dumps({
            "verdict": r.verdict,
            "reason": reasons.name(r.reason),
            "claims": _jsonable(r.claims),
            "pass_hash": hexlify(r.pass_hash).decode() if r.pass_hash else None,
        }))


main()
