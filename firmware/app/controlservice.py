# Wires the control plane (control/service.py: MQTT control topics -> signed
# messages verified, blobs fetched, state committed) to the device; loaded
# with the service only while messages are handled (control/link.py):
#   on_applied(kind)      rebuild the decider (policy.reload: also the clock
#                         floor), redraw the idle screen, record an event
#   on_command(code, args) the commands only the device can run: open the
#                         gate, show a message, reboot, screenshot
import asyncio

from verify import reasons


class Commands:
    def __init__(self, port, gate, screen):
        self.port = port
        self.gate = gate
        self.screen = screen

    def __call__(self, code, args):
        """-> (status, detail, data or None); control/service.py replies."""
        if type(args) is not dict:
            args = {}
        if code == 2:  # open gate
            seconds = args.get(1, 3)
            if type(seconds) is not int or not 1 <= seconds <= 30:
                return reasons.CTRL_MALFORMED, "seconds 1..30", None
            self.gate.relay.pulse(seconds * 1000)
            self.port.event("command", {"code": 2, "seconds": seconds})
            return reasons.OK, "opened", None
        if code == 3:  # show message
            vi, en, seconds = args.get(1), args.get(2), args.get(3, 10)
            if (type(vi) is not str or type(en) is not str or type(seconds) is not int
                    or not 1 <= seconds <= 300 or len(vi) > 120 or len(en) > 120):
                return reasons.CTRL_MALFORMED, "message args", None
            self.screen.show_for("message", seconds * 1000, "message", vi + "\n" + en, seconds)
            self.port.event("command", {"code": 3, "seconds": seconds})
            return reasons.OK, "shown", None
        if code == 4:  # reboot, once the reply had time to leave
            asyncio.create_task(self._reboot())
            self.port.event("command", {"code": 4})
            return reasons.OK, "rebooting", None
        if code == 5:  # screenshot: the panel's canvas as a 1-bit PNG
            data = self._screenshot()
            if not data:
                return reasons.INTERNAL, "no display on this device", None
            return reasons.OK, "png", data
        return reasons.CTRL_MALFORMED, "unsupported command", None

    def _screenshot(self):
        screens = self.screen.screens if self.screen is not None else None
        if screens is None:
            return None
        import io
        import sys

        # the PNG writer: resident on the unix port (its panel dumps PNGs),
        # loaded only for this rare command on the ESP32, and dropped again
        rare = "display.png" not in sys.modules
        out = io.BytesIO()
        try:
            screens.d.screenshot(out)
        finally:
            if rare:
                from app import unload

                unload("display.png")
        return out.getvalue()

    async def _reboot(self):
        await asyncio.sleep_ms(2000)
        self.port.reset()


def build(plane, keys, port, gate, screen, link):
    """The service for control/link.py, which loads this module (and the
    service's) when a message comes and drops them when it is quiet."""
    from control.service import ControlService

    def applied(kind):
        plane.reload()
        version = plane.state.version(kind)
        port.event("control", {"msg_kind": kind, "applied": True, "version": version})
        screen.refresh()  # set-up -> idle once provisioned; new versions shown

    return ControlService(plane.state, plane.root, keys, plane.clock, on_applied=applied,
                          on_command=Commands(port, gate, screen), log=port.log, link=link)
