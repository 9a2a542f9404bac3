"""EU DCCs end to end with the real firmware (issue 13): the fleet imports a
DSC trust list (a local test DSC pair, ES256 and PS256), the bridge publishes
the signed kind-7 message through Debian's mosquitto, the gate under
`greengate sim` fetches the GGDT snapshot in chunks, applies it and reports
state key 16; it admits DCCs of both signers, denies one revoked by its UCI
(`revocations.revoke_dcc`), and after a re-import without the ES256 signer
(a delta with a tombstone) answers KID_UNKNOWN for that signer's DCCs."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from fleet.broker_bridge import topics
from fleet.broker_bridge.bridge import Bridge, BrokerParams
from fleet.broker_bridge.wire import load_or_create_fleet_key
from fleet.models import Device, Scan, Site
from fleet.services import control, dcc, registry, revocations
from fleet_helpers import dev_id, file_fleet, pubhex, seed_registry, sim_root, wait_until
from greengate.dcc import issue
from greengate.dcc.trustlist import trustlist_json
from greengate.sim.terminal import SimTerminal

pytestmark = pytest.mark.slow
DEV = dev_id(0xDCC)


def kind(k, **match):
    return lambda e: e.get("kind") == k and all(e.get(a) == b for a, b in match.items())


def _dcc(dsc, uci: str, now: int) -> str:
    return issue.sign_hc1(issue.dcc_payload("v", "VN", now - 86400, now + 180 * 86400, uci), dsc)


def test_dcc_trust_list_to_a_real_gate(tmp_path, mosquitto_broker):
    now = int(time.time())
    es, ps = issue.make_dsc(issue.ES256, "VN"), issue.make_dsc(issue.PS256, "VN", types="v")
    settings, engine, sessions = file_fleet(tmp_path)
    with sessions() as db:
        site, _ = seed_registry(db, (DEV,))
        site_id = site.id
        registry.add_issuer(db, "HCM-Q7", pubhex(), "test")  # the gate's GG1 trust list (kind 2)
        db.get(Site, site_id).formats = [1, 2]
        control.enqueue_site_config(db, db.get(Site, site_id))
        dcc.import_trustlist(db, trustlist_json([(es.der, "VN"), (ps.der, "VN")]), "test-dsc.json", "test")
        db.commit()
    fleet_key = load_or_create_fleet_key(settings.signing_key_path, create=True)
    bridge = Bridge(sessions, BrokerParams(port=mosquitto_broker.port), fleet_key, poll_s=0.05).start()
    root = sim_root(tmp_path, DEV, site_id, fleet_key)
    try:
        with SimTerminal(root, device_id=DEV, broker=f"mqtt://127.0.0.1:{mosquitto_broker.port}") as sim:
            for k in (2, 3, 1, 7):
                sim.wait_for(kind("control", msg_kind=k, applied=True), timeout=90)
            sim.wait_for(kind("screen", screen="idle"), timeout=30)
            sim.wait_for(kind("scanner", state="ready"), timeout=30)

            def decide(qr):
                # A whole code at once, as the module sends it at line rate. On this
                # loaded 2-core box the firmware's 60 ms end-of-code gap can still tear
                # a 700-char text (BASE45); a torn read is scanned again, once: a text
                # the gate really cannot decode fails twice.
                for _ in range(2):
                    n = len(sim.events())
                    sim.fake.scan(qr, pace=False)
                    d = sim.wait_for(kind("decision"), after=n, timeout=30)
                    if d["reason"] != "BASE45":
                        return d
                    time.sleep(0.2)
                return d

            for dsc, uci in ((es, "URN:UVCI:01:VN:GG/E2E1#A"), (ps, "URN:UVCI:01:VN:GG/E2E2#B")):
                d = decide(_dcc(dsc, uci, now))
                assert d["verdict"] is True, d

            # the gate reports the table it holds: the fleet sees no drift
            want = _desired(sessions)
            assert wait_until(lambda: _table(sessions) == (want, 2), timeout=60)

            # revoked by its UCI: the two EU hashes reach the gate in a revocation delta
            _write(sessions, lambda db: revocations.revoke_dcc(db, "URN:UVCI:01:VN:GG/E2E1#A", "VN", "FRAUD",
                                                                "operator"))
            n = len(sim.events())
            sim.wait_for(kind("control", msg_kind=3, applied=True), after=n, timeout=60)
            d = decide(_dcc(es, "URN:UVCI:01:VN:GG/E2E1#A", now + 1))  # a re-issue, same UCI
            assert d["verdict"] is False and d["reason"] == "REVOKED", d

            # the ES256 signer leaves the list: a delta removes it on the gate
            report = _write(sessions, lambda db: dcc.import_trustlist(db, trustlist_json([(ps.der, "VN")]),
                                                                      "smaller.json", "test"))
            assert report.removed == [es.kid.hex()]
            n = len(sim.events())
            sim.wait_for(kind("control", msg_kind=7, applied=True), after=n, timeout=60)
            d = decide(_dcc(es, "URN:UVCI:01:VN:GG/E2E3#C", now))
            assert d["verdict"] is False and d["reason"] == "KID_UNKNOWN", d
            d = decide(_dcc(ps, "URN:UVCI:01:VN:GG/E2E4#D", now))
            assert d["verdict"] is True, d

            # every decision reached the fleet, with a pass hash and a reason code only
            rows = wait_until(lambda: len(r := _scans(sessions)) == 5 and r, timeout=60)
            assert [r.verdict for r in rows] == [True, True, False, False, True]
            assert all(r.pass_hash is None or len(r.pass_hash) == 32 for r in rows)
            want = _desired(sessions)
            assert wait_until(lambda: _table(sessions) == (want, 1), timeout=60)
    finally:
        bridge.stop()
        engine.dispose()


def _write(sessions, change):
    """One write transaction beside the running bridge. SQLite (WAL) refuses a
    write at once, whatever the busy timeout, when another connection
    committed after this transaction's first read (SQLITE_BUSY_SNAPSHOT, "database
    is locked"): the fleet's services read before they write, so the test
    starts the transaction again, as a caller would, up to 5 times."""
    from sqlalchemy.exc import OperationalError

    for attempt in range(5):
        try:
            with sessions() as db:
                out = change(db)
                db.commit()
                return out
        except OperationalError as e:
            if "database is locked" not in str(e) or attempt == 4:
                raise


def _desired(sessions) -> int:
    with sessions() as db:
        return control.desired_version(db, topics.DCC)


def _table(sessions) -> tuple:
    """State key 16 as the fleet stored it: (message version, key count)."""
    with sessions() as db:
        d = db.get(Device, DEV)
        return d.dcc_version, d.dcc_keys


def _scans(sessions):
    with sessions() as db:
        return db.scalars(select(Scan).where(Scan.device_id == DEV).order_by(Scan.seq)).all()
