# Test driver (MicroPython): the whole device decision path, fed by signed
# control messages exactly as the MQTT client would feed it.
# argv: root device_id site_id fleet_key_file
# stdin JSON lines:
#   {"op": "apply", "kind": k, "path": file, "now": t} -> {"ok"} / {"reason"}
#   {"op": "scan", "qr": text, "now": t, "trusted": bool} -> decision fields
#   {"op": "exit", "n": 1}
import sys
import json
import binascii

import errors
from codec import cbor
from control import envelope, state, blob
from gate import rules
from gate.decide import Decider
from gate.occupancy import Occupancy
from store import revocation
from verify.trust import TrustStore
from verify.verifier import Verifier

root, device_id, site_id = sys.argv[1], sys.argv[2], sys.argv[3]
keys = [open(sys.argv[4], "rb").read()]
st = state.ControlState(root, device_id, site_id)


class Clock:
    trusted = True


clock = Clock()
trust = TrustStore()
occupancy = Occupancy()
decider = Decider(Verifier(trust), None, None, occupancy, clock, sync=st)


def config_check(body):
    rules.SiteConfig(body)


def install(kind, body):
    if kind == 2:
        trust.load_bytes(cbor.dumps(body))
    elif kind == 3:
        if revocation.missing(root, body):
            raise errors.ControlError(reasons_malformed, "blobs missing")
        decider.revocations = revocation.open_body(root, body)
    elif kind == 1:
        allow = None
        ref = body.get(6)
        if ref is not None:
            allow = rules.load_allowlist(blob.blob_path(root, ref[1]))
        decider.config = rules.SiteConfig(body, allow)


reasons_malformed = 45
CHECKS = {1: config_check, 3: revocation.check_body}

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
                install(k, msg.body)
                st.commit(msg)
            res = {"ok": True}
        except errors.GateError as e:
            res = {"ok": False, "reason": e.reason, "detail": e.detail}
    elif op == "scan":
        clock.trusted = cmd.get("trusted", True)
        d = decider.decide(cmd["qr"], cmd["now"])
        res = {"verdict": d.verdict, "reason": d.reason, "role": d.role, "initials": d.initials,
               "birth_year": d.birth_year,
               "hash": binascii.hexlify(d.pass_hash).decode() if d.pass_hash else None,
               "inside": occupancy.inside}
    elif op == "exit":
        occupancy.exit(cmd.get("n", 1))
        res = {"inside": occupancy.inside}
    print(json.dumps(res))
