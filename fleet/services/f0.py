"""The F0 workflow (seed requirement), every step audited:

1. an operator marks a pass F0 -> it is revoked (a delta reaches every gate);
2. exposure list: every site where that pass was ACCEPTED in the last N days,
   and the other passes scanned there within +/- T hours of each visit;
3. each affected business is suspended (its sites' signed configuration says
   suspended, so its gates show SUSPENDED);
4. an operator reinstates each business once it is cleared.
"""

from __future__ import annotations

import time

from sqlalchemy import case, select
from sqlalchemy.orm import Session

from fleet.core import errors
from fleet.models import BusinessStatus, F0Case, Revocation, Scan, Site

from . import audit, registry, revocations


def _best_time():  # noqa: ANN202
    # A device with an untrusted clock: fall back to when the fleet received it.
    return case((Scan.time_valid.is_(True), Scan.time), else_=Scan.received_at)


def exposure(db: Session, pass_hash: str, days: int, hours: float, now: int) -> list[dict]:
    t = _best_time()
    visits = db.execute(
        select(Scan.site_id, t).where(Scan.pass_hash == pass_hash, Scan.verdict.is_(True),
                                      Scan.site_id.is_not(None), t >= now - days * 86400)
    ).all()
    window = int(hours * 3600)
    by_site: dict[int, dict] = {}
    for site_id, at in visits:
        entry = by_site.setdefault(site_id, {"site_id": site_id, "visits": [], "passes": set()})
        entry["visits"].append(int(at))
        others = db.scalars(
            select(Scan.pass_hash).distinct().where(
                Scan.site_id == site_id, Scan.pass_hash.is_not(None),
                Scan.pass_hash != pass_hash, t >= at - window, t <= at + window)
        ).all()
        entry["passes"].update(others)
    out = []
    for site_id, entry in sorted(by_site.items()):
        site = db.get(Site, site_id)
        out.append({"site_id": site_id, "business_id": site.business_id if site else None,
                    "visits": sorted(entry["visits"]), "passes": sorted(entry["passes"])})
    return out


def mark_f0(db: Session, pass_hash: str, actor: str, days: int, hours: float,
            now: int | None = None) -> F0Case:
    pass_hash = revocations.check_pass_hash(pass_hash)
    now = int(now if now is not None else time.time())
    existing = db.scalar(select(Revocation).where(Revocation.pass_hash == pass_hash))
    already = existing is not None and existing.active
    if not already:
        revocations.revoke(db, pass_hash, "F0", actor)
    audit.record(db, actor, "f0.mark", "pass", pass_hash, days=days, hours=hours,
                 already_revoked=already)
    exp = exposure(db, pass_hash, days, hours, now)
    case_row = F0Case(pass_hash=pass_hash, opened_by=actor, window_days=days, window_hours=hours,
                      exposure=exp, suspended_businesses=[])
    db.add(case_row)
    db.flush()
    audit.record(db, actor, "f0.exposure", "f0_case", case_row.id, sites=len(exp),
                 passes=len({p for e in exp for p in e["passes"]}))
    return case_row


def affected_businesses(case_row: F0Case) -> list[str]:
    return sorted({e["business_id"] for e in case_row.exposure if e.get("business_id")})


def suspend_affected(db: Session, case_row: F0Case, actor: str) -> list[str]:
    if case_row.status != "open":
        raise errors.Conflict("F0 case is closed", code="CASE_CLOSED")
    done = list(case_row.suspended_businesses or [])
    for business_id in affected_businesses(case_row):
        business = registry.get_business(db, business_id)
        if business.status != BusinessStatus.SUSPENDED.value:
            registry.set_business_status(db, business, BusinessStatus.SUSPENDED, actor,
                                         reason=f"F0 case {case_row.id}")
        if business_id not in done:
            done.append(business_id)
    case_row.suspended_businesses = done
    audit.record(db, actor, "f0.suspend", "f0_case", case_row.id, businesses=done)
    return done


def reinstate(db: Session, business_id: str, actor: str) -> None:
    business = registry.get_business(db, business_id)
    if business.status != BusinessStatus.SUSPENDED.value:
        raise errors.Conflict("business is not suspended / doanh nghiệp không bị tạm dừng",
                              code="NOT_SUSPENDED")
    registry.set_business_status(db, business, BusinessStatus.APPROVED, actor)


def close_case(db: Session, case_row: F0Case, actor: str) -> F0Case:
    case_row.status = "closed"
    audit.record(db, actor, "f0.close", "f0_case", case_row.id)
    return case_row
