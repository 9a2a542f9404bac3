# Firmware updates, the work (docs/protocol.md "Firmware updates"), loaded
# by ota/link.py only while an update is under way:
#
#   offer (kind 8, fleet key checked by control/, stored by it: ota/offer.py;
#     taken once the control plane has unloaded) -> manifest: release key,
#     anti-rollback (installed release = floor, min_previous), target.
#     One update at a time: an offer that comes while one verifies, switches
#     or is on probation waits on flash (the newest wins) and is taken once
#     that one is settled (done, rolled back or failed).
#   1 downloading  the payload blob (and first the manifest, if it came as a
#                  blob) in chunks, resumable; paused while a scan waits
#   2 verifying    bundle: the payload split into the inactive slot's files,
#                  each checked against its SHA-256; image: the partition
#                  read back and hashed
#   3 switching    ONE atomic change (slotboot.switch / Partition.set_boot),
#                  then a reset once no scan waits
#   4 probation    the new firmware must become healthy (scanner open, fleet
#                  connected, built-in test pass verified) within
#                  ota_probation_s, else it resets; out of tries, slotboot
#                  (or the ESP32 bootloader) goes back to the old slot
#   5 done / 6 rolled back / 7 failed (+ reason)     -> state key 15
#
# Every phase is written to <flash>/ota/state.json before it starts, so a
# power cut at any instant resumes (download), redoes (verify) or is settled
# at the next boot by what slotboot booted. The outbox and the control state
# live outside the slots.
import asyncio
import gc
import binascii
from time import ticks_ms, ticks_diff
from micropython import const

import errors
from verify import reasons

# phases (state key 15)
DOWNLOADING = const(1)
VERIFYING = const(2)
SWITCHING = const(3)
PROBATION = const(4)
DONE = const(5)
ROLLED_BACK = const(6)
FAILED = const(7)

_WINDOW = const(8)            # chunks asked for at once; two windows in flight
_RETRY_MS = const(10000)      # no chunk for this long: ask again
_HASH_TRIES = const(3)        # whole-download hash failures before giving up
_PROBATION_S = const(300)
_BUF = const(512)


def _hex(b):
    return binascii.hexlify(b).decode()


def _ref(r):
    """state.json form of a blob ref and back."""
    if type(r) is dict:
        return [_hex(r[1]), r[2], r[3]]
    return {1: binascii.unhexlify(r[0]), 2: r[1], 3: r[2]}


def _default_state():
    # installed: release number running (the anti-rollback floor);
    # release: the one being installed / last tried
    return {"installed": 0, "failed": 0, "phase": 0, "pct": 0, "reason": 0,
            "campaign": 0, "release": 0}


