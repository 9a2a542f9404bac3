"""One version number per list, the same on every page.

Two numbers travel with each control list, and pages used to print whichever
was at hand ("Config 9 / published v5", a revocation list "v8" beside rows
v1, v2):

- the **message version**: the control outbox id, signed into the message
  (docs/protocol.md 5). Gates report it as applied (state key 3; the DCC
  signer table, kind 7, in state key 16); it grows on
  every re-signing (every 12 h) even when nothing in the list changed, so it
  is what drift is judged by (has the gate applied the newest message?);
- the **list version**: what operators change and see: a site's configuration
  counter (Site.config_version, body field `site_version`), the revocation
  list version (Revocation.version, body field `list_version`) and the DCC
  signer list version (DccList.id, body field `list_version`).

Pages show list versions only. This module turns the message versions a gate
reports, and the newest published ones, into list versions by reading the
bodies of those outbox rows (a primary-key lookup per shown gate).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from fleet.broker_bridge import topics
from fleet.models import ControlOutbox, Device

from . import control

# outbox kind -> body field holding the list version it carries
LIST_FIELD = {"config": "site_version", "revocation": "list_version", "dcc": "list_version"}


@dataclass(frozen=True)
class ListState:
    """One gate and one list: the list versions it runs and should run."""

    applied: int | None   # None: nothing applied (or a message the fleet does not know)
    desired: int | None   # None: nothing published to this gate yet
    drift: bool           # it has not applied the newest published message
    resign_only: bool     # ... but that message carries the same list version (re-signed)


def list_versions(db: Session, message_ids: list[int | None], kind: str | None = None) -> dict[int, int | None]:
    """{message version: the list version its body carries}, one query.
    `kind` (an outbox kind): a message of another kind maps to None (a gate
    reporting a revocation message as its DCC table holds no DCC list)."""
    messages = _messages(db, message_ids)
    return _of_kind(messages, kind) if kind else {mid: v for mid, (_k, v) in messages.items()}


def _messages(db: Session, message_ids: list[int | None]) -> dict[int, tuple[str, int | None]]:
    """{message version: (outbox kind, the list version its body carries)}."""
    # outbox ids are 32-bit; anything else (a hostile report) matches no row
    ids = sorted({i for i in message_ids if type(i) is int and 0 < i < 1 << 31})
    out: dict[int, tuple[str, int | None]] = {}
    for start in range(0, len(ids), 500):  # bounded IN lists
        for mid, kind, body in db.execute(
                select(ControlOutbox.id, ControlOutbox.kind, ControlOutbox.body)
                .where(ControlOutbox.id.in_(ids[start:start + 500]))):
            value = (body or {}).get(LIST_FIELD.get(kind, ""))
            out[mid] = (kind, value if type(value) is int else None)
    return out


def _of_kind(messages: dict[int, tuple[str, int | None]], kind: str) -> dict[int, int | None]:
    return {mid: (v if k == kind else None) for mid, (k, v) in messages.items()}


def state(applied_msg: int | None, desired_msg: int | None,
          lists: dict[int, int | None]) -> ListState:
    drift = desired_msg is not None and (applied_msg or 0) < desired_msg
    applied = lists.get(applied_msg) if applied_msg else None
    desired = lists.get(desired_msg) if desired_msg else None
    return ListState(applied=applied, desired=desired, drift=drift,
                     resign_only=drift and applied is not None and applied == desired)


def revocation_published(db: Session) -> int | None:
    """Message version of the newest published revocation list."""
    return control.desired_version(db, topics.REVOCATION)


def current_revocation(db: Session) -> dict:
    """The revocation list as the Revocations page and the overview show it:
    `version` = the list's version (newest row), `published` = the list
    version the gates are being sent (lags while the bridge has not published)."""
    msg = revocation_published(db)
    published = list_versions(db, [msg]).get(msg) if msg else None
    return {"version": control.revocation_version(db), "published": published or 0}


def dcc_published(db: Session) -> int | None:
    """Message version of the newest published DCC signer table (kind 7)."""
    return control.desired_version(db, topics.DCC)


def current_dcc(db: Session) -> dict:
    """The DCC signer list as the /ui/dcc page shows it: `version` = the newest
    imported list (DccList.id), `published` = the list version the gates are
    being sent, `message` = that message's id (gates' drift is judged by it)."""
    from fleet.models import DccList

    msg = dcc_published(db)
    published = list_versions(db, [msg], "dcc").get(msg) if msg else None
    return {"version": db.scalar(select(func.max(DccList.id))) or 0, "published": published or 0,
            "message": msg}


def dcc_state(applied_msg: int | None, desired_msg: int | None, lists: dict[int, int | None]) -> ListState:
    """Like `state`, except that a gate reporting no DCC table (state key 16
    absent: older firmware, or none applied yet) is not counted as drift,
    as the DCC_DRIFT check does not count it."""
    if applied_msg is None:
        return ListState(applied=None, desired=lists.get(desired_msg) if desired_msg else None,
                         drift=False, resign_only=False)
    return state(applied_msg, desired_msg, lists)


def for_devices(db: Session, devices: list[Device],
                desired_config: dict[str, int | None] | None = None) -> dict[str, dict[str, ListState]]:
    """{device id: {"config", "revocation", "dcc": ListState}} for a page
    of gates. `desired_config` (device id -> message version of the newest
    configuration published to it) may come from the page's own query."""
    if desired_config is None:
        desired_config = {d.id: control.desired_version(db, topics.config(d.id)) for d in devices}
    rev_msg = revocation_published(db)
    dcc_msg = dcc_published(db)
    messages = _messages(db, [rev_msg, dcc_msg, *desired_config.values(),
                              *(d.config_version for d in devices),
                              *(d.revocation_version for d in devices),
                              *(d.dcc_version for d in devices)])
    # each list reads only its own kind's messages
    config, rev, dcc = (_of_kind(messages, k) for k in ("config", "revocation", "dcc"))
    return {d.id: {"config": state(d.config_version, desired_config.get(d.id), config),
                   "revocation": state(d.revocation_version, rev_msg, rev),
                   "dcc": dcc_state(d.dcc_version, dcc_msg, dcc)}
            for d in devices}
