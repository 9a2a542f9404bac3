"""EU DCCs through the device's whole decision path under MicroPython: the
signed DCC trust table (kind 7), revocation list and site configuration
applied, the decider built by app/provisioned.py, certificates issued on the
host with a test DSC. Formats per site (config key 9), the rules on DCC
content (complete vaccination, products, test types, recovery window, F0),
revocation by the EU hashes (UCI, COUNTRYCODEUCI, SIGNATURE), staleness of
the DCC table, and GG1 passes judged as before."""

import hashlib
import os
import zlib

import base45
import cbor2
import pytest
from ctrl_kit import DEVICE, SITE, T0, Fleet, config_body, run_driver
from test_decide import Issuer, put_blob

from greengate.control import config as cfg
from greengate.control import revocation as rv
from greengate.control.dcc import dcc_files
from greengate.dcc import issue, trustlist
from greengate.passes import reasons as R

NOW = T0 + 3600
DAY = 86400


def scan(qr, now=NOW):
    return {"op": "scan", "qr": qr, "now": now}


@pytest.fixture
def world(tmp_path):
    fleet = Fleet(tmp_path)
    root = tmp_path / "flash"
    root.mkdir()
    return fleet, root


def _dcc(dsc, kind, n, **kw):
    claims = issue.dcc_payload(kind, dsc.country, NOW - 3 * 3600, NOW + 300 * DAY, f"URN:UVCI:01:VN:{n:06d}", **kw)
    text = issue.cose_bytes(claims, dsc)
    return issue.hc1_text(text), claims


