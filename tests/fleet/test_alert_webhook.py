"""Issue 12: new critical alert groups are POSTed to a webhook, against a
real HTTP receiver on a loopback port (http.server): signed with
HMAC-SHA256, one notification per group however often it recurs, retried
with backoff (driven by explicit clock values, no sleeps), given up after
the configured attempts, old groups never replayed, a receiver that hangs
never holds up ingest, and the fleet app runs the loop by itself."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select, update

from fleet.models import Alert, utcnow
from fleet.services import notify, scans
from fleet_helpers import dev_id, seed_registry

SECRET = "webhook-secret-0123456789"
G1 = dev_id(0xD1)
LOST = "ab" * 16


class Receiver:
    """A local HTTP server that records every request and answers with the
    next scripted status (then 200). `hold` makes it wait before answering."""

    def __init__(self, statuses=()) -> None:
        self.statuses = list(statuses)
        self.requests: list[dict] = []
        self.got = threading.Condition()
        self.hold: threading.Event | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.got:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                           "body": body})
                    outer.got.notify_all()
                if outer.hold is not None:
                    outer.hold.wait(30)
                status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/greengate?k=1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, n: int, timeout: float = 20.0) -> list[dict]:
        with self.got:
            assert self.got.wait_for(lambda: len(self.requests) >= n, timeout), self.requests
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    if r.hold is not None:
        r.hold.set()
    r.close()


def hook(url: str, **kw) -> notify.Webhook:
    return notify.Webhook(url, SECRET, timeout_s=5.0, **{"attempts": 3, "backoff_s": 10.0, **kw})


def revoked_scans(session_factory, seqs) -> None:
    with session_factory() as db:
        scans.ingest_for_device(db, G1, [{"seq": s, "time": 1_700_000_000 + s, "time_valid": True,
                                          "pass_hash": LOST, "verdict": False,
                                          "reason": scans.REVOKED_REASON} for s in seqs])
        db.commit()


def check_signature(req: dict) -> dict:
    h = req["headers"]
    mac = hmac.new(SECRET.encode(), h["X-GreenGate-Timestamp"].encode() + b"." + req["body"],
                   hashlib.sha256).hexdigest()
    assert hmac.compare_digest(h["X-GreenGate-Signature"], "sha256=" + mac)
    assert h["Content-Type"] == "application/json" and h["X-GreenGate-Event"] == "alert.critical"
    return json.loads(req["body"])


def state(session_factory) -> list[tuple]:
    with session_factory() as db:
        return [(a.kind, a.notify_state, a.notify_attempts)
                for a in db.scalars(select(Alert).order_by(Alert.id))]


def test_one_signed_notification_per_group_with_retries(session_factory, receiver):
    with session_factory() as db:
        seed_registry(db, (G1,))
    receiver.statuses = [500, 503]
    h = hook(receiver.url)
    revoked_scans(session_factory, range(1, 24))  # 23 scans of one lost card
    with session_factory() as db:  # and a non-critical group: never sent
        from fleet.services import alerts
        alerts.raise_grouped(db, "CLOCK_DRIFT", G1, "B1", {}, drift_s=400.0)
        db.commit()
    t0 = utcnow()
    assert notify.deliver_due(session_factory, h, t0) == 1
    [first] = receiver.wait(1)
    doc = check_signature(first)
    assert first["path"] == "/hooks/greengate?k=1"
    assert (doc["kind"], doc["severity"], doc["count"], doc["business_id"]) == \
        ("REVOKED_PRESENTED", "critical", 23, "B1")
    assert doc["detail"]["pass_hash"] == LOST and "name" not in json.dumps(doc)
    assert state(session_factory)[0] == ("REVOKED_PRESENTED", "pending", 1)
    # not due again before the backoff (10 s, then 20 s), whatever recurs meanwhile
    revoked_scans(session_factory, range(24, 30))
    assert notify.deliver_due(session_factory, h, t0 + dt.timedelta(seconds=9)) == 0
    assert notify.deliver_due(session_factory, h, t0 + dt.timedelta(seconds=10)) == 1
    assert notify.deliver_due(session_factory, h, t0 + dt.timedelta(seconds=29)) == 0
    assert notify.deliver_due(session_factory, h, t0 + dt.timedelta(seconds=30)) == 1
    reqs = receiver.wait(3)
    assert len({r["headers"]["X-GreenGate-Delivery"] for r in reqs}) == 1  # the same delivery id
    assert check_signature(reqs[2])["count"] == 29
    assert state(session_factory) == [("REVOKED_PRESENTED", "sent", 3), ("CLOCK_DRIFT", None, 0)]
    assert notify.deliver_due(session_factory, h, t0 + dt.timedelta(days=1)) == 0
    assert len(receiver.requests) == 3


def test_gives_up_after_the_attempts_and_survives_a_dead_receiver(session_factory, receiver):
    with session_factory() as db:
        seed_registry(db, (G1,))
    revoked_scans(session_factory, [1])
    receiver.close()  # nobody listens on that port any more: connection refused
    h = hook(receiver.url, attempts=2)
    t0 = utcnow()
    assert notify.deliver_due(session_factory, h, t0) == 1
    assert state(session_factory) == [("REVOKED_PRESENTED", "pending", 1)]
    assert notify.deliver_due(session_factory, h, t0 + dt.timedelta(seconds=10)) == 1
    assert state(session_factory) == [("REVOKED_PRESENTED", "failed", 2)]
    assert notify.deliver_due(session_factory, h, t0 + dt.timedelta(days=1)) == 0


def test_old_groups_are_not_replayed(session_factory, receiver):
    with session_factory() as db:
        seed_registry(db, (G1,))
    revoked_scans(session_factory, [1])
    with session_factory() as db:
        db.execute(update(Alert).values(created_at=utcnow() - dt.timedelta(hours=2)))
        db.commit()
    assert notify.deliver_due(session_factory, hook(receiver.url, max_age_s=3600)) == 0
    assert state(session_factory) == [("REVOKED_PRESENTED", "expired", 0)]
    assert receiver.requests == []


def test_a_hanging_receiver_never_holds_up_ingest(session_factory, receiver):
    with session_factory() as db:
        seed_registry(db, (G1,))
    revoked_scans(session_factory, [1])
    receiver.hold = threading.Event()
    posting = threading.Thread(target=notify.deliver_due, args=(session_factory, hook(receiver.url)))
    posting.start()
    receiver.wait(1)  # the notifier is inside its POST, the receiver does not answer
    revoked_scans(session_factory, range(2, 12))  # the same group recurs and commits meanwhile
    with session_factory() as db:
        assert db.scalar(select(Alert.count)) == 11
    assert posting.is_alive()
    receiver.hold.set()
    posting.join(30)
    assert state(session_factory) == [("REVOKED_PRESENTED", "sent", 1)]


def test_the_fleet_app_runs_the_notifier(settings, session_factory, receiver):
    from fastapi.testclient import TestClient

    from fleet.api.main import create_app

    with session_factory() as db:
        seed_registry(db, (G1,))
    s = settings.model_copy(update={"alert_webhook_url": receiver.url, "alert_webhook_secret": SECRET})
    with TestClient(create_app(s, sessions=session_factory)):
        revoked_scans(session_factory, [1, 2, 3])
        [req] = receiver.wait(1)
        assert check_signature(req)["count"] == 3


def test_settings_refuse_a_webhook_without_secret_or_with_another_scheme():
    from pydantic import ValidationError

    from fleet.core.config import Settings

    for url, secret in (("http://127.0.0.1:9/h", ""), ("http://127.0.0.1:9/h", "short"),
                        ("ftp://127.0.0.1/h", SECRET), ("http:///nohost", SECRET),
                        ("http://a b/h", SECRET)):
        with pytest.raises(ValidationError):
            Settings(demo=True, alert_webhook_url=url, alert_webhook_secret=secret)
    assert notify.Webhook.from_settings(Settings(demo=True)) is None
