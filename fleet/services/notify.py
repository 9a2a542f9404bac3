"""Webhook for new critical alert groups (settings alert_webhook_*).

Ingest never waits for it: raising a critical group only marks the row
`notify_state = pending` in the same transaction (fleet/services/alerts.py);
a background loop (Notifier, started by the fleet app) claims due rows and
POSTs them, outside any transaction. One notification per group: the
group's later occurrences do not touch its state; a retry carries the same
delivery id, so a receiver can drop a duplicate after a lost answer.

The request: JSON body (ids, kind, severity, subject, counts, times: a
pass hash and codes, never names), headers
  X-GreenGate-Event: alert.critical
  X-GreenGate-Delivery: alert-<id>
  X-GreenGate-Timestamp: <unix seconds>
  X-GreenGate-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>
Any 2xx is delivered. Anything else (status, refused connection, timeout)
is retried after backoff_s * 2**(attempt-1), capped at backoff_max_s, up to
`attempts` times (then `failed`). A group older than max_age_s when first
due is `expired` (a webhook configured today does not replay last month).

Several fleet processes may run the loop: a row is claimed by a
conditional UPDATE (state pending, due, unchanged attempts) that moves its
due time a lease ahead, so exactly one process posts it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from fleet.core.config import Settings
from fleet.core.logging import log
from fleet.models import Alert, utcnow

logger = logging.getLogger("greengate.fleet.notify")

EVENT = "alert.critical"
LEASE_S = 120  # a claimed row is due again after this if its process died mid-post
BATCH = 20
RESPONSE_CAP = 4096  # bytes of a receiver's answer read (and dropped)


@dataclass(frozen=True)
class Webhook:
    url: str
    secret: str
    timeout_s: float = 5.0
    attempts: int = 8
    backoff_s: float = 5.0
    backoff_max_s: float = 900.0
    max_age_s: int = 3600

    @classmethod
    def from_settings(cls, s: Settings) -> "Webhook | None":
        if not s.alert_webhook_url:
            return None
        return cls(s.alert_webhook_url, s.alert_webhook_secret, s.alert_webhook_timeout_s,
                   s.alert_webhook_attempts, s.alert_webhook_backoff_s,
                   s.alert_webhook_backoff_max_s, s.alert_webhook_max_age_s)

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_s * 2 ** max(0, attempt - 1), self.backoff_max_s)


def body_of(a: Alert) -> bytes:
    iso = lambda t: t.isoformat() if t else None  # noqa: E731
    doc = {"event": EVENT, "alert": a.id, "kind": a.kind, "severity": a.severity,
           "device_id": a.device_id, "business_id": a.business_id, "count": a.count,
           "first_seen": iso(a.created_at), "last_seen": iso(a.last_seen_at),
           "detail": a.detail or {}}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def post(hook: Webhook, alert_id: int, body: bytes, timestamp: int | None = None) -> tuple[bool, str]:
    """One POST; (delivered, what happened). Never raises for network
    trouble; never follows a redirect (the signed body stays with its URL)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    u = urlsplit(hook.url)
    conn: http.client.HTTPConnection
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=hook.timeout_s,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=hook.timeout_s)
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    headers = {"Content-Type": "application/json", "User-Agent": "GreenGate-fleet",
               "X-GreenGate-Event": EVENT, "X-GreenGate-Delivery": f"alert-{alert_id}",
               "X-GreenGate-Timestamp": str(timestamp),
               "X-GreenGate-Signature": signature(hook.secret, timestamp, body)}
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read(RESPONSE_CAP)
        return 200 <= resp.status < 300, f"HTTP {resp.status}"
    except (OSError, http.client.HTTPException) as e:
        return False, type(e).__name__
    finally:
        conn.close()


def _claim(db: Session, hook: Webhook, now: dt.datetime) -> list[tuple[int, int, bytes]]:
    """(id, attempt number, body) of due rows this process now owns."""
    rows = db.scalars(select(Alert).where(Alert.notify_state == "pending",
                                          Alert.notify_next_at <= now)
                      .order_by(Alert.notify_next_at).limit(BATCH)).all()
    claimed = []
    for a in rows:
        attempts, body = a.notify_attempts, body_of(a)
        expired = a.created_at < now - dt.timedelta(seconds=hook.max_age_s)
        values = ({"notify_state": "expired", "notify_next_at": None} if expired else
                  {"notify_next_at": now + dt.timedelta(seconds=LEASE_S),
                   "notify_attempts": attempts + 1})
        won = db.execute(update(Alert).where(
            Alert.id == a.id, Alert.notify_state == "pending", Alert.notify_next_at <= now,
            Alert.notify_attempts == attempts).values(**values)
            .execution_options(synchronize_session=False)).rowcount == 1
        if won and not expired:
            claimed.append((a.id, attempts + 1, body))
    db.commit()
    return claimed


def _settle(db: Session, hook: Webhook, alert_id: int, attempt: int, ok: bool,
            now: dt.datetime) -> str:
    if ok:
        state, next_at = "sent", None
    elif attempt >= hook.attempts:
        state, next_at = "failed", None
    else:
        state, next_at = "pending", now + dt.timedelta(seconds=hook.backoff(attempt))
    db.execute(update(Alert).where(Alert.id == alert_id)
               .values(notify_state=state, notify_next_at=next_at)
               .execution_options(synchronize_session=False))
    db.commit()
    return state


def deliver_due(sessions: sessionmaker[Session], hook: Webhook,
                now: dt.datetime | None = None) -> int:
    """Post every due notification once; returns how many were posted."""
    with sessions() as db:
        claimed = _claim(db, hook, now or utcnow())
    for alert_id, attempt, body in claimed:
        ok, what = post(hook, alert_id, body)  # no transaction, no lock held
        with sessions() as db:
            state = _settle(db, hook, alert_id, attempt, ok, utcnow() if now is None else now)
        log(logger, "webhook", logging.INFO if ok else logging.WARNING, alert=alert_id,
            attempt=attempt, result=what, state=state)
    return len(claimed)


class Notifier:
    """The background loop: deliver_due every poll_s (sooner while busy)."""

    def __init__(self, sessions: sessionmaker[Session], hook: Webhook, poll_s: float = 2.0) -> None:
        self.sessions, self.hook, self.poll_s = sessions, hook, poll_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-webhook", daemon=True)

    def start(self) -> "Notifier":
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                n = deliver_due(self.sessions, self.hook)
            except Exception as e:  # database trouble: try again at the next poll
                log(logger, "webhook.loop", logging.ERROR, error=type(e).__name__)
                n = 0
            if n < BATCH:
                self._stop.wait(self.poll_s)
