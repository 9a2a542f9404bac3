"""End to end on the device, under real MicroPython: signed trust list,
revocation manifest (snapshot + delta blobs) and site configuration (with a
500-entry allowlist blob) applied through the control plane, then passes
issued on the host scanned through Decider.decide()."""

import hashlib
import os

import cbor2
import pytest
from ctrl_kit import DEVICE, SITE, T0, Fleet, config_body, run_driver
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from greengate.control import blobs
from greengate.control import revocation as rv
from greengate.passes.issue import sign1, wrap
from greengate.passes.keys import kid_for, raw_public

OK, REVOKED, OUT_OF_SYNC, ROLE, VACC, NOT_LISTED, CAPACITY, DUP, NOT_PROV, CLOCK, EXPIRED, KID = (
    0, 12, 13, 14, 15, 21, 22, 23, 27, 28, 10, 7)
NOW = T0 + 3600
TODAY = (NOW + 25200) // 86400
ISSUER = "SYT-HCM"


class Issuer:
    def __init__(self, name=ISSUER):
        self.name = name
        self.key = Ed25519PrivateKey.generate()
        self.n = 0

    def issue(self, role=0, doses=2, exp=NOW + 30 * 86400, iat=NOW - 86400, business=None):
        self.n += 1
        claims = {1: role, 2: "NVA", 3: 1980, 4: [doses, TODAY - 40], 9: 0}
        if business:
            claims[8] = business
        cwt = {1: self.name, 4: exp, 6: iat, 7: b"cti-%05d" % self.n, -65537: claims}
        cose = sign1(cbor2.dumps(cwt), self.key)
        signature = cbor2.loads(cose).value[3]
        return wrap(cose), hashlib.sha256(signature).digest()[:16], cwt[7]

    def trust_body(self):
        pk = raw_public(self.key)
        return [[kid_for(pk), pk, self.name, 0]]


def put_blob(root, data):
    ref = blobs.blob_ref(data)
    (root / f"blob_{ref[1][:8].hex()}.bin").write_bytes(data)
    return ref


@pytest.fixture
def world(tmp_path):
    fleet = Fleet(tmp_path)
    root = tmp_path / "flash"
    root.mkdir()
    return fleet, root, Issuer()


def scan(qr, now=NOW, trusted=True):
    return {"op": "scan", "qr": qr, "now": now, "trusted": trusted}


