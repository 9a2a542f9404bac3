"""EU DCC signer trust list (issue 13): import a DSC list, keep its history,
hand the current signers to the control plane.

An import that changes the set of signers becomes a new list version (a
`DccList` row, its id is the version the device tables carry); one that
changes nothing records an audit entry and keeps the version. DSCs that
expired before the import time are refused (EXPIRED): a gate could never
use them, and the table's flash is better spent on live ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from fleet.core import errors
from fleet.models import DccList, DccSigner, utcnow
from greengate.dcc import trustlist as tl

from . import audit

Progress = Callable[[int, int], None]
ALG_NAME = {tl.ALG_ES256: "es256", tl.ALG_PS256: "ps256"}
SOURCE_MAX = 200


@dataclass
class ImportReport:
    version: int               # list version after the import
    changed: bool              # False: same signers as before, no new version
    source: str
    accepted: int
    refused: list[tl.Refused]
    added: list[str]           # hex kids
    removed: list[str]
    countries: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"version": self.version, "changed": self.changed, "source": self.source,
                "accepted": self.accepted, "refused": len(self.refused),
                "added": self.added, "removed": self.removed, "countries": self.countries,
                "refusals": [{"kid": r.kid_b64, "country": r.country, "code": r.code, "detail": r.detail}
                             for r in self.refused]}


def to_signer(row: DccSigner) -> tl.Signer:
    return tl.Signer(bytes.fromhex(row.kid), row.alg, row.key, row.e, row.not_before, row.not_after,
                     row.country, row.types, row.der, row.subject, row.issuer)


def active_signers(db: Session) -> list[DccSigner]:
    return list(db.scalars(select(DccSigner).where(DccSigner.active.is_(True)).order_by(DccSigner.kid)))


def signers_of(db: Session, kids: list[str]) -> list[DccSigner]:
    """The rows of a list version's kids (rows are never deleted)."""
    wanted = set(kids)
    return [r for r in db.scalars(select(DccSigner).order_by(DccSigner.kid)) if r.kid in wanted]


def current_list(db: Session) -> DccList | None:
    return db.scalar(select(DccList).order_by(DccList.id.desc()).limit(1))


