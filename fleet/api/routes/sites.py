from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from fleet.api.deps import CurrentUser, Operator, SessionDep, business_scope, check_business
from fleet.api.schemas import SiteIn, SiteOut, SitePatch
from fleet.core import errors
from fleet.models import Site
from fleet.services import audit, control, registry

router = APIRouter(prefix="/sites", tags=["sites"])


def check_rules(rules: list) -> list:
    """Shape check of the rule list (docs/protocol.md section 8); the device
    validates every parameter again and denies with RULE_ERROR on a bad one."""
    out = []
    for i, (rtype, params) in enumerate(rules):
        if not 1 <= rtype <= 12:
            raise errors.BadRequest(f"rule {i}: type must be 1..12", code="BAD_RULES")
        if not all(isinstance(k, str) and k.isdigit() for k in params):
            raise errors.BadRequest(f"rule {i}: parameter keys are digit strings", code="BAD_RULES")
        out.append([rtype, params])
    return out


@router.get("", response_model=list[SiteOut])
def list_sites(user: CurrentUser, db: SessionDep, business_id: str | None = None) -> list:
    q = select(Site).order_by(Site.id)
    scope = business_scope(user)
    if scope is not None:
        q = q.where(Site.business_id == scope)
    if business_id is not None:
        q = q.where(Site.business_id == business_id)
    return list(db.scalars(q))


@router.post("", response_model=SiteOut, status_code=201)
def create_site(body: SiteIn, user: Operator, db: SessionDep) -> Site:
    registry.get_business(db, body.business_id)
    site = Site(**{**body.model_dump(), "rules": check_rules(body.rules),
                   "formats": sorted(set(body.formats)) if body.formats else None})
    db.add(site)
    db.flush()
    audit.record(db, user.username, "site.create", "site", site.id, business_id=site.business_id)
    return site


@router.get("/{site_id}", response_model=SiteOut)
def get_site(site_id: int, user: CurrentUser, db: SessionDep) -> Site:
    site = registry.get_site(db, site_id)
    check_business(user, site.business_id)
    return site


@router.patch("/{site_id}", response_model=SiteOut)
def update_site(site_id: int, body: SitePatch, user: Operator, db: SessionDep) -> Site:
    site = registry.get_site(db, site_id)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("rules") is not None:
        changes["rules"] = check_rules(body.rules)
    if changes.get("formats") is not None:
        changes["formats"] = sorted(set(body.formats))
    for k, v in changes.items():
        setattr(site, k, v)
    audit.record(db, user.username, "site.update", "site", site.id, fields=sorted(changes))
    control.enqueue_site_config(db, site)
    return site


@router.post("/{site_id}/publish", response_model=SiteOut, summary="Push the site configuration again")
def publish(site_id: int, user: Operator, db: SessionDep) -> Site:
    site = registry.get_site(db, site_id)
    control.enqueue_site_config(db, site)
    audit.record(db, user.username, "site.publish", "site", site.id, version=site.config_version)
    return site
