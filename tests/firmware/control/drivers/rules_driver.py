# Test driver (MicroPython): site rules. stdin JSON lines, each
# {"cbor": hex of CBOR {"config": body, "claims": dict, "hash": bstr16,
#  "now": int|null, "inside": int, "admitted": [[bstr16, time]], "allowlist": [bstr]}}
# -> {"reason": int} or {"config_error": [reason, detail]}
import sys
import json
import binascii

import errors
from codec import cbor
from gate import rules
from gate.occupancy import Occupancy

for line in sys.stdin:
    case = cbor.loads(binascii.unhexlify(json.loads(line)["cbor"]))
    try:
        cfg = rules.SiteConfig(case["config"], set(case.get("allowlist", [])))
    except errors.ControlError as e:
        print(json.dumps({"config_error": [e.reason, e.detail]}))
        continue
    occ = Occupancy(case.get("inside", 0))
    for h, t in case.get("admitted", []):
        occ.admit(h, t)
        occ.exit()
    occ.inside = case.get("inside", 0)
    r = rules.evaluate(cfg, case["claims"], case.get("hash"), case.get("now"), occ)
    print(json.dumps({"reason": r}))
