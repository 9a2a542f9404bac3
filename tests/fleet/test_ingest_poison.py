"""Issue 10, finding 1: one gate's password must not stop the fleet's ingest.
With gate A's own credentials, on the production broker configuration and a
real database: a command reply whose id overflows the column, a state whose
firmware text holds a NUL byte, a scan batch with a bad entry. Before: the
bridge retried the refused transaction forever and stored nothing from any
gate, also after a restart (the retained state comes back). Now: each is
refused by its schema (or, if the database still refuses it, isolated) and
set aside in the dead-letter table with one alert, and the stream goes on."""

from __future__ import annotations

import threading

import cbor2
import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

from fleet.api.main import create_app
from fleet.broker_bridge import mosquitto_conf as mc
from fleet.broker_bridge import topics
from fleet.broker_bridge.bridge import Bridge, BrokerParams, make_client
from fleet.broker_bridge.simulator import SimDevice
from fleet.models import Alert, DeadLetter, Device, Scan
from fleet_helpers import dev_id, seed_registry, wait_until
from ingest_rig import bridge_params, start_generated

A, B = dev_id(0xA1), dev_id(0xB2)
POISON_REPLY = cbor2.dumps({1: 2**40, 2: 0, 3: "x"})
SCRAPE_TOKEN = "scrape-token-for-tests-0123"  # /metrics needs a log-in or this token
POISON_STATE = cbor2.dumps({1: True, 2: "1.0\x00evil", 4: 0})


@pytest.fixture
def rig(tmp_path, settings, session_factory):
    with session_factory() as db:
        _, pws = seed_registry(db, (A, B))
    m = start_generated(tmp_path, session_factory)
    app = create_app(settings.model_copy(update={"metrics_token": SCRAPE_TOKEN}), sessions=session_factory)
    bridges, devs = [], []

    def bridge() -> Bridge:
        b = Bridge(session_factory, bridge_params(m.port), None, publish=False).start()
        bridges.append(b)
        return b

    def gate(dev: str, **kw) -> SimDevice:
        d = SimDevice(dev, BrokerParams(port=m.port), password=pws[dev], **kw).connect()
        devs.append(d)
        return d

    with TestClient(app, headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}) as client:
        yield session_factory, bridge, gate, client
    for d in devs:
        d.close()
    for b in bridges:
        b.stop()
    m.stop()


def stored(sessions, dev: str) -> int:
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(Scan).where(Scan.device_id == dev))


def dead(sessions) -> list[tuple]:
    with sessions() as db:
        return db.execute(select(DeadLetter.device_id, DeadLetter.topic, DeadLetter.code,
                                 DeadLetter.count).order_by(DeadLetter.id)).all()


def alerts(sessions) -> int:
    with sessions() as db:
        return db.scalar(select(func.count()).select_from(Alert).where(
            Alert.kind == "INGEST_DEAD_LETTER", Alert.device_id == A))


