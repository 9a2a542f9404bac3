"""Byte-exact MQTT 3.1.1 tests of the firmware client (real MicroPython)
against a fake broker (net_helpers.FakeBroker): exact CONNECT / SUBSCRIBE / PUBLISH /
PINGREQ bytes, retransmission with DUP, the QoS 0 overflow rule, and
malformed packets from the broker (disconnect + reconnect, never a crash)."""

from __future__ import annotations

import socket
import time

import pytest

from net_helpers import Conn, FakeBroker, MpyProcess

WILL_TOPIC = "gg/v1/dev/gate-7/state"
WILL_MSG = bytes.fromhex("a1666f6e6c696e65f4")  # CBOR {"online": false}


def s(text: str) -> bytes:
    b = text.encode()
    return len(b).to_bytes(2, "big") + b


def pkt(first: int, body: bytes) -> bytes:
    assert len(body) < 128
    return bytes([first, len(body)]) + body


@pytest.fixture
def broker():
    b = FakeBroker()
    yield b
    b.close()


def driver(tmp_path, port, **cfg) -> MpyProcess:
    base = {"host": "127.0.0.1", "port": port, "client_id": "gate-7", "keepalive": 60,
            "ack_timeout_ms": 400, "backoff_min_ms": 50, "backoff_max_ms": 200}
    base.update(cfg)
    return MpyProcess("mqtt_driver.py", base, tmp_path)


def test_session_bytes_retransmit_ping_and_dead_link(broker, tmp_path):
    drv = driver(tmp_path, broker.port, user="u", password="p", keepalive=2,
                 will=[WILL_TOPIC, WILL_MSG.hex(), 1, True])
    try:
        # CONNECT: protocol MQTT 3.1.1, flags user|password|will retain|will
        # QoS 1|will|clean session = 0xEE, keepalive 2 s.
        connect = pkt(0x10, s("MQTT") + b"\x04\xee\x00\x02" + s("gate-7")
                      + s(WILL_TOPIC) + len(WILL_MSG).to_bytes(2, "big") + WILL_MSG
                      + s("u") + s("p"))
        c = broker.session(connect)
        drv.wait_for("connected")

        drv.send(op="sub", topic="gg/v1/dev/gate-7/ctrl/#", qos=1)
        assert c.packet() == pkt(0x82, b"\x00\x01" + s("gg/v1/dev/gate-7/ctrl/#") + b"\x01")
        c.send(b"\x90\x03\x00\x01\x01")

        drv.send(op="pub", topic="t/0", payload=b"abc".hex(), qos=0)
        assert c.packet() == pkt(0x30, s("t/0") + b"abc")
        drv.send(op="pub", topic="t/r", payload="", qos=0, retain=True)
        assert c.packet() == pkt(0x31, s("t/r"))
        assert [drv.wait_for("queued")["ok"] for _ in range(2)] == [True, True]

        # QoS 1: no PUBACK -> the same packet again with DUP after the timeout.
        drv.send(op="pub", topic="t/1", payload="0102", qos=1)
        assert drv.wait_for("queued")["pid"] == 2
        first = pkt(0x32, s("t/1") + b"\x00\x02\x01\x02")
        assert c.packet() == first
        assert c.packet() == pkt(0x3A, s("t/1") + b"\x00\x02\x01\x02")
        c.send(b"\x40\x02\x00\x02")
        assert drv.wait_for("acked")["pid"] == 2

        # Incoming QoS 1 PUBLISH: delivered, then PUBACK with its packet id.
        c.send(pkt(0x32, s("gg/v1/dev/gate-7/ctrl/cmd") + b"\x12\x34" + b"hello"))
        m = drv.wait_for("message")
        assert (m["topic"], bytes.fromhex(m["payload"]), m["retained"]) == (
            "gg/v1/dev/gate-7/ctrl/cmd", b"hello", False)
        assert c.packet() == b"\x40\x02\x12\x34"
        c.send(pkt(0x31, s("gg/v1/dev/gate-7/ctrl/cfg") + b"\xa0"))
        m = drv.wait_for("message")
        assert bytes.fromhex(m["payload"]) == b"\xa0" and m["retained"] is True

        # Idle: PINGREQ after keepalive/2, answered.
        assert c.packet(timeout=5) == b"\xc0\x00"
        c.send(b"\xd0\x00")
        assert c.packet(timeout=5) == b"\xc0\x00"
        # No PINGRESP any more: dead after 1.5 x keepalive -> reconnect,
        # CONNECT again and the subscription restored.
        c.expect_closed(timeout=8)
        c2 = broker.session(connect)
        assert c2.packet() == pkt(0x82, b"\x00\x03" + s("gg/v1/dev/gate-7/ctrl/#") + b"\x01")
        c2.send(b"\x90\x03\x00\x03\x01")
        assert drv.wait_for("connected")["n"] == 2
        stats = drv.call(op="stats")
        assert stats["connected"] is True and stats["dropped_qos0"] == 0
        c2.close()
    finally:
        drv.kill()


