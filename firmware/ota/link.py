# Firmware updates, resident part (docs/protocol.md "Firmware updates"):
# the update state (<flash>/ota/state.json), state key 15, and the service
# that loads the updater (ota/updater.py) only while an update is under way
# (an offer came, a download or a probation is pending at boot) and drops it
# again when it is over.
#
#   link = OtaLink(plane)     app/policy.py Policy (client, reporter, queue set later)
#   link.on_offer()       control/service.py stored a verified kind-8 offer
#                         (ota/offer.py); the updater takes it once the
#                         control plane has unloaded (docs/memory.md)
#   link.on_chunk(data)   a blob chunk (control/link.py routes every chunk here)
#   link.seen(data)       the offer in hand again (retained re-delivery): drop
#   link.field()          state key 15 [release, phase, percent, reason, campaign]
# The updater runs in a task of its own, started by an offer or at boot when
# an update is under way or an offer waits on flash, and ends when it is
# settled and no offer waits.
import asyncio
import gc

_RARE = ("ota.updater", "ota.fetch", "ota.manifest", "ota.image", "ota.selftest", "ota.offer",
         "app.config")


def read_state(root):
    """<root>/state.json as a dict ({} if missing or unreadable)."""
    import json

    try:
        with open(root + "/state.json") as f:
            st = json.load(f)
        return st if type(st) is dict else {}
    except (OSError, ValueError):
        return {}


def field(st):
    """State key 15 of an update state dict."""
    return [st.get("release") or st.get("installed", 0), st.get("phase", 0), st.get("pct", 0),
            st.get("reason", 0), st.get("campaign", 0)]


class OtaLink:
    """Resident while the gate runs, so it keeps little (docs/memory.md: the
    steady heap budget): the plane (app/policy.py: port, config, MQTT
    client, reporter, code queue, status sources) and state key 15 (5 ints).
    The rest (update state, checks, download, switch, probation) is
    ota/updater.py, loaded while an update runs."""

    def __init__(self, plane):
        self.plane = plane
        self.upd = None  # the loaded updater, while its task runs
        self._task = None
        st = read_state(plane.port.flash_dir() + "/ota")
        self.k15 = field(st)
        if 1 <= self.k15[1] <= 4:  # downloading .. probation: resume
            self._start()  # the task runs once the loop does
        else:
            import os

            try:
                os.stat(plane.port.flash_dir() + "/ota/offer.cbor")  # ota/offer.py NAME
                self._start()  # stored, not yet taken (a power cut): take it
            except OSError:
                pass

    def field(self):
        upd = self.upd
        if upd is None:
            return self.k15
        upd.told = True  # a result is reported before a waiting offer replaces it
        return field(upd.st)

    def seen(self, payload):
        """The offer handled last (retained: re-delivered at each connect)."""
        import hashlib
        import binascii

        upd = self.upd
        st = upd.st if upd is not None else read_state(self.plane.port.flash_dir() + "/ota")
        return binascii.hexlify(hashlib.sha256(payload).digest()[:16]).decode() == st.get("offer")

    def _updater(self):
        if self.upd is None:
            from ota.updater import Updater

            self.upd = Updater(self)
        return self.upd

    def on_offer(self):
        """The control plane stored a verified offer (ota/offer.py)."""
        if self.upd is not None:
            self.upd.offered = True  # the running updater takes it at its next step
        self._start()

    def on_chunk(self, payload):
        if self.upd is not None:
            self.upd.on_chunk(payload)

    def _start(self):
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def _run(self):
        try:
            # the control service unloads first: its modules and the
            # updater's together were the heap's peak (docs/memory.md)
            ctl = self.plane.control
            n = 0
            while ctl is not None and ctl.svc is not None and n < 1200:
                await asyncio.sleep_ms(100)  # 120 s at most
                n += 1
            ctl = None
            await self._updater().run()
        except Exception as e:  # noqa: logged; the state on flash resumes at the next boot
            self.plane.port.log("ota: update task failed: %r" % (e,))
        finally:
            self._task = None
            self._end()

    def _end(self):
        if self.upd is not None:
            self.k15 = field(self.upd.st)
        self.upd = None
        from app import unload

        unload(*_RARE)
        gc.collect()
