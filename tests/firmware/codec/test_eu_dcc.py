"""The device's decoding layers against ALL 577 EU DCC test files.

Each file is run through the real MicroPython layers with the "HC1:" prefix
(EU scheme: zlib is mandatory, so zlib_required=True):
  chain:   qr.unwrap(PREFIX) -> cose.parse_sign1 -> cbor.loads(payload)
  layers:  base45 on BASE45, inflate on COMPRESSED, parse_sign1 + loads on
           COSE, loads on CBOR (each where the file has the field).
Every EXPECTED* flag of those steps is checked (missing flag = not tested):
  EXPECTEDUNPREFIX    -> PREFIX      EXPECTEDB45DECODE -> BASE45
  EXPECTEDCOMPRESSION -> INFLATE     EXPECTEDDECODE    -> COSE / CBOR
A broken file must fail at the layer its flags point to, with that layer's
reason code, and never with anything but a GateError. No file is exempt.
"""
import json
from collections import Counter

from mpy import TESTDATA

FILES = sorted((TESTDATA / "eu-dcc").rglob("*.json"))

LAYER_FLAGS = {  # reason of a chain failure -> the flags that must not be true
    "PREFIX": ("EXPECTEDUNPREFIX",),
    "BASE45": ("EXPECTEDB45DECODE",),
    "INFLATE": ("EXPECTEDCOMPRESSION",),
    "COSE": ("EXPECTEDDECODE", "EXPECTEDVERIFY"),
    "CBOR": ("EXPECTEDDECODE", "EXPECTEDVERIFY"),
}


def _request(j):
    q = {"op": "dcc", "text": j["PREFIX"], "prefix": "HC1:", "zlib_required": True, "cap": 4096}
    for field, key in (("BASE45", "base45"), ("COMPRESSED", "compressed"), ("COSE", "cose"), ("CBOR", "cbor")):
        if field in j:
            q[key] = j[field]
    return q


def _hcert(claims_model):
    """claims[-260][1] (the certificate map) from a CWT claims model."""
    for k, v in claims_model[1]:
        if k == ["int", "-260"]:
            for k2, v2 in v[1]:
                if k2 == ["int", "1"]:
                    return v2
    return None