def test_unacked_qos1_resent_with_dup_after_reconnect(broker, tmp_path):
    drv = driver(tmp_path, broker.port, ack_timeout_ms=60000, inflight=2)
    try:
        connect = pkt(0x10, s("MQTT") + b"\x04\x02\x00\x3c" + s("gate-7"))
        c = broker.session(connect)
        drv.wait_for("connected")
        drv.send(op="pub", topic="r/1", payload="aa", qos=1)
        drv.send(op="pub", topic="r/2", payload="bb", qos=1, retain=True)
        drv.send(op="pub", topic="r/3", payload="cc", qos=1)
        assert [drv.wait_for("queued")["ok"] for _ in range(3)] == [True, True, False]
        assert c.packet() == pkt(0x32, s("r/1") + b"\x00\x01\xaa")
        assert c.packet() == pkt(0x33, s("r/2") + b"\x00\x02\xbb")
        c.close()  # connection lost before any PUBACK
        c2 = broker.session(connect)
        got = {c2.packet(), c2.packet()}
        assert got == {pkt(0x3A, s("r/1") + b"\x00\x01\xaa"), pkt(0x3B, s("r/2") + b"\x00\x02\xbb")}
        c2.send(b"\x40\x02\x00\x02" + b"\x40\x02\x00\x01")
        acked = {drv.wait_for("acked")["pid"], drv.wait_for("acked")["pid"]}
        assert acked == {1, 2}
        assert drv.call(op="stats")["free_slots"] == 2
        c2.close()
    finally:
        drv.kill()


def test_qos0_queue_overflow_drops_oldest(broker, tmp_path):
    drv = driver(tmp_path, broker.port, qos0_slots=8)
    try:
        # The client is connecting (CONNECT sent, no CONNACK yet): publishes
        # only queue. 12 into 8 slots: the 4 oldest are dropped and counted.
        c = broker.accept()
        assert c.packet()[0] == 0x10
        for i in range(12):
            drv.send(op="pub", topic="q", payload=bytes([i]).hex(), qos=0)
        for _ in range(12):
            assert drv.wait_for("queued")["ok"] is True
        assert drv.call(op="stats")["dropped_qos0"] == 4
        c.send(b"\x20\x02\x00\x00")
        for i in range(4, 12):
            assert c.packet() == pkt(0x30, s("q") + bytes([i]))
        c.close()
    finally:
        drv.kill()


MALFORMED = [
    ("remaining length of 5 bytes", b"\x30\xff\xff\xff\xff\x7f"),
    ("oversized SUBACK", b"\x90\xa0\x8d\x06" + b"\x00" * 64),
    ("reserved packet type", b"\xf0\x00"),
    ("CONNACK inside a session", b"\x20\x02\x00\x00"),
    ("topic longer than packet", b"\x30\x04\x00\x10ab"),
    ("empty topic", b"\x30\x03\x00\x00x"),
    ("QoS 2 publish", b"\x34\x07\x00\x01a\x00\x01xy"),
    ("QoS 1 publish with packet id 0", b"\x32\x06\x00\x01a\x00\x00x"),
    ("topic not UTF-8", b"\x30\x05\x00\x02\xff\xfeX"),
    ("PUBACK of 3 bytes", b"\x40\x03\x00\x01\x00"),
    ("SUBACK with bad code", b"\x90\x03\x00\x01\x07"),
    ("PINGRESP with a body", b"\xd0\x01\x00"),
    ("truncated packet then EOF", b"\x30\x10\x00\x01a"),
]


