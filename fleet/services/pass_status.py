"""What a pass's status is *now*, computed one way for every list.

The stored Pass.status only changes on revocation (revoked / f0) and its
lifting; expiry is a matter of the clock, and an allowlist entry keeps the
district's decision (approved) even after the pass is revoked. Pages that
printed the stored values showed expired passes as Active and an F0 worker
as Approved. Here: revoked or F0 wins, then expiry, then the stored state.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, case, select
from sqlalchemy.orm import Session

from fleet.models import AllowlistEntry, Pass, Revocation, utcnow

REVOKED = ("revoked", "f0")


def status_expr(now: dt.datetime):  # noqa: ANN201
    """SQL: the pass's shown status (active / expired / revoked / f0)."""
    return case((Pass.status.in_(REVOKED), Pass.status),
                (Pass.expires_at <= now, "expired"),
                else_=Pass.status).label("shown_status")


def pass_status(p: Pass, now: dt.datetime | None = None) -> str:
    now = now or utcnow()
    if p.status in REVOKED:
        return p.status
    expires = p.expires_at if p.expires_at.tzinfo else p.expires_at.replace(tzinfo=dt.timezone.utc)
    return "expired" if expires <= now else p.status


def allowlist_rows(db: Session, business_id: str, limit: int = 500,
                   now: dt.datetime | None = None) -> list[tuple[AllowlistEntry, str]]:
    """(entry, shown status), newest first. An entry still in force (draft or
    approved) shows "f0" / "revoked" while its pass is on the revocation list
    (whoever issued it), "expired" once the pass the fleet issued has expired."""
    now = now or utcnow()
    q = (select(AllowlistEntry, Revocation.reason, Pass.expires_at)
         .outerjoin(Revocation, and_(Revocation.pass_hash == AllowlistEntry.pass_hash,
                                     Revocation.active.is_(True)))
         .outerjoin(Pass, Pass.pass_hash == AllowlistEntry.pass_hash)
         .where(AllowlistEntry.business_id == business_id)
         .order_by(AllowlistEntry.id.desc()).limit(limit))
    out = []
    for entry, revoked_reason, expires in db.execute(q):
        shown = entry.status
        if entry.status in ("draft", "approved"):
            if revoked_reason is not None:
                shown = "f0" if revoked_reason == "F0" else "revoked"
            elif expires is not None and \
                    (expires if expires.tzinfo else expires.replace(tzinfo=dt.timezone.utc)) <= now:
                shown = "expired"
        out.append((entry, shown))
    return out
