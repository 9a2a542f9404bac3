# Blobs: big signed-by-reference payloads (revocation snapshot and delta,
# worker allowlist) fetched in ~1 KiB chunks over MQTT.
#
# A signed control message references a blob as {1: sha256 (32 B), 2: size,
# 3: chunk_size}. The device asks for chunks on gg/v1/dev/{id}/fetch with
# fetch_request(); the fleet answers on gg/v1/dev/{id}/blob with chunks
# {1: blob id = sha256[:8], 2: index, 3: count, 4: data}. Chunks are written in
# order to <path>.part; the whole file's SHA-256 must equal the signed one
# before it is renamed to <path> (content-addressed: blob_path()). Chunks need
# no signature of their own: the hash in the signed message covers them.
# After a reboot the receiver resumes: the .part prefix is re-hashed.
import hashlib
import os

import errors
from verify import reasons

MAX_CHUNK = 1024
MAX_BLOB = 8 * 1024 * 1024
WINDOW = 16  # chunks asked for at once (the fleet sends them back to back)


def hexid(sha):
    return "".join("%02x" % b for b in sha[:8])


def blob_path(root, sha):
    return "%s/blob_%s.bin" % (root, hexid(sha))


def check_ref(ref):
    """A blob reference from a signed body; ControlError if malformed."""
    if (type(ref) is not dict or type(ref.get(1)) is not bytes or len(ref[1]) != 32
            or type(ref.get(2)) is not int or not 0 < ref[2] <= MAX_BLOB
            or type(ref.get(3)) is not int or not 64 <= ref[3] <= MAX_CHUNK):
        raise errors.ControlError(reasons.CTRL_MALFORMED, "bad blob reference")
    return ref


def have(root, ref):
    try:
        return os.stat(blob_path(root, ref[1]))[6] == ref[2]
    except OSError:
        return False


class BlobReceiver:
    def __init__(self, root, ref):
        check_ref(ref)
        self.sha = ref[1]
        self.size = ref[2]
        self.chunk = ref[3]
        self.count = (self.size + self.chunk - 1) // self.chunk
        self.path = blob_path(root, self.sha)
        self.part = self.path + ".part"
        self.id = self.sha[:8]
        self._h = hashlib.sha256()
        self.next = 0
        self._resume()

    def _resume(self):
        try:
            n = os.stat(self.part)[6]
        except OSError:
            n = -1
        if n > 0 and n % self.chunk == 0 and n < self.size:
            buf = bytearray(self.chunk)
            with open(self.part, "rb") as f:
                while f.readinto(buf) == self.chunk:
                    self._h.update(buf)
            self.next = n // self.chunk
            self._f = open(self.part, "ab")
        else:
            self._f = open(self.part, "wb")

    @property
    def done(self):
        return self.next >= self.count

    def fetch_request(self, window=WINDOW):
        from codec import cbor

        return cbor.dumps({1: self.sha, 2: self.next, 3: window})

    def add(self, chunk):
        """One decoded chunk map. True when the blob is complete and in place;
        False for a chunk of another blob or out of order (ignored, asked
        again). ControlError on a chunk that cannot belong to this blob."""
        if type(chunk) is not dict or chunk.get(1) != self.id:
            return False
        index = chunk.get(2)
        data = chunk.get(4)
        if chunk.get(3) != self.count or type(index) is not int or type(data) is not bytes:
            raise errors.ControlError(reasons.CTRL_MALFORMED, "chunk fields")
        if index != self.next or self.done:
            return False
        last = index == self.count - 1
        want = self.size - index * self.chunk if last else self.chunk
        if len(data) != want:
            raise errors.ControlError(reasons.CTRL_MALFORMED, "chunk length")
        try:
            self._f.write(data)
        except OSError:  # flash full or failing: start over later
            self.abort()
            try:
                os.remove(self.part)
            except OSError:
                pass
            raise errors.StoreError(reasons.INTERNAL, "cannot write blob")
        self._h.update(data)
        self.next += 1
        if not last:
            return False
        self._f.close()
        if self._h.digest() != self.sha:
            os.remove(self.part)
            self.next = 0
            self._h = hashlib.sha256()
            self._f = open(self.part, "wb")
            raise errors.ControlError(reasons.CTRL_SIGNATURE, "blob hash mismatch")
        os.rename(self.part, self.path)
        return True

    def abort(self):
        try:
            self._f.close()
        except Exception:
            pass
