"""Seed District 7 into a running fleet through its API, the way the district
and the businesses would: the operator registers and approves businesses and
their gates (sites with rules); each business manager issues its workers'
passes and drafts its allowlist, which the district approves; the ward
issues residents', shippers', volunteers' and officials' passes (printed
cards for the elderly); a lost card is revoked. Visitors with an EU DCC
and the signers their gates trust come from greengate/demo/dcc.py.

Two expired passes (issued 35 days ago for 30 days) cannot come from the API
(it issues from today): they are issued with the fleet's own service
function, `fleet.services.passes.issue_pass(now=...)`, on the demo's database.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from greengate.demo import district7 as d7
from greengate.demo.fleet_api import FleetApi

TZ = 7 * 3600  # Asia/Ho_Chi_Minh, no DST
FORMATS = [1, 2]  # every gate reads GreenGate passes and EU DCCs (config key 9)


@dataclass
class Person:
    kind: str            # resident, elderly, shopper, shipper, official, worker, expired, dcc, dcc_revoked
    role: int
    pass_hash: str
    qr: str
    business_id: str | None = None
    listed: bool = False  # on its business's approved allowlist


@dataclass
class Gate:
    business: d7.Business
    site_id: int


@dataclass
class World:
    gates: list[Gate]
    people: list[Person]
    revoked: list[Person] = field(default_factory=list)
    cards: list[Path] = field(default_factory=list)
    manager_password: str = ""

    def of(self, kind: str) -> list[Person]:
        return [p for p in self.people if p.kind == kind and p not in self.revoked]


def resident_slots(now: float | None = None) -> list[list[list[int]]]:
    """The ward's shopping slots for residents (rule 7, Monday first): 07:00-09:00
    and 15:00-17:00, but today the ward's turn comes later, so residents who
    come now are turned away with HOURS while volunteers shop on their behalf."""
    local = time.gmtime((time.time() if now is None else now) + TZ)
    minute = local.tm_hour * 60 + local.tm_min
    start = (minute // 30 + 4) * 30  # two hours after now, on the half hour
    today = [[start, min(start + 120, 1440)]] if start < 1440 else []
    week = [[[420, 540], [900, 1020]] for _ in range(7)]
    week[local.tm_wday] = today  # tm_wday: Monday = 0
    return week


def site_rules(b: d7.Business, now: float | None = None) -> list:
    rules: list = [[1, {"1": sorted(b.admits)}]]
    if b.resident_slots:
        rules.append([7, {"1": resident_slots(now), "9": [d7.RESIDENT]}])
    if d7.WORKER in b.admits:
        rules.append([8, {"2": True}])
    if b.capacity:
        rules.append([9, {"1": b.capacity}])
    return rules


def seed(api: FleetApi, data_dir: Path, password: str, managed: int = len(d7.BUSINESSES),
         log: Callable[[str], None] = lambda s: None) -> World:
    """`api` is logged in as the admin. Every business gets a site (a gate);
    the demo's terminals guard the first ones. The first `managed` businesses
    get a manager account that issues their workers' passes and drafts their
    allowlist; for the others the district does it on their behalf."""
    today = dt.date.today()
    api.post("/users", {"username": "operator", "password": password, "role": "operator"})
    businesses = d7.BUSINESSES
    sites: list[Gate] = []
    people: list[Person] = []
    for b in businesses:
        api.post("/businesses", {
            "id": b.id, "name": b.name, "sector": b.sector, "address": b.address, "ward": b.ward,
            "operating_mode": b.mode, "two_doses": True, "five_k": True, "plan_approved": True,
            "testing_interval_days": 3 if b.mode == d7.THREE_ON_SITE else 7})
        api.post(f"/businesses/{b.id}/approve")
        site = api.post("/sites", {"business_id": b.id, "name": b.gate_vi, "name_en": b.gate_en,
                                   "address": b.address, "capacity": b.capacity,
                                   "rules": site_rules(b), "formats": FORMATS})
        sites.append(Gate(b, site["id"]))
    log(f"{len(businesses)} businesses in {len({b.ward for b in businesses})} wards, one gate each")

    def issue(kind: str, role: int, initials: str, year: int, business: str | None = None,
              who: FleetApi = api, **extra) -> Person:
        body = {"role": role, "initials": initials, "birth_year": year, "valid_days": 30,
                "doses": 2, "last_dose": (today - dt.timedelta(days=40 + year % 30)).isoformat(),
                "zone": 0, **extra}
        if business:
            body["business_id"] = business
        p = who.post("/passes", body)
        person = Person(kind, role, p["pass_hash"], p["qr_text"], business)
        people.append(person)
        return person

    # the businesses whose gates run in the demo get a manager who issues the
    # workers' passes and drafts the allowlist; the district approves it
    mgr_password = password + "-ql"
    for n, g in enumerate(sites):
        b = g.business
        mgr = None
        if n < managed:
            manager = f"ql.{b.id.lower()}"
            api.post("/users", {"username": manager, "password": mgr_password, "role": "manager",
                                "business_id": b.id})
            mgr = api.as_user(manager, mgr_password)
        who = mgr or api  # else the district, on the business's behalf
        try:
            for i in range(b.workers):
                initials = d7.WORKER_INITIALS[(i + businesses.index(b) * 3) % len(d7.WORKER_INITIALS)]
                w = issue("worker", d7.WORKER, initials, 1975 + (i * 7 + len(b.id)) % 25, b.id, who=who)
                if i < b.workers - 1:  # the newest hire is not on the list yet
                    entry = who.post(f"/businesses/{b.id}/allowlist", {"pass_hash": w.pass_hash})
                    api.post(f"/allowlist/{entry['id']}/approve")
                    w.listed = True
        finally:
            if mgr is not None:
                mgr.close()
    log(f"{sum(p.kind == 'worker' for p in people)} worker passes, allowlists approved by the district")

    for kind, role, group in (("resident", d7.RESIDENT, d7.RESIDENTS), ("shopper", d7.SHOPPER, d7.SHOPPERS),
                              ("shipper", d7.SHIPPER, d7.SHIPPERS), ("official", d7.OFFICIAL, d7.OFFICIALS),
                              ("elderly", d7.RESIDENT, d7.ELDERLY)):
        for initials, year in group:
            issue(kind, role, initials, year)
    world = World(gates=sites, people=people, manager_password=mgr_password)

    # printed cards for the elderly (no smartphone)
    cards = data_dir / "cards"
    cards.mkdir(parents=True, exist_ok=True)
    for p in [p for p in people if p.kind == "elderly"]:
        pdf = api.call("POST", f"/passes/{p.pass_hash}/card.pdf", json={"qr_text": p.qr})
        path = cards / f"the-{p.pass_hash[:8]}.pdf"
        path.write_bytes(pdf)
        world.cards.append(path)

    # a resident lost her card: the ward revokes it
    lost = world.of("resident")[-1]
    api.post("/revocations", {"pass_hash": lost.pass_hash, "reason": "LOST"})
    world.revoked.append(lost)

    people += issue_expired(data_dir)
    log(f"{len(people)} passes ({len(world.cards)} printed cards in {cards}), "
        f"1 revoked, 2 expired")

    from greengate.demo.dcc import seed_dcc  # visitors with an EU DCC (issue 13)

    holders, suspended = seed_dcc(api, data_dir, log)
    people += [*holders, suspended]
    world.revoked.append(suspended)
    return world


def issue_expired(data_dir: Path) -> list[Person]:
    from fleet.core.config import StorageSettings
    from fleet.core.db import make_engine, make_sessionmaker
    from fleet.services import passes as svc

    settings = StorageSettings(demo=True, data_dir=data_dir, issuer_key_path=None,
                               database_url=f"sqlite:///{data_dir / 'fleet.db'}")
    engine = make_engine(settings.db_url)
    out = []
    try:
        with make_sessionmaker(engine)() as db:
            past = int(time.time()) - 35 * 86400
            for initials, year in (("LTH", 1980), ("NVQ", 1972)):
                row, qr = svc.issue_pass(db, settings, svc.PassRequest(
                    role=d7.RESIDENT, initials=initials, birth_year=year, valid_days=30, zone=0),
                    "demo:ward-7", now=past)
                out.append(Person("expired", d7.RESIDENT, row.pass_hash, qr))
            db.commit()
    finally:
        engine.dispose()
    return out