def test_decisions_end_to_end(world):
    fleet, root, issuer = world
    resident, resident_h, _ = issuer.issue()
    revoked, revoked_h, _ = issuer.issue()
    late_revoked, late_h, _ = issuer.issue()
    unrevoked, unrevoked_h, _ = issuer.issue()
    worker, _, worker_cti = issuer.issue(role=1, business="BIZ-0001")
    stranger, _, _ = issuer.issue(role=1, business="BIZ-0001")
    shipper, _, _ = issuer.issue(role=2)
    one_dose, _, _ = issuer.issue(doses=1)
    expired, _, _ = issuer.issue(exp=NOW - 3600, iat=NOW - 86400)
    foreign, _, _ = Issuer().issue()
    tampered = resident[:-6] + ("A" if resident[-6] != "A" else "B") + resident[-5:]

    filler = [os.urandom(16) for _ in range(5000)]
    snap = put_blob(root, rv.build_snapshot(filler + [revoked_h, unrevoked_h], list_version=1)[0])
    delta = put_blob(root, rv.build_delta([late_h], [unrevoked_h], base_version=1))
    allow = put_blob(root, cbor2.dumps([worker_cti] + [os.urandom(12) for _ in range(499)]))
    rules = [[1, {1: [0, 1]}], [2, {1: 2, 2: 14}], [8, {}], [10, {1: 300}], [9, {1: 4}]]

    msgs = {
        "trust": fleet.file(fleet.msg(2, 1, issuer.trust_body())),
        "rev1": fleet.file(fleet.msg(3, 1, {1: snap, 2: None})),
        "rev2": fleet.file(fleet.msg(3, 2, {1: snap, 2: delta})),
        "config": fleet.file(fleet.msg(1, 1, config_body(rules, {6: allow}))),
    }
    cmds = [
        scan(resident),                                              # 0 nothing applied
        {"op": "apply", "kind": 2, "path": msgs["trust"], "now": NOW},
        {"op": "apply", "kind": 3, "path": msgs["rev1"], "now": NOW},
        {"op": "apply", "kind": 1, "path": msgs["config"], "now": NOW},
        scan(resident),                                              # 4 admit
        scan(resident, NOW + 60),                                    # 5 duplicate
        scan(revoked),                                               # 6
        scan(late_revoked),                                          # 7 not yet revoked
        {"op": "apply", "kind": 3, "path": msgs["rev2"], "now": NOW},
        scan(late_revoked, NOW + 1),                                 # 9 revoked by the delta
        scan(unrevoked),                                             # 10 un-revoked by the delta
        scan(worker),                                                # 11 listed worker
        scan(stranger),                                              # 12 not listed
        scan(shipper),                                               # 13 role
        scan(one_dose),                                              # 14 vaccination
        scan(expired),                                               # 15
        scan(foreign),                                               # 16 unknown issuer
        scan(tampered),                                              # 17
        scan(resident, NOW + 400),                                   # 18 capacity (4 inside)
        {"op": "exit", "n": 1},
        scan(resident, NOW + 401),                                   # 20 admitted again
        scan(unrevoked, NOW + 400, trusted=False),                   # 21 clock
        scan(revoked, T0 + 2 * 86400),                               # 22 stale but revoked
        scan(stranger, T0 + 2 * 86400),                              # 23 stale, denied anyway
        {"op": "exit", "n": 4},
        scan(shipper.replace("GG1:", "HC1:")),                       # 25 EU DCC at a GG1-only site
        scan(issuer.issue()[0], T0 + 86400 + 1),                     # 26 lists past valid_until
    ]
    out = run_driver("decide_driver.py", [str(root), DEVICE, SITE, str(fleet.key_file)], cmds)
    reason = [o.get("reason") for o in out]
    verdict = [o.get("verdict") for o in out]
    assert reason[0] == NOT_PROV and verdict[0] is False
    assert all(out[i]["ok"] for i in (1, 2, 3, 8)), out[1:4]
    assert out[4] == {"verdict": True, "reason": OK, "role": 0, "initials": "NVA", "birth_year": 1980,
                      "hash": resident_h.hex(), "inside": 1}
    assert reason[5] == DUP
    assert reason[6] == REVOKED and out[6]["hash"] == revoked_h.hex()
    assert verdict[7] is True
    assert reason[9] == REVOKED
    assert verdict[10] is True and reason[10] == OK
    assert verdict[11] is True and out[11]["role"] == 1
    assert reason[12] == NOT_LISTED
    assert reason[13] == ROLE
    assert reason[14] == VACC
    assert reason[15] == EXPIRED
    assert reason[16] == KID
    assert verdict[17] is False and reason[17] not in (OK, None)
    assert reason[18] == CAPACITY and out[18]["inside"] == 4
    assert out[20]["verdict"] is True and out[20]["inside"] == 4
    assert reason[21] == CLOCK
    assert reason[22] == REVOKED
    assert reason[23] == NOT_LISTED
    assert reason[25] == 32  # FORMAT: this site's config (no key 9) accepts GG1 only
    assert reason[26] == OUT_OF_SYNC and out[26]["role"] == 0


def test_blobs_must_be_present_and_bad_config_keeps_the_old_one(world):
    fleet, root, issuer = world
    qr, _, _ = issuer.issue(role=2)
    snap = put_blob(root, rv.build_snapshot([os.urandom(16)], list_version=1)[0])
    missing = blobs.blob_ref(b"not on flash")
    cmds = [
        {"op": "apply", "kind": 2, "path": fleet.file(fleet.msg(2, 1, issuer.trust_body())), "now": NOW},
        {"op": "apply", "kind": 3, "path": fleet.file(fleet.msg(3, 1, {1: missing, 2: None})), "now": NOW},
        scan(qr),
        {"op": "apply", "kind": 3, "path": fleet.file(fleet.msg(3, 1, {1: snap, 2: None})), "now": NOW},
        {"op": "apply", "kind": 1, "path": fleet.file(fleet.msg(1, 1, config_body([]))), "now": NOW},
        scan(qr),
        {"op": "apply", "kind": 1, "path": fleet.file(fleet.msg(1, 2, {1: SITE, 5: "nope"})), "now": NOW},
        {"op": "apply", "kind": 1, "path": fleet.file(fleet.msg(1, 3, config_body([[1, {1: [0]}]]))),
         "now": NOW},
        scan(qr, NOW + 1),
        {"op": "apply", "kind": 1, "path": fleet.file(fleet.msg(1, 4, config_body([[99, {}]]))), "now": NOW},
        scan(qr, NOW + 2),
    ]
    out = run_driver("decide_driver.py", [str(root), DEVICE, SITE, str(fleet.key_file)], cmds)
    assert out[1]["ok"] is False and out[1]["reason"] == 45
    assert out[2]["reason"] == NOT_PROV
    assert out[3]["ok"] and out[4]["ok"]
    assert out[5]["verdict"] is True
    assert out[6]["ok"] is False and out[6]["reason"] == 45 and "rules" in out[6]["detail"]
    assert out[7]["ok"]
    assert out[8]["reason"] == ROLE
    assert out[9]["ok"]
    assert out[10]["reason"] == 26  # RULE_ERROR
