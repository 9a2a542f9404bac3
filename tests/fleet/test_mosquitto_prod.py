"""The generated production mosquitto 2 configuration, on a real mosquitto:
per-device $7$ credentials, topic rights (dynamic-security plugin), TLS with
a generated CA; and a bridge worker that loses and duplicates nothing when
killed mid-stream (the gates resend until the fleet's end-to-end ack,
protocol 4.4). Attacks on identities and subscriptions:
test_broker_identities.py."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import time
from pathlib import Path

import cbor2
import pytest
from sqlalchemy import func, select

from brokers import free_port
from fleet.broker_bridge import mosquitto_conf as mc
from fleet.broker_bridge import topics
from fleet.broker_bridge.bridge import Bridge, BrokerParams, make_client
from fleet.broker_bridge.simulator import SimDevice
from fleet.broker_bridge.wire import load_or_create_fleet_key
from fleet.core.db import make_engine, make_sessionmaker
from fleet.models import Base, Scan
from fleet.services import control
from fleet_helpers import dev_id, seed_registry, wait_until
from ingest_rig import BRIDGE_PW, bridge_params, bridge_process, start_generated
from tls_helpers import make_ca_and_server

G1, G2, G3 = dev_id(1), dev_id(2), dev_id(3)


def test_password_hash_matches_mosquitto_passwd(tmp_path):
    """Our $7$ hash verifies exactly like Debian's mosquitto_passwd output."""
    pw = tmp_path / "pw"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "dev1", "s3cret pw"], check=True)
    theirs = pw.read_text().strip().split(":", 1)[1]
    assert theirs.startswith("$7$101$")
    assert mc.check_password_hash(theirs, "s3cret pw")
    assert not mc.check_password_hash(theirs, "s3cret pX")
    salt = bytes(range(12))
    ours = mc.password_hash("s3cret pw", salt=salt)
    assert ours.split("$")[3] == "AAECAwQFBgcICQoL" and mc.check_password_hash(ours, "s3cret pw")
    assert not mc.check_password_hash("$6$x$y", "s3cret pw")
    with pytest.raises(ValueError):
        mc.render_passwd([mc.DeviceAccount("a:b", ours, None)], {mc.BRIDGE_USER: ours})