def _countries(signers: list[tl.Signer], refused: list[tl.Refused]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for s in signers:
        c = out.setdefault(s.country, {"es256": 0, "ps256": 0, "refused": 0})
        c[ALG_NAME[s.alg]] += 1
    for r in refused:
        out.setdefault(r.country or "??", {"es256": 0, "ps256": 0, "refused": 0})["refused"] += 1
    return dict(sorted(out.items()))


def _check(data: bytes, now: int, progress: Progress | None) -> tuple[list[tl.Signer], list[tl.Refused]]:
    try:
        items = tl.read_entries(data)
    except tl.DscError as e:
        raise errors.BadRequest(f"trust list refused / danh sách bị từ chối: {e.detail}",
                                code=f"DCC_{e.code}") from None
    signers: list[tl.Signer] = []
    refused: list[tl.Refused] = []
    for n, r in enumerate(tl.check_entries(items, now=now), 1):
        (signers if isinstance(r, tl.Signer) else refused).append(r)
        if progress:
            progress(n, len(items))
    return signers, refused


def _apply(db: Session, signers: list[tl.Signer], version: int, source: str, at: dt.datetime) -> None:
    """Rows for the new set: new kids inserted, listed ones (re)activated,
    the rest deactivated."""
    new = {s.kid.hex(): s for s in signers}
    for row in db.scalars(select(DccSigner)):
        s = new.pop(row.kid, None)
        if s is None:
            if row.active:
                row.active, row.version = False, version
            continue
        if not row.active or row.country != s.country:
            row.active, row.country, row.version = True, s.country, version
            row.source, row.imported_at = source, at
    db.add_all(DccSigner(kid=kid, alg=s.alg, key=s.key, e=s.e, not_before=s.not_before,
                         not_after=s.not_after, country=s.country, types=s.types, der=s.der,
                         subject=s.subject[:500], issuer=s.issuer[:500], source=source,
                         imported_at=at, active=True, version=version)
               for kid, s in sorted(new.items()))


def import_trustlist(db: Session, data: bytes, source: str, actor: str, *, now: int | None = None,
                     progress: Progress | None = None, allow_empty: bool = False) -> ImportReport:
    """Replace the trusted DSCs with the accepted ones of this list; a new
    list version (and its kind-7 message) if the set changed."""
    at = utcnow()
    now = int(at.timestamp()) if now is None else now
    source = (source or "import")[:SOURCE_MAX]
    signers, refused = _check(data, now, progress)
    if not signers and not allow_empty:
        raise errors.BadRequest("no usable signer in the list: nothing imported / danh sách không có "
                                "chứng thư ký hợp lệ nào: không nhập", code="DCC_EMPTY")
    before = {r.kid for r in active_signers(db)}
    after = {s.kid.hex() for s in signers}
    current_countries = {r.kid: r.country for r in active_signers(db)}
    changed_country = any(current_countries.get(s.kid.hex(), s.country) != s.country for s in signers)
    added, removed = sorted(after - before), sorted(before - after)
    countries = _countries(signers, refused)
    last = current_list(db)
    changed = bool(added or removed or changed_country or last is None)
    if changed:
        row = DccList(source=source, imported_by=actor, imported_at=at, accepted=len(signers),
                      refused=len(refused), added=len(added), removed=len(removed), kids=sorted(after),
                      countries=countries, refusals=[[r.kid_b64, r.country, r.code] for r in refused])
        db.add(row)
        db.flush()
        version = row.id
        _apply(db, signers, version, source, at)
        db.flush()
        from . import control  # control imports this module for the table contents

        control.enqueue_dcc_update(db)
    else:
        version = last.id
    audit.record(db, actor, "dcc.import", "dcc_list", version, source=source, accepted=len(signers),
                 refused=len(refused), added=len(added), removed=len(removed), changed=changed)
    return ImportReport(version, changed, source, len(signers), refused, added, removed, countries)


# -- what the dashboard shows ----------------------------------------------------------------

def _country_rows(signers: list[DccSigner], now: int) -> list[dict]:
    rows: dict[str, dict] = {}
    for s in signers:
        c = rows.setdefault(s.country, {"country": s.country, "es256": 0, "ps256": 0, "expired": 0,
                                        "types": {"v": 0, "t": 0, "r": 0, "all": 0},
                                        "not_before": s.not_before, "not_after": s.not_after})
        c[ALG_NAME.get(s.alg, "es256")] += 1
        c["expired"] += s.not_after < now
        for k in s.types or ("all",):  # "" = no usage restriction
            c["types"][k] += 1
        c["not_before"] = min(c["not_before"], s.not_before)
        c["not_after"] = max(c["not_after"], s.not_after)
    return [rows[k] for k in sorted(rows)]


def gate_sync(db: Session, version: int | None) -> dict:
    """Gates reporting a DCC table (state key 16): how many hold the kind-7
    message `version` (or a newer one), and the ones behind (up to 50, oldest
    first), each with `list` (a versions.ListState as a dict): the list
    versions it holds and should hold, as every page shows them."""
    from fleet.models import Device

    from . import versions

    reporting = list(db.scalars(select(Device).where(Device.status == "active",
                                                     Device.dcc_version.is_not(None))))
    behind = sorted((d for d in reporting if version and d.dcc_version < version),
                    key=lambda d: (d.dcc_version, d.id))
    shown = behind[:50]
    lists = versions.list_versions(db, [version, *(d.dcc_version for d in shown)], "dcc")
    return {"reporting": len(reporting), "in_sync": len(reporting) - len(behind),
            "behind": [{"id": d.id, "version": d.dcc_version, "key_count": d.dcc_keys,
                        "list": asdict(versions.dcc_state(d.dcc_version, version, lists))} for d in shown]}


def dashboard(db: Session, now: int, country: str | None = None) -> dict:
    """The DCC page: current list version and its import, trusted signers by
    country (count by key type, usage types, validity), gates in sync, and
    one country's signers when asked."""
    from . import versions

    signers = active_signers(db)
    current = versions.current_dcc(db)
    message = current["message"]
    out = {"list": current_list(db), "countries": _country_rows(signers, now), "total": len(signers),
           "es256": sum(s.alg == tl.ALG_ES256 for s in signers), "now": now, "message": message,
           "current": current, "sync": gate_sync(db, message), "signers": []}
    if country:
        out["signers"] = [s for s in signers if s.country == country]
    return out
