# JSON lines on stdin, argv[1] = a scratch directory (the device's flash):
#   {"blob": hex, "probes": [hex...], "page": n (0 = automatic)}
#     -> {"ok": bool, "len": n, "hits": [bool or "error NAME"...],
#         "sorted_copy": bool (searched from the sorted copy), "error": NAME}
#   optional "damage": {"truncate": n} or {"poke": [offset, byte]} applied to
#   the searched file after it was opened, before the probes; "evaluate": true
#   adds "verdicts": gate.rules.evaluate() of a WORKER rule per probe (cti).
import binascii
import json
import os
import sys

import errors
from gate import rules
from verify import reasons

root = sys.argv[1]
n = 0


def damage(path, d):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    if "truncate" in d:
        data = data[: d["truncate"]]
    if "poke" in d:
        data[d["poke"][0]] = d["poke"][1]
    with open(path, "wb") as f:
        f.write(data)


for line in sys.stdin:
    req = json.loads(line)
    n += 1
    path = "%s/blob_%04d.bin" % (root, n)
    copy = "%s/allow_sorted.cbor" % root
    try:
        os.remove(copy)
    except OSError:
        pass
    with open(path, "wb") as f:
        f.write(binascii.unhexlify(req["blob"]))
    try:
        al = rules.load_allowlist(path, req.get("page", 0))
    except errors.GateError as e:
        print(json.dumps({"ok": False, "error": reasons.name(e.reason)}))
        continue
    try:
        os.stat(copy)
        searched, has_copy = copy, True
    except OSError:
        searched, has_copy = path, False
    if "damage" in req:
        damage(searched, req["damage"])
    hits = []
    for p in req["probes"]:
        try:
            hits.append(binascii.unhexlify(p) in al)
        except errors.GateError as e:
            hits.append("error " + reasons.name(e.reason))
    out = {"ok": True, "len": len(al), "hits": hits, "sorted_copy": has_copy, "error": None}
    if req.get("evaluate"):
        cfg = rules.SiteConfig({1: "s", 2: "B", 5: [[rules.WORKER, {2: False}]]}, al)
        out["verdicts"] = [reasons.name(rules.evaluate(cfg, {"role": 1, "cti": binascii.unhexlify(p)},
                                                       bytes(16), 0))
                           for p in req["probes"]]
    al.close()
    print(json.dumps(out))
