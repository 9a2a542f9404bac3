from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import select

from fleet.api.deps import CurrentUser, Manager, SessionDep, SettingsDep, business_scope, check_business
from fleet.api.schemas import CardIn, IssuedPass, PassIn, PassOut
from fleet.core import errors
from fleet.models import Pass
from fleet.services import passes as svc

router = APIRouter(prefix="/passes", tags=["passes"])


@router.post("", response_model=IssuedPass, status_code=201,
             summary="Issue a pass; the QR text is returned once and not stored")
def issue(body: PassIn, user: Manager, db: SessionDep, settings: SettingsDep) -> IssuedPass:
    if user.role == "manager":
        # A business manager issues worker passes for its own business only.
        if body.role != 1:
            raise errors.Forbidden("managers issue worker passes only", code="ROLE")
        check_business(user, body.business_id)
    row, text = svc.issue_pass(db, settings, svc.PassRequest(**body.model_dump()), user.username)
    return IssuedPass(**PassOut.model_validate(row).model_dump(), qr_text=text)


@router.get("", response_model=list[PassOut])
def list_passes(user: CurrentUser, db: SessionDep, business_id: str | None = None,
                limit: int = 100) -> list:
    q = select(Pass).order_by(Pass.id.desc()).limit(max(1, min(limit, 1000)))
    if (scope := business_scope(user)) is not None:
        q = q.where(Pass.business_id == scope)
    if business_id is not None:
        q = q.where(Pass.business_id == business_id)
    return list(db.scalars(q))


def _get(db, user, pass_hash: str) -> Pass:  # noqa: ANN001
    p = db.scalar(select(Pass).where(Pass.pass_hash == pass_hash.lower()))
    if p is None:
        raise errors.NotFound("pass not found / không tìm thấy thẻ")
    if user.role == "manager":
        check_business(user, p.business_id)
    return p


@router.get("/{pass_hash}", response_model=PassOut)
def get_pass(pass_hash: str, user: CurrentUser, db: SessionDep) -> Pass:
    return _get(db, user, pass_hash)


@router.post("/{pass_hash}/card.pdf", summary="Printable card (credit-card size PDF) with the QR",
             responses={200: {"content": {"application/pdf": {}}}})
def card(pass_hash: str, body: CardIn, user: Manager, db: SessionDep) -> Response:
    p = _get(db, user, pass_hash)
    return Response(svc.card_pdf(p, body.qr_text), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="pass-{p.pass_hash[:8]}.pdf"'})
