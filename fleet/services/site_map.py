"""Sites on the map, each with one state computed here (never in the
browser), in a few grouped queries so 10,000 gates stay fast:

    suspended  the business is not approved (its gates show SUSPENDED)
    alert      an open (unacknowledged) alert on one of the site's gates
    offline    a gate of the site is offline, or the site has no gate
    online     every gate of the site is online

The first that applies wins, in that order (what needs a person first).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from fleet.models import Alert, Business, BusinessStatus, Device, Site

STATES = ("suspended", "alert", "offline", "online")
DEVICES_LISTED = 20  # gate ids per site in a marker's popup


@dataclass
class SiteMarker:
    id: int
    name: str
    business_id: str
    business_name: str
    lat: float | None
    lon: float | None
    state: str
    gates: int
    online: int
    open_alerts: int
    devices: list[str]


def site_state(business_status: str, gates: int, online: int, open_alerts: int) -> str:
    if business_status != BusinessStatus.APPROVED.value:
        return "suspended"
    if open_alerts:
        return "alert"
    if gates == 0 or online < gates:
        return "offline"
    return "online"


def markers(db: Session, scope: str | None = None) -> list[SiteMarker]:
    """Every site (of `scope`'s business for a manager), placed or not."""
    active = Device.status == "active"
    gates = dict((sid, (n, on)) for sid, n, on in db.execute(
        select(Device.site_id, func.count(), func.sum(cast(Device.online, Integer)))
        .where(active, Device.site_id.is_not(None)).group_by(Device.site_id)))
    alerts = dict(db.execute(
        select(Device.site_id, func.count())
        .join(Alert, Alert.device_id == Device.id)
        .where(Alert.acknowledged_at.is_(None), active, Device.site_id.is_not(None))
        .group_by(Device.site_id)).all())
    ids: dict[int, list[str]] = {}
    listed = (select(Device.site_id, Device.id, func.row_number().over(
        partition_by=Device.site_id, order_by=Device.id).label("n"))
        .where(active, Device.site_id.is_not(None)).subquery())
    for sid, did in db.execute(select(listed.c.site_id, listed.c.id)
                               .where(listed.c.n <= DEVICES_LISTED)
                               .order_by(listed.c.site_id, listed.c.id)):
        ids.setdefault(sid, []).append(did)
    q = (select(Site.id, Site.name, Site.business_id, Business.name, Business.status,
                Site.lat, Site.lon)
         .join(Business, Business.id == Site.business_id).order_by(Site.id))
    if scope is not None:
        q = q.where(Site.business_id == scope)
    out = []
    for sid, name, bid, bname, bstatus, lat, lon in db.execute(q):
        n, on = gates.get(sid, (0, 0))
        on = on or 0
        n_alerts = alerts.get(sid, 0)
        out.append(SiteMarker(sid, name, bid, bname, lat, lon,
                              site_state(bstatus, n, on, n_alerts), n, on, n_alerts,
                              ids.get(sid, [])))
    return out


def as_json(sites: list[SiteMarker]) -> dict:
    """What the marker endpoint sends: placed sites, their per-state counts
    (the legend: what the map shows), and how many sites have no coordinates."""
    placed = [asdict(s) for s in sites if s.lat is not None and s.lon is not None]
    counts = {state: 0 for state in STATES}
    for s in placed:
        counts[s["state"]] += 1
    return {"sites": placed, "counts": counts, "unplaced": len(sites) - len(placed)}