def metric(client, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_poison_from_one_gate_stops_nobody(rig):
    sessions, bridge, gate, client = rig
    first = bridge()
    a = gate(A)
    b = gate(B, outbox=True, ack_timeout_s=1.0, ack_timeout_max_s=4.0)
    a.client.publish(topics.reply(A), POISON_REPLY, qos=1).wait_for_publish(10)
    a.client.publish(topics.state(A), POISON_STATE, qos=1, retain=True).wait_for_publish(10)
    # one bad entry (reason 1000) among good ones: the good ones are stored
    bad_batch = cbor2.dumps({1: A, 2: [[0, 1, True, b"\x01" * 16, True, 0],
                                       [1, 1, True, b"\x02" * 16, True, 1000]], 3: 1})
    a.client.publish(topics.scans(A), bad_batch, qos=1).wait_for_publish(10)
    b.add_scans(100)
    a.publish_scans(2, 5).wait_for_publish(10)
    wait_until(lambda: stored(sessions, B) == 100 and b.outbox_depth() == 0, timeout=60)
    wait_until(lambda: stored(sessions, A) == 6)
    wait_until(lambda: len(dead(sessions)) == 3)
    rows = dead(sessions)
    assert {(r.topic.rsplit("/", 1)[1], r.code) for r in rows} == {
        ("reply", "BAD_REPLY"), ("state", "BAD_STATE"), ("scans", "BAD_SCAN")}
    assert all(r.device_id == A for r in rows)
    assert alerts(sessions) == 3
    with sessions() as db:
        assert "\x00" not in (db.get(Device, A).firmware or "")  # the NUL never reached the table
    # the same poison again and again: counted, no new row, no new alert
    for _ in range(5):
        a.client.publish(topics.reply(A), POISON_REPLY, qos=1).wait_for_publish(10)
    wait_until(lambda: [r.count for r in dead(sessions) if r.topic.endswith("/reply")] == [6])
    assert len(dead(sessions)) == 3 and alerts(sessions) == 3
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["ok"] is True
    assert metric(client, "greengate_dead_letters") == 3
    assert metric(client, "greengate_bridge_consecutive_failures") == 0
    # a fleet restart: the retained poison state is delivered again on subscribe
    first.stop()
    bridge()
    b.add_scans(50)
    wait_until(lambda: stored(sessions, B) == 150 and b.outbox_depth() == 0, timeout=60)
    wait_until(lambda: [r.count for r in dead(sessions) if r.topic.endswith("/state")] == [2])
    assert len(dead(sessions)) == 3 and alerts(sessions) == 3
    assert client.get("/healthz").json()["ok"] is True


def _refuse(db, dialect: str) -> None:
    """A database rule the schema does not know (a trigger), so the database
    itself refuses these rows (A's reply 'refuse-me', A's scan 666): the case
    the isolation exists for."""
    if dialect == "sqlite":
        db.execute(text("CREATE TRIGGER refuse_reply BEFORE INSERT ON command_reply "
                        "WHEN NEW.detail = 'refuse-me' BEGIN SELECT RAISE(ABORT, 'refused'); END"))
        db.execute(text("CREATE TRIGGER refuse_scan BEFORE INSERT ON scan "
                        f"WHEN NEW.seq = 666 AND NEW.device_id = '{A}' BEGIN SELECT RAISE(ABORT, 'refused'); END"))
    else:
        for table, rule in (("command_reply", "NEW.detail = 'refuse-me'"),
                            ("scan", f"NEW.seq = 666 AND NEW.device_id = '{A}'")):
            db.execute(text(f"""CREATE FUNCTION refuse_{table}() RETURNS trigger AS $$ BEGIN
                IF {rule} THEN RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END IF;
                RETURN NEW; END $$ LANGUAGE plpgsql"""))
            db.execute(text(f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} "
                            f"FOR EACH ROW EXECUTE FUNCTION refuse_{table}()"))
    db.commit()


def test_a_message_the_database_refuses_is_isolated_and_acked(rig):
    sessions, bridge, gate, client = rig
    with sessions() as db:
        _refuse(db, db.get_bind().dialect.name)
    bridge()
    a = gate(A, outbox=True, ack_timeout_s=1.0, ack_timeout_max_s=4.0)
    b = gate(B, outbox=True, ack_timeout_s=1.0, ack_timeout_max_s=4.0)
    a.client.publish(topics.reply(A), cbor2.dumps({1: 7, 2: 0, 3: "refuse-me"}), qos=1)
    a.add_scans(1000)  # seq 666 is in the batch 660..689
    b.add_scans(1000)
    # the refused batch is kept as a dead letter and acked: A's outbox drains too
    wait_until(lambda: a.outbox_depth() == 0 and b.outbox_depth() == 0, timeout=90)
    assert stored(sessions, B) == 1000
    with sessions() as db:
        seqs = set(db.scalars(select(Scan.seq).where(Scan.device_id == A)))
        letters = db.scalars(select(DeadLetter).order_by(DeadLetter.id)).all()
    assert 666 not in seqs and len(seqs) >= 1000 - 30 and seqs | set(range(660, 690)) == set(range(1000))
    kinds = {(r.topic.rsplit("/", 1)[1], r.code) for r in letters}
    assert kinds == {("reply", "DB_REFUSED"), ("scans", "DB_REFUSED")}
    scans_letter = next(r for r in letters if r.topic.endswith("/scans"))
    assert [s[0] for s in cbor2.loads(scans_letter.payload)[2]].count(666) == 1
    assert alerts(sessions) == 2
    assert client.get("/healthz").json()["ok"] is True