def test_malformed_packets_disconnect_and_reconnect(broker, tmp_path):
    drv = driver(tmp_path, broker.port)
    try:
        c = broker.session()
        drv.wait_for("connected")
        for n, (name, data) in enumerate(MALFORMED, start=2):
            c.send(data)
            if name.startswith("truncated"):
                c.sock.shutdown(socket.SHUT_WR)
            c.expect_closed()
            c.close()
            c = broker.session()
            assert drv.wait_for("connected")["n"] == n, name
        # Refused CONNACK: the client backs off and tries again.
        c.close()
        refused = broker.accept()
        assert refused.packet()[0] == 0x10
        refused.send(b"\x20\x02\x00\x05")  # not authorized
        refused.expect_closed()
        c = broker.session()
        assert drv.wait_for("connected")["n"] == len(MALFORMED) + 2
        stats = drv.call(op="stats")
        assert stats["connected"] is True and "refused" in stats["last_error"]
        # Still a working session after all that.
        drv.send(op="pub", topic="ok", payload="01", qos=1)
        assert c.packet() == pkt(0x32, s("ok") + b"\x00\x01\x01")
        c.send(b"\x40\x02\x00\x01")
        assert drv.wait_for("acked")["ok"] is True
        c.close()
    finally:
        drv.kill()


# -- PUBLISH packets larger than the resident receive buffer ------------------

CAP = 4352     # net.mqtt.MAX_PACKET: 4 KiB signed message + topic and header
RX_SIZE = 256  # net.mqtt.RX_SIZE: the resident receive buffer
CFG_TOPIC = "gg/v1/dev/gate-7/config"


def varlen(n: int) -> bytes:
    out = b""
    while True:
        b, n = n & 0x7F, n >> 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + varlen(len(body)) + body


def publish(topic: str, payload: bytes, pid: int = 0, retain: bool = False) -> bytes:
    first = 0x30 | (0x02 if pid else 0) | (0x01 if retain else 0)
    return packet(first, s(topic) + (pid.to_bytes(2, "big") if pid else b"") + payload)


def stats_of(drv) -> dict:
    drv.send(op="stats")
    return drv.wait_for("stats")


def pattern(n: int, seed: int) -> bytes:
    return bytes((i * 31 + seed) & 0xFF for i in range(n))


def expect_message(drv, topic: str, payload: bytes, retained: bool = False) -> None:
    m = drv.wait_for("message")
    assert m["topic"] == topic
    got = bytes.fromhex(m["payload"])
    assert len(got) == len(payload) and got == payload
    assert m["retained"] is retained


def test_publish_larger_than_receive_buffer_up_to_the_cap(broker, tmp_path):
    drv = driver(tmp_path, broker.port)
    try:
        c = broker.session()
        drv.wait_for("connected")
        # Just over the resident buffer, QoS 1: delivered whole, then PUBACK.
        body = pattern(RX_SIZE - 2 - len(CFG_TOPIC) - 2 + 1, 1)
        c.send(publish(CFG_TOPIC, body, pid=0x0102))
        expect_message(drv, CFG_TOPIC, body)
        assert c.packet() == b"\x40\x02\x01\x02"
        # Exactly the resident buffer: the small path.
        body = pattern(RX_SIZE - 2 - len(CFG_TOPIC), 2)
        c.send(publish(CFG_TOPIC, body))
        expect_message(drv, CFG_TOPIC, body)
        # Exactly at the cap (remaining length 4352), QoS 1 and retained.
        body = pattern(CAP - 2 - len(CFG_TOPIC) - 2, 3)
        raw = publish(CFG_TOPIC, body, pid=7, retain=True)
        assert len(raw) == 1 + 2 + CAP
        c.send(raw)
        expect_message(drv, CFG_TOPIC, body, retained=True)
        assert c.packet() == b"\x40\x02\x00\x07"
        # A packet after it still parses (nothing of the big one left over).
        c.send(publish("t/x", b"ok", pid=8))
        expect_message(drv, "t/x", b"ok")
        assert c.packet() == b"\x40\x02\x00\x08"
        stats = stats_of(drv)
        assert stats["connects"] == 1 and stats["last_error"] == "" and stats["oversize"] == 0
        assert not [e for e in drv.all_events if e.get("ev") == "oversize"]
        c.close()
    finally:
        drv.kill()


def send_in_pieces(c: Conn, stream: bytes) -> None:
    """Cut at uneven offsets (inside fixed headers, topics, packet ids and
    payloads), each piece its own TCP segment: many reads on the client."""
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    i, step = 0, 1
    while i < len(stream):
        c.send(stream[i:i + step])
        i += step
        step = step * 7 % 613 + 1
        time.sleep(0.002)


