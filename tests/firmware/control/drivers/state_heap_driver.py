# Heap of control/state.py (MicroPython): what a ControlState keeps resident
# once messages are applied, and what commit() / body() allocate.
# stdin: one JSON object {"root", "device", "site", "keys": [hex], "now",
#        "messages": [[kind, path], ...]}
# stdout: one JSON line (bytes; live heap after gc.collect(), or bytes
# allocated with the GC off = an upper bound of the call's transient peak):
#   commit: [[kind, message bytes, allocated by commit()]]
#   resident: a ControlState built from those files (a restart)
#   body: [[kind, allocated by body(), live while its result is held]]
import gc
import json
import sys

from codec import cbor  # noqa: every module first, the numbers are data only
from verify import cose  # noqa
from crypto import ed25519  # noqa
from control import envelope
from control.state import ControlState

req = json.loads(sys.stdin.read())
keys = [bytes.fromhex(k) for k in req["keys"]]


def live():
    gc.collect()
    return gc.mem_alloc()


def allocated(fn):
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    r = fn()
    b = gc.mem_alloc()
    gc.enable()
    return r, b - a


st = ControlState(req["root"], req["device"], req["site"])
out = {"commit": [], "body": []}
for kind, path in req["messages"]:
    with open(path, "rb") as f:
        data = f.read()
    msg = envelope.verify_message(data, kind, keys, st, req["now"])
    _, n = allocated(lambda: st.commit(msg))
    out["commit"].append([kind, len(data), n])
    msg = data = None
st = None
a = live()
st = ControlState(req["root"], req["device"], req["site"])
out["resident"] = live() - a
out["errors"] = st.errors
for kind, _ in req["messages"]:
    a = live()
    body, n = allocated(lambda: st.body(kind))
    out["body"].append([kind, n, live() - a])
    body = None
print(json.dumps(out))
