from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from fleet.api.deps import CurrentUser, Operator, SessionDep
from fleet.api.schemas import DccRevocationIn, LiftIn, RevocationIn, RevocationOut
from fleet.models import Revocation
from fleet.services import revocations

router = APIRouter(prefix="/revocations", tags=["revocations"])


@router.get("", response_model=list[RevocationOut])
def list_revocations(_: CurrentUser, db: SessionDep, since_version: int = 0,
                     limit: int = 1000) -> list:
    return list(db.scalars(select(Revocation).where(Revocation.version > since_version)
                           .order_by(Revocation.version).limit(max(1, min(limit, 10000)))))


@router.post("", response_model=RevocationOut, status_code=201,
             summary="Revoke a pass: a signed delta reaches every gate")
def revoke(body: RevocationIn, user: Operator, db: SessionDep) -> Revocation:
    return revocations.revoke(db, body.pass_hash, body.reason, user.username)


@router.post("/dcc", response_model=list[RevocationOut], status_code=201,
             summary="Revoke an EU DCC by its UCI: its UCI and COUNTRYCODEUCI hashes reach every gate")
def revoke_dcc(body: DccRevocationIn, user: Operator, db: SessionDep) -> list:
    return revocations.revoke_dcc(db, body.uci, body.country, body.reason, user.username)


@router.post("/{pass_hash}/lift", response_model=RevocationOut,
             summary="Lift a revocation: the next signed delta removes it on every gate")
def lift(pass_hash: str, body: LiftIn, user: Operator, db: SessionDep) -> Revocation:
    return revocations.lift(db, pass_hash, body.reason, user.username, body.note)
