"""Lightweight simulated gates that take firmware updates (issue 14), for the
campaign test and benchmark: bench/devsim.py's gates plus the OTA side of
docs/protocol.md "Firmware updates", as a gate sees it on the wire:

- subscribe to gg/v1/dev/{id}/ota; an offer is checked like a control
  message (fleet signature, kind 8, device scope, expiry), then its release
  manifest with the RELEASE keys (greengate.ota.release.verify_manifest:
  the fleet key does not verify it), the release number against the
  installed one and min_previous, and the payload reference against the
  manifest;
- fetch the manifest blob (offer key 4) if it did not fit inline, then the
  payload, in windows of 16 chunks, SHA-256 checked (devsim's fetcher);
- report state key 15 [release, phase, percent, reason, campaign]:
  downloading n %, verifying, switching, probation, then done, or failed /
  rolled back as the test's `fate(device id)` decides;
- an empty retained message on .../ota withdraws an offer not yet acted on.

Not the firmware (tests/firmware/ota runs that under MicroPython): no slots,
no reboot, a phase is one state message.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import devsim
from greengate.control import envelope
from greengate.ota import release as ota_release

KIND_OTA = 8
IDLE, DOWNLOADING, VERIFYING, SWITCHING, PROBATION, DONE, ROLLED_BACK, FAILED = range(8)
# firmware/verify/reasons.py block 50..59 (OTA_*), what a gate reports a refusal with
OTA_SIGNATURE, OTA_MALFORMED, OTA_DOWNGRADE, OTA_REPLAY, OTA_TOO_OLD, OTA_HASH = range(50, 56)
Fate = Callable[[str], tuple[str, int]]  # device id -> ("ok" | "fail" | "rollback", reason)


class OtaDevice(devsim.SimDevice):
    OWN_TOPICS = ("cmd", "config", "blob", "ota")

    def __init__(self, sim: "OtaSim", dev: str, site_id: str | None) -> None:
        super().__init__(sim, dev, site_id)
        self.installed = sim.installed
        self.firmware = "0.%d.0" % sim.installed
        self.ota = [0, IDLE, 0, 0, 0]       # state key 15
        self.offer: dict | None = None      # the release being taken: info, payload ref
        self.offer_digest: bytes | None = None
        self.offers_seen = 0

    def state(self) -> dict:
        s = super().state()
        s[2] = self.firmware
        s[15] = list(self.ota)
        return s

    def report(self, phase: int, percent: int = 0, reason: int = 0) -> None:
        self.ota[1:4] = [phase, percent, reason]
        self.publish_state()

    def on_own(self, leaf: str, payload: bytes) -> None:
        if leaf == "ota":
            self._on_offer(payload)

    # -- the offer -------------------------------------------------------------------
    def _on_offer(self, data: bytes) -> None:
        sim: OtaSim = self.sim
        if not data:  # withdrawn: drop it unless the download already began
            if self.offer is not None and self.ota[1] == DOWNLOADING and self.ota[2] == 0:
                self.pending.pop(KIND_OTA, None)
                self.offer, self.rx = None, None
                self.sim._fetching.discard(self)
                self.ota = [0, IDLE, 0, 0, 0]
                sim.ota_stats["withdrawn"] += 1
                self.publish_state()
            return
        dig = envelope.digest(data)
        if dig == self.offer_digest:
            return  # the retained offer again after a reconnect
        self.offer_digest = dig
        self.offers_seen += 1
        sim.ota_stats["offers"] += 1
        try:
            msg = envelope.open_message(data, sim.fleet_keys)
        except Exception:  # noqa: BLE001 not ours: refused like any control message
            return self._refuse_offer(0, OTA_MALFORMED)
        body = msg.body if isinstance(msg.body, dict) else {}
        if msg.kind != KIND_OTA or list(msg.scope) != [2, self.id] or time.time() > msg.valid_until:
            return self._refuse_offer(body.get(3, 0), OTA_MALFORMED)
        if self.offer is not None or self.ota[1] in (SWITCHING, PROBATION):
            return  # busy with an update: a re-signed offer of it changes nothing
        cid, ref = body.get(3), body.get(2)
        if type(cid) is not int or not isinstance(ref, dict):
            return self._refuse_offer(0, OTA_MALFORMED)
        self.offer = {"campaign": cid, "ref": ref, "manifest": body.get(1), "manifest_ref": body.get(4),
                      "info": None}
        if self.offer["manifest"] is not None and not self._check_manifest(self.offer["manifest"]):
            return
        self.ota = [self.offer["info"]["release"] if self.offer["info"] else 0, DOWNLOADING, 0, 0, cid]
        self.publish_state()
        self.pending[KIND_OTA] = msg
        self.pending_raw[KIND_OTA] = dig
        self._next_fetch()

    def _check_manifest(self, manifest: bytes) -> bool:
        offer = self.offer
        try:
            info = ota_release.verify_manifest(manifest, self.sim.release_keys)
        except ota_release.ReleaseError:
            self._refuse_offer(offer["campaign"], OTA_SIGNATURE)
            return False
        ref, rel = offer["ref"], info["release"]
        why = (OTA_REPLAY if rel == self.installed else OTA_DOWNGRADE if rel < self.installed
               else OTA_TOO_OLD if self.installed < info["min_previous"]
               else OTA_HASH if (ref.get(1), ref.get(2)) != (bytes.fromhex(info["payload_sha256"]),
                                                             info["payload_size"]) else 0)
        if why:
            self._refuse_offer(offer["campaign"], why, rel)
            return False
        offer["info"] = info
        self.ota[0] = info["release"]
        return True

    def _refuse_offer(self, campaign: int, reason: int, release: int = 0) -> None:
        self.sim.ota_stats["refused"] += 1
        self.sim.ota_refusals.append((self.id, reason))
        self.offer = None
        self.pending.pop(KIND_OTA, None)
        self.ota = [release, FAILED, 0, reason, campaign if type(campaign) is int else 0]
        self.publish_state()

    # -- downloading (devsim's blob fetcher) ------------------------------------------------
    def _refs(self, msg: envelope.Opened) -> list[dict]:
        if msg.kind != KIND_OTA:
            return super()._refs(msg)
        if self.offer["info"] is None:  # the manifest first, then the payload it names
            return [self.offer["manifest_ref"]]
        return [self.offer["ref"]]

    def _request(self) -> None:
        super()._request()
        rx, offer = self.rx, self.offer
        if offer is not None and offer["info"] is not None and rx.sha == offer["ref"].get(1):
            pct = rx.next * 100 // rx.count
            if pct // 10 != self.ota[2] // 10:  # every 10 %, like firmware/ota/updater.py
                self.report(DOWNLOADING, pct)

    def _next_fetch(self) -> None:
        offer = self.offer
        if offer is not None and offer["info"] is None and offer["manifest_ref"] is not None:
            manifest = self.sim.blobs.get(offer["manifest_ref"].get(1))
            if manifest is not None and not self._check_manifest(manifest):
                return
            if manifest is not None:
                self.report(DOWNLOADING, 0)
        super()._next_fetch()

    def _commit(self, kind: int, msg: envelope.Opened, dig: bytes) -> None:
        if kind != KIND_OTA:
            return super()._commit(kind, msg, dig)
        offer, self.offer = self.offer, None
        info = offer["info"]
        self.report(VERIFYING, 100)
        try:
            ota_release.check_payload(info, self.sim.blobs[offer["ref"][1]])
        except ota_release.ReleaseError:
            return self._refuse_offer(offer["campaign"], OTA_HASH, info["release"])
        fate, reason = self.sim.fate(self.id)
        if fate == "fail":
            self.sim.ota_stats["failed"] += 1
            return self.report(FAILED, 100, reason)
        self.report(SWITCHING, 100)
        self.report(PROBATION, 100)
        if fate == "rollback":
            self.sim.ota_stats["rolled_back"] += 1
            return self.report(ROLLED_BACK, 100, reason)
        self.installed, self.firmware = info["release"], info["version"]
        self.sim.ota_stats["done"] += 1
        self.report(DONE, 100)


class OtaSim(devsim.DeviceSim):
    """Many OtaDevices on one event loop (create it inside a running loop)."""

    device_class = OtaDevice

    def __init__(self, host: str, port: int, device_ids: Iterable[str], *, fleet_keys: list[bytes],
                 release_keys: list[bytes], fate: Fate | None = None, installed: int = 1, **kw) -> None:
        self.release_keys = list(release_keys)
        self.fate = fate or (lambda _d: ("ok", 0))
        self.installed = installed
        self.ota_stats = {"offers": 0, "refused": 0, "withdrawn": 0, "done": 0, "failed": 0,
                          "rolled_back": 0}
        self.ota_refusals: list[tuple[str, int]] = []  # (device, OTA_* reason)
        super().__init__(host, port, device_ids, fleet_keys=fleet_keys, **kw)
