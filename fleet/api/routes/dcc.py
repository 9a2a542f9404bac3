"""EU DCC signer trust list (issue 13): import a DSC list, read what the
gates trust. The same service as `greengate fleet dcc import`."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from fleet.api.deps import Admin, CurrentUser, SessionDep
from fleet.core import errors
from fleet.models import DccSigner
from fleet.services import dcc
from greengate.dcc import trustlist as tl

router = APIRouter(prefix="/dcc", tags=["dcc"])


@router.get("", summary="The current DCC signer list: version, import, signers per country")
def current(_: CurrentUser, db: SessionDep) -> dict:
    row = dcc.current_list(db)
    if row is None:
        return {"version": None, "signers": 0, "countries": {}}
    return {"version": row.id, "source": row.source, "imported_at": row.imported_at,
            "imported_by": row.imported_by, "signers": row.accepted, "refused": row.refused,
            "added": row.added, "removed": row.removed, "countries": row.countries}


@router.get("/signers", summary="Trusted DSCs (no certificate bytes)")
def signers(_: CurrentUser, db: SessionDep, country: str | None = Query(None, pattern=r"^[A-Z]{2}$"),
            limit: int = Query(2000, ge=1, le=20000)) -> list[dict]:
    q = select(DccSigner).where(DccSigner.active.is_(True)).order_by(DccSigner.country, DccSigner.kid)
    if country:
        q = q.where(DccSigner.country == country)
    return [{"kid": r.kid, "country": r.country, "alg": dcc.ALG_NAME.get(r.alg), "types": r.types,
             "not_before": r.not_before, "not_after": r.not_after, "subject": r.subject,
             "version": r.version} for r in db.scalars(q.limit(limit))]


@router.post("/import", status_code=201,
             summary="Import a DSC trust list (the EU gateway's JSON form, raw request body)")
async def import_list(request: Request, user: Admin, source: str = Query("api", max_length=200)) -> dict:
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > tl.MAX_FILE:
            raise errors.BadRequest(f"trust list over {tl.MAX_FILE} bytes / danh sách quá lớn",
                                    code="DCC_TOO_LARGE")

    def run() -> dict:
        with request.app.state.sessions() as db:
            try:
                report = dcc.import_trustlist(db, bytes(data), source, user.username)
                db.commit()
            except BaseException:
                db.rollback()
                raise
            return report.as_dict()
    return await run_in_threadpool(run)
