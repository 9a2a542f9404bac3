# Test driver (MicroPython): the device's decision path with EU DCCs, built
# by app/provisioned.py (load_decider) from the applied signed messages,
# as the firmware builds it after every commit.
# argv: root device_id site_id fleet_key_file
# stdin JSON lines:
#   {"op": "apply", "kind": k, "path": file, "now": t} -> {"ok", "dcc": [version, signers]} / {"reason"}
#   {"op": "scan", "qr": text, "now": t} -> decision fields
import sys
import json
import binascii

import errors
from app.provisioned import load_decider, reusable
from control import envelope, state
from gate import rules
from gate.occupancy import Occupancy
from store import revocation
from verify import dsc

root, device_id, site_id = sys.argv[1], sys.argv[2], sys.argv[3]
keys = [open(sys.argv[4], "rb").read()]
st = state.ControlState(root, device_id, site_id)


class Clock:
    trusted = True


clock = Clock()
occupancy = Occupancy()
logs = []
decider = None
CHECKS = {1: rules.SiteConfig, 3: revocation.check_body, 7: dsc.check_body}

for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd["op"]
    if op == "apply":
        try:
            with open(cmd["path"], "rb") as f:
                data = f.read()
            k = cmd["kind"]
            msg = envelope.verify_message(data, k, keys, st, cmd["now"], CHECKS.get(k))
            if msg is not None:
                if k == 7:
                    dsc.check_files(root, msg.body)  # as control/service.py before the commit
                st.commit(msg)
            decider = load_decider(root, st, clock, occupancy, logs.append, None, reusable(decider))
            res = {"ok": True, "dcc": [st.version(7), getattr(getattr(decider, "dcc", None), "count", None)],
                   "built": decider is not None, "logs": logs[-1:]}
        except errors.GateError as e:
            res = {"ok": False, "reason": e.reason, "detail": e.detail}
    elif op == "scan":
        d = decider.decide(cmd["qr"], cmd["now"])
        res = {"verdict": d.verdict, "reason": d.reason, "initials": d.initials,
               "birth_year": d.birth_year, "fmt": d.fmt, "role": d.role,
               "hash": binascii.hexlify(d.pass_hash).decode() if d.pass_hash else None}
    print(json.dumps(res))