def _check_file(name, j, o, canonical, seen):
    problems = []
    flags = j.get("EXPECTEDRESULTS", {})

    def bad(msg):
        problems.append("%s: %s" % (name, msg))

    # Never anything but a GateError with a reason, at any layer.
    steps = {"chain": o["chain"], **{k: o[k] for k in ("b45", "inflate", "cose", "cbor") if k in o}}
    for step, r in steps.items():
        if not r["ok"] and r.get("reason") is None:
            bad("%s raised %s %s" % (step, r.get("err"), r.get("detail")))
    chain = o["chain"]
    reason = None if chain["ok"] else chain["reason"]

    # A chain failure must be at a layer whose flag is not true.
    if reason is not None:
        for flag in LAYER_FLAGS.get(reason, ()):
            if flags.get(flag) is True:
                bad("chain failed with %s but %s is true (%s)" % (reason, flag, chain.get("detail")))

    # EXPECTEDUNPREFIX
    if "EXPECTEDUNPREFIX" in flags:
        seen["EXPECTEDUNPREFIX"] += 1
        if flags["EXPECTEDUNPREFIX"] and reason == "PREFIX":
            bad("prefix rejected")
        if not flags["EXPECTEDUNPREFIX"] and reason != "PREFIX":
            bad("prefix accepted (chain: %s)" % reason)

    # EXPECTEDB45DECODE
    if "EXPECTEDB45DECODE" in flags:
        seen["EXPECTEDB45DECODE"] += 1
        b45 = o.get("b45")
        if flags["EXPECTEDB45DECODE"]:
            if b45 is not None and not b45["ok"]:
                bad("BASE45 field rejected: %s" % b45)
            if b45 is not None and "COMPRESSED" in j and b45["v"] != j["COMPRESSED"].lower():
                bad("base45 output differs from COMPRESSED")
        else:
            if b45 is not None and (b45["ok"] or b45["reason"] != "BASE45"):
                bad("BASE45 field accepted: %s" % b45)
            if reason != "BASE45":
                bad("chain did not fail at BASE45 (%s)" % reason)

    # EXPECTEDCOMPRESSION
    if "EXPECTEDCOMPRESSION" in flags:
        seen["EXPECTEDCOMPRESSION"] += 1
        inf = o.get("inflate")
        if flags["EXPECTEDCOMPRESSION"]:
            if inf is not None and not inf["ok"]:
                bad("COMPRESSED rejected: %s" % inf)
            if inf is not None and inf["ok"] and "COSE" in j and inf["v"] != j["COSE"].lower():
                bad("inflated COMPRESSED differs from COSE")
        else:
            if inf is not None and (inf["ok"] or inf["reason"] != "INFLATE"):
                bad("COMPRESSED accepted: %s" % inf)
            if reason != "INFLATE":
                bad("chain did not fail at INFLATE (%s)" % reason)

    # EXPECTEDDECODE: COSE parses, the payload and the CBOR field decode and
    # agree (CBOR is either the whole CWT payload or its certificate map).
    if "EXPECTEDDECODE" in flags:
        seen["EXPECTEDDECODE"] += 1
        c, cb = o.get("cose"), o.get("cbor")
        if flags["EXPECTEDDECODE"]:
            if c is not None and (not c["ok"] or "claims" not in c["v"]):
                bad("COSE/payload rejected: %s" % c)
            if cb is not None and not cb["ok"]:
                bad("CBOR field rejected: %s" % cb)
            if c is not None and cb is not None and c["ok"] and cb["ok"] and "claims" in c["v"]:
                same_bytes = c["v"]["payload"] == j["CBOR"].lower()
                hcert = _hcert(c["v"]["claims"])
                if not same_bytes and (hcert is None or canonical(hcert) != canonical(cb["v"])):
                    bad("CBOR field matches neither the payload nor its certificate")
        else:
            failed = (cb is not None and not cb["ok"] and cb["reason"] == "CBOR") or (
                c is not None and not c["ok"] and c["reason"] == "COSE")
            if not failed:
                bad("nothing failed to decode")

    # When every decoding step is expected to pass, the chain reproduces the
    # file's COSE bytes exactly.
    expect_fail = any(flags.get(f) is False for f in ("EXPECTEDUNPREFIX", "EXPECTEDB45DECODE", "EXPECTEDCOMPRESSION"))
    if chain["ok"]:
        seen["chain_ok"] += 1
        if expect_fail:
            bad("chain succeeded although a decoding step is expected to fail")
        if "COSE" in j and chain["cose"] != j["COSE"].lower():
            bad("chain COSE differs from the COSE field")
    else:
        seen["chain_fail_" + reason] += 1
    return problems


def test_every_eu_dcc_file(codec_run, canonical):
    assert len(FILES) == 577
    docs = [json.loads(f.read_text()) for f in FILES]
    # 256 KB of heap on a 64-bit port (driver and JSON models included).
    out = codec_run([_request(j) for j in docs], heap="256k")
    seen = Counter()
    problems = []
    for f, j, o in zip(FILES, docs, out):
        problems += _check_file(str(f.relative_to(TESTDATA)), j, o, canonical, seen)
    assert problems == [], "\n".join(problems)
    # The corpus's own negative cases were exercised at their layers.
    assert seen["chain_fail_PREFIX"] == 3 and seen["chain_fail_BASE45"] == 1
    assert seen["chain_fail_INFLATE"] == 2 and seen["chain_fail_COSE"] == 1  # common/CBO2
    assert seen["chain_ok"] == 570, seen
    assert seen["EXPECTEDDECODE"] == 544 and seen["EXPECTEDUNPREFIX"] == 536