class Updater:
    def __init__(self, link):
        from ota.link import read_state

        plane = link.plane
        self.plane = plane
        self.port = plane.port
        self.cfg = plane.cfg
        self.root = plane.port.flash_dir() + "/ota"
        self.st = _default_state()
        got = read_state(self.root)
        for k in got:
            self.st[k] = got[k]
        self.rx = None           # ota.fetch.Receiver of the blob in progress
        self.rx_kind = None      # "manifest" or "payload"
        self._asked_ms = 0
        self._asked_end = -1     # first chunk index not asked for yet (-1: ask from next)
        self._hash_fails = 0
        self._pct_sent = -1
        self._boot_ms = ticks_ms()
        self._selftest = None
        self._complete = False   # the blob in progress is whole (on_chunk)
        self.offered = True      # look for a stored offer (ota/link.py on_offer sets it)
        self.told = False        # state key 15 read for a state report (ota/link.py field)

    # -- state and the app ---------------------------------------------------
    @property
    def client(self):
        return self.plane.client

    def active(self):
        return DOWNLOADING <= self.st["phase"] <= PROBATION

    def keys(self):
        from app.config import release_keys

        return release_keys(self.cfg)

    def save(self):
        import json
        from fsutil import makedirs, write_atomic

        makedirs(self.root)
        write_atomic(self.root + "/state.json", json.dumps(self.st).encode())

    def publish(self):
        r = self.plane.reporter
        if r is not None:
            try:
                r.publish_state()
            except Exception:  # noqa: the state is published again periodically
                pass

    def busy(self):
        """A scanned code waits to be decided: downloads pause."""
        q = self.plane.queue
        return q is not None and q.count > 0

    def healthy(self):
        """Scanner set up and broker connected (the test pass: _healthy)."""
        c = self.plane.client
        if c is None or not c.connected:
            return False
        for src in self.plane.status_sources:
            if src().get("scanner") == "ready":
                return True
        return False

    def _set(self, phase, reason=None, pct=None, save=True):
        st = self.st
        st["phase"] = phase
        if reason is not None:
            st["reason"] = reason
        if pct is not None:
            st["pct"] = pct
        if save:
            self.save()
        self.publish()

    def _fail(self, reason, detail=""):
        self.port.log("ota: release %d failed: %s %s" % (
            self.st["release"], reasons.name(reason), detail))
        self.port.event("ota", {"phase": FAILED, "reason": reasons.name(reason)})
        self._drop_download()
        self._set(FAILED, reason)

    def _image(self):
        return self.st.get("target") == 1

    def _supported(self, target):
        want = self.cfg.get("ota_target", 0)  # 0 file bundle, 1 image (frozen build)
        return target == want

    # -- the offer ------------------------------------------------------------
    async def _take(self):
        """The stored offer (ota/offer.py), if one waits and no update is
        past its download -> True if one was taken."""
        self.offered = False
        if VERIFYING <= self.st["phase"] <= PROBATION:
            return False  # it stays on flash until this update is settled
        root = self.root
        try:
            import os

            os.stat(root + "/offer.cbor")  # ota/offer.py NAME
        except OSError:
            return False
        if self.st["phase"] >= DONE and self.plane.reporter is not None:
            # e.g. rolled back at this boot, not yet connected: the fleet
            # learns the result (state key 15, read by the reporter through
            # ota/link.py field()) before the next offer replaces it
            self.told = False
            self.publish()
            while not self.told:
                await asyncio.sleep_ms(200)
        ctl = self.plane.control
        n = 0
        while ctl is not None and ctl.svc is not None and n < 1200:
            await asyncio.sleep_ms(100)  # never both loaded (docs/memory.md): 120 s at most
            n += 1
        ctl = None
        from ota import offer

        got = offer.load(root)  # the newest: a later one may have replaced it meanwhile
        if got is None:
            return False
        if got[0] != self.st.get("offer"):
            self.port.event("ota", {"offer": "taken"})
            self.offer(got[0], got[1])
        else:  # taken before a power cut, only not removed
            self.port.event("ota", {"offer": "known"})
        got = None
        offer.drop(root)  # after state.json has it (offer() saved it)
        offer = None
        from app import unload

        unload("ota.offer")  # not needed during the download (heap)
        return True

    def offer(self, digest, body):
        """A verified kind-8 offer body: start the update, or refuse it
        (state key 15 = [release, 7 failed, 0, reason, campaign])."""
        st = self.st
        if st["phase"] == DOWNLOADING:
            self._drop_download()  # a newer offer replaces the one downloading
        st["offer"] = digest
        st["campaign"] = body[3]
        st["release"] = 0
        st["pct"] = 0
        try:
            from ota import fetch

            pref = fetch.check_ref(body[2])
            st["pref"] = _ref(pref)
            if type(body.get(1)) is bytes:
                st["mref"] = None
                self._accept_manifest(body[1])
            else:
                st["mref"] = _ref(fetch.check_ref(body[4]))
                self._set(DOWNLOADING, reasons.OK, 0)
        except errors.UpdateError as e:
            self._fail(e.reason, e.detail)
            return e.reason
        except errors.GateError as e:
            self._fail(reasons.OTA_SPACE if isinstance(e, errors.StoreError) else e.reason, e.detail)
            return e.reason
        return reasons.OK

    def _accept_manifest(self, data):
        """Release signature, anti-rollback, target; then the manifest is
        kept on flash and the payload download starts."""
        from ota import manifest, fetch
        from crypto.ed25519 import SCRATCH
        from fsutil import makedirs, write_atomic

        st = self.st
        man = manifest.check(data, self.keys(), bytearray(SCRATCH))
        st["release"] = man.release
        manifest.admit(man, st["installed"], st.get("failed", 0))
        if not self._supported(man.target):
            raise errors.UpdateError(reasons.OTA_TARGET, "target %d not installable here" % man.target)
        fetch.check_ref(_ref(st["pref"]), man.sha, man.size)
        makedirs(self.root)
        write_atomic(self.root + "/manifest.cose", data)
        st["target"] = man.target
        st["mref"] = None
        st["saved"] = 0
        st["slot"] = self._next_slot(man.target)
        man = None
        self.port.log("ota: release %d accepted, downloading" % st["release"])
        self.port.event("ota", {"phase": DOWNLOADING, "release": st["release"]})
        self._set(DOWNLOADING, reasons.OK, 0)

    def _next_slot(self, target):
        if target == 1:
            from ota import image

            return image.next_update().info()[4]
        cur = _running_slot()
        st = self.st
        st["from"] = cur
        slot = "b" if cur == "a" else "a"
        return slot

    # -- downloading ----------------------------------------------------------
    def _open_rx(self):
        from ota import fetch

        st = self.st
        if st.get("mref"):
            self.rx_kind = "manifest"
            ref, sink = _ref(st["mref"]), fetch.FileSink(self.root + "/manifest.blob")
        elif self._image():
            from ota import image

            self.rx_kind = "payload"
            ref = _ref(st["pref"])
            sink = image.ImageSink(_partition(st["slot"]), st.get("saved", 0))
        else:
            self.rx_kind = "payload"
            ref, sink = _ref(st["pref"]), fetch.FileSink(self.root + "/payload.bin")
        if getattr(sink, "whole", None) is not None and sink.whole() == ref[2]:
            # whole before a power cut (renamed, its phase not yet written):
            # the manifest's signature / every file's hash still decide
            self._complete = True
            return
        self.rx = fetch.Receiver(ref, sink)
        self._asked_end = -1

    def _drop_download(self):
        import os

        if self.rx is not None:
            self.rx.sink.close()
        self.rx = None
        self._complete = False
        for name in ("manifest.blob", "manifest.blob.part", "payload.bin", "payload.bin.part"):
            try:
                os.remove(self.root + "/" + name)
            except OSError:
                pass

    def on_chunk(self, payload):
        rx = self.rx
        if rx is None or self._complete or self.st["phase"] != DOWNLOADING:
            return
        from codec import cbor

        try:
            done = rx.add(cbor.loads(payload))
        except errors.UpdateError as e:
            self._chunk_error(e)
            return
        except errors.GateError:
            return  # not CBOR: not a chunk of ours
        if self._image() and self.rx_kind == "payload" and rx.next % 16 == 0:
            self.st["saved"] = rx.sink.sync()  # the partition's resume point
            self.save()
        if done:
            self._complete = True  # handled by the task: the manifest check
            # takes ~1-2 s on an ESP32, the MQTT read loop must not wait
        else:
            pct = rx.percent if self.rx_kind == "payload" else 0
            if pct // 10 != self._pct_sent // 10:
                self._pct_sent = pct
                self.st["pct"] = pct
                self.publish()

    def _chunk_error(self, e):
        if e.reason == reasons.OTA_HASH:
            self._hash_fails += 1
            self.port.log("ota: download hash mismatch (%d)" % self._hash_fails)
            if self._hash_fails >= _HASH_TRIES:
                self._fail(e.reason, e.detail)
                return
            self.st["saved"] = 0
            self._set(DOWNLOADING, e.reason, 0)  # reported, and the download starts over
            self._asked_end = -1
        elif e.reason == reasons.OTA_SPACE:
            self._fail(e.reason, e.detail)
        # OTA_MALFORMED: that chunk is ignored; it is asked for again

    def _downloaded(self):
        self.rx = None
        if self.rx_kind == "manifest":
            import os

            path = self.root + "/manifest.blob"
            try:
                with open(path, "rb") as f:
                    data = f.read()
                os.remove(path)
                self._accept_manifest(data)
            except errors.UpdateError as e:
                self._fail(e.reason, e.detail)
            except errors.GateError as e:
                self._fail(reasons.OTA_SPACE, e.detail)
            except MemoryError:
                self._fail(reasons.OTA_SPACE, "manifest does not fit in RAM")
            return
        self.port.event("ota", {"phase": VERIFYING, "release": self.st["release"]})
        self._set(VERIFYING, reasons.OK, 100)

    def _request(self, first):
        client = self.client
        if client is None or not client.connected:
            return
        from net import topics

        if client.publish(topics.fetch(self.cfg["device_id"]), self.rx.request(_WINDOW, first), 1):
            self._asked_ms = ticks_ms()
            self._asked_end = first + _WINDOW

    def _download_step(self):
        if self.rx is None and not self._complete:
            self._open_rx()
        if self._complete:
            self._complete = False
            self._downloaded()
            return
        rx = self.rx
        if rx.done:
            return
        if self.busy():
            return  # a scan waits: it goes first, the next window later
        if (self._asked_end < 0 or self._asked_end <= rx.next
                or ticks_diff(ticks_ms(), self._asked_ms) >= _RETRY_MS):
            self._request(rx.next)  # (again) from the next chunk needed
        elif self._asked_end - rx.next <= _WINDOW and self._asked_end < rx.count:
            self._request(self._asked_end)  # one window arrived: ask for the one after the next

    # -- verifying and switching ---------------------------------------------
    async def _install(self):
        """Bundle: split the payload into the inactive slot, every file
        checked; image: the partition hashed again. Then the switch."""
        st = self.st
        try:
            if self._image():
                await self._check_image()
            else:
                await self._unpack()
        except errors.UpdateError as e:
            self._fail(e.reason, e.detail)
            return False
        except OSError:
            self._fail(reasons.OTA_SPACE, "cannot write the new slot")
            return False
        if self._image():
            _partition(st["slot"]).set_boot()
        else:
            import slotboot

            slotboot.switch(st["slot"], st.get("from", ""))
        self._set(SWITCHING)
        self._drop_download()
        return True

    def _manifest(self):
        from ota import manifest

        with open(self.root + "/manifest.cose", "rb") as f:
            return manifest.parse(f.read())

    async def _unpack(self):
        import hashlib
        import slotboot
        from fsutil import makedirs

        man = self._manifest()
        files = man.files
        man = None
        gc.collect()
        slot = slotboot.slot_dir(self.st["slot"])
        _rmtree(slot)
        makedirs(slot)
        buf = bytearray(_BUF)
        mv = memoryview(buf)
        with open(self.root + "/payload.bin", "rb") as src:
            for path, size, sha in files:
                while self.busy():
                    await asyncio.sleep_ms(20)
                target = slot + "/" + path
                cut = target.rfind("/")
                makedirs(target[:cut])
                h = hashlib.sha256()
                left = size
                with open(target, "wb") as dst:
                    while left:
                        n = src.readinto(mv[0:min(left, _BUF)])
                        if not n:
                            break
                        h.update(mv[0:n])
                        if dst.write(mv[0:n]) != n:
                            raise OSError(28)
                        left -= n
                if left or h.digest() != sha:
                    raise errors.UpdateError(reasons.OTA_HASH, "file %s does not match" % path)
                await asyncio.sleep_ms(0)

    async def _check_image(self):
        import hashlib
        from ota import image

        man = self._manifest()
        part = _partition(self.st["slot"])
        h = hashlib.sha256()
        buf = bytearray(_BUF)
        mv = memoryview(buf)
        at = 0
        while at < man.size:
            b, o = divmod(at, image.BLOCK)
            n = min(_BUF, man.size - at, image.BLOCK - o)
            part.readblocks(b, mv[0:n], o)
            h.update(mv[0:n])
            at += n
            if not at % image.BLOCK:
                await asyncio.sleep_ms(0)
        if h.digest() != man.sha:
            raise errors.UpdateError(reasons.OTA_HASH, "partition does not match the manifest")

    async def _reset(self):
        while self.busy():
            await asyncio.sleep_ms(50)
        self.port.log("ota: switching to release %d" % self.st["release"])
        self.port.event("ota", {"phase": SWITCHING, "release": self.st["release"]})
        await asyncio.sleep_ms(200)  # the state report leaves first
        self.port.reset()

    # -- after a reset: what did we boot? -----------------------------------
    def settle(self):
        """At boot, with phase 2..4 on flash: probation, done, rolled back."""
        st = self.st
        booted = _booted(self._image())  # (slot, trial, rolled_back)
        if booted is None:
            return
        slot, trial = booted
        phase = st["phase"]
        switched = phase in (SWITCHING, PROBATION)
        if slot == st.get("slot") and trial and (switched or phase == VERIFYING):
            # (VERIFYING: the power went between the switch and its record)
            if phase != PROBATION:
                self._set(PROBATION)
            self._boot_ms = ticks_ms()
        elif slot == st.get("slot") and switched:
            self._done()  # confirmed, the power went before the state said so
        elif switched:
            # the old slot runs again: slotboot (or the bootloader) gave up on it
            st["failed"] = st["release"]
            self.port.log("ota: release %d rolled back" % st["release"])
            self.port.event("ota", {"phase": ROLLED_BACK, "release": st["release"]})
            self._set(ROLLED_BACK, reasons.OTA_PROBATION_FAILED)

    def _healthy(self):
        if not self.healthy():
            return False
        if self._selftest is None:
            from ota import selftest

            self._selftest = selftest.run()
            selftest = None
        return self._selftest

    def _confirm(self):
        if self._image():
            from ota import image

            image.mark_valid()
        else:
            import slotboot

            slotboot.confirm()
        self._done()

    def _done(self):
        st = self.st
        st["installed"] = st["release"]
        self.port.log("ota: release %d healthy, kept" % st["release"])
        self.port.event("ota", {"phase": DONE, "release": st["release"]})
        self._set(DONE, reasons.OK, 100)

    # -- the task ---------------------------------------------------------------
    async def run(self):
        self.settle()
        limit = self.cfg.get("ota_probation_s", _PROBATION_S) * 1000
        while True:
            if self.offered:
                await self._take()  # a newer offer replaces a download
            phase = self.st["phase"]
            if phase == DOWNLOADING:
                try:
                    self._download_step()
                except errors.UpdateError as e:
                    self._fail(e.reason, e.detail)
                await asyncio.sleep_ms(100)
            elif phase == VERIFYING:
                if await self._install():
                    await self._reset()
            elif phase == SWITCHING:
                await self._reset()  # the power went between the switch and the reset
            elif phase == PROBATION:
                if self._healthy():
                    self._confirm()
                elif ticks_diff(ticks_ms(), self._boot_ms) > limit:
                    self.port.log("ota: not healthy within %d s: reset" % (limit // 1000))
                    self.port.reset()
                else:
                    await asyncio.sleep_ms(500)
            elif not await self._take():  # settled: an offer that waited, if any
                return


def _rmtree(path):
    import os

    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        p = path + "/" + name
        try:
            os.remove(p)
        except OSError:
            _rmtree(p)
            try:
                os.rmdir(p)
            except OSError:
                pass


def _partition(label):
    import sys

    if sys.platform == "esp32":
        import esp32

        return esp32.Partition.find(esp32.Partition.TYPE_APP, label=label)[0]
    from ota import image

    return image.FilePartition(int(label[-1]))


def _running_slot():
    import slotboot

    b = slotboot.booted
    return b[0] if b else ""


def _booted(image_target):
    """(slot or partition label booted, on trial?) or None (not booted
    through slotboot: nothing to settle)."""
    if image_target:
        import sys

        if sys.platform == "esp32":
            import esp32

            # pending verify or not: marking it valid is what keeps it
            return esp32.Partition(esp32.Partition.RUNNING).info()[4], True
        import otasim

        d = otasim.otadata()
        return "ota_%d" % d.get("boot", 0), d.get("state") == "pending"
    import slotboot

    return slotboot.booted
