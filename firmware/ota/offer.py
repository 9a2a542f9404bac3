# An update offer on its way from the control plane to the updater. The two
# are never loaded together (docs/memory.md "Firmware updates": that peak was
# 72.5 KB): control/service.py checks the kind-8 message's fleet signature
# and stores it here, the control plane unloads, then ota/updater.py takes
# it (release signature, anti-rollback, download) and removes it.
#
#   store(root, msg)  the newest verified offer; one file replaced atomically
#                     (the newest wins); StoreError if flash is full
#   load(root)        -> [digest hex, offer body] or None
#   drop(root)
#
# A power cut after store() leaves the file: the next boot takes it
# (ota/link.py). A cut after the updater recorded it in state.json but
# before drop(): the updater sees its digest there and only removes it.
NAME = "/offer.cbor"


def store(root, msg):
    import binascii
    from codec import cbor
    from fsutil import makedirs, write_atomic

    makedirs(root)
    write_atomic(root + NAME, cbor.dumps([binascii.hexlify(msg.digest).decode(), msg.body]))


def load(root):
    from codec import cbor

    try:
        with open(root + NAME, "rb") as f:
            data = f.read()
    except OSError:
        return None
    try:
        got = cbor.loads(data)
    except Exception:  # noqa: our own file, replaced by rename: unreadable only if flash failed
        got = None
    # (the body's fields were checked with the signature: control/service.py _check_offer)
    if type(got) is not list or len(got) != 2 or type(got[0]) is not str or type(got[1]) is not dict:
        drop(root)
        return None
    return got


def drop(root):
    import os

    try:
        os.remove(root + NAME)
    except OSError:
        pass
