"""People at the gates: a stream of realistic scans for each terminal, and
the F0 case after a minute.

Each gate sees mostly people it should admit (its allowlisted workers,
shippers, volunteers shopping on behalf of residents, residents where they
may come), and now and then: an expired pass, a revoked (lost) card, a
worker of another business (WRONG_BUSINESS), a new hire not yet on the
allowlist (NOT_LISTED), a resident outside the ward's shopping slot (HOURS),
someone whose role the gate does not admit (ROLE). Small shops fill up
(CAPACITY) because people leave (exit button) more slowly than they come.
Where residents may come, visitors also show an EU DCC (greengate/demo/dcc.py),
and a suspended worker's certificate, revoked by its UCI, is denied REVOKED.
The firmware decides; the demo only presents the codes.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass

from greengate.demo import district7 as d7
from greengate.demo.fleet_api import FleetApi
from greengate.demo.seed import Person, World
from greengate.demo.terminals import DemoTerminal

# what a gate sees, and how often (weights)
MIX = [("valid", 60), ("dcc", 10), ("expired", 6), ("revoked", 6), ("wrong_business", 7), ("not_listed", 7),
       ("hours", 7), ("role", 5)]
REPEAT_S = 3.5  # the scanner drops the same code read again within 3 s (repeat_ms)


@dataclass
class Candidates:
    valid: list[Person]
    dcc: list[Person]  # EU DCC holders (role resident) where residents may come
    expired: list[Person]
    revoked: list[Person]
    wrong_business: list[Person]
    not_listed: list[Person]
    hours: list[Person]
    role: list[Person]


def candidates(world: World, business: d7.Business) -> Candidates:
    admits = set(business.admits)
    workers = [p for p in world.of("worker") if p.business_id == business.id]
    valid = [p for p in workers if p.listed]
    for kind, role in (("shopper", d7.SHOPPER), ("shipper", d7.SHIPPER), ("official", d7.OFFICIAL)):
        if role in admits:
            valid += world.of(kind)
    residents = world.of("resident") + world.of("elderly")
    if d7.RESIDENT in admits and not business.resident_slots:
        valid += residents
    others = [p for p in world.of("worker") if p.business_id != business.id and p.listed]
    not_admitted = [p for p in world.people if p.role not in admits and p.kind != "expired"
                    and p not in world.revoked]
    dcc = world.of("dcc") if d7.RESIDENT in admits and not business.resident_slots else []
    return Candidates(
        valid=valid, dcc=dcc, expired=world.of("expired"), revoked=list(world.revoked),
        wrong_business=others if d7.WORKER in admits else [],
        not_listed=[p for p in workers if not p.listed],
        hours=residents if business.resident_slots else [],
        role=not_admitted)


class ScanStream(threading.Thread):
    """One gate's visitors: a scan every `interval` seconds (jittered)."""

    def __init__(self, term: DemoTerminal, world: World, interval: float, stop: threading.Event,
                 seed: int) -> None:
        super().__init__(name=f"scans-{term.number}", daemon=True)
        self.term, self.interval, self.stop_event = term, interval, stop
        self.cands = candidates(world, term.gate.business)
        self.rng = random.Random(seed)
        self.last: dict[str, float] = {}
        self.sent = 0
        self.watch_capacity = bool(term.gate.business.capacity)

    def pick(self, now: float) -> Person | None:
        kinds = [(k, w) for k, w in MIX if getattr(self.cands, k)]
        if not kinds:
            return None
        for _ in range(10):
            kind = self.rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
            p = self.rng.choice(getattr(self.cands, kind))
            if now - self.last.get(p.pass_hash, -1e9) >= REPEAT_S:
                return p
        return None

    def run(self) -> None:
        import time

        while not self.stop_event.wait(self.interval * self.rng.uniform(0.6, 1.4)):
            if not self.term.running:
                return
            now = time.monotonic()
            p = self.pick(now)
            if p is None:
                continue
            self.last[p.pass_hash] = now
            try:
                self.term.scan(p.qr)
                self.sent += 1
                # people leave a little more slowly than they come: small shops fill up
                if self.watch_capacity and self.rng.random() < 0.45:
                    self.term.press_exit()
            except Exception:  # noqa: BLE001 - the terminal is stopping
                return


def f0_case(api: FleetApi, world: World, terms: list[DemoTerminal],
            log: Callable[[str], None]) -> dict | None:
    """The operator's F0 workflow: a worker seen at a gate tests positive.
    Mark the pass F0 (revoked on every gate, exposure list computed), then
    suspend every business on the exposure list (their gates show SUSPENDED)."""
    gated = {t.gate.business.id for t in terms}
    admitted = api.get("/scans", limit=500)
    by_hash = {p.pass_hash: p for p in world.people}
    # prefer a worker admitted at a gate of the demo, else anyone admitted
    chosen = None
    for s in admitted:
        p = by_hash.get(s.get("pass_hash") or "")
        if s.get("verdict") and p is not None:
            if p.kind == "worker" and p.business_id in gated:
                chosen = p
                break
            chosen = chosen or p
    if chosen is None:
        log("F0: nobody admitted yet; trying again later / chưa có ai vào cổng")
        return None
    case = api.post("/f0", {"pass_hash": chosen.pass_hash})
    where = ", ".join(sorted({e.get("business_id", "?") for e in case.get("exposure", [])}))
    log(f"F0 case {case['id']}: pass {chosen.pass_hash[:8]}… ({chosen.kind}) revoked; "
        f"exposure: {len(case.get('exposure', []))} site(s) [{where}] / ca F0: thẻ bị thu hồi")
    case = api.post(f"/f0/{case['id']}/suspend")
    log(f"F0 case {case['id']}: suspended {', '.join(case['suspended_businesses']) or 'none'} "
        f"/ tạm dừng hoạt động")
    world.revoked.append(chosen)
    return case
