# Small file-system helpers shared by the firmware (LittleFS on the ESP32,
# a directory under the unix port). MicroPython's os has no path module.
import os

import errors
from verify import reasons


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def makedirs(path):
    """mkdir -p for a relative or absolute path."""
    cur = "" if path.startswith("/") else "."
    for part in path.split("/"):
        if not part:
            continue
        cur = cur + "/" + part
        if not exists(cur):
            os.mkdir(cur)


def write_atomic(path, data):
    """Write a whole file so readers see the old or the new bytes, never half."""
    tmp = path + ".tmp"
    try:
        with open(tmp, "wb") as f:
            if f.write(data) != len(data):
                raise OSError(28)
    except OSError:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise errors.StoreError(reasons.INTERNAL, "cannot write " + tmp)
    try:
        os.rename(tmp, path)
    except OSError:
        # FAT cannot rename over a file; LittleFS (the default) never gets here
        try:
            os.remove(path)
        except OSError:
            pass
        try:
            os.rename(tmp, path)
        except OSError:
            raise errors.StoreError(reasons.INTERNAL, "cannot replace " + path)
