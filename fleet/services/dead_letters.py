"""Dead letters: device messages the fleet could not store, set aside with
the reason so the stream goes on (docs/protocol.md 4.4-4.5). One row per
(device, payload); one INGEST_DEAD_LETTER alert per row, not per resend. A
gate may fill at most PER_DEVICE_CAP rows: a flood of distinct garbage then
only counts in the bridge's metrics, and its scan seqs are not acked (the
gate keeps them: an ack promises the fleet holds the record)."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fleet.models import DeadLetter, utcnow

from . import alerts

PAYLOAD_CAP = 2048
PER_DEVICE_CAP = 100


def set_aside(db: Session, device_id: str, topic: str, payload: bytes, code: str,
              error: str) -> DeadLetter | None:
    """Record (or count again) one refused message; None when the device is
    over its cap. The caller commits."""
    sha = hashlib.sha256(payload).hexdigest()
    q = select(DeadLetter).where(DeadLetter.device_id == device_id, DeadLetter.payload_sha256 == sha)
    row = db.scalar(q)
    if row is None:
        if db.scalar(select(func.count()).select_from(DeadLetter)
                     .where(DeadLetter.device_id == device_id)) >= PER_DEVICE_CAP:
            return None
        row = DeadLetter(device_id=device_id, topic=topic[:128], payload_sha256=sha,
                         payload=payload[:PAYLOAD_CAP], payload_size=len(payload), code=code[:32],
                         error=error[:300], count=1)
        try:
            with db.begin_nested():  # another worker may insert the same one now
                db.add(row)
                db.flush()
        except IntegrityError:
            row = db.scalar(q)
        else:
            alerts.raise_dead_letter(db, row)
            return row
    row.count += 1
    row.last_seen = utcnow()
    return row


def count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(DeadLetter)) or 0
