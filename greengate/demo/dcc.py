"""EU Digital COVID Certificates in the demo (issue 13): visitors who carry
the certificate Vietnam issues since 2022 instead of a GreenGate pass.

A local test DSC pair stands in for the Ministry of Health's signers (one
ES256, one PS256 RSA-2048: `greengate.dcc.issue`, never on any EU list).
The district imports them, together with the EU gateway's real signer list
when the repository carries it (tests/vectors/dcc-trustlist/: the dashboard
then shows 70-odd countries), through the fleet API (POST /dcc/import). The
gates get the table over the signed control plane (kind 7). Visitors: fully
vaccinated, tested and recovered holders, and one suspended worker whose
certificate the district revoked by its UCI (POST /revocations/dcc): every
gate denies it REVOKED.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from greengate.dcc import issue, verify
from greengate.dcc.trustlist import list_entry
from greengate.demo import district7 as d7
from greengate.demo.fleet_api import FleetApi
from greengate.demo.seed import Person
from greengate.paths import REPO

EU_LIST = REPO / "tests" / "vectors" / "dcc-trustlist" / "trustlist_de.json"
# (kind, signer, UCI) of each visitor; UCIs in Vietnam's URN:UVCI form, invented
VISITORS = [("v", "es", "URN:UVCI:01:VN:Q7/2022/0001A#1"), ("v", "es", "URN:UVCI:01:VN:Q7/2022/0002B#2"),
            ("v", "ps", "URN:UVCI:01:VN:Q7/2022/0003C#3"), ("t", "es", "URN:UVCI:01:VN:Q7/2022/0004D#4"),
            ("r", "ps", "URN:UVCI:01:VN:Q7/2022/0005E#5")]
SUSPENDED = ("v", "es", "URN:UVCI:01:VN:Q7/2022/0006F#6")  # revoked by UCI in the seed
COUNTRY = "VN"


def signature_hash_hex(qr: str) -> str:
    """What the gate reports for a DCC: the EU revocation hash SIGNATURE."""
    d = verify.decode(qr)
    return verify.signature_hash(d["alg"], d["signature"]).hex()


def trust_list(dscs: list[issue.TestDsc], eu_list: Path | None = EU_LIST) -> bytes:
    """The test DSCs, plus the EU list's certificates when it is there."""
    entries = []
    if eu_list is not None and eu_list.exists():
        entries = json.loads(eu_list.read_bytes())["certificates"]
    entries += [list_entry(d.der, d.country) for d in dscs]
    return json.dumps({"certificates": entries}).encode()


def visitors(dscs: dict[str, issue.TestDsc], now: int | None = None) -> tuple[list[Person], Person]:
    """(holders, the suspended worker): People with an HC1 QR text each."""
    now = int(time.time()) if now is None else now

    def person(kind: str, signer: str, uci: str, label: str) -> Person:
        claims = issue.dcc_payload(kind, COUNTRY, now - 86400, now + 180 * 86400, uci,
                                   dose_day=now - 60 * 86400, sample_time=now - 6 * 3600,
                                   first_positive=now - 40 * 86400)
        qr = issue.sign_hc1(claims, dscs[signer])
        return Person(label, d7.RESIDENT, signature_hash_hex(qr), qr)

    holders = [person(k, s, u, "dcc") for k, s, u in VISITORS]
    return holders, person(*SUSPENDED, "dcc_revoked")


def seed_dcc(api: FleetApi, data_dir: Path, log: Callable[[str], None] = lambda s: None,
             eu_list: Path | None = EU_LIST) -> tuple[list[Person], Person]:
    """Import the signers, make the visitors, revoke the suspended worker's
    certificate by its UCI. `api` is logged in as the admin."""
    dscs = {"es": issue.make_dsc(issue.ES256, COUNTRY), "ps": issue.make_dsc(issue.PS256, COUNTRY, types="vtr")}
    data = trust_list(list(dscs.values()), eu_list)
    (data_dir / "dcc-trustlist.json").write_bytes(data)  # what was imported, for a look
    report = api.call("POST", "/dcc/import", params={"source": "demo: EU list + Q7 test DSCs"}, content=data)
    holders, suspended = visitors(dscs)
    # which pass hashes are DCC visitors (hashes only, like the scan reports), for a look
    (data_dir / "dcc-visitors.json").write_text(json.dumps(
        {"holders": [p.pass_hash for p in holders], "revoked": suspended.pass_hash}, indent=1))
    api.post("/revocations/dcc", {"uci": SUSPENDED[2], "country": COUNTRY, "reason": "STATUS_CHANGED"})
    log(f"EU DCC: {report['accepted']} signers from {len(report['countries'])} countries trusted "
        f"(2 local test DSCs, ES256 + PS256), {len(holders)} visitors with a DCC, "
        f"1 suspended worker's certificate revoked by UCI / chứng nhận EU DCC")
    return holders, suspended
