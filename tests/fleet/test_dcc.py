"""EU DCC signers in the fleet (fleet/services/dcc.py, control kind 7): import
of the real 832-certificate list, re-import as a diff, the signed message with
its snapshot and delta tables, state key 16 and drift, the CLI."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import warnings

import pytest
from cryptography import x509
from sqlalchemy import select
from typer.testing import CliRunner

from fleet.broker_bridge import schema, topics, wire
from fleet.cli import app
from fleet.core import errors
from fleet.models import AuditLog, Blob, ControlOutbox, DccList, DccSigner, Device, utcnow
from fleet.services import alerts, control, dcc, devices
from fleet_helpers import dev_id, seed_registry
from greengate.control import envelope
from greengate.dcc import table
from greengate.passes import keys as gk

LIST = "dcc-trustlist/trustlist_de.json"
CLOCK = int(dt.datetime(2023, 6, 1, tzinfo=dt.timezone.utc).timestamp())


@pytest.fixture(scope="module")
def entries(testdata) -> list[dict]:
    return json.loads((testdata / LIST).read_bytes())["certificates"]


def _listed(entries: list[dict]) -> bytes:
    return json.dumps({"certificates": entries}).encode()


def _live(entries: list[dict], now: int) -> list[dict]:
    """The entries valid at `now`, read with `cryptography` (not the importer's asn1crypto)."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # five negative serials
        for e in entries:
            cert = x509.load_der_x509_certificate(base64.b64decode(e["rawData"]))
            if cert.not_valid_after_utc.timestamp() >= now:
                out.append(e)
    return out


def _kids(entries: list[dict]) -> set[str]:
    return {hashlib.sha256(base64.b64decode(e["rawData"])).hexdigest()[:16] for e in entries}


def _rebuild(db, body: dict) -> dict[bytes, table.Entry]:
    """What a gate ends up with: the snapshot, then the delta applied."""
    snap = table.parse(db.get(Blob, body["snapshot"]).data)
    have = {e.kid: e for e in snap.entries}
    if body["delta"]:
        delta = table.parse(db.get(Blob, body["delta"]).data)
        assert delta.base_version == snap.version == body["base"]
        for e in delta.entries:
            if e.alg == 0:
                del have[e.kid]
            else:
                have[e.kid] = e
        assert delta.version == body["list_version"]
    return have


def test_import_real_list_then_reimport_as_a_diff(session_factory, entries):
    live = _live(entries, CLOCK)
    assert 0 < len(live) < len(entries)
    with session_factory() as db:
        report = dcc.import_trustlist(db, _listed(entries), "trustlist_de.json", "test", now=CLOCK)
        db.commit()
        assert report.changed and report.version == 1
        assert report.accepted == len(live) and len(report.refused) == len(entries) - len(live)
        assert {r.code for r in report.refused} == {"EXPIRED"}
        assert set(report.added) == _kids(live) and report.removed == []
        assert sum(c["es256"] + c["ps256"] for c in report.countries.values()) == len(live)
        assert {r.kid for r in dcc.active_signers(db)} == _kids(live)
        msg = control.latest_row(db, topics.DCC)
        assert msg.kind == "dcc" and msg.retain and msg.body["list_version"] == 1 and msg.body["delta"] is None
        got = _rebuild(db, msg.body)
        assert {k.hex() for k in got} == _kids(live)
        row = db.scalar(select(DccSigner).where(DccSigner.kid == next(iter(_kids(live)))))
        e = got[bytes.fromhex(row.kid)]
        assert (e.alg, e.country, e.not_after) == (row.alg, row.country, row.not_after)

        # the same file again: nothing changes, no new version, no message, but audited
        n_msgs = db.query(ControlOutbox).count()
        again = dcc.import_trustlist(db, _listed(entries), "trustlist_de.json", "test", now=CLOCK)
        assert not again.changed and again.version == 1 and again.added == again.removed == []
        assert db.query(ControlOutbox).count() == n_msgs

        # a list without the first ten live ones and with nothing new: removed, as a delta
        dropped = live[:10]
        smaller = dcc.import_trustlist(db, _listed(live[10:]), "smaller.json", "test", now=CLOCK)
        db.commit()
        assert smaller.version == 2 and set(smaller.removed) == _kids(dropped) and smaller.added == []
        msg = control.latest_row(db, topics.DCC)
        assert msg.body["base"] == 1 and msg.body["delta"] is not None
        assert {k.hex() for k in _rebuild(db, msg.body)} == _kids(live[10:])
        gone = db.scalars(select(DccSigner).where(DccSigner.kid.in_(_kids(dropped)))).all()
        assert len(gone) == 10 and not any(r.active for r in gone)

        # and back: reactivated, in a delta from the same snapshot
        back = dcc.import_trustlist(db, _listed(live), "back.json", "test", now=CLOCK)
        assert back.version == 3 and set(back.added) == _kids(dropped)
        msg = control.latest_row(db, topics.DCC)
        assert msg.body["base"] == 1 and {k.hex() for k in _rebuild(db, msg.body)} == _kids(live)
        actions = db.scalars(select(AuditLog.detail).where(AuditLog.action == "dcc.import")
                             .order_by(AuditLog.id)).all()
        assert [(a["added"], a["removed"], a["changed"]) for a in actions] == [
            (len(live), 0, True), (0, 0, False), (0, 10, True), (10, 0, True)]


def test_snapshot_is_cut_when_the_signers_change_a_lot(session_factory, entries, monkeypatch):
    monkeypatch.setattr(control, "DCC_DELTA_MAX", 5)
    live = _live(entries, CLOCK)
    with session_factory() as db:
        dcc.import_trustlist(db, _listed(live[:20]), "a", "test", now=CLOCK)
        dcc.import_trustlist(db, _listed(live[:23]), "b", "test", now=CLOCK)  # 3 changes: delta
        assert control.latest_row(db, topics.DCC).body["base"] == 1
        dcc.import_trustlist(db, _listed(live[:30]), "c", "test", now=CLOCK)  # 10 since 1: snapshot
        body = control.latest_row(db, topics.DCC).body
        assert (body["base"], body["list_version"], body["delta"]) == (3, 3, None)
        assert [v for v, in db.execute(select(DccList.id).where(DccList.snapshot_sha256.is_not(None)))] == [1, 3]


def test_hostile_files_import_nothing(session_factory, entries):
    with session_factory() as db:
        for data, code in ((b"{", "DCC_BAD_JSON"), (b"[]", "DCC_NOT_A_LIST"),
                           (b'{"certificates": [{"rawData": "!!"}]}', "DCC_EMPTY"),
                           (_listed(entries), "DCC_EMPTY")):  # every one expired in 2030
            with pytest.raises(errors.BadRequest) as err:
                dcc.import_trustlist(db, data, "x", "test",
                                     now=int(dt.datetime(2040, 1, 1).timestamp()) if code == "DCC_EMPTY" else CLOCK)
            assert err.value.code == code
        assert db.query(DccList).count() == 0 and db.query(ControlOutbox).count() == 0


def test_signed_kind_7_message_and_refresh(session_factory, entries):
    fleet_key = gk.generate()
    with session_factory() as db:
        assert control.enqueue_dcc_update(db) is None  # nothing imported: nothing to send
        dcc.import_trustlist(db, _listed(entries[:40]), "a", "test", now=CLOCK)
        row = control.latest_row(db, topics.DCC)
        signed = wire.sign_control(row.kind, row.id, row.body, fleet_key, lambda sha: db.get(Blob, sha).data)
        opened = envelope.open_message(signed, [gk.raw_public(fleet_key)])
        assert (opened.kind, opened.version, opened.scope) == (7, row.id, envelope.fleet_scope())
        snap = db.get(Blob, row.body["snapshot"]).data
        assert opened.body[1] == {1: hashlib.sha256(snap).digest(), 2: len(snap), 3: 768}
        assert opened.body[2] is None
        assert opened.valid_until - opened.issued_at == 2 * 86400
        db.commit()
        # re-signed like the other lists: not within 12 h, after it, with a new version
        assert all(r.kind != "dcc" for r in control.enqueue_refresh(db, utcnow() + dt.timedelta(hours=1)))
        later = [r for r in control.enqueue_refresh(db, utcnow() + dt.timedelta(hours=13)) if r.kind == "dcc"]
        assert len(later) == 1 and later[0].id > row.id and later[0].body["list_version"] == 1


def test_state_key_16_and_drift(session_factory, settings, entries):
    import cbor2

    assert schema.state(cbor2.dumps({1: True, 16: [3, 812]}))["dcc_version"] == 3
    for bad in ([3], [3, -1], [3, 2**31], ["3", 1], [3, 1, 1], "x", {1: 2}):
        with pytest.raises(schema.WireError):
            schema.state(cbor2.dumps({1: True, 16: bad}))
    assert "dcc_version" not in schema.state(cbor2.dumps({1: True, 16: None}))
    with session_factory() as db:
        seed_registry(db, (dev_id(1), dev_id(2)))
        dcc.import_trustlist(db, _listed(entries[:40]), "a", "test", now=CLOCK)
        for r in db.scalars(select(ControlOutbox)):
            r.published_at = utcnow() - dt.timedelta(hours=1)
        first = control.latest_row(db, topics.DCC).id
        dcc.import_trustlist(db, _listed(entries[:41]), "b", "test", now=CLOCK)  # not published yet
        devices.apply_state(db, dev_id(1), schema.state(cbor2.dumps({1: True, 16: [first - 1, 39]})))
        devices.apply_state(db, dev_id(2), schema.state(cbor2.dumps({1: True})))  # no table applied
        assert db.get(Device, dev_id(1)).dcc_version == first - 1 and db.get(Device, dev_id(2)).dcc_version is None
        raised = [a for a in alerts.evaluate(db, settings) if a.kind == "DCC_DRIFT"]
        # the detail carries list versions, as the pages show them (services/versions.py):
        # the published message is list v1 (v2 is imported but not published yet)
        assert [(a.device_id, a.detail["desired"]) for a in raised] == [(dev_id(1), 1)]
        devices.apply_state(db, dev_id(1), schema.state(cbor2.dumps({1: True, 16: [first, 40]})))
        assert db.get(Device, dev_id(1)).dcc_keys == 40
        assert dcc.gate_sync(db, first) == {"reporting": 1, "in_sync": 1, "behind": []}


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.setenv("GREENGATE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("GREENGATE_DATABASE_URL", raising=False)
    return lambda *args: CliRunner().invoke(app, list(args))


def test_cli_import_and_list(cli, testdata, tmp_path, entries):
    r = cli("dcc", "import", str(testdata / LIST), "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    live = _live(entries, int(utcnow().timestamp()))
    assert out["accepted"] == len(live) and out["refused"] == len(entries) - len(live)
    assert r.stderr.count("refused [EXPIRED]") == out["refused"]  # diagnostics on stderr
    listed = json.loads(cli("dcc", "list", "--json").stdout)
    assert {x["kid"] for x in listed} == _kids(live)
    assert all(x["alg"] in ("es256", "ps256") for x in listed)
    text = cli("dcc", "import", str(testdata / LIST)).stdout
    assert "(unchanged / không đổi)" in text.splitlines()[0]
    assert text.splitlines()[1] == "country\tes256\tps256\trefused"
    r = cli("dcc", "import", str(tmp_path / "missing.json"))
    assert r.exit_code == 1 and "DCC_FILE" in r.stderr
    (tmp_path / "bad.json").write_text("{nope")
    r = cli("dcc", "import", str(tmp_path / "bad.json"))
    assert r.exit_code == 1 and "DCC_BAD_JSON" in r.stderr and r.stdout == ""


def test_0006_down_and_up(db_url):
    from alembic import command
    from sqlalchemy import inspect

    from fleet.core.db import make_engine
    from fleet.migrations import alembic_config, upgrade

    upgrade(db_url, "0006")
    command.downgrade(alembic_config(db_url), "0005")
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
            assert "dcc_signer" not in names and "dcc_list" not in names
            assert "dcc_version" not in {c["name"] for c in inspect(conn).get_columns("device")}
        upgrade(db_url, "0006")
        with engine.connect() as conn:
            assert {"dcc_signer", "dcc_list"} <= set(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _dcc_identity(testdata, path: str) -> tuple[str, str]:
    """(ci, iss) of a real test DCC, decoded here with base45, zlib and cbor2."""
    import zlib

    import base45
    import cbor2

    qr = json.loads((testdata / "eu-dcc" / path).read_text())["PREFIX"]
    cose = cbor2.loads(zlib.decompress(base45.b45decode(qr[4:])))
    claims = cbor2.loads((cose.value if hasattr(cose, "value") else cose)[2])
    hcert = claims[-260][1]
    group = next(hcert[k] for k in ("v", "t", "r") if k in hcert)
    return group[0]["ci"], claims[1]


def test_revoke_a_dcc_by_uci(api, session_factory, testdata):
    from greengate.control import revocation as ggrev

    uci, iss = _dcc_identity(testdata, "DE/1.json")
    assert uci.startswith("URN:UVCI:") and iss == "DE"
    want = {hashlib.sha256(uci.encode()).hexdigest()[:32], hashlib.sha256((iss + uci).encode()).hexdigest()[:32]}
    op = api.as_("operator")
    r = op.post("/api/v1/revocations/dcc", json={"uci": uci, "country": iss, "reason": "FRAUD"})
    assert r.status_code == 201, r.text
    assert {x["pass_hash"] for x in r.json()} == want and len({x["version"] for x in r.json()}) == 2
    with session_factory() as db:
        rows = db.scalars(select(ControlOutbox).where(ControlOutbox.kind == "revocation")).all()
        assert len(rows) == 1  # both hashes in one message
        body = rows[0].body
        snap = db.get(Blob, body["snapshot"]).data
        added = ggrev.parse_delta(db.get(Blob, body["delta"]).data)[1] if body["delta"] else []
        assert all(ggrev.contains(snap, bytes.fromhex(h)) or bytes.fromhex(h) in added for h in want)
        logged = json.dumps([a.detail for a in db.scalars(select(AuditLog))])
        assert uci not in logged and uci.split(":")[-1] not in logged  # only hashes are kept
    again = op.post("/api/v1/revocations/dcc", json={"uci": uci, "country": iss, "reason": "FRAUD"})
    assert again.status_code == 409 and again.json()["title"] == "ALREADY_REVOKED"
    for bad in ({"uci": uci, "country": "de", "reason": "FRAUD"}, {"uci": "", "country": "DE", "reason": "LOST"},
                {"uci": "a b", "country": "DE", "reason": "LOST"}, {"uci": "x" * 81, "country": "DE", "reason": "LOST"},
                {"uci": "URN:UVCI:01:VN:1", "country": "VN", "reason": "BORED"}):
        assert op.post("/api/v1/revocations/dcc", json=bad).status_code in (400, 422), bad
    assert api.as_("viewer").post("/api/v1/revocations/dcc", json={"uci": "U1", "country": "VN",
                                                                  "reason": "LOST"}).status_code == 403


def test_cli_revoke_by_uci(cli):
    r = cli("revocations", "add", "--uci", "URN:UVCI:01:VN:TEST1#X", "--country", "VN", "--reason", "LOST", "--json")
    assert r.exit_code == 0, r.stderr
    got = {x["pass_hash"] for x in json.loads(r.stdout)}
    assert got == {hashlib.sha256(b"URN:UVCI:01:VN:TEST1#X").hexdigest()[:32],
                   hashlib.sha256(b"VNURN:UVCI:01:VN:TEST1#X").hexdigest()[:32]}
    for args in (("--uci", "U1"), ("a1" * 16, "--uci", "U1", "--country", "VN"), ()):
        r = cli("revocations", "add", *args, "--reason", "LOST")
        assert r.exit_code == 1 and "BAD_ARGUMENTS" in r.stderr, args
    r = cli("revocations", "add", "--uci", "U 1", "--country", "VN", "--reason", "LOST")
    assert r.exit_code == 1 and "BAD_UCI" in r.stderr


def test_site_formats_reach_the_signed_config(api, session_factory):
    from fleet_helpers import register

    from greengate.control import config as ggconfig

    op = api.as_("operator")
    site = op.post("/api/v1/sites", json={"business_id": "B1", "name": "Cổng EU", "formats": [2, 1]})
    assert site.status_code == 201, site.text
    assert site.json()["formats"] == [1, 2]
    register(api, "operator", dev_id(7), site.json()["id"])
    fleet_key = gk.generate()

    def wire_config():
        with session_factory() as db:
            row = control.latest_row(db, topics.config(dev_id(7)))
            signed = wire.sign_control(row.kind, row.id, row.body, fleet_key, lambda sha: db.get(Blob, sha).data)
        body = envelope.open_message(signed, [gk.raw_public(fleet_key)]).body
        ggconfig.check_config(body)  # what the gate's own check accepts
        return body

    assert wire_config()[9] == [1, 2]
    r = op.patch(f"/api/v1/sites/{site.json()['id']}", json={"formats": [2]})
    assert r.status_code == 200 and r.json()["formats"] == [2]
    assert wire_config()[9] == [2]
    for bad in ([], [3], [1, 2, 1], ["1"], [0]):
        assert op.patch(f"/api/v1/sites/{site.json()['id']}", json={"formats": bad}).status_code == 422, bad
    plain = op.post("/api/v1/sites", json={"business_id": "B1", "name": "Cổng GG1"}).json()
    assert plain["formats"] is None
    register(api, "operator", dev_id(8), plain["id"])
    with session_factory() as db:
        row = control.latest_row(db, topics.config(dev_id(8)))
        signed = wire.sign_control(row.kind, row.id, row.body, fleet_key, lambda sha: db.get(Blob, sha).data)
    assert 9 not in envelope.open_message(signed, [gk.raw_public(fleet_key)]).body  # GG1 only, as before


def test_api_import_and_read(api, entries, monkeypatch):
    from greengate.dcc import trustlist as tl

    live = _live(entries, int(utcnow().timestamp()))
    body = _listed(entries)
    assert api.as_("operator").post("/api/v1/dcc/import", content=body).status_code == 403
    assert api.as_("viewer").get("/api/v1/dcc").json()["version"] is None
    r = api.as_("admin").post("/api/v1/dcc/import?source=eu.json", content=body,
                              headers={"Content-Type": "application/json"})
    assert r.status_code == 201, r.text
    assert r.json()["accepted"] == len(live) and r.json()["source"] == "eu.json"
    now = api.as_("viewer").get("/api/v1/dcc").json()
    assert now["version"] == 1 and now["signers"] == len(live) and now["imported_by"] == "admin"
    country = live[0]["country"]
    rows = api.as_("manager").get("/api/v1/dcc/signers", params={"country": country}).json()
    assert {x["kid"] for x in rows} == _kids([e for e in live if e["country"] == country])
    assert "der" not in rows[0]
    assert api.as_("viewer").get("/api/v1/dcc/signers", params={"country": "vn"}).status_code == 422
    for bad, code in ((b"{", "DCC_BAD_JSON"), (b"[]", "DCC_NOT_A_LIST"), (b"", "DCC_BAD_JSON")):
        r = api.as_("admin").post("/api/v1/dcc/import", content=bad)
        assert r.status_code == 400 and r.json()["title"] == code
    monkeypatch.setattr(tl, "MAX_FILE", 1000)
    r = api.as_("admin").post("/api/v1/dcc/import", content=body)
    assert r.status_code == 400 and r.json()["title"] == "DCC_TOO_LARGE"
    assert api.as_("viewer").get("/api/v1/dcc").json()["version"] == 1
