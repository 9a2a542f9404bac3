"""The EU DCC signers page (/ui/dcc): trusted countries and signers after an
import of the real list, counted again here from the list itself; roles,
both languages, the gates' sync state, hostile certificate text escaped."""

from __future__ import annotations

import base64
import collections
import datetime as dt
import json
import re
import warnings

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from web_helpers import DEVICES

from fleet.broker_bridge import topics
from fleet.models import DccSigner, utcnow
from fleet.services import control, dcc, devices

LIST = "dcc-trustlist/trustlist_de.json"
CLOCK = int(dt.datetime(2023, 6, 1, tzinfo=dt.timezone.utc).timestamp())


def _expected(testdata) -> dict[str, collections.Counter]:
    """Per country, the ES256 / PS256 certificates valid at CLOCK (read with cryptography)."""
    out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for e in json.loads((testdata / LIST).read_bytes())["certificates"]:
            cert = x509.load_der_x509_certificate(base64.b64decode(e["rawData"]))
            if cert.not_valid_after_utc.timestamp() < CLOCK:
                continue
            ec_key = isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
            out[e["country"]]["es256" if ec_key else "ps256"] += 1
    return out


@pytest.fixture
def imported(web, session_factory, testdata):
    with session_factory() as db:
        dcc.import_trustlist(db, (testdata / LIST).read_bytes(), "trustlist_de.json", "test", now=CLOCK)
        message = control.latest_row(db, topics.DCC)
        message.published_at = utcnow()
        devices.apply_state(db, DEVICES["B1"], {"online": True, "dcc_version": message.id, "dcc_keys": 700})
        devices.apply_state(db, DEVICES["B2"], {"online": True, "dcc_version": message.id - 1, "dcc_keys": 0})
        db.commit()
    return web


