"""F0 workflow: mark -> revoke + exposure list -> suspend -> (businesses) reinstate."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from fleet.api.deps import Operator, SessionDep, SettingsDep
from fleet.api.schemas import F0In, F0Out
from fleet.core import errors
from fleet.models import F0Case
from fleet.services import f0

router = APIRouter(prefix="/f0", tags=["F0 workflow"])


def _case(db, case_id: int) -> F0Case:  # noqa: ANN001
    c = db.get(F0Case, case_id)
    if c is None:
        raise errors.NotFound(f"F0 case {case_id} not found")
    return c


@router.post("", response_model=F0Out, status_code=201,
             summary="Mark a pass F0: revoke it everywhere and compute the exposure list")
def mark(body: F0In, user: Operator, db: SessionDep, settings: SettingsDep) -> F0Case:
    return f0.mark_f0(db, body.pass_hash, user.username, body.days or settings.exposure_days,
                      body.hours or settings.exposure_hours)


@router.get("", response_model=list[F0Out])
def list_cases(_: Operator, db: SessionDep) -> list:
    return list(db.scalars(select(F0Case).order_by(F0Case.id.desc()).limit(200)))


@router.get("/{case_id}", response_model=F0Out)
def get_case(case_id: int, _: Operator, db: SessionDep) -> F0Case:
    return _case(db, case_id)


@router.post("/{case_id}/suspend", response_model=F0Out,
             summary="Suspend every business on the exposure list (their gates show SUSPENDED)")
def suspend(case_id: int, user: Operator, db: SessionDep) -> F0Case:
    c = _case(db, case_id)
    f0.suspend_affected(db, c, user.username)
    return c


@router.post("/{case_id}/close", response_model=F0Out)
def close(case_id: int, user: Operator, db: SessionDep) -> F0Case:
    return f0.close_case(db, _case(db, case_id), user.username)