def test_large_publishes_split_across_reads_and_interleaved_with_pubacks(broker, tmp_path):
    drv = driver(tmp_path, broker.port, ack_timeout_ms=60000)
    try:
        c = broker.session()
        drv.wait_for("connected")
        drv.send(op="pub", topic="up/1", payload="01", qos=1)
        drv.send(op="pub", topic="up/2", payload="02", qos=1)
        assert c.packet() == pkt(0x32, s("up/1") + b"\x00\x01\x01")
        assert c.packet() == pkt(0x32, s("up/2") + b"\x00\x02\x02")
        big = [pattern(3000, 5), pattern(CAP - 2 - len(CFG_TOPIC) - 2, 6), pattern(RX_SIZE * 3, 7)]
        stream = (publish(CFG_TOPIC, big[0], pid=0x0A01) + b"\x40\x02\x00\x01"
                  + publish("gg/v1/fleet/trust", big[1], pid=0x0A02, retain=True)
                  + b"\xd0\x00" + b"\x40\x02\x00\x02"
                  + publish("t/small", b"s") + publish(CFG_TOPIC, big[2]))
        send_in_pieces(c, stream)
        assert c.packet() == b"\x40\x02\x0a\x01"
        assert c.packet() == b"\x40\x02\x0a\x02"
        drv.wait_for("message", topic=CFG_TOPIC, payload=big[2].hex())
        # the messages arrived whole and in stream order; the PUBACKs between
        # the big packets reached the client (acked events come from waiter
        # tasks, so their order among the messages is not fixed)
        msgs = [(e["topic"], bytes.fromhex(e["payload"]), e["retained"])
                for e in drv.all_events if e["ev"] == "message"]
        assert msgs == [(CFG_TOPIC, big[0], False), ("gg/v1/fleet/trust", big[1], True),
                        ("t/small", b"s", False), (CFG_TOPIC, big[2], False)]
        deadline = time.monotonic() + 10
        while len([e for e in drv.all_events if e["ev"] == "acked"]) < 2:
            assert time.monotonic() < deadline, drv.all_events[-5:]
            time.sleep(0.05)
        assert sorted(e["pid"] for e in drv.all_events if e["ev"] == "acked") == [1, 2]
        stats = stats_of(drv)
        assert stats["connects"] == 1 and stats["free_slots"] == 4 and stats["last_error"] == ""
        c.close()
    finally:
        drv.kill()


LARGE_MALFORMED = [
    ("SUBACK beyond the receive buffer", packet(0x90, b"\x00\x01" + b"\x00" * RX_SIZE),
     "packet 0x90 of 258 bytes exceeds 256"),
    ("topic beyond the receive buffer", publish("t" * (RX_SIZE + 10), b"x" * 100),
     "topic of 266 bytes exceeds 256"),
    ("topic longer than the large packet", packet(0x30, b"\x7f\xff" + b"x" * 600),
     "topic length 32767 of 602"),
    ("QoS 2 large publish", packet(0x34, s("t") + b"\x00\x01" + b"x" * 600), "QoS 2"),
    ("packet id 0 in a large publish", packet(0x32, s("t") + b"\x00\x00" + b"x" * 600),
     "packet id 0"),
    ("large topic not UTF-8", packet(0x30, b"\x00\x02\xff\xfe" + b"x" * 600), "UTF-8"),
    ("large publish truncated then EOF", publish("t", b"x" * 600)[:400], "closed by broker"),
]


# over the cap: still ProtocolError, never dropped in place
OVERSIZE_MALFORMED = [
    ("remaining length of 5 bytes", b"\x30\xff\xff\xff\xff\x7f" + b"x" * 64,
     "longer than 4 bytes"),
    ("QoS 2 over the cap", packet(0x34, s("t") + b"\x00\x01" + b"x" * 5000), "QoS 2"),
    ("packet id 0 over the cap", packet(0x32, s("t") + b"\x00\x00" + b"x" * 5000),
     "packet id 0"),
    ("topic longer than the packet over the cap", packet(0x30, b"\xff\xff" + b"x" * 5000),
     "topic length 65535 of 5002"),
    ("empty topic over the cap", packet(0x30, b"\x00\x00" + b"x" * 5000), "topic length 0"),
    ("topic not UTF-8 over the cap", packet(0x30, b"\x00\x02\xff\xfe" + b"x" * 5000), "UTF-8"),
    ("SUBACK over the cap", packet(0x90, b"\x00\x01" + b"\x00" * 5000),
     "packet 0x90 of 5002 bytes exceeds 256"),
    ("over the cap, truncated then EOF", publish("t", b"x" * 9000)[:6000], "closed by broker"),
]


