# JSON lines: {"blob": hex, "probes": [hex...]} -> {"ok": bool, "len": n,
# "hits": [bool...], "error": reason name or null}
import binascii
import json
import sys

import errors
from gate import rules
from verify import reasons

for line in sys.stdin:
    req = json.loads(line)
    try:
        al = rules.load_allowlist(binascii.unhexlify(req["blob"]))
    except errors.GateError as e:
        print(json.dumps({"ok": False, "error": reasons.name(e.reason)}))
        continue
    hits = [binascii.unhexlify(p) in al for p in req["probes"]]
    print(json.dumps({"ok": True, "len": len(al), "hits": hits, "error": None}))
