from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from fleet.api.deps import Admin, CurrentUser, SessionDep
from fleet.api.schemas import IssuerIn, IssuerOut
from fleet.models import Issuer
from fleet.services import registry

router = APIRouter(prefix="/issuers", tags=["trust list"])


@router.get("", response_model=list[IssuerOut])
def list_issuers(_: CurrentUser, db: SessionDep) -> list:
    return list(db.scalars(select(Issuer).order_by(Issuer.id)))


@router.post("", response_model=IssuerOut, status_code=201,
             summary="Trust a pass issuer key (pushes a new signed trust list)")
def add_issuer(body: IssuerIn, user: Admin, db: SessionDep) -> Issuer:
    return registry.add_issuer(db, body.iss, body.public_key.lower(), user.username, body.note)
