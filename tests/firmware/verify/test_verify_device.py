"""verify/claims.py, verify/trust.py, verify/verifier.py under real MicroPython."""

import json
import subprocess

import pytest

from gg_pass_helpers import NOW, new_key, resident
from greengate.passes.issue import issue
from greengate.passes.keys import device_trust_bytes
from greengate.passes import reasons as host_reasons
from mpy import FIRMWARE, MPY_CROSS, run_micropython

MY_FILES = ["verify/claims.py", "verify/trust.py", "verify/verifier.py"]


@pytest.mark.parametrize("name", MY_FILES)
def test_compiles_for_esp32(name, tmp_path):
    r = subprocess.run([MPY_CROSS, "-march=xtensawin", str(FIRMWARE / name), "-o", str(tmp_path / "x.mpy")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_host_reason_table_matches_the_device():
    r = run_micropython(
        "import json\nfrom verify import reasons\n"
        "print(json.dumps({reasons.name(c): c for c in list(range(64))if reasons.name(c) != 'UNKNOWN'}))\n"
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == host_reasons.table()


def mpy(script: str, data: dict):
    r = run_micropython(script, stdin=json.dumps(data))
    assert r.returncode == 0, (r.stdout + r.stderr).decode()
    return json.loads(r.stdout.decode().strip().splitlines()[-1])


def test_trust_file_load_and_refusals(tmp_path):
    (_, a), (_, b) = new_key("HCM-D7"), new_key("SHOP-7", not_after=NOW)
    good = device_trust_bytes([a, b, a])  # a twice: installed once
    small = type(a)("X", b"\x01" * 8, bytes.fromhex("01" + "00" * 31))
    with_bad_key = device_trust_bytes([a, small])
    path = tmp_path / "trust.cbor"
    path.write_bytes(good)
    out = mpy(
        "import sys, json\nfrom binascii import unhexlify\nfrom verify.trust import TrustStore\n"
        "import errors\n"
        "d = json.loads(sys.stdin.read())\n"
        "res = {}\n"
        "s = TrustStore()\n"
        "res['load'] = s.load(d['path'])\n"
        "res['a'] = len(s.keys_for(unhexlify(d['kid_a'])))\n"
        "res['b_issuer'] = [e[1] for e in s.entries_for(unhexlify(d['kid_b']))]\n"
        "res['b_not_after'] = [e[2] for e in s.entries_for(unhexlify(d['kid_b']))]\n"
        "res['none'] = len(s.keys_for(b'12345678'))\n"
        "s2 = TrustStore()\n"
        "res['bad_key'] = [s2.load_bytes(unhexlify(d['with_bad_key'])), s2.invalid]\n"
        "fails = []\n"
        "for blob in d['broken']:\n"
        "    try:\n"
        "        s.load_bytes(unhexlify(blob))\n"
        "        fails.append('loaded')\n"
        "    except errors.StoreError as e:\n"
        "        fails.append(e.reason)\n"
        "res['broken'] = fails\n"
        "res['after_broken'] = len(s)\n"
        "try:\n"
        "    s.load(d['path'] + '.missing')\n"
        "except errors.StoreError as e:\n"
        "    res['missing'] = e.reason\n"
        "print(json.dumps(res))\n",
        {
            "path": str(path), "kid_a": a.kid.hex(), "kid_b": b.kid.hex(), "with_bad_key": with_bad_key.hex(),
            "broken": [b"".hex(), b"\xa0".hex(), good[:-1].hex(), bytes.fromhex("81830102").hex(),
                       bytes.fromhex("818440" + "5820" + "00" * 32 + "6178" + "00").hex()],
        },
    )
    nprov = host_reasons.NOT_PROVISIONED
    assert out["load"] == 2 and out["a"] == 1 and out["none"] == 0
    assert out["b_issuer"] == ["SHOP-7"] and out["b_not_after"] == [NOW]
    assert out["bad_key"] == [1, 1]
    assert out["broken"] == [nprov] * 5
    assert out["after_broken"] == 2  # a refused file leaves the old list in place
    assert out["missing"] == nprov


def test_check_never_raises_and_result_shape():
    sk, entry = new_key()
    text = issue(resident(), sk)
    out = mpy(
        "import sys, json\nfrom binascii import unhexlify, hexlify\n"
        "from verify.trust import TrustStore\nfrom verify.verifier import Verifier\nfrom verify import reasons\n"
        "d = json.loads(sys.stdin.read())\n"
        "s = TrustStore()\n"
        "s.add(unhexlify(d['pub']), 'HCM-D7')\n"
        "v = Verifier(s)\n"
        "res = []\n"
        "for q, now in [(d['text'], d['now']), (d['text'], 2**80), (d['text'], -5), (d['text'], 'x'),\n"
        "               (None, d['now']), (12345, d['now']), ([1, 2], d['now']), (bytearray(d['text'].encode()), d['now']),\n"
        "               (memoryview(d['text'].encode()), d['now'])]:\n"
        "    r = v.check(q, now)\n"
        "    res.append([r.verdict, reasons.name(r.reason), r.pass_hash is not None, repr(r)])\n"
        "r = v.check(d['text'], d['now'])\n"
        "res.append(sorted(r.claims.keys()))\n"
        "res.append(hexlify(r.pass_hash).decode())\n"
        "print(json.dumps(res))\n",
        {"pub": entry.public_key.hex(), "text": text, "now": NOW},
    )
    import base45
    import cbor2
    import hashlib

    sig = cbor2.loads(base45.b45decode(text[4:])).value[3]
    assert out[0] == [True, "OK", True, "Result(accept, OK)"]
    assert out[1][:2] == [False, "EXPIRED"] and out[2][:2] == [False, "NOT_YET_VALID"]
    assert out[3][:3] == [False, "INTERNAL", True]  # a non-number clock is a bug, not a verdict
    assert [o[:2] for o in out[4:7]] == [[False, "PREFIX"]] * 3
    assert out[7][:2] == [True, "OK"] and out[8][:2] == [True, "OK"]
    assert out[9] == sorted(["iss", "iat", "exp", "cti", "role", "initials", "birth_year",
                             "vaccination", "health_decl", "zone"])
    assert out[10] == hashlib.sha256(sig).digest()[:16].hex()