def _rows(html: str, table_id: str) -> list[list[str]]:
    body = re.search(rf'<table[^>]*id="{table_id}".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [[re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def test_countries_and_counts(imported, testdata):
    _, _, b = imported
    expected = _expected(testdata)
    r = b["viewer"].get("/ui/dcc")
    assert r.status_code == 200
    assert 'href="/ui/dcc"' in r.text  # in the navigation
    rows = _rows(r.text, "dcc-countries-table")
    assert [row[0] for row in rows] == sorted(expected)
    for row in rows:
        assert (int(row[1]), int(row[2])) == (expected[row[0]]["es256"], expected[row[0]]["ps256"]), row
    total = sum(sum(c.values()) for c in expected.values())
    assert f'id="dcc-total">{total}<' in r.text and 'id="dcc-version">v1<' in r.text
    assert 'id="dcc-sync">1/2<' in r.text  # B1 holds v1, B2 is behind
    behind = _rows(r.text, "dcc-behind")
    assert [(row[0], row[2]) for row in behind] == [(DEVICES["B2"], "0")]
    assert "Chứng thư ký Chứng nhận COVID số EU" in r.text and "trustlist_de.json" in r.text
    en = b["viewer"].get("/ui/dcc?lang=en")
    assert "EU Digital COVID Certificate signers" in en.text
    device = b["viewer"].get(f"/ui/devices/{DEVICES['B1']}").text  # state key 16 on the gate's page
    # the list version, as the DCC page's tile shows it (not the kind-7 message id the gate
    # reports: fleet/services/versions.py); English: the ?lang=en cookie
    assert 'id="dcc-table"><span class="listv">v1</span> · 700 keys<' in device
    behind_page = b["viewer"].get(f"/ui/devices/{DEVICES['B2']}").text
    assert re.search(r'id="dcc-table"><span class="listv drift">— → v1</span>', behind_page)
    assert [row[1] for row in behind] == ["— → v1"]  # its message is not a DCC list


def test_one_version_number_per_list(imported, session_factory):
    """Re-signed (same list, new message): the page and the gate's page both
    say v1; the gate is behind by its message, 're-signed copy pending'."""
    from fleet.models import ControlOutbox

    _, _, b = imported
    with session_factory() as db:
        old = control.latest_row(db, topics.DCC)
        body = dict(old.body)
        db.add(ControlOutbox(kind="dcc", topic=topics.DCC, retain=True, body=body, published_at=utcnow()))
        db.commit()
        assert control.latest_row(db, topics.DCC).id > old.id
    page = b["viewer"].get("/ui/dcc?lang=en").text
    assert 'id="dcc-version">v1<' in page and 'id="dcc-published">v1<' in page
    assert f">v{old.id}<" not in page  # no message id anywhere
    assert 'id="dcc-sync">0/2<' in page
    behind = _rows(page, "dcc-behind")
    assert [(row[0], row[1]) for row in behind] == [(DEVICES["B2"], "— → v1"),
                                                   (DEVICES["B1"], "v1 → v1 (re-signed copy pending)")]
    device = b["viewer"].get(f"/ui/devices/{DEVICES['B1']}").text
    assert "v1 → v1 <small>(re-signed copy pending)</small></span> · 700 keys" in device


def test_one_country(imported, testdata):
    _, _, b = imported
    country, counts = sorted(_expected(testdata).items(), key=lambda kv: -sum(kv[1].values()))[0]
    r = b["operator"].get(f"/ui/dcc?country={country.lower()}")
    rows = _rows(r.text, "dcc-signers")
    assert len(rows) == sum(counts.values())
    assert sum(row[1] == "ES256" for row in rows) == counts["es256"]
    # garbage in the query string is ignored, not an error
    for q in ("country=%3Cscript%3E", "country=VNM", "country="):
        r = b["operator"].get("/ui/dcc?" + q)
        assert r.status_code == 200 and 'id="dcc-signers"' not in r.text


def test_roles_and_empty_state(web):
    _, _, b = web
    assert b["manager"].get("/ui/dcc").status_code == 403
    assert b[None].get("/ui/dcc", follow_redirects=False).status_code == 303
    r = b["admin"].get("/ui/dcc")
    assert r.status_code == 200 and 'id="dcc-empty"' in r.text


def test_certificate_text_is_escaped(imported, session_factory):
    _, _, b = imported
    with session_factory() as db:
        row = db.query(DccSigner).filter(DccSigner.country == "DE").first()
        row.subject = '<script>alert(1)</script>'
        db.commit()
    r = b["admin"].get("/ui/dcc?country=DE")
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


def test_sites_choose_eu_dcc(web, session_factory):
    from sqlalchemy import select

    from fleet.models import AuditLog, Site

    _, _, b = web
    op = b["operator"]
    assert op.post("/ui/sites", {"business_id": "B1", "name": "Cổng EU", "dcc": "1"}).status_code == 303
    assert op.post("/ui/sites", {"business_id": "B1", "name": "Cổng GG1"}).status_code == 303
    with session_factory() as db:
        eu, gg1 = (db.scalar(select(Site).where(Site.name == n)) for n in ("Cổng EU", "Cổng GG1"))
        assert (eu.formats, gg1.formats) == ([1, 2], None)
    page = op.get("/ui/businesses/B1").text
    cell = re.search(rf'<tr data-site="{eu.id}">.*?<td class="formats">(.*?)</td>', page, re.S).group(1)
    assert cell == "Thẻ GreenGate + Chứng nhận EU DCC"
    # switch off, then on again: each a new configuration for the site's gates
    assert op.post(f"/ui/sites/{eu.id}/dcc", {"accept": ""}).status_code == 303
    assert op.post(f"/ui/sites/{gg1.id}/dcc", {"accept": "1"}).status_code == 303
    with session_factory() as db:
        assert db.get(Site, eu.id).formats == [1] and db.get(Site, gg1.id).formats == [1, 2]
        changed = db.scalars(select(AuditLog.target_id).where(AuditLog.action == "site.update")).all()
        assert sorted(changed) == sorted([str(eu.id), str(gg1.id)])
    assert b["viewer"].post(f"/ui/sites/{eu.id}/dcc", {"accept": "1"}).status_code == 403
    assert b["manager"].post(f"/ui/sites/{eu.id}/dcc", {"accept": "1"}).status_code == 403
