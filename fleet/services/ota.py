"""Rollout campaigns of signed firmware releases (issue 14, docs/fleet.md "Firmware updates").

A campaign offers one release to a target set of gates in waves (cumulative
percentages, e.g. [1, 10, 100]). The engine (`tick`, run every few seconds by
`serve`'s background loop, any number of fleet processes at once) moves each
running campaign forward:

1. halt it when the failures + rollbacks of any wave so far exceed
   `failure_threshold_pct` of that wave (minus what an operator accepted
   when resuming a halted campaign);
2. when every gate of the current wave has finished (done, rolled back,
   failed), went silent for `stall_s` or is offline and never started,
   wait `pause_s`, then open the next wave; after the last one the
   campaign is done;
3. offer the release to pending online gates of the opened waves, at most
   `max_in_flight` gates updating at once.

An offer is a control message (kind 8, fleet-signed, device scope) on the
gate's own `gg/v1/dev/{id}/ota`, NOT retained: it goes to gates that are
online (device state), and again to one that stays silent for 10 minutes
(a dropped connection loses a clean-session message). Offline gates wait in
pending and do not hold their wave back; they get the offer when they come
back while the campaign runs. Pause, halt and cancel stop sending: offers no
gate acted on go back to pending; a gate already updating finishes and is
counted. Gates report in state key 15 [release, phase, percent, reason,
campaign] (`apply_report`).

Wave membership is fixed when the campaign is made: gates are ranked by
SHA-256 of their id (`rank_key`), so a percentage always picks the same
gates, whatever the release (a stable canary group).

Several processes: every transition runs with the campaign row locked
(PostgreSQL SELECT ... FOR UPDATE; SQLite: a no-op UPDATE takes the write
lock first) and re-reads its state, so two ticks never send the same offer
twice and a pause cannot cross a wave change. Per-gate status changes are
conditional UPDATEs, so a gate's report is never overwritten by a tick.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

import cbor2
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from fleet.broker_bridge import topics
from fleet.core import errors
from fleet.core.db import write_lock
from fleet.models import (Business, Campaign, CampaignDevice, ControlOutbox, Device, Release, Site,
                          utcnow)
from fleet.services import alerts, audit, control, releases
from greengate.passes import reasons

ENGINE = "fleet:ota"  # actor of the automatic transitions in the audit log
STATES = ("draft", "running", "paused", "halted", "cancelled", "done")
# state key 15 phase -> per-gate status (0 idle changes nothing)
PHASES = {1: "downloading", 2: "verifying", 3: "switching", 4: "probation", 5: "done",
          6: "rolled_back", 7: "failed"}
STATUSES = ("pending", "offered", *PHASES.values())
ACTIVE = ("offered", "downloading", "verifying", "switching", "probation")
FINAL = ("done", "rolled_back", "failed")
BAD = ("rolled_back", "failed")
SELECTORS = ("all", "ward", "business", "devices", "percent")
MAX_WAVES = 10
BAD_TARGET = ("đối tượng: all, ward:TÊN, business:MÃ, devices:MÃ,MÃ hoặc percent:N / "
              "target: all, ward:NAME, business:ID, devices:ID,ID or percent:N")
OTA_REPLAY = reasons.code("OTA_REPLAY")  # the gate already runs this release
REOFFER_AFTER = dt.timedelta(minutes=10)  # an offer no report followed is sent again


# -- target and waves --------------------------------------------------------------------

def rank_key(device_id: str) -> bytes:
    return hashlib.sha256(b"greengate-ota-rank:" + device_id.encode()).digest()[:8]


def in_percent(device_id: str, percent: float) -> bool:
    """The gate is in the first `percent` % of the fleet, by its rank key."""
    return int.from_bytes(rank_key(device_id), "big") * 100 < percent * (1 << 64)


def wave_cuts(n: int, waves: list[float]) -> list[int]:
    """Cumulative gate counts at the end of each wave (the first wave has at
    least one gate, the last has them all)."""
    cuts, prev = [], 0
    for i, p in enumerate(waves):
        cut = n if i == len(waves) - 1 else min(n, max(prev, math.ceil(n * p / 100), 1 if n else 0))
        cuts.append(cut)
        prev = cut
    return cuts


def check_waves(waves: object) -> list[float]:
    ok = (isinstance(waves, list) and 0 < len(waves) <= MAX_WAVES
          and all(type(w) in (int, float) and 0 < w <= 100 for w in waves)
          and all(a < b for a, b in zip(waves, waves[1:])) and waves[-1] == 100)
    if not ok:
        raise errors.BadRequest("các đợt: 1..10 tỉ lệ tăng dần, kết thúc ở 100, ví dụ 1,10,100 / "
                                "waves: 1..10 increasing percentages ending at 100, e.g. 1,10,100", code="BAD_WAVES")
    return [int(w) if float(w).is_integer() else float(w) for w in waves]


def target_devices(db: Session, selector: dict) -> list[str]:
    kind, value = selector.get("kind"), selector.get("value")
    active = select(Device.id).where(Device.status == "active")
    if kind == "all":
        q = active
    elif kind == "ward" and isinstance(value, str) and value:
        q = active.join(Site, Device.site_id == Site.id).join(Business).where(Business.ward == value)
    elif kind == "business" and isinstance(value, str) and value:
        q = active.join(Site, Device.site_id == Site.id).where(Site.business_id == value)
    elif kind == "devices" and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        found = set(db.scalars(active.where(Device.id.in_(value))))
        missing = sorted(set(value) - found)
        if missing:
            raise errors.NotFound(f"thiết bị không tồn tại hoặc đã ngừng / unknown or retired devices: "
                                  f"{', '.join(missing[:10])}", code="UNKNOWN_DEVICE")
        return sorted(found)
    elif kind == "percent" and type(value) in (int, float) and 0 < value <= 100:
        return sorted(d for d in db.scalars(active) if in_percent(d, value))
    else:
        raise errors.BadRequest(BAD_TARGET, code="BAD_TARGET")
    return sorted(db.scalars(q))


def parse_target(text: str) -> dict:
    """CLI / form text -> selector: all, ward:Tân Phong, business:B1,
    devices:gg-...,gg-..., percent:20."""
    kind, _, value = text.partition(":")
    kind = kind.strip()
    if kind == "all":
        return {"kind": "all", "value": None}
    if kind == "devices":
        return {"kind": kind, "value": [v.strip() for v in value.split(",") if v.strip()]}
    if kind == "percent":
        try:
            return {"kind": kind, "value": float(value)}
        except ValueError:
            pass
    if kind in ("ward", "business"):
        return {"kind": kind, "value": value.strip()}
    raise errors.BadRequest(BAD_TARGET, code="BAD_TARGET")


# -- making and steering campaigns -------------------------------------------------------

def create(db: Session, release_number: int, selector: dict, waves: list, actor: str, *,
           name: str = "", pause_s: int = 3600, failure_threshold_pct: float = 2.0,
           max_in_flight: int = 200, stall_s: int = 6 * 3600) -> Campaign:
    rel = releases.get(db, release_number)
    waves = check_waves(waves)
    if not (0 <= pause_s <= 30 * 86400 and 0 <= failure_threshold_pct <= 100
            and 1 <= max_in_flight <= 100_000 and 60 <= stall_s <= 30 * 86400 and len(name) <= 100):
        raise errors.BadRequest("tham số không hợp lệ: nghỉ 0..30 ngày, ngưỡng 0..100 %, tối đa 1..100000, "
                                "im lặng 60 giây..30 ngày / pause 0..30 days, threshold 0..100 %, "
                                "max in flight 1..100000, stall 60 s..30 days", code="BAD_CAMPAIGN")
    ids = target_devices(db, selector)
    if not ids:
        raise errors.BadRequest("đối tượng không có thiết bị nào đang hoạt động / the target has no active gate",
                                code="NO_DEVICES")
    c = Campaign(release_id=rel.id, name=name, selector=selector, waves=waves, pause_s=pause_s,
                 failure_threshold_pct=failure_threshold_pct, max_in_flight=max_in_flight,
                 stall_s=stall_s, state="draft", accepted_failures={}, created_by=actor)
    db.add(c)
    db.flush()
    ranked = sorted(ids, key=lambda d: (rank_key(d), d))
    cuts = wave_cuts(len(ranked), waves)
    rows, wave = [], 0
    for pos, dev in enumerate(ranked):
        while pos >= cuts[wave]:
            wave += 1
        rows.append({"campaign_id": c.id, "device_id": dev, "position": pos, "wave": wave,
                     "status": "pending", "percent": 0, "reason": 0, "offers": 0})
    db.execute(CampaignDevice.__table__.insert(), rows)
    audit.record(db, actor, "ota.campaign.create", "campaign", c.id, release=rel.number,
                 selector=selector, waves=waves, devices=len(ranked), pause_s=pause_s,
                 failure_threshold_pct=failure_threshold_pct, max_in_flight=max_in_flight)
    return c


def lock(db: Session, campaign_id: int) -> Campaign:
    """The campaign row, locked until the transaction ends, freshly read."""
    write_lock(db, Campaign)  # SQLite: before reading
    c = db.scalar(select(Campaign).where(Campaign.id == campaign_id)
                  .with_for_update().execution_options(populate_existing=True))
    if c is None:
        raise errors.NotFound(f"không có chiến dịch {campaign_id} / no campaign {campaign_id}",
                              code="CAMPAIGN_NOT_FOUND")
    return c


def _wrong_state(c: Campaign, verb: str) -> errors.Conflict:
    return errors.Conflict(f"chiến dịch {c.id} đang ở trạng thái {c.state} / campaign {c.id} is "
                           f"{c.state}: cannot {verb}", code="CAMPAIGN_STATE", state=c.state)


def start(db: Session, campaign_id: int, actor: str, now: dt.datetime | None = None) -> Campaign:
    from greengate.ota.offer import offer_body

    now = now or utcnow()
    c = lock(db, campaign_id)
    if c.state != "draft":
        raise _wrong_state(c, "start")
    rel = db.get(Release, c.release_id)
    body = offer_body(releases.as_release(db, rel), c.id)
    c.offer_sha256 = control.store_blob(db, "ota-offer", cbor2.dumps(body, canonical=True))
    c.state, c.started_at, c.wave, c.wave_started_at = "running", now, 0, now
    audit.record(db, actor, "ota.campaign.start", "campaign", c.id, release=rel.number)
    advance(db, c, now)
    return c


def pause(db: Session, campaign_id: int, actor: str) -> Campaign:
    c = lock(db, campaign_id)
    if c.state != "running":
        raise _wrong_state(c, "pause")
    c.state = "paused"
    audit.record(db, actor, "ota.campaign.pause", "campaign", c.id, wave=c.wave,
                 withdrawn=withdraw_offers(db, c))
    return c


def resume(db: Session, campaign_id: int, actor: str, now: dt.datetime | None = None) -> Campaign:
    """paused or halted -> running. Resuming a halted campaign accepts the
    failures seen so far: it halts again only on new ones past the threshold."""
    now = now or utcnow()
    c = lock(db, campaign_id)
    if c.state not in ("paused", "halted"):
        raise _wrong_state(c, "resume")
    accepted = None
    if c.state == "halted":
        accepted = {str(w): n["bad"] for w, n in wave_counts(db, c).items()}
        c.accepted_failures = accepted
        c.halt_reason = None
    c.state = "running"
    audit.record(db, actor, "ota.campaign.resume", "campaign", c.id, wave=c.wave,
                 accepted_failures=accepted)
    advance(db, c, now)
    return c


def cancel(db: Session, campaign_id: int, actor: str, now: dt.datetime | None = None) -> Campaign:
    c = lock(db, campaign_id)
    if c.state in ("cancelled", "done"):
        raise _wrong_state(c, "cancel")
    c.state, c.finished_at = "cancelled", now or utcnow()
    audit.record(db, actor, "ota.campaign.cancel", "campaign", c.id, wave=c.wave,
                 withdrawn=withdraw_offers(db, c))
    return c


def get(db: Session, campaign_id: int) -> Campaign:
    c = db.get(Campaign, campaign_id)
    if c is None:
        raise errors.NotFound(f"không có chiến dịch {campaign_id} / no campaign {campaign_id}",
                              code="CAMPAIGN_NOT_FOUND")
    return c


# -- offers ---------------------------------------------------------------------------------

def _offer_row(c: Campaign, release_number: int, device_id: str) -> ControlOutbox:
    return ControlOutbox(kind="ota", topic=topics.ota(device_id), retain=False,
                         body={"device": device_id, "campaign": c.id, "release": release_number,
                               "offer": c.offer_sha256})


def withdraw_offers(db: Session, c: Campaign) -> int:
    """Offers no gate has acted on yet go back to pending: they are not sent
    again (a gate that did get one and starts is still followed: its report
    moves its row on)."""
    return len(db.scalars(update(CampaignDevice)
                          .where(CampaignDevice.campaign_id == c.id, CampaignDevice.status == "offered")
                          .values(status="pending").returning(CampaignDevice.device_id)
                          .execution_options(synchronize_session=False)).all())


def _online(db: Session, ids: list[str]) -> set[str]:
    return set(db.scalars(select(Device.id).where(Device.id.in_(ids), Device.online.is_(True))))


def _send_offers(db: Session, c: Campaign, now: dt.datetime) -> int:
    stale = now - dt.timedelta(seconds=c.stall_s)
    in_flight = db.scalar(select(func.count()).select_from(CampaignDevice).where(
        CampaignDevice.campaign_id == c.id, CampaignDevice.status.in_(ACTIVE),
        CampaignDevice.updated_at >= stale)) or 0
    slots = c.max_in_flight - in_flight
    rel_number = db.scalar(select(Release.number).where(Release.id == c.release_id))
    sent = 0
    if slots > 0:  # offline gates wait in pending: the offer is not kept for them
        ids = db.scalars(select(CampaignDevice.device_id)
                         .join(Device, Device.id == CampaignDevice.device_id).where(
            CampaignDevice.campaign_id == c.id, CampaignDevice.wave <= c.wave,
            CampaignDevice.status == "pending", Device.online.is_(True))
            .order_by(CampaignDevice.position).limit(slots)).all()
        if ids:
            taken = db.scalars(update(CampaignDevice).where(
                CampaignDevice.campaign_id == c.id, CampaignDevice.device_id.in_(ids),
                CampaignDevice.status == "pending")
                .values(status="offered", offered_at=now, updated_at=now,
                        offers=CampaignDevice.offers + 1)
                .returning(CampaignDevice.device_id)
                .execution_options(synchronize_session=False)).all()
            db.add_all([_offer_row(c, rel_number, d) for d in sorted(taken)])
            sent = len(taken)
    # an offer no report followed (lost with a dropped connection): again, to gates online
    silent = db.scalars(select(CampaignDevice.device_id).where(
        CampaignDevice.campaign_id == c.id, CampaignDevice.status == "offered",
        CampaignDevice.offered_at < now - REOFFER_AFTER)).all()
    again = db.scalars(update(CampaignDevice).where(
        CampaignDevice.campaign_id == c.id, CampaignDevice.status == "offered",
        CampaignDevice.device_id.in_(_online(db, list(silent))))
        .values(offered_at=now, offers=CampaignDevice.offers + 1)
        .returning(CampaignDevice.device_id).execution_options(synchronize_session=False)).all() \
        if silent else []
    db.add_all([_offer_row(c, rel_number, d) for d in sorted(again)])
    db.flush()
    return sent


# -- the engine -------------------------------------------------------------------------------

def wave_counts(db: Session, c: Campaign, now: dt.datetime | None = None) -> dict[int, dict]:
    """{wave: {"size", status: n..., "bad", "stalled", "offline"}} for every
    wave ("offline": pending gates that are offline)."""
    out = {w: {"size": 0, "bad": 0, "stalled": 0, "offline": 0, **{s: 0 for s in STATUSES}}
           for w in range(len(c.waves))}
    for wave, n in db.execute(
            select(CampaignDevice.wave, func.count())
            .join(Device, Device.id == CampaignDevice.device_id)
            .where(CampaignDevice.campaign_id == c.id, CampaignDevice.status == "pending",
                   Device.online.is_not(True)).group_by(CampaignDevice.wave)):
        out[wave]["offline"] = n
    for wave, status, n in db.execute(
            select(CampaignDevice.wave, CampaignDevice.status, func.count())
            .where(CampaignDevice.campaign_id == c.id)
            .group_by(CampaignDevice.wave, CampaignDevice.status)):
        out[wave][status] = n
        out[wave]["size"] += n
        if status in BAD:
            out[wave]["bad"] += n
    if now is not None:
        stale = now - dt.timedelta(seconds=c.stall_s)
        for wave, n in db.execute(
                select(CampaignDevice.wave, func.count()).where(
                    CampaignDevice.campaign_id == c.id, CampaignDevice.status.in_(ACTIVE),
                    CampaignDevice.updated_at < stale).group_by(CampaignDevice.wave)):
            out[wave]["stalled"] = n
    return out


def over_threshold(c: Campaign, counts: dict[int, dict]) -> tuple[int, dict] | None:
    """(wave, its counts) of the first opened wave whose failures + rollbacks
    (past those accepted on resume) exceed the threshold."""
    for w in range(c.wave + 1):
        n = counts[w]
        new_bad = n["bad"] - int((c.accepted_failures or {}).get(str(w), 0))
        if n["size"] and new_bad > 0 and new_bad * 100 > c.failure_threshold_pct * n["size"]:
            return w, n
    return None


def _wave_finished(counts: dict[int, dict], upto: int) -> bool:
    """No gate left to offer (offline ones wait) and none updating (silent ones excepted)."""
    return all(counts[w]["pending"] == counts[w]["offline"] and
               sum(counts[w][s] for s in ACTIVE) == counts[w]["stalled"] for w in range(upto + 1))


def advance(db: Session, c: Campaign, now: dt.datetime) -> None:
    """One engine step for a locked, running campaign."""
    if c.state != "running":
        return
    while True:
        counts = wave_counts(db, c, now)
        bad = over_threshold(c, counts)
        if bad is not None:
            halt(db, c, bad[0], bad[1], now)
            return
        if not _wave_finished(counts, c.wave):
            break
        if c.wave_complete_at is None:
            c.wave_complete_at = now
            audit.record(db, ENGINE, "ota.campaign.wave_complete", "campaign", c.id, wave=c.wave,
                         **{s: counts[c.wave][s] for s in ("size", *FINAL)},
                         stalled=counts[c.wave]["stalled"])
        if c.wave == len(c.waves) - 1:
            c.state, c.finished_at = "done", now
            audit.record(db, ENGINE, "ota.campaign.done", "campaign", c.id)
            return
        if now - c.wave_complete_at < dt.timedelta(seconds=c.pause_s):
            return
        c.wave, c.wave_started_at, c.wave_complete_at = c.wave + 1, now, None
        audit.record(db, ENGINE, "ota.campaign.wave", "campaign", c.id, wave=c.wave,
                     percent=c.waves[c.wave])
    _send_offers(db, c, now)


def halt(db: Session, c: Campaign, wave: int, n: dict, now: dt.datetime) -> None:
    reason = {"wave": wave, "size": n["size"], "failed": n["failed"],
              "rolled_back": n["rolled_back"], "threshold_pct": c.failure_threshold_pct}
    c.state, c.halt_reason = "halted", reason
    withdrawn = withdraw_offers(db, c)
    audit.record(db, ENGINE, "ota.campaign.halt", "campaign", c.id, withdrawn=withdrawn, **reason)
    alerts.raise_grouped(db, "OTA_HALTED", None, None, group={"campaign": c.id}, now=now, **reason)


def tick(sessions: sessionmaker[Session], now: dt.datetime | None = None) -> int:
    """Advance every running campaign, each in its own short transaction;
    returns how many were looked at."""
    with sessions() as db:
        ids = db.scalars(select(Campaign.id).where(Campaign.state == "running")).all()
    for cid in ids:
        with sessions() as db:
            c = lock(db, cid)
            advance(db, c, now or utcnow())
            db.commit()
    return len(ids)


# -- device reports (bridge ingest, state key 15) ---------------------------------------------

def apply_report(db: Session, device_id: str, report: list[int], now: dt.datetime | None = None) -> bool:
    """State key 15 [release, phase, percent, reason, campaign] (checked by
    the bridge's schema) -> the gate's row in that campaign. A report for a
    campaign the gate is not in, or for another release, changes nothing.
    Returns True when the row changed."""
    release_no, phase, percent, reason, campaign_id = report
    status = PHASES.get(phase)
    if status is None or campaign_id == 0:
        return False
    row = db.execute(select(CampaignDevice, Release.number)
                     .join(Campaign, Campaign.id == CampaignDevice.campaign_id)
                     .join(Release, Release.id == Campaign.release_id)
                     .where(CampaignDevice.campaign_id == campaign_id,
                            CampaignDevice.device_id == device_id)).first()
    if row is None or row[1] != release_no:
        return False
    cd = row[0]
    if (cd.status, cd.percent, cd.reason) == (status, percent, reason):
        return False  # the state repeats every 5 minutes: nothing new
    if cd.status == "done" and status == "failed" and reason == OTA_REPLAY:
        return False  # an offer of the release it already runs: it stays done
    now = now or utcnow()
    cd.status, cd.percent, cd.reason, cd.updated_at = status, percent, reason, now
    cd.finished_at = now if status in FINAL else None
    return True


# -- reading ----------------------------------------------------------------------------------

def summary(db: Session, c: Campaign, now: dt.datetime | None = None) -> dict:
    rel = db.get(Release, c.release_id)
    counts = wave_counts(db, c, now or utcnow())
    cuts = [sum(counts[i]["size"] for i in range(w + 1)) for w in range(len(c.waves))]
    waves = []
    for w, pct in enumerate(c.waves):
        n = counts[w]
        waves.append({"wave": w, "percent": pct, "devices": n["size"], "cumulative": cuts[w],
                      "open": c.state != "draft" and w <= c.wave,
                      **{s: n[s] for s in STATUSES}, "stalled": n["stalled"], "offline": n["offline"],
                      "finished": sum(n[s] for s in FINAL)})
    return {"id": c.id, "name": c.name, "state": c.state, "release": rel.number,
            "version": rel.version, "selector": c.selector, "waves": waves, "wave": c.wave,
            "pause_s": c.pause_s, "failure_threshold_pct": c.failure_threshold_pct,
            "max_in_flight": c.max_in_flight, "stall_s": c.stall_s, "halt_reason": c.halt_reason,
            "devices": sum(w["devices"] for w in waves),
            "totals": {s: sum(w[s] for w in waves) for s in STATUSES},
            "created_by": c.created_by, "created_at": c.created_at.isoformat(),
            "started_at": c.started_at.isoformat() if c.started_at else None,
            "finished_at": c.finished_at.isoformat() if c.finished_at else None}


def device_rows(db: Session, campaign_id: int, status: str | None = None, limit: int | None = None,
                offset: int = 0) -> list[dict]:
    q = (select(CampaignDevice).where(CampaignDevice.campaign_id == campaign_id)
         .order_by(CampaignDevice.position).offset(offset))
    if status:
        q = q.where(CampaignDevice.status == status)
    if limit is not None:
        q = q.limit(limit)
    return [{"device": d.device_id, "wave": d.wave, "status": d.status, "percent": d.percent,
             "reason": d.reason, "offers": d.offers,
             "updated_at": d.updated_at.isoformat() if d.updated_at else None}
            for d in db.scalars(q)]


def list_campaigns(db: Session) -> list[Campaign]:
    return list(db.scalars(select(Campaign).order_by(Campaign.id.desc())))
