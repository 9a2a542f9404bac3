from __future__ import annotations

from fastapi import APIRouter, Query

from fleet.api.deps import CurrentUser, SessionDep, business_scope, check_business
from fleet.api.schemas import ScanOut
from fleet.services import scans
from greengate.passes import reasons

router = APIRouter(prefix="/scans", tags=["scans"])


@router.get("", response_model=list[ScanOut], summary="Scan events, newest first (id cursor)")
def list_scans(user: CurrentUser, db: SessionDep, business_id: str | None = None,
               site_id: int | None = None, device_id: str | None = None,
               pass_hash: str | None = Query(None, pattern=r"^[0-9a-fA-F]{32}$"),
               since: int | None = None, until: int | None = None,
               before_id: int | None = None, limit: int = Query(100, ge=1, le=1000)) -> list:
    scope = business_scope(user)
    if scope is not None:
        if business_id is not None:
            check_business(user, business_id)
        business_id = scope
    rows = db.scalars(scans.query(business_id, site_id, device_id, pass_hash, since, until, limit,
                                  before_id)).all()
    return [ScanOut.model_validate(r).model_copy(update={"reason_name": reasons.name(r.reason)})
            for r in rows]
