"""Sites on the map, each with one state computed in the database (never in
the browser), in one grouped query so 10,000 gates stay fast:

    suspended  the business is not approved (its gates show SUSPENDED)
    alert      an open (unacknowledged) alert on one of the site's gates
    offline    a gate of the site is offline, or the site has no gate
    online     every gate of the site is online

The first that applies wins, in that order (what needs a person first).
"""

from __future__ import annotations

from sqlalchemy import Integer, and_, case, cast, func, or_, select
from sqlalchemy.orm import Session

from fleet.models import Alert, Business, BusinessStatus, Device, Site

STATES = ("suspended", "alert", "offline", "online")
# what each marker row carries, in this order (arrays, not objects: 10,000
# sites stay near 1 MB of JSON)
FIELDS = ("id", "name", "business_id", "business_name", "lat", "lon", "state", "gates", "online",
          "gate")


def sites_query(scope: str | None):  # noqa: ANN202
    active = and_(Device.status == "active", Device.site_id.is_not(None))
    gates = (select(Device.site_id.label("site_id"), func.count().label("n"),
                    func.sum(cast(Device.online, Integer)).label("online"),
                    func.min(Device.id).label("first"))
             .where(active).group_by(Device.site_id).subquery())
    alerts = (select(Device.site_id.label("site_id"), func.count().label("n"))
              .join(Alert, Alert.device_id == Device.id)
              .where(active, Alert.acknowledged_at.is_(None)).group_by(Device.site_id).subquery())
    n = func.coalesce(gates.c.n, 0)
    online = func.coalesce(gates.c.online, 0)
    state = case((Business.status != BusinessStatus.APPROVED.value, "suspended"),
                 (func.coalesce(alerts.c.n, 0) > 0, "alert"),
                 (or_(n == 0, online < n), "offline"),
                 else_="online").label("state")
    q = (select(Site.id, Site.name, Site.business_id, Business.name.label("business_name"),
                Site.lat, Site.lon, state, n.label("gates"), online.label("online"),
                gates.c.first.label("gate"))
         .join(Business, Business.id == Site.business_id)
         .outerjoin(gates, gates.c.site_id == Site.id)
         .outerjoin(alerts, alerts.c.site_id == Site.id))
    if scope is not None:
        q = q.where(Site.business_id == scope)
    return q, state


def markers(db: Session, scope: str | None = None) -> dict:
    """The marker endpoint's body: placed sites as rows of FIELDS, the count
    per state of those (the legend: what the map shows), and how many sites
    have no coordinates."""
    q, _ = sites_query(scope)
    placed = q.where(Site.lat.is_not(None), Site.lon.is_not(None)).order_by(Site.id)
    rows = [list(r) for r in db.connection().execute(placed)]
    counts = {s: 0 for s in STATES}
    state_at = FIELDS.index("state")
    for r in rows:
        counts[r[state_at]] += 1
    return {"fields": list(FIELDS), "sites": rows, "counts": counts,
            "unplaced": unplaced(db, scope)}


def unplaced(db: Session, scope: str | None = None) -> int:
    q = select(func.count()).select_from(Site).where(or_(Site.lat.is_(None), Site.lon.is_(None)))
    if scope is not None:
        q = q.where(Site.business_id == scope)
    return db.scalar(q) or 0


def summary(db: Session, scope: str | None = None, attention_limit: int = 100) -> dict:
    """For the map page: counts per state of the placed sites, the unplaced
    count, and the sites needing attention (every state but online, placed
    or not; worst first), all counted in the database."""
    q, state = sites_query(scope)
    sub = q.subquery()
    placed = sub.c.lat.is_not(None) & sub.c.lon.is_not(None)
    counts = {s: 0 for s in STATES}
    total = n_unplaced = 0
    # one pass: sites per (state, placed)
    for st, is_placed, n in db.execute(select(sub.c.state, placed.label("placed"), func.count())
                                       .group_by(sub.c.state, placed)):
        if is_placed:
            counts[st] += n
        else:
            n_unplaced += n
        if st != "online":
            total += n
    order = case(*((sub.c.state == s, i) for i, s in enumerate(STATES)))
    attention = [dict(r._mapping) for r in db.execute(
        select(sub).where(sub.c.state != "online")
        .order_by(order, sub.c.business_id, sub.c.id).limit(attention_limit))] if total else []
    return {"counts": counts, "unplaced": n_unplaced, "attention": attention,
            "attention_total": total}
