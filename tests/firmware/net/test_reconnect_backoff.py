"""Finding 7 (issue 10): a session that dies right after CONNACK, again and
again, must not make the gate reconnect at the shortest wait. The gate used
to reset its backoff after every CONNACK and reconnected ~80 times in 30 s.
Now the backoff only starts again from the minimum after a connection that
stayed up `stable_ms`: each quick death doubles the wait (with jitter).

(The case that found it, a retained message over the packet cap, no longer
ends the session: tests/firmware/net/test_oversize_retained.py. Here a
broker accepts every CONNECT and closes the connection right after its
CONNACK, the same pattern from any cause.)

Count-based, under real MicroPython: the waits the client chose before its
first K reconnects are read back and must grow as the backoff says,
whatever the machine's speed."""

from __future__ import annotations

import threading

from net_helpers import FakeBroker, MpyProcess

DEVICE = "gg-0000000000d1"
MIN_MS, MAX_MS = 100, 1600
K = 7


class ClosingBroker(FakeBroker):
    """Accepts each connection, reads its CONNECT, answers CONNACK
    "accepted" and closes it at once."""

    def __init__(self):
        super().__init__()
        self.sessions = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                c = self.accept(timeout=None)
            except OSError:
                return  # closed
            try:
                if c.packet()[0] == 0x10:  # CONNECT
                    c.send(b"\x20\x02\x00\x00")
                    self.sessions += 1
            except (OSError, EOFError):
                pass
            c.close()


def test_sessions_closed_after_connack_back_off(tmp_path):
    broker = ClosingBroker()
    drv = MpyProcess("mqtt_driver.py", {"host": "127.0.0.1", "port": broker.port,
                                        "client_id": DEVICE, "backoff_min_ms": MIN_MS,
                                        "backoff_max_ms": MAX_MS, "keepalive": 30}, tmp_path)
    try:
        first = drv.wait_for("connected", timeout=30)
        assert first["n"] == 1
        connects = [drv.wait_for("connected", timeout=60, n=n) for n in range(2, K + 1)]
        stats = drv.call(op="stats")
        assert "closed by broker" in stats["last_error"]  # each session ended by the broker
        for i, ev in enumerate(connects, start=1):
            # before the (i+1)-th connect, i sessions had died young: the
            # wait is d/2..d with d = MIN << (i - 1), capped at MAX
            d = min(MIN_MS << (i - 1), MAX_MS)
            assert ev["failures"] == i, ev
            assert d // 2 <= ev["retry_ms"] <= d, (i, ev)
        # the cap is reached and kept: no reset to the minimum
        assert all(ev["retry_ms"] >= MAX_MS // 2 for ev in connects[-2:])
        assert broker.sessions >= K
    finally:
        drv.kill()
        broker.close()
