# Test driver (MicroPython): open control messages against a ControlState.
# argv: state_dir device_id site_id key_file [key_file...]
# stdin: JSON lines {"op": "open"|"verify"|"state"|"stale"|"body"|"reload"|"info"|
#                     "message"|"damage", ...}
#   damage: {"kind": k, "how": "delete"|"truncate"|"flip"|"copy"|"restore"|"write",
#            "at": byte offset (truncate, flip; negative: from the end), "hex": bytes (write)}
#            copy keeps the file's bytes aside, restore puts them back
import sys
import json
import os
import hashlib
import binascii

import errors
from control import envelope, state
from store import revocation
from gate import rules

root, device_id, site_id = sys.argv[1], sys.argv[2], sys.argv[3]
keys = [open(p, "rb").read() for p in sys.argv[4:]]
st = state.ControlState(root, device_id, site_id or None)

CHECKS = {
    "revocation": revocation.check_body,
    "config": lambda body: rules.SiteConfig(body),
}


saved = {}


def damage(kind, how, at=0, data=None):
    path = "%s/ctrl_%d.bin" % (root, kind)
    if how == "delete":
        os.remove(path)
        return
    if how == "restore":
        data = saved[kind]
    elif how != "write":
        with open(path, "rb") as f:
            data = bytearray(f.read())
        if how == "copy":
            saved[kind] = bytes(data)
            return
        if how == "truncate":
            data = data[:at]
        elif how == "flip":
            data[at] ^= 0x01
    with open(path, "wb") as f:
        f.write(data)


def hexs(b):
    return None if b is None else binascii.hexlify(b).decode()


def listing():
    out = {}
    for name in sorted(os.listdir(root)):
        with open(root + "/" + name, "rb") as f:
            out[name] = binascii.hexlify(hashlib.sha256(f.read()).digest()).decode()
    return out


for line in sys.stdin:
    cmd = json.loads(line)
    op = cmd["op"]
    res = {}
    if op in ("open", "verify"):
        data = open(cmd["path"], "rb").read()
        check = CHECKS.get(cmd.get("check"))
        try:
            if op == "open":
                body = envelope.open_message(data, cmd["kind"], keys, st, cmd.get("now"), check)
                res = {"ok": True, "noop": body is None, "body": repr(body)}
            else:
                m = envelope.verify_message(data, cmd["kind"], keys, st, cmd.get("now"), check)
                res = {"ok": True, "noop": m is None}
        except errors.ControlError as e:
            res = {"ok": False, "reason": e.reason, "detail": e.detail}
    elif op == "state":
        res = {"files": listing(), "versions": st.versions()}
    elif op == "reload":
        st = state.ControlState(root, device_id, site_id or None)
        res = {"versions": st.versions(), "errors": st.errors}
    elif op == "stale":
        ages = {}
        for key, v in (cmd.get("max_age") or {}).items():
            ages[int(key)] = v
        k = st.stale(cmd.get("now"), ages)
        res = {"stale": k}
    elif op == "body":
        res = {"body": repr(st.body(cmd["kind"]))}
    elif op == "message":
        m = st.message(cmd["kind"])
        res = {"sha": None if m is None else hexs(hashlib.sha256(m).digest()),
               "type": type(m).__name__}
    elif op == "info":
        applied = {}
        for k in (1, 2, 3, 4):
            a = st.applied(k)
            if a is not None:
                applied[k] = [a[0], hexs(a[1]), a[2], a[3]]
        res = {"versions": st.versions(), "applied": applied, "errors": st.errors,
               "last_error": st.last_error}
    elif op == "damage":
        data = cmd.get("hex")
        damage(cmd["kind"], cmd["how"], cmd.get("at", 0),
               binascii.unhexlify(data) if data is not None else None)
    print(json.dumps(res))