def test_a_gate_cannot_forge_an_ack(rig):
    """The ack topic is the fleet's: a gate may read its own and publish on
    none, so no gate can make another (or itself) drop unstored records."""
    sessions, bridge, gate, client = rig
    b = gate(B, outbox=True, ack_timeout_s=2.0, ack_timeout_max_s=4.0)
    a = gate(A)
    # a fleet-account subscriber that sees every ack topic (no bridge runs yet)
    watcher = make_client(bridge_params(a.params.port), mc.BRIDGE_USER, clean_session=True)
    got, subscribed = [], threading.Event()
    watcher.on_message = lambda c, u, msg: got.append(msg.topic)
    watcher.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
    watcher.on_connect = lambda c, u, f, rc, p: c.subscribe(topics.ack("+"), 0)
    watcher.connect("127.0.0.1", a.params.port)
    watcher.loop_start()
    try:
        assert subscribed.wait(10)
        b.add_scans(30)
        wait_until(lambda: b.highest_sent == 29)  # sent; no fleet runs, so no ack
        forged = cbor2.dumps({1: 0, 2: 29})
        for sender, topic in ((a, topics.ack(B)), (b, topics.ack(B)), (a, topics.ack(A))):
            sender.client.publish(topic, forged, qos=1).wait_for_publish(10)
        b.publish_state()  # a QoS 1 round trip after the forgeries: they had their chance
        a.publish_state()
    finally:
        watcher.disconnect()
        watcher.loop_stop()
    assert got == []
    assert b.acks_valid == 0 and b.acks_ignored == 0 and b.outbox_depth() == 30
    bridge()  # the fleet: its ack is the one that counts
    wait_until(lambda: b.outbox_depth() == 0, timeout=30)
    assert stored(sessions, B) == 30


def test_over_its_dead_letter_cap_a_gate_keeps_its_bad_records(session_factory, monkeypatch):
    """An ack promises the fleet holds the record: once a gate has filled its
    dead-letter rows, a further bad batch is not kept, so its bad seqs are
    not acked (its good ones are stored and acked)."""
    from fleet.services import dead_letters

    with session_factory() as db:
        seed_registry(db, (A,))
    monkeypatch.setattr(dead_letters, "PER_DEVICE_CAP", 1)
    bridge = Bridge(session_factory, BrokerParams(port=1), None, publish=False)

    def batch(first: int) -> mqtt.MQTTMessage:
        m = mqtt.MQTTMessage(1, topics.scans(A).encode())
        m.payload = cbor2.dumps({1: A, 2: [[first, 1, True, None, True, 0],
                                           [first + 1, 1, True, None, True, 999]]})
        return m
    assert bridge._process([batch(0)]) == {A: {0, 1}}     # kept as a dead letter: all acked
    assert bridge._process([batch(0)]) == {A: {0, 1}}     # the same again: counted, acked
    assert bridge._process([batch(2)]) == {A: {2}}        # over the cap: 3 stays on the gate
    assert stored(session_factory, A) == 2
    assert [r.count for r in dead(session_factory)] == [2]
    bridge.client.loop_stop()


def test_acks_widen_over_seqs_already_stored(session_factory):
    """With several workers a gate's batches commit out of order; the ack of
    each is stretched over the stored seqs around it so the gate's rule
    (a <= acked + 1 <= b) accepts whichever ack comes first."""
    from fleet.services import scans

    with session_factory() as db:
        seed_registry(db, (A, B))
        row = {"time": 1, "time_valid": True, "pass_hash": None, "verdict": True, "reason": 0,
               "site_id": None, "received_at": 1}
        stored_seqs = {A: list(range(0, 300)) + list(range(330, 400)) + list(range(405, 410)),
                       B: list(range(10, 300))}
        scans.ingest_rows(db, [{**row, "device_id": d, "seq": s} for d, ss in stored_seqs.items() for s in ss])
        db.commit()
        got = scans.widen_acks(db, {A: [(300, 329), (400, 400)], B: [(300, 329)]})
    # A: 60..299 all stored below (window 240), 401.. missing above; B: 60..299 all stored too
    assert got == {A: [(60, 329), (400, 400)], B: [(60, 329)]}
    with session_factory() as db:
        assert scans.widen_acks(db, {A: [(300, 329)]}) == {A: [(60, 399)]}  # the run above joins
        assert scans.widen_acks(db, {B: [(5, 9)]}) == {B: [(5, 249)]}  # 240 up; nothing below 5 stored
        assert scans.widen_acks(db, {}) == {}
