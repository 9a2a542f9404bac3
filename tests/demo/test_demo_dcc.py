"""The demo's EU DCC visitors (greengate/demo/dcc.py): their certificates
verify against the list the demo imports (host reference verifier and the
importer), the gate's pass hash is what the demo expects, the suspended
worker's revocation hashes are the EU UCI hashes of its certificate, and the
scan mix shows DCCs only where residents may come."""

from __future__ import annotations

import json
import time

from greengate.dcc import issue, revocation, verify
from greengate.dcc.trustlist import parse_trustlist
from greengate.demo import dcc as demo_dcc
from greengate.demo import district7 as d7
from greengate.demo.seed import FORMATS, World
from greengate.demo.traffic import MIX, candidates


def _dscs():
    return {"es": issue.make_dsc(issue.ES256, "VN"), "ps": issue.make_dsc(issue.PS256, "VN", types="vtr")}


def test_visitors_verify_against_the_imported_list(testdata):
    dscs = _dscs()
    now = int(time.time())
    listed = parse_trustlist(demo_dcc.trust_list(list(dscs.values()), None), now=now)
    assert listed.refused == [] and {s.kid for s in listed.signers} == {d.kid for d in dscs.values()}
    holders, suspended = demo_dcc.visitors(dscs, now)
    v = verify.Verifier(listed.signers)
    for p in [*holders, suspended]:
        r = v.check(p.qr, now)
        assert r.verdict, (p.kind, r)
        assert r.pass_hash.hex() == p.pass_hash and p.role == d7.RESIDENT
    assert {verify.decode(p.qr)["type"] for p in holders} == {"v", "t", "r"}
    assert {verify.decode(p.qr)["alg"] for p in holders} == {issue.ES256, issue.PS256}
    d = verify.decode(suspended.qr)
    assert (d["uci_h"], d["couci_h"]) == revocation.uci_hashes(demo_dcc.SUSPENDED[2], "VN")
    with_eu = demo_dcc.trust_list(list(dscs.values()), testdata / "dcc-trustlist" / "trustlist_de.json")
    assert len(json.loads(with_eu)["certificates"]) == 832 + 2


def test_dcc_in_the_scan_mix():
    holders, suspended = demo_dcc.visitors(_dscs())
    world = World(gates=[], people=[*holders, suspended], revoked=[suspended])
    by_id = {b.id: b for b in d7.BUSINESSES}
    assert {p.pass_hash for p in candidates(world, by_id["Q7-PH02"]).dcc} == {p.pass_hash for p in holders}
    assert candidates(world, by_id["Q7-SM01"]).dcc == []  # residents wait for their slot there
    factory = candidates(world, by_id["Q7-FP03"])
    assert factory.dcc == [] and {p.pass_hash for p in factory.role} == {p.pass_hash for p in holders}
    assert [p.pass_hash for p in candidates(world, by_id["Q7-PH02"]).revoked] == [suspended.pass_hash]
    assert dict(MIX)["dcc"] > 0 and FORMATS == [1, 2]
