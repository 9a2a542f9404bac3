# Boot-time set-up of the scanner module: find the line speed, configure
# mode / terminator / same-code interval, move to the target baud rate, save
# to the module's flash. Every step checks the module's ACK. A module that
# never answers is left as it is: we keep listening at the fallback baud rate
# and report it (scanning works in whatever mode the module is in).
from scanner import gm65

# probe order after the configured target: factory default first
PROBE_BAUDS = (115200, 9600, 57600, 38400, 19200, 14400)


class Settings:
    def __init__(self, baud=115200, mode=gm65.MODE_CONTINUOUS, tail=gm65.TAIL_CR,
                 same_code_ms=1000, fallback_baud=9600, timeout_ms=500):
        self.baud = baud
        self.mode = mode
        self.tail = tail
        self.same_code_ms = same_code_ms
        self.fallback_baud = fallback_baud
        self.timeout_ms = timeout_ms

    @classmethod
    def from_dict(cls, d):
        modes = {"manual": 0, "command": 1, "continuous": 2, "sense": 3}
        tails = {"cr": 0, "crlf": 1, "tab": 2, "none": 3}
        return cls(
            baud=int(d.get("baud", 115200)),
            mode=modes.get(d.get("mode", "continuous"), gm65.MODE_CONTINUOUS),
            tail=tails.get(d.get("terminator", "cr"), gm65.TAIL_CR),
            same_code_ms=int(d.get("same_code_ms", 1000)),
            fallback_baud=int(d.get("fallback_baud", 9600)),
            timeout_ms=int(d.get("timeout_ms", 500)),
        )


def _state():
    return {
        "responsive": False,  # the module answered at some baud rate
        "found_baud": None,  # where it answered
        "baud": None,  # where we listen now
        "configured": False,  # every write ACKed
        "saved": False,
        "steps": [],  # [name, ok] in order
        "error": None,
    }


async def _write_ok(link, parser, state, name, frame, timeout_ms):
    reply = await link.request(frame, parser, timeout_ms)
    ok = reply is not None and reply[0] == 0 and reply[1] == b"\x00"
    state["steps"].append([name, ok])
    return ok


async def _read(link, parser, state, name, addr, count, timeout_ms):
    reply = await link.request(gm65.read_register(addr, count), parser, timeout_ms)
    ok = reply is not None and reply[0] == 0 and len(reply[1]) == count
    state["steps"].append([name, ok])
    return reply[1] if ok else None


def _can_set(link, baud):
    try:
        link.set_baud(baud)
        return True
    except (ValueError, OSError):
        return False  # this port can't do that speed (e.g. 14400 on a pty)


async def probe(link, parser, settings):
    """The first baud rate where the module answers a read, or None."""
    bauds = [settings.baud] + [b for b in PROBE_BAUDS if b != settings.baud]
    for baud in bauds:
        if not _can_set(link, baud):
            continue
        reply = await link.request(gm65.read_register(gm65.REG_BAUD, 2), parser,
                                   settings.timeout_ms)
        if reply is not None and reply[0] == 0:
            return baud
    return None


async def configure(link, settings):
    """Run the boot sequence; returns the state dict (also on failure)."""
    parser = gm65.ReplyParser()
    state = _state()
    t = settings.timeout_ms
    found = await probe(link, parser, settings)
    if found is None:
        _can_set(link, settings.fallback_baud)
        state["baud"] = link.baud
        state["error"] = "no_answer"
        return state
    state["responsive"] = True
    state["found_baud"] = found
    state["baud"] = found

    ok = True
    regs = await _read(link, parser, state, "read_settings", gm65.REG_SETTINGS, 1, t)
    if regs is None:
        ok = False
    else:
        value = gm65.with_mode(regs[0], settings.mode)
        ok &= await _write_ok(link, parser, state, "mode",
                              gm65.write_register(gm65.REG_SETTINGS, bytes((value,))), t)
    regs = await _read(link, parser, state, "read_tail", gm65.REG_TAIL, 1, t)
    if regs is None:
        ok = False
    else:
        value = gm65.with_tail(regs[0], settings.tail)
        ok &= await _write_ok(link, parser, state, "terminator",
                              gm65.write_register(gm65.REG_TAIL, bytes((value,))), t)
    value = gm65.same_code_value(settings.same_code_ms)
    ok &= await _write_ok(link, parser, state, "same_code",
                          gm65.write_register(gm65.REG_SAME_CODE, bytes((value,))), t)

    if found != settings.baud:
        ok &= await _switch_baud(link, parser, settings, state, found)

    saved = await _write_ok(link, parser, state, "save", gm65.save_settings(), t)
    state["saved"] = saved
    state["configured"] = ok and saved
    if not state["configured"]:
        state["error"] = "nack"
    state["baud"] = link.baud
    return state


async def _switch_baud(link, parser, settings, state, found):
    data = gm65.baud_bytes(settings.baud)
    if data is None or not _can_set(link, found):
        state["steps"].append(["baud", False])
        return False
    # the module ACKs at the old speed, then switches
    if not await _write_ok(link, parser, state, "baud",
                           gm65.write_register(gm65.REG_BAUD, data), settings.timeout_ms):
        return False
    if not _can_set(link, settings.baud):
        _can_set(link, found)
        return False
    back = await _read(link, parser, state, "verify_baud", gm65.REG_BAUD, 2,
                       settings.timeout_ms)
    if back is None:
        _can_set(link, found)  # keep working where it answered
        return False
    return True
