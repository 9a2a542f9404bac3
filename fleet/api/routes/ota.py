"""Firmware releases and rollout campaigns (issue 14) over the API: the same
services and the same JSON as `greengate fleet release|campaign ... --json`
(fleet/cli_ota.py) and the /ui/firmware pages.

District readers (admin, operator, viewer) read; a business manager has no
fleet-wide firmware view (403 ROLE), as on the dashboard. Only an admin
pauses, resumes or cancels; each is a fleet.services.ota call, so it takes
the campaign's row lock like the engine and is in the audit log under the
caller's name.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from fleet.api.deps import Admin, RequireRole, SessionDep
from fleet.core import errors
from fleet.models import User
from fleet.services import ota, releases

router = APIRouter(tags=["firmware"])

Reader = Annotated[User, RequireRole("admin", "operator", "viewer")]
MAX_DEVICES = 10_000  # per-gate rows in one answer; page with offset beyond


@router.get("/releases", summary="Firmware releases the fleet holds, newest first "
                                 "(as `greengate fleet release list --json`)")
def list_releases(_: Reader, db: SessionDep) -> list[dict]:
    return [releases.summary(r) for r in releases.list_releases(db)]


@router.get("/campaigns", summary="Rollout campaigns, newest first, with per-wave progress "
                                  "(as `greengate fleet campaign list --json`)")
def list_campaigns(_: Reader, db: SessionDep, limit: int = Query(200, ge=1, le=1000)) -> list[dict]:
    return [ota.summary(db, c) for c in ota.list_campaigns(db)[:limit]]


def _status(status: str | None) -> str | None:
    if status is None or status == "":
        return None
    if status not in ota.STATUSES:
        raise errors.BadRequest(f"trạng thái phải là một trong / status must be one of "
                                f"{', '.join(ota.STATUSES)}", code="BAD_STATUS")
    return status


@router.get("/campaigns/{campaign_id}",
            summary="One campaign: per-wave progress and each gate's status "
                    "(as `greengate fleet campaign status ID --devices --json`)")
def campaign(campaign_id: int, _: Reader, db: SessionDep, status: str | None = None,
             limit: int = Query(1000, ge=1, le=MAX_DEVICES), offset: int = Query(0, ge=0, le=2**31 - 1)) -> dict:
    c = _get(db, campaign_id)
    out = ota.summary(db, c)
    out["device_status"] = ota.device_rows(db, c.id, _status(status), limit, offset)
    return out


def _get(db, campaign_id: int):  # noqa: ANN001, ANN202
    if not 0 < campaign_id < 2**31:  # ids are 32-bit: anything else is no campaign (not a DB error)
        raise errors.NotFound(f"không có chiến dịch {campaign_id} / no campaign {campaign_id}",
                              code="CAMPAIGN_NOT_FOUND")
    return ota.get(db, campaign_id)


def _steer(verb, db, campaign_id: int, user: User) -> dict:  # noqa: ANN001
    _get(db, campaign_id)
    c = verb(db, campaign_id, user.username)
    db.flush()
    return ota.summary(db, c)


@router.post("/campaigns/{campaign_id}/pause",
             summary="running -> paused: no new offers; offers no gate acted on are withdrawn")
def pause(campaign_id: int, user: Admin, db: SessionDep) -> dict:
    return _steer(ota.pause, db, campaign_id, user)


@router.post("/campaigns/{campaign_id}/resume",
             summary="paused or halted -> running (a halted campaign's failures so far are accepted)")
def resume(campaign_id: int, user: Admin, db: SessionDep) -> dict:
    return _steer(ota.resume, db, campaign_id, user)


@router.post("/campaigns/{campaign_id}/cancel",
             summary="Final: no new offers; gates already updating finish")
def cancel(campaign_id: int, user: Admin, db: SessionDep) -> dict:
    return _steer(ota.cancel, db, campaign_id, user)
