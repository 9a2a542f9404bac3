"""The map's data in a compact form (issue 12: 10,000 sites within 300 ms).

The marker list carries only what draws a marker: per placed site one array
[id, lat, lon, state code, gates, online], coordinates rounded to 5 decimals
(about 1 m), the state as its index in site_map.STATES. Names, the business
and the first gate travel only for the site a person opens (`detail`), so
10,000 sites are ~350 KB of JSON (~110 KB gzipped) instead of ~1 MB.
States come from fleet/services/site_map.py's query, the one place they are
defined; here it is read in one statement, placed and unplaced sites alike.
"""

from __future__ import annotations

import gzip
import hashlib
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.models import Site
from fleet.services import site_map

FIELDS = ("id", "lat", "lon", "state", "gates", "online")
CODE = {s: i for i, s in enumerate(site_map.STATES)}
PLACES = 5
GZIP_MIN = 1400  # smaller bodies fit one packet anyway
GZIP_LEVEL = 5   # ~3x smaller than raw at a few ms for 350 KB; higher levels gain little


def markers(db: Session, scope: str | None) -> dict:
    """Placed sites as rows of FIELDS, the count per state of those (the
    legend), and how many sites have no coordinates: one query."""
    q, _ = site_map.sites_query(scope)
    sub = q.subquery()
    stmt = select(sub.c.id, sub.c.lat, sub.c.lon, sub.c.state, sub.c.gates,
                  sub.c.online).order_by(sub.c.id)
    rows, counts, unplaced = [], [0] * len(site_map.STATES), 0
    for sid, lat, lon, state, gates, online in db.connection().execute(stmt):
        if lat is None or lon is None:
            unplaced += 1
            continue
        code = CODE[state]
        counts[code] += 1
        rows.append((sid, round(lat, PLACES), round(lon, PLACES), code, gates, online))
    return {"v": 2, "states": list(site_map.STATES), "fields": list(FIELDS), "sites": rows,
            "counts": dict(zip(site_map.STATES, counts)), "unplaced": unplaced}


def detail(db: Session, scope: str | None, site_id: int) -> dict | None:
    """One site's popup: name, business, state, gates and the first gate;
    None when it does not exist or lies outside the scope."""
    q, _ = site_map.sites_query(scope)
    row = db.connection().execute(q.where(Site.id == site_id)).first()
    if row is None:
        return None
    out = dict(row._mapping)
    out.pop("lat", None)
    out.pop("lon", None)
    return out


def encode(body: dict) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def etag(raw: bytes) -> str:
    """A strong validator of the exact body (the same for gzip: Vary says so)."""
    return '"m2-' + hashlib.blake2b(raw, digest_size=12).hexdigest() + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    if not if_none_match:
        return False
    return any(t.strip().removeprefix("W/") in (tag, "*") for t in if_none_match.split(","))


def wants_gzip(accept_encoding: str | None) -> bool:
    """gzip listed in Accept-Encoding and not refused with q=0."""
    for part in (accept_encoding or "").lower().split(","):
        name, *params = [p.strip() for p in part.split(";")]
        if name == "gzip":
            for p in params:
                if p.startswith("q="):
                    try:
                        return float(p[2:]) > 0
                    except ValueError:
                        return False
            return True
    return False


def compress(raw: bytes) -> bytes:
    return gzip.compress(raw, GZIP_LEVEL, mtime=0)