@pytest.fixture
def fleet_db(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fleet.db'}")
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        site, pws = seed_registry(db, (G1, G2))
        other_site, more = seed_registry(db, (G3,), business_id="B2")
    yield sessions, site, other_site, {**pws, **more}
    engine.dispose()


def test_generated_rights_are_the_protocol_acl():
    """docs/protocol.md section 2.1, as the dynamic-security file says it."""
    doc = json.loads(mc.render_dynsec([mc.DeviceAccount(G1, "$7$x", None)], workers=2))
    roles = {r["rolename"]: {(a["acltype"], a["topic"]) for a in r["acls"]} for r in doc["roles"]}
    own = f"gg/v1/dev/{G1}"
    assert roles[G1] == {
        *{("publishClientSend", f"{own}/{t}") for t in ("scans", "state", "reply", "fetch")},
        *{(kind, t) for kind in ("subscribeLiteral", "publishClientReceive")
          for t in (f"{own}/cmd", f"{own}/config", f"{own}/blob", f"{own}/ack", f"{own}/ota")}}
    assert roles["gate"] == {(kind, t) for kind in ("subscribeLiteral", "publishClientReceive")
                             for t in ("gg/v1/fleet/trust", "gg/v1/fleet/revocation")}
    assert roles["fleet"] == {("publishClientSend", "gg/v1/#"), ("publishClientReceive", "gg/v1/#"),
                              ("subscribePattern", "gg/v1/#"),
                              ("subscribePattern", "$share/greengate/gg/v1/#")}
    assert roles["fleet-accounts"] == {(k, "$CONTROL/dynamic-security/#") for k in (
        "publishClientSend", "publishClientReceive", "subscribePattern")}
    clients = {c["username"]: c for c in doc["clients"]}
    assert set(clients) == {"fleet-bridge-1", "fleet-bridge-2", "fleet-accounts", G1}
    assert all(c["clientid"] == u and "password" not in c for u, c in clients.items())
    assert clients[G1]["roles"] == [{"rolename": G1}, {"rolename": "gate"}]
    assert doc["defaultACLAccess"] == {"publishClientSend": False, "publishClientReceive": False,
                                       "subscribe": False, "unsubscribe": True}
    conf = mc.render_conf(port=1883, data_dir=Path("d"), passwd_file=Path("p"),
                          dynsec_file=Path("ds.json"))
    assert "acl_file" not in conf  # with one, mosquitto 2.0.11 granted every SUBSCRIBE


def test_credentials_and_acl_enforced_by_mosquitto(tmp_path, fleet_db):
    sessions, site, other_site, pws = fleet_db
    m = start_generated(tmp_path, sessions)
    key = load_or_create_fleet_key(tmp_path / "fleet.key", create=True)
    bridge = Bridge(sessions, bridge_params(m.port), key, client_id=mc.BRIDGE_USER, poll_s=0.05).start()
    devs = []
    try:
        # wrong password: refused at CONNECT
        bad = SimDevice(G1, BrokerParams(port=m.port), password="wrong")
        bad.connect()
        assert bad.connect_error is not None and bad.connect_error.is_failure
        bad.client.loop_stop()
        g1 = SimDevice(G1, BrokerParams(port=m.port), password=pws[G1]).connect()
        g2 = SimDevice(G2, BrokerParams(port=m.port), password=pws[G2]).connect()
        devs = [g1, g2]
        assert g1.connect_error is None
        # gate-1 forges gate-2's scans and state, and tries fleet topics: the broker drops them
        forged = cbor2.dumps({1: G2, 2: [[1, 1, True, b"\x01" * 16, True, 0]]})
        g1.client.publish(topics.scans(G2), forged, qos=1).wait_for_publish(10)
        g1.client.publish(topics.state(G2), cbor2.dumps({1: True}), qos=1).wait_for_publish(10)
        g1.client.publish(topics.REVOCATION, b"forged", qos=1, retain=True).wait_for_publish(10)
        g1.publish_scans(0, 5).wait_for_publish(10)

        def count(dev):
            with sessions() as db:
                return db.scalar(select(func.count()).select_from(Scan).where(Scan.device_id == dev))
        wait_until(lambda: count(G1) == 5)
        # gate-1 may not read gate-2's commands / configuration: refused in the SUBACK
        wait_until(lambda: g1.suback)  # its own control topics, on connect
        g1.suback.clear()
        g1.client.subscribe([(topics.command(G2), 1), (topics.config(G3), 1), (topics.command(G1), 1)])
        wait_until(lambda: g1.suback)
        assert g1.suback[0] == [0x80, 0x80, 1]
        with sessions() as db:
            control.enqueue_command(db, G2, "reboot")
            control.enqueue_site_config(db, db.get(type(site), other_site.id))  # config for G3
            control.enqueue_command(db, G1, "sync")
            db.commit()
        wait_until(lambda: g1.messages(topics.command(G1)))
        wait_until(lambda: g2.messages(topics.command(G2)))
        wait_until(lambda: g1.messages(topics.config(G1)))    # own retained config: delivered
        assert g1.messages(topics.command(G2)) == []
        assert g1.messages(topics.config(G3)) == []
        # the forged retained manifest never reached a subscriber: only signed fleet ones
        for payload in g2.messages(topics.REVOCATION):
            assert payload != b"forged"
        assert count(G2) == 0
        with sessions() as db:
            from fleet.models import Device
            assert db.get(Device, G2).online is False  # the forged "online" state was dropped
    finally:
        for d in devs:
            d.close()
        bridge.stop()
        m.stop()


def test_tls_listener_with_generated_ca(tmp_path, fleet_db):
    sessions, site, _, pws = fleet_db
    ca, cert, key_file = make_ca_and_server(tmp_path / "pki")
    tls = mc.TlsFiles(cafile=ca, certfile=cert, keyfile=key_file, port=free_port())
    m = start_generated(tmp_path, sessions, tls=tls, plain=False)
    fleet_key = load_or_create_fleet_key(tmp_path / "fleet.key", create=True)
    params = BrokerParams.from_url(f"mqtts://{mc.BRIDGE_USER}:{BRIDGE_PW}@127.0.0.1:{tls.port}", str(ca))
    assert params.tls and params.port == tls.port
    bridge = Bridge(sessions, params, fleet_key, client_id=params.username).start()
    try:
        dev = SimDevice(G1, BrokerParams(port=tls.port, tls=True, ca_file=str(ca)),
                        password=pws[G1]).connect()
        dev.publish_scans(0, 3).wait_for_publish(10)
        with sessions() as db:
            wait_until(lambda: db.scalar(select(func.count()).select_from(Scan)) == 3)
        dev.close()
        # a client that does not trust the CA cannot connect
        c = make_client(BrokerParams(port=tls.port, tls=True), "untrusting", clean_session=True)
        with pytest.raises(ssl.SSLError):
            c.connect("127.0.0.1", tls.port)
    finally:
        bridge.stop()
        m.stop()


def test_worker_killed_mid_stream_loses_and_duplicates_nothing(tmp_path, fleet_db):
    """kill -9 of the bridge process mid-stream: its clean session and what it
    had not committed are gone; the gate (reporting protocol 2) keeps every
    record until the fleet's ack and resends, so all arrive exactly once."""
    sessions, site, _, pws = fleet_db
    m = start_generated(tmp_path, sessions)
    db_url = str(sessions.kw["bind"].url)
    log = (tmp_path / "workers.log").open("w")
    w1 = bridge_process(db_url, m.port, log, batch_max=20)
    dev = SimDevice(G1, BrokerParams(port=m.port), password=pws[G1], outbox=True,
                    ack_timeout_s=1.0, ack_timeout_max_s=4.0).connect()
    total = 3000
    try:
        def stored():
            with sessions() as db:
                return db.scalar(select(func.count()).select_from(Scan))
        dev.add_scans(total // 2)
        wait_until(lambda: stored() > 0)
        w1.send_signal(signal.SIGKILL)  # mid-stream: some of its messages are not committed
        w1.wait()
        dev.add_scans(total // 2)
        w1 = bridge_process(db_url, m.port, log, batch_max=20)
        wait_until(lambda: dev.outbox_depth() == 0, timeout=90)
        assert stored() == total
        with sessions() as db:
            assert db.scalar(select(func.count(func.distinct(Scan.seq)))) == total
            assert db.scalar(select(func.min(Scan.seq))) == 0
            assert db.scalar(select(func.max(Scan.seq))) == total - 1
    finally:
        dev.close()
        w1.send_signal(signal.SIGTERM)
        w1.wait(10)
        log.close()
        m.stop()


def test_generated_queue_limits_keep_a_qos1_burst(tmp_path, fleet_db):
    """A 20,000-message QoS 1 burst to one subscriber arrives whole (with
    Debian's default max_queued_messages most of it was dropped)."""
    import threading

    sessions, _, _, pws = fleet_db
    m = start_generated(tmp_path, sessions)
    got = []
    done = threading.Event()
    sub = make_client(bridge_params(m.port), mc.BRIDGE_USER, clean_session=True)

    def on_message(c, u, msg):
        got.append(msg.payload)
        time.sleep(0.0001)  # a consumer slower than the producer
        if len(got) == 20_000:
            done.set()
    sub.on_message = on_message
    sub.on_connect = lambda c, u, f, rc, p: c.subscribe(topics.SCANS_ALL, 1)
    sub.connect("127.0.0.1", m.port)
    sub.loop_start()
    pub = make_client(BrokerParams(port=m.port, username=G1, password=pws[G1]), G1, clean_session=True)
    pub.max_inflight_messages_set(1000)
    pub.connect("127.0.0.1", m.port)
    pub.loop_start()
    try:
        wait_until(lambda: sub.is_connected() and pub.is_connected())
        time.sleep(0.3)  # subscription in place
        infos = [pub.publish(topics.scans(G1), i.to_bytes(4, "big"), qos=1) for i in range(20_000)]
        for i in infos:
            i.wait_for_publish(60)
        assert done.wait(90), f"only {len(got)} of 20000 arrived"
        assert len(set(got)) == 20_000
    finally:
        pub.loop_stop()
        sub.loop_stop()
        m.stop()