def test_dcc_decisions(world):
    fleet, root = world
    es = issue.make_dsc(issue.ES256, "VN")
    ps = issue.make_dsc(issue.PS256, "DE", "v")
    stranger = issue.make_dsc(issue.ES256, "VN")
    gg1 = Issuer()
    resident, _, _ = gg1.issue()

    v_ok, _ = _dcc(es, "v", 1, dose_day=NOW - 30 * DAY)
    v_partial, _ = _dcc(es, "v", 2, doses=1, series=2, dose_day=NOW - 30 * DAY)
    v_product, _ = _dcc(es, "v", 3, product="EU/1/20/1507", dose_day=NOW - 30 * DAY)
    v_fresh, _ = _dcc(es, "v", 4, dose_day=NOW - 5 * DAY)
    t_ok, _ = _dcc(es, "t", 5, sample_time=NOW - 10 * 3600)
    t_rat, _ = _dcc(es, "t", 6, test_type=issue.RAT, sample_time=NOW - 10 * 3600)
    t_pos, _ = _dcc(es, "t", 7, result=issue.POSITIVE, sample_time=NOW - 10 * 3600)
    r_ok, _ = _dcc(es, "r", 8, first_positive=NOW - 20 * DAY)
    r_old, _ = _dcc(es, "r", 9, first_positive=NOW - 200 * DAY, valid_until=NOW + 10 * DAY)
    rev_uci, c_uci = _dcc(es, "v", 10, dose_day=NOW - 30 * DAY)
    rev_co, c_co = _dcc(es, "v", 11, dose_day=NOW - 30 * DAY)
    rev_sig, _ = _dcc(ps, "v", 12, dose_day=NOW - 30 * DAY)
    unknown, _ = _dcc(stranger, "v", 13, dose_day=NOW - 30 * DAY)
    wrong_type, _ = _dcc(ps, "t", 14, sample_time=NOW - 3600)

    def ci(c):
        return next(c[-260][1][k] for k in "vtr" if k in c[-260][1])[0]["ci"]

    sig = cbor2.loads(zlib.decompress(base45.b45decode(rev_sig[4:]))).value[3]
    revoked = [hashlib.sha256(ci(c_uci).encode()).digest()[:16],
               hashlib.sha256((c_co[1] + ci(c_co)).encode()).digest()[:16],
               hashlib.sha256(sig).digest()[:16]]  # PS256: the whole signature
    snap = put_blob(root, rv.build_snapshot([os.urandom(16) for _ in range(2000)] + revoked, list_version=1)[0])
    signers = [trustlist.signer_from_der(d.der, d.country) for d in (es, ps)]
    table, _ = dcc_files(signers, 1)
    tref = put_blob(root, table)
    rules = [cfg.no_f0(336), cfg.any_of(cfg.vaccination(2, 14, products=[issue.COMIRNATY]),
                                        cfg.negative_test(72, test_types=[issue.NAAT]), cfg.recovery(11, 180))]
    both = fleet.file(fleet.msg(1, 1, config_body(rules, {9: [1, 2]})))
    gg1_only = fleet.file(fleet.msg(1, 2, config_body(rules)))
    dcc_only = fleet.file(fleet.msg(1, 3, config_body(rules, {9: [2]})))
    cmds = [
        {"op": "apply", "kind": 2, "path": fleet.file(fleet.msg(2, 1, gg1.trust_body())), "now": NOW},
        {"op": "apply", "kind": 3, "path": fleet.file(fleet.msg(3, 1, {1: snap, 2: None})), "now": NOW},
        {"op": "apply", "kind": 1, "path": both, "now": NOW},
        scan(v_ok),                                                             # 3 no DCC table yet
        {"op": "apply", "kind": 7, "path": fleet.file(fleet.msg(7, 1, {1: tref, 2: None}, until=NOW + DAY // 2)),
         "now": NOW},
        scan(v_ok), scan(v_partial), scan(v_product), scan(v_fresh),            # 5..8
        scan(t_ok), scan(t_rat), scan(t_pos), scan(r_ok), scan(r_old),          # 9..13
        scan(rev_uci), scan(rev_co), scan(rev_sig),                             # 14..16
        scan(unknown), scan(wrong_type), scan(resident),                        # 17..19
        scan(v_ok, NOW + DAY // 2 + 60),                                        # 20 DCC table stale
        scan(resident, NOW + DAY // 2 + 60),                                    # 21 GG1 does not need it
        {"op": "apply", "kind": 1, "path": gg1_only, "now": NOW},
        scan(v_ok), scan(resident),                                             # 23, 24
        {"op": "apply", "kind": 1, "path": dcc_only, "now": NOW},
        scan(v_ok), scan(resident), scan("GARBAGE"),                            # 26..28
    ]
    out = run_driver("dcc_decide_driver.py", [str(root), DEVICE, SITE, str(fleet.key_file)], cmds)
    assert out[4]["ok"] and out[4]["dcc"] == [1, 2] and out[4]["built"], out[4]
    r = [o.get("reason") for o in out]
    assert (r[3], out[3]["fmt"]) == (R.NOT_PROVISIONED, "dcc")
    assert out[5] == {"verdict": True, "reason": R.OK, "initials": "NV", "birth_year": 1980, "fmt": "v",
                      "role": 0, "hash": out[5]["hash"]}
    assert (r[6], out[6]["fmt"]) == (R.VACCINATION, "p")
    assert r[7] == R.VACCINATION and r[8] == R.VACCINATION
    assert (out[9]["verdict"], out[9]["fmt"]) == (True, "t")
    assert r[10] == R.VACCINATION  # ANY: the first sub-rule's reason (RAT not accepted)
    assert r[11] == R.F0
    assert (out[12]["verdict"], out[12]["fmt"]) == (True, "r")
    assert r[13] == R.VACCINATION
    assert r[14] == r[15] == r[16] == R.REVOKED
    assert out[16]["hash"] == revoked[2].hex()
    assert (r[17], out[17]["fmt"]) == (R.KID_UNKNOWN, "dcc")
    assert r[18] == R.DSC_TYPE
    assert out[19]["verdict"] is True and out[19]["fmt"] is None and out[19]["role"] == 0
    assert r[20] == R.OUT_OF_SYNC
    assert out[21]["verdict"] is True
    assert r[23] == R.FORMAT and out[24]["verdict"] is True
    assert out[22]["ok"] and out[25]["ok"]
    assert out[26]["verdict"] is True and r[27] == R.FORMAT and r[28] == R.PREFIX