def test_malformed_large_packets_disconnect_and_reconnect(broker, tmp_path):
    # over the cap too: only a well-formed PUBLISH is dropped in place, a
    # broken one still ends the session
    drv = driver(tmp_path, broker.port)
    try:
        c = broker.session()
        drv.wait_for("connected")
        cases = LARGE_MALFORMED + OVERSIZE_MALFORMED
        for n, (name, data, error) in enumerate(cases, start=2):
            c.send(data)
            if name.endswith("EOF"):
                c.sock.shutdown(socket.SHUT_WR)
            c.expect_closed()
            c.close()
            c = broker.session()
            assert drv.wait_for("connected")["n"] == n, name
            assert error in stats_of(drv)["last_error"], name
        # Nothing was delivered or dropped from any of them, and the session
        # still works.
        assert not [e for e in drv.all_events if e.get("ev") in ("message", "oversize")]
        assert stats_of(drv)["oversize"] == 0
        body = pattern(4000, 8)
        c.send(publish(CFG_TOPIC, body, pid=3))
        expect_message(drv, CFG_TOPIC, body)
        assert c.packet() == b"\x40\x02\x00\x03"
        c.close()
    finally:
        drv.kill()


# -- PUBLISH packets over the cap: dropped, the session stays ------------------

CMD_TOPIC = "gg/v1/dev/gate-7/cmd"


def test_publish_over_the_cap_is_dropped_and_the_session_stays(broker, tmp_path):
    # A retained control message over the cap comes at every connect: it
    # used to close the connection each time, so nothing else
    # (the fleet's scan acks) got through. Now it is read through the small
    # receive buffer, dropped, PUBACKed if QoS 1 and reported; the packets
    # after it are parsed as usual.
    drv = driver(tmp_path, broker.port, ack_timeout_ms=60000)
    try:
        c = broker.session()
        drv.wait_for("connected")
        drv.send(op="pub", topic="up/1", payload="01", qos=1)
        assert c.packet() == pkt(0x32, s("up/1") + b"\x00\x01\x01")
        one_over = pattern(CAP - 2 - len(CFG_TOPIC) + 1, 4)  # remaining length 4353
        big = pattern(20000, 5)                 # a 3-byte remaining length
        long_topic = "gg/" + "t" * 300          # over the cap, topic too long to keep
        at_cap = pattern(CAP - 2 - len(CFG_TOPIC), 7)
        stream = (publish(CFG_TOPIC, one_over, retain=True)          # QoS 0: no PUBACK
                  + publish(CFG_TOPIC, big, pid=0x0B01, retain=True)
                  + b"\x40\x02\x00\x01"                            # our publish's PUBACK
                  + publish(long_topic, pattern(6000, 6), pid=0x0B02)
                  + publish(CMD_TOPIC, b"small", pid=0x0B03)
                  + publish(CFG_TOPIC, at_cap))
        send_in_pieces(c, stream)
        # exact PUBACKs, in order, for the QoS 1 ones only (the dropped ones too:
        # the broker must not send them again on this session)
        assert c.packet() == b"\x40\x02\x0b\x01"
        assert c.packet() == b"\x40\x02\x0b\x02"
        assert c.packet() == b"\x40\x02\x0b\x03"
        drv.wait_for("message", topic=CFG_TOPIC)
        seen = [(e["ev"], e["topic"], e.get("size"), e.get("payload"), e["retained"])
                for e in drv.all_events if e["ev"] in ("message", "oversize")]
        assert seen == [
            ("oversize", CFG_TOPIC, 2 + len(CFG_TOPIC) + len(one_over), None, True),
            ("oversize", CFG_TOPIC, 2 + len(CFG_TOPIC) + 2 + len(big), None, True),
            ("oversize", None, 2 + len(long_topic) + 2 + 6000, None, False),
            ("message", CMD_TOPIC, None, b"small".hex(), False),
            ("message", CFG_TOPIC, None, at_cap.hex(), False)]
        assert seen[0][2] == CAP + 1
        # the PUBACK between them reached the client (acked events come from
        # waiter tasks: their place among the messages is not fixed)
        deadline = time.monotonic() + 10
        while not [e for e in drv.all_events if e["ev"] == "acked" and e["pid"] == 1]:
            assert time.monotonic() < deadline, drv.all_events[-5:]
            time.sleep(0.05)
        stats = stats_of(drv)
        assert stats["connects"] == 1 and stats["connected"] is True
        assert stats["oversize"] == 3 and stats["free_slots"] == 4
        assert "dropped" in stats["last_error"]
        # the same session still sends and receives
        drv.send(op="pub", topic="up/2", payload="02", qos=1)
        assert c.packet() == pkt(0x32, s("up/2") + b"\x00\x02\x02")
        c.send(b"\x40\x02\x00\x02")
        assert drv.wait_for("acked")["pid"] == 2
        c.close()
    finally:
        drv.kill()
