"""The fleet side of a firmware update, for tests and the benchmark: signs
releases with a release key (greengate.ota.release), offers them with the
fleet key (kind 8, greengate.control.envelope), answers the device's fetch
requests with chunks (greengate.control.blobs), optionally at a throttled
link rate or with a chosen chunk corrupted, and records state key 15."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from functools import lru_cache
from pathlib import Path

import cbor2
import paho.mqtt.client as paho
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paho.mqtt.enums import CallbackAPIVersion

from greengate.control import blobs, envelope
from greengate.ota import offer, release as rel
from greengate.paths import FIRMWARE
from mpy import native_march

PHASES = {0: "idle", 1: "downloading", 2: "verifying", 3: "switching", 4: "probation",
          5: "done", 6: "rolled back", 7: "failed"}


@lru_cache(maxsize=None)
def firmware_files() -> tuple:
    """The current firmware as a bundle for the interpreter the tests run
    (mpy-cross for its native arch: the viper modules carry machine code)."""
    return tuple(rel.bundle_files(FIRMWARE, native_march() or "xtensawin"))


def make_release(key: Ed25519PrivateKey, number: int, min_previous: int = 0,
                 files=None, version: str | None = None) -> rel.Release:
    return rel.build_release(FIRMWARE, number, version or f"0.{number}.0", min_previous,
                             rel.TARGET_BUNDLE, key, files=list(files or firmware_files()))


def with_file(path: str, data: bytes, files=None) -> list:
    """The bundle with `path` replaced (or added)."""
    out = [(p, d) for p, d in (files or firmware_files()) if p != path]
    return sorted(out + [(path, data)])


def compile_source(rel_path: str, source: str, tmp: Path) -> bytes:
    import subprocess

    from mpy import MPY_CROSS

    src = tmp / Path(rel_path).name
    src.write_text(source)
    out = src.with_suffix(".mpy")
    subprocess.run([MPY_CROSS, f"-march={native_march() or 'xtensawin'}", "-s", rel_path,
                    "-o", str(out), str(src)], check=True)
    return out.read_bytes()


def provisioned_gate(tmp: Path, device_id: str, device_config: dict | None = None, **ota_config):
    """A simulated gate's directory with a signed site (e2e_kit) and a
    release key in config.json: (root, flash, site, release key)."""
    from e2e_kit import provision_site

    root = tmp / "sim"
    flash = root / "flash"
    site = provision_site(flash, tmp, device_id, device_config=device_config)
    key = Ed25519PrivateKey.generate()
    configure(flash, [rel.raw_public(key)], **ota_config)
    return root, flash, site, key


def configure(flash: Path, release_keys: list[bytes], **extra) -> None:
    cfg_path = flash / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["release_keys"] = [k.hex() for k in release_keys]
    cfg.update(extra)
    cfg_path.write_text(json.dumps(cfg))


class OtaFleet:
    """One paho client playing the fleet for one device."""

    def __init__(self, port: int, device_id: str, fleet_key: Ed25519PrivateKey,
                 rate_bps: int | None = None):
        self.device = device_id
        self.fleet_key = fleet_key
        self.rate_bps = rate_bps      # throttle: chunk bytes per second, None = as fast as it goes
        self.blobs: dict[bytes, bytes] = {}
        self.chunk = blobs.DEFAULT_CHUNK
        self.corrupt: dict[tuple[bytes, int], int] = {}  # (sha, index) -> times left to corrupt
        self.states: list[list] = []  # every key 15 seen, in order
        self.fetches = 0
        self.sent_bytes = 0
        self.version = 0
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self._q: list[bytes] = []
        self._qev = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"ota-fleet-{time.monotonic_ns()}")
        self.client.max_queued_messages_set(0)
        subscribed = threading.Event()
        self.client.on_connect = lambda c, *a: c.subscribe(
            [(f"gg/v1/dev/{device_id}/fetch", 1), (f"gg/v1/dev/{device_id}/state", 1)])
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise TimeoutError("fleet did not get SUBACK")
        self._stop = False
        self._sender = threading.Thread(target=self._send_loop, daemon=True)
        self._sender.start()

    # -- the device's requests ------------------------------------------------
    def _on_message(self, client, userdata, msg):
        if msg.topic.endswith("/state"):
            try:
                st = cbor2.loads(msg.payload)
            except Exception:  # noqa: the last will is CBOR too; anything else ignored
                return
            if isinstance(st, dict) and 15 in st:
                with self.changed:
                    if not self.states or self.states[-1] != st[15]:
                        self.states.append(st[15])
                    self.changed.notify_all()
            return
        req = blobs.parse_fetch(msg.payload)
        data = self.blobs.get(req.sha256)
        if data is None:
            return
        self.fetches += 1
        out = []
        for i, m in enumerate(blobs.answer_fetch(req, data, self.chunk)):
            key = (req.sha256, req.first + i)
            if self.corrupt.get(key):
                self.corrupt[key] -= 1
                c = cbor2.loads(m)
                c[4] = bytes([c[4][0] ^ 0xFF]) + c[4][1:]
                m = cbor2.dumps(c)
            out.append(m)
        with self.lock:
            self._q.extend(out)
        self._qev.set()

    def _send_loop(self):
        # one sender thread: chunks leave in order, paced at rate_bps
        while not self._stop:
            self._qev.wait(0.2)
            while True:
                with self.lock:
                    if not self._q:
                        self._qev.clear()
                        break
                    m = self._q.pop(0)
                self.client.publish(f"gg/v1/dev/{self.device}/blob", m, qos=1)
                self.sent_bytes += len(m)
                if self.rate_bps:
                    time.sleep(len(m) / self.rate_bps)

    # -- offers ----------------------------------------------------------------
    def offer(self, release: rel.Release, campaign: int, retain: bool = True,
              key: Ed25519PrivateKey | None = None, body: dict | None = None) -> bytes:
        self.version += 1
        self.blobs.update(offer.offer_blobs(release))
        body = offer.offer_body(release, campaign, self.chunk) if body is None else body
        now = int(time.time())
        data = envelope.sign_message(offer.KIND_OTA, self.version, body,
                                     envelope.device_scope(self.device), key or self.fleet_key,
                                     now - 60, now + 86400)
        self.client.publish(f"gg/v1/dev/{self.device}/ota", data, qos=1, retain=retain).wait_for_publish(5)
        return data

    def wait_state(self, predicate, timeout: float = 120.0, since: int = 0) -> list:
        """The first key-15 value seen (from the since-th on) that matches."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for s in self.states[since:]:
                    if predicate(s):
                        return s
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"state key 15 never matched; seen {self.states[-8:]}")
                self.changed.wait(left)

    def wait_result(self, release: int, campaign: int, timeout: float = 120.0) -> list:
        """The end of `release` in `campaign`: done, rolled back or failed."""
        return self.wait_state(lambda s: s[4] == campaign and s[1] in (5, 6, 7)
                               and (s[0] == release or s[1] == 7), timeout)

    def forget_states(self) -> None:
        with self.lock:
            self.states.clear()

    def close(self):
        self._stop = True
        self.client.loop_stop()
        self.client.disconnect()


def slot_of(flash: Path) -> dict:
    p = flash / "ota" / "boot.json"
    return json.loads(p.read_text()) if p.exists() else {"slot": ""}


def ota_state(flash: Path) -> dict:
    p = flash / "ota" / "state.json"
    return json.loads(p.read_text()) if p.exists() else {}


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
