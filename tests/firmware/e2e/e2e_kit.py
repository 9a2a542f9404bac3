"""Shared pieces of the end-to-end tests: a signed site provisioned onto a
simulated device's flash, passes issued with the host library, the device's
outbox read back from its flash (the oracle of what it decided), a paho
subscriber with a persistent session, and a SIGKILL + restart of the real
firmware."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import struct
import threading
import time
import zlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import cbor2
import paho.mqtt.client as paho
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from greengate.control import envelope as env
from greengate.control.blobs import blob_ref
from greengate.control.revocation import build_snapshot, revocation_body
from greengate.passes import claims as c
from greengate.passes.issue import issue
from greengate.passes.keys import TrustEntry, device_trust_bytes, kid_for, raw_public
from greengate.sim.terminal import SimTerminal
from net_helpers import Fleet, FleetAcks, Subscriber
from provision_kit import ISSUER, SITE, apply_messages, pass_hash, write_device_config

BUSINESS = "BIZ-0001"
TOPIC = {1: "gg/v1/dev/{id}/config", 2: "gg/v1/fleet/trust", 3: "gg/v1/fleet/revocation",
         4: "gg/v1/dev/{id}/cmd"}


def kind(k, **match):
    """Event predicate for SimTerminal.wait_for."""
    return lambda e: e.get("kind") == k and all(e.get(a) == b for a, b in match.items())


def reason_code(name: str) -> int:
    from greengate.passes import reasons

    code = reasons.code(name)
    assert code >= 0, name
    return code


# -- passes --------------------------------------------------------------------
def claims(now: int, cti: bytes, role=c.Role.RESIDENT, initials="NVA", birth_year=1985,
           iat=None, exp=None, business=None) -> c.PassClaims:
    return c.PassClaims(
        iss=ISSUER, iat=now - 3600 if iat is None else iat,
        exp=now + 7 * 86400 if exp is None else exp, cti=cti, role=role,
        initials=initials, birth_year=birth_year,
        vaccination=c.Vaccination(2, date(2021, 8, 1)),
        health_decl=date.fromtimestamp(now), zone=c.Zone.GREEN, business=business)


# -- a signed site on the device's flash -------------------------------------
@dataclass
class Site:
    device_id: str
    fleet_key: Ed25519PrivateKey
    issuer_key: Ed25519PrivateKey
    versions: dict          # kind -> applied version
    messages: dict          # kind -> signed bytes as applied
    files: dict = field(default_factory=dict)  # name -> bytes of a blob

    @property
    def fleet_public(self) -> bytes:
        return raw_public(self.fleet_key)

    def topic(self, k: int) -> str:
        return TOPIC[k].format(id=self.device_id)

    def sign(self, k: int, version: int, body, iat: int | None = None,
             until: int | None = None, key: Ed25519PrivateKey | None = None) -> bytes:
        now = int(time.time())
        iat = now - 60 if iat is None else iat
        until = (iat + 120 if k == 4 else now + 86400) if until is None else until
        scope = env.device_scope(self.device_id) if k in (1, 4) else env.fleet_scope()
        return env.sign_message(k, version, body, scope, key or self.fleet_key, iat, until)

    def issue(self, cti: bytes, **kw) -> str:
        return issue_pass(self.issuer_key, cti, **kw)


def issue_pass(issuer_key: Ed25519PrivateKey, cti: bytes, **kw) -> str:
    """A GG1 pass signed by the host library (greengate.passes.issue)."""
    return issue(claims(int(time.time()), cti, **kw), issuer_key)


def config_body(allowlist: bytes | None = None, rules: list | None = None) -> dict:
    body = {1: SITE, 2: BUSINESS, 3: 25200, 4: False, 5: list(rules or []), 7: {}}
    if allowlist is not None:
        body[6] = blob_ref(allowlist)
    return body


def provision_site(flash: Path, tmp: Path, device_id: str, revoked: list[bytes] = (),
                   config: dict | None = None, blobs: list[bytes] = (),
                   versions: dict | None = None, device_config: dict | None = None,
                   issuer_key: Ed25519PrivateKey | None = None) -> Site:
    """Sign a trust list (one issuer), a revocation snapshot holding `revoked`
    (plus 300 other hashes) and a site config with the fleet key, and apply
    them with the firmware's own control code onto `flash` (as if received
    earlier). `device_config` keys are merged into config.json."""
    versions = dict(versions or {1: 1, 2: 1, 3: 1})
    site = Site(device_id, Ed25519PrivateKey.generate(),
                issuer_key or Ed25519PrivateKey.generate(), versions, {})
    pub = raw_public(site.issuer_key)
    others = [hashlib.sha256(b"other-%d" % i).digest()[:16] for i in range(300)]
    snapshot, _ = build_snapshot(list(revoked) + others)
    trust = cbor2.loads(device_trust_bytes([TrustEntry(ISSUER, kid_for(pub), pub, None)]))
    bodies = {2: trust, 3: revocation_body(snapshot), 1: config or config_body()}
    for k in (2, 3, 1):
        site.messages[k] = site.sign(k, versions[k], bodies[k])
    root = flash / "control"
    root.mkdir(parents=True, exist_ok=True)
    req = {"root": str(root), "device": device_id, "site": SITE, "now": int(time.time()),
           "fleet_keys": [site.fleet_public.hex()], "messages": [], "blobs": []}
    for k in (2, 3, 1):
        p = tmp / f"ctrl{k}.bin"
        p.write_bytes(site.messages[k])
        req["messages"].append({"kind": k, "path": str(p)})
    for i, data in enumerate([snapshot, *blobs]):
        p = tmp / f"blob{i}.bin"
        p.write_bytes(data)
        req["blobs"].append({"path": str(p)})
    assert apply_messages(req) == [True, True, True]
    write_device_config(flash, device_id, site.fleet_public)
    if device_config:
        cfg_path = flash / "config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg.update(device_config)
        cfg_path.write_text(json.dumps(cfg))
    return site


def broker_url(port: int) -> str:
    return f"mqtt://127.0.0.1:{port}"


# -- the outbox on flash: what the device decided ----------------------------
_REC_HDR = struct.Struct("<BBHII")  # A5 01 | len u16 | seq u32 | crc32 u32


def read_outbox(flash: Path) -> dict[int, dict]:
    """Every valid record in the device's outbox segments (docs/outbox-and-
    mqtt.md: `A5 01 | len u16 LE | seq u32 LE | crc32 u32 LE | payload`, the
    CRC over len, seq and payload), decoded as a scan entry. Independent of
    the firmware's reader: torn or corrupt bytes are skipped by resyncing on
    the next header."""
    out: dict[int, dict] = {}
    for seg in sorted((flash / "outbox").glob("o*.seg")):
        data = seg.read_bytes()
        i = 0
        while i + _REC_HDR.size <= len(data):
            magic, ver, n, seq, crc = _REC_HDR.unpack_from(data, i)
            end = i + _REC_HDR.size + n
            if magic != 0xA5 or ver != 0x01 or end > len(data):
                i += 1
                continue
            payload = data[i + _REC_HDR.size:end]
            if zlib.crc32(data[i + 2:i + 8] + payload) != crc:
                i += 1
                continue
            assert seq not in out or out[seq] == scan_record(payload), f"seq {seq} twice on flash"
            out[seq] = scan_record(payload)
            i = end
    return out


def scan_record(payload: bytes) -> dict:
    """A 22-byte scan record (firmware/net/reporter.py pack_scan)."""
    assert len(payload) == 22, payload
    flags, reason, t = payload[0], payload[1], struct.unpack_from("<I", payload, 2)[0]
    return {"time": t, "time_valid": bool(flags & 1), "verdict": bool(flags & 2),
            "pass": bytes(payload[6:22]) if flags & 4 else None, "reason": reason}


def reported(sub: Subscriber) -> dict[int, list[dict]]:
    """seq -> every copy of that scan the subscriber received."""
    out: dict[int, list[dict]] = {}
    for e in sub.scans():
        out.setdefault(e["seq"], []).append(e)
    return out


def announced_on_flash(on_flash: list[dict], decisions: list[tuple]) -> tuple[int, int]:
    """Walk the records on flash (in seq order) against the decision events
    (pass hex, verdict, reason name): (events matched in order, records with
    no event). Every announced decision must be on flash (matched ==
    len(decisions)); a record without its event only where a power cut fell
    between the outbox append and the event."""
    from greengate.passes import reasons

    j = extra = 0
    for r in on_flash:
        rec = (r["pass"].hex() if r["pass"] else None, r["verdict"], reasons.name(r["reason"]))
        if j < len(decisions) and decisions[j] == rec:
            j += 1
        else:
            extra += 1
    return j, extra


def same_scan(report: dict, record: dict) -> bool:
    return all(report[k] == record[k] for k in ("time", "time_valid", "verdict", "pass", "reason"))


# -- a subscriber whose subscription outlives the broker process ----------------
class PersistentSubscriber(Subscriber):
    """Subscriber with a fixed client id and clean_session=False: on a broker
    with persistence, QoS 1 messages published while it was away (or before
    it reconnected) are queued for it and delivered when it comes back."""

    def __init__(self, port: int, topics: list[str], client_id: str):
        self.messages = []
        self.lock = threading.Lock()
        self.port = port
        self.topics = topics
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  clean_session=False)
        self.client.max_queued_messages_set(0)
        self.subscribed = threading.Event()
        self.client.on_connect = lambda cl, *a: cl.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *a: self.subscribed.set()

        def on_message(client, userdata, msg):
            with self.lock:
                self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self.received(msg.topic, bytes(msg.payload))

        self.client.on_message = on_message
        self.client.reconnect_delay_set(0.05, 0.2)
        self.connect()

    def connect(self) -> None:
        self.subscribed.clear()
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise TimeoutError("subscriber did not get SUBACK")

    def pause(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class PersistentFleet(FleetAcks, PersistentSubscriber):
    """A PersistentSubscriber that acks every scan batch as the fleet does
    (the device's outbox drains only on that ack)."""


# -- power cut -----------------------------------------------------------------
def power_cut(sim: SimTerminal) -> int:
    """SIGKILL the firmware (no cleanup runs: a power cut) and boot it again
    on the same flash, scanner pty and module. Returns the killed pid."""
    # SimTerminal reboots by itself after a clean reset (status 3), under
    # its _respawn lock; _spawn() is the boot it does then, with the same
    # paths and pty. Holding the lock, a firmware that was resetting by
    # itself at this very instant (e.g. switching to a new firmware slot)
    # is booted here once, never twice.
    with sim._respawn:
        proc = sim.proc
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        sim._spawn()
    return proc.pid


def events_of(path: Path) -> list[dict]:
    """Every event line; a torn line would be a firmware bug (each event is
    one write), so it fails the test here instead of being skipped."""
    text = path.read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class DecisionCounter:
    """Counts decision events by reading only what was appended to the
    event file since the last call (whole lines only)."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0
        self.count = 0
        self._rest = b""
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self._read()

    def _read(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return self.count
        self.offset += len(data)
        lines = (self._rest + data).split(b"\n")
        self._rest = lines.pop()
        self.count += sum(1 for line in lines if b'"kind": "decision"' in line)
        return self.count


def boot(root: Path, device_id: str, port: int) -> SimTerminal:
    return SimTerminal(root, device_id=device_id, broker=broker_url(port))


__all__ = ["kind", "reason_code", "claims", "Site", "config_body", "provision_site",
           "broker_url", "issue_pass", "read_outbox", "scan_record", "reported", "same_scan",
           "announced_on_flash",
           "PersistentSubscriber", "PersistentFleet", "Fleet", "DecisionCounter", "power_cut", "events_of", "boot", "pass_hash",
           "SITE", "BUSINESS", "Subscriber"]
