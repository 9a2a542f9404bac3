# Slot chooser: the part of the device a firmware update never replaces
# (installed over USB, left out of every OTA bundle), so a bad release can
# always be rolled back (docs/protocol.md "Firmware updates").
#
# A file-bundle release is installed into a slot directory, <flash>/slot_a
# or <flash>/slot_b; the firmware installed over USB (or frozen in the
# image) is the base slot "". One pointer file, <flash>/ota/boot.json,
# written as temp file + rename (one atomic change), says which to run:
#   {"slot": "b", "prev": "a", "tries": 2, "trial": 1}   new slot on probation
#   {"slot": "b", "prev": "a", "tries": 0, "trial": 0}   confirmed
#   {"slot": "a", "prev": "b", "trial": 0, "rolled_back": "b"}   after a rollback
# A trial boot first counts `tries` down (written before the slot runs);
# with none left the chooser goes back to `prev` and records the rollback.
# The firmware confirms the slot once healthy (ota/updater.py). A slot
# whose main fails to import resets the device: the next boot counts down.
#
# Only builtins are imported here: everything else must come from the slot.
import os
import sys

TRIES = 2  # boot attempts of a new slot (a power cut in probation is one)
booted = None  # (slot, on trial?) as this boot chose (ota/updater.py settles by it)


def flash_dir():
    if sys.platform == "esp32":
        return "/data"
    return os.getenv("GG_FLASH_DIR") or "flash"


def _path():
    return flash_dir() + "/ota/boot.json"


def slot_dir(slot):
    return flash_dir() + "/slot_" + slot


def read():
    import json

    try:
        with open(_path()) as f:
            p = json.load(f)
        if type(p) is dict and p.get("slot") in ("", "a", "b"):
            return p
    except (OSError, ValueError):
        pass
    return {"slot": "", "prev": "", "tries": 0, "trial": 0}


def write(p):
    """The one atomic change: temp file + rename (LittleFS replaces)."""
    save_json(_path(), p)


def save_json(path, obj):
    """Replace <path> with obj as JSON in one rename (temp file first)."""
    import json

    try:
        os.mkdir(flash_dir() + "/ota")
    except OSError:
        pass
    with open(path + ".tmp", "w") as f:
        f.write(json.dumps(obj))
    os.rename(path + ".tmp", path)


def _usable(slot):
    if not slot:
        return True
    try:
        os.stat(slot_dir(slot) + "/main.mpy")
        return True
    except OSError:
        return False


def choose():
    """The slot to run this boot ("" = base), after the count-down or the
    rollback has been written."""
    global booted
    p = read()
    if p.get("trial"):
        tries = p.get("tries", 0)
        if type(tries) is int and tries > 0 and _usable(p["slot"]):
            p["tries"] = tries - 1
            write(p)
        else:  # out of tries (or the slot is gone): back to the previous one
            prev = p.get("prev") or ""
            p = {"slot": prev if _usable(prev) else "", "prev": p["slot"], "tries": 0,
                 "trial": 0, "rolled_back": p["slot"]}
            write(p)
    elif not _usable(p["slot"]):
        p = {"slot": "", "prev": p["slot"], "tries": 0, "trial": 0}
    booted = (p["slot"], bool(p.get("trial")))
    return p["slot"]


def switch(new, current):
    """Point the next boot at slot `new` on probation (ota/updater.py)."""
    write({"slot": new, "prev": current, "tries": TRIES, "trial": 1})


def confirm():
    """The running trial slot is healthy: keep it."""
    p = read()
    if p.get("trial"):
        p["trial"] = 0
        p["tries"] = 0
        write(p)


def _reset():
    if sys.platform == "esp32":
        import machine

        machine.reset()
    sys.exit(3)  # the unix port's reset (hal/unix.py Port.reset)


def run():
    """main.py: run the chosen slot's firmware."""
    if booted is not None:
        # the slot's own main.py (the same two lines) calling back: its app
        from app import boot

        boot.main()
        return
    if sys.platform != "esp32":
        import otasim  # the unix port's stand-in for the ESP32 bootloader

        otasim.bootloader()
        del sys.modules["otasim"]
    slot = choose()
    if not slot:
        from app import boot

        boot.main()
        return
    sys.path.insert(0, slot_dir(slot))
    try:
        __import__("main")  # the slot's main.mpy: back in run(), then its app/boot
    except Exception as e:  # noqa: a broken release must not stop at the REPL
        sys.print_exception(e)
        if booted[1]:
            _reset()  # the next boot counts down, then rolls back
        raise
