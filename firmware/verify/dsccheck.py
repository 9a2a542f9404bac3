# Checks of a DCC signer table (verify/dsc.py) and of its signed message
# (control kind 7): when a table is applied and when the decider is rebuilt,
# never per scan (verify/dsc.py keeps the lookup only: each DCC check loads
# it, docs/memory.md).
#
#   check_table(t)             every index entry and record well-formed, kids
#                              strictly ascending: ControlError CTRL_MALFORMED
#   check_body(body)           the kind-7 body's blob refs
#   body_paths(root, body)     -> (snapshot path, delta path or None)
#   check_files(root, body)    both tables checked whole -> the key count
#
# body = {1: snapshot blob ref, 2: delta blob ref or null}, like revocation
# (control/blob.py refs). The blobs are checked whole (check_files) before
# the message commits: a bad table is refused, the applied one stays.
from micropython import const

import errors
from verify.dsc import _bad, _cmp8, _u32, open_files

# the layout (verify/dsc.py; its private consts are not module names)
_HEADER = const(32)
_ENTRY = const(16)
_RECORD = const(10)
_KID = const(8)
_CHUNK = const(16)  # index entries per read while checking


def check_table(t):
    """Every index entry and record well-formed, kids strictly ascending:
    ControlError CTRL_MALFORMED otherwise. Reads the index in 256-byte
    pieces (no copy of the table in RAM)."""
    f = t._f
    chunk = bytearray(_ENTRY * _CHUNK)
    prev = bytearray(_KID)
    rec = bytearray(_RECORD + 1)
    i = 0
    while i < t.count:
        n = min(_CHUNK, t.count - i)
        f.seek(_HEADER + _ENTRY * i)
        if f.readinto(chunk) < _ENTRY * n:
            raise _bad("index cut short")
        for j in range(n):
            o = _ENTRY * j
            if (i or j) and _cmp8(chunk, o, prev, 0) <= 0:
                raise _bad("kids not strictly ascending")
            prev[:] = chunk[o:o + _KID]
            _check_entry(t, chunk, o, rec)
        i += n
    return t.count


def _check_entry(t, b, o, rec):
    off = _u32(b, o + 8)
    n = (b[o + 12] << 8) | b[o + 13]
    alg = b[o + 14]
    types = b[o + 15]
    if alg == 0:
        if not t.delta or off or n or types:
            raise _bad("bad removed entry")
        return
    if alg > 2 or not 1 <= types <= 7 or off + n > t.data_size:
        raise _bad("bad index entry")
    klen = n - _RECORD
    if klen != 64 if alg == 1 else not (256 <= klen <= 512):
        raise _bad("bad key length")
    t._f.seek(t._data + off)
    if t._f.readinto(rec) != _RECORD + 1:
        raise _bad("record cut short")
    if not (0x41 <= rec[8] <= 0x5A and 0x41 <= rec[9] <= 0x5A):
        raise _bad("bad country")
    if alg == 2 and rec[_RECORD] == 0:
        raise _bad("RSA modulus with a leading zero")


def check_body(body):
    """For envelope.verify_message(check=...): ControlError if malformed."""
    from control import blob

    if type(body) is not dict:
        raise _bad("body is not a map")
    blob.check_ref(body.get(1))
    if body.get(2) is not None:
        blob.check_ref(body[2])


def body_paths(root, body):
    from control import blob

    d = body.get(2)
    return blob.blob_path(root, body[1][1]), (blob.blob_path(root, d[1]) if d is not None else None)


def check_files(root, body):
    """Every entry of the body's tables checked, the delta made for the
    snapshot: the key count, or ControlError CTRL_MALFORMED."""
    snap, delta = body_paths(root, body)
    try:
        t = open_files(snap, delta, True)
    except errors.StoreError as e:  # a blob vanished after its fetch
        raise _bad(e.detail)
    try:
        return t.key_count()
    finally:
        t.close()
