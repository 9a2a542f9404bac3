# Receiving one blob of a firmware update (the manifest when it travels as a
# blob, then the payload) over the control plane's blob topics
# (control/blob.py: fetch_request on gg/v1/dev/{id}/fetch, chunks
# {1: sha256[:8], 2: index, 3: count, 4: data} on gg/v1/dev/{id}/blob),
# into a sink: a file (bundle payload, manifest) or the next OTA partition
# (image, ota/image.py).
#
# Every chunk is checked (blob id, index in order, count, exact length);
# the whole blob's SHA-256 must be the signed one, else OTA_HASH and the
# download starts over. Resumable: after a reconnect the next request
# starts at the next chunk; after a power cut the sink says how many whole
# chunks it still holds (a file: its size; a partition: the progress saved
# in the update state) and those are hashed again.
import hashlib
from micropython import const

import errors
from verify import reasons

MAX_CHUNK = const(1024)


def check_ref(ref, sha=None, size=None):
    """A blob ref {1: sha256, 2: size, 3: chunk_size}; must name `sha` and
    `size` when given (the manifest's payload): UpdateError otherwise."""
    if (type(ref) is not dict or type(ref.get(1)) is not bytes or len(ref[1]) != 32
            or type(ref.get(2)) is not int or not 0 < ref[2] <= 0x3FFFFFFF
            or type(ref.get(3)) is not int or not 64 <= ref[3] <= MAX_CHUNK):
        raise errors.UpdateError(reasons.OTA_MALFORMED, "bad blob reference")
    if (sha is not None and ref[1] != sha) or (size is not None and ref[2] != size):
        raise errors.UpdateError(reasons.OTA_HASH, "blob is not the manifest's payload")
    return ref


class FileSink:
    """The blob as a file (written to <path>.part, renamed when whole)."""

    def __init__(self, path):
        self.path = path
        self.part = path + ".part"
        self._f = None

    def held(self):
        return _size(self.part)

    def whole(self):
        """Size of the finished file (renamed), 0 if there is none."""
        return _size(self.path)

    def read_into(self, offset, buf):
        with open(self.part, "rb") as f:
            f.seek(offset)
            return f.readinto(buf)

    def open(self, keep):
        """Append after the first `keep` bytes (0: start over)."""
        self.close()
        if keep:
            if self.held() != keep:  # a torn last chunk: keep only the whole ones
                _truncate(self.part, keep)
            self._f = open(self.part, "ab")
        else:
            self._f = open(self.part, "wb")

    def write(self, data):
        if self._f.write(data) != len(data):
            raise OSError(28)

    def sync(self):
        self._f.flush()
        return self._f.tell()

    def finish(self):
        import os

        self.close()
        os.rename(self.part, self.path)

    def close(self):
        if self._f is not None:
            try:
                self._f.close()
            except OSError:
                pass
            self._f = None

    def drop(self):
        import os

        self.close()
        for p in (self.part, self.path):
            try:
                os.remove(p)
            except OSError:
                pass


def _size(path):
    import os

    try:
        return os.stat(path)[6]
    except OSError:
        return 0


def _truncate(path, keep):
    # MicroPython files cannot be truncated: copy the prefix, then rename
    import os

    buf = bytearray(512)
    mv = memoryview(buf)
    with open(path, "rb") as src, open(path + "~", "wb") as dst:
        while keep:
            n = src.readinto(mv[0:min(keep, 512)])
            if not n:
                break
            dst.write(mv[0:n])
            keep -= n
    os.rename(path + "~", path)


class Receiver:
    def __init__(self, ref, sink, held=None):
        """held: bytes the sink may still hold from before (None: ask it)."""
        self.sha = ref[1]
        self.size = ref[2]
        self.chunk = ref[3]
        self.count = (self.size + self.chunk - 1) // self.chunk
        self.id = self.sha[:8]
        self.sink = sink
        self.next = 0
        self._h = hashlib.sha256()
        self._resume(sink.held() if held is None else held)

    def _resume(self, held):
        n = min(held, self.size - 1) // self.chunk  # whole chunks, never the last
        if n:
            buf = bytearray(self.chunk)
            try:
                for i in range(n):
                    if self.sink.read_into(i * self.chunk, buf) != self.chunk:
                        n = i
                        break
                    self._h.update(buf)
            except OSError:
                n = 0
            if not n:
                self._h = hashlib.sha256()
        self.next = n
        self._open(n * self.chunk)

    def _open(self, keep):
        try:
            self.sink.open(keep)
        except OSError:
            raise errors.UpdateError(reasons.OTA_SPACE, "cannot open the download")

    @property
    def done(self):
        return self.next >= self.count

    @property
    def percent(self):
        return self.next * 100 // self.count

    def request(self, window, first=None):
        from codec import cbor

        return cbor.dumps({1: self.sha, 2: self.next if first is None else first, 3: window})

    def add(self, chunk):
        """A decoded chunk map: True when the blob is whole, checked and in
        place; False for a chunk of another blob or out of order (ignored,
        asked again). UpdateError: a chunk that cannot belong to this blob
        (OTA_MALFORMED), a failing write (OTA_SPACE), a whole blob with the
        wrong hash (OTA_HASH: the download starts over)."""
        if type(chunk) is not dict or chunk.get(1) != self.id or self.done:
            return False
        index, data = chunk.get(2), chunk.get(4)
        if chunk.get(3) != self.count or type(index) is not int or type(data) is not bytes:
            raise errors.UpdateError(reasons.OTA_MALFORMED, "chunk fields")
        if index != self.next:
            return False
        last = index == self.count - 1
        if len(data) != (self.size - index * self.chunk if last else self.chunk):
            raise errors.UpdateError(reasons.OTA_MALFORMED, "chunk length")
        try:
            self.sink.write(data)
        except OSError:
            self.sink.close()
            raise errors.UpdateError(reasons.OTA_SPACE, "cannot write the download")
        self._h.update(data)
        self.next += 1
        if not last:
            return False
        if self._h.digest() != self.sha:
            self.next = 0
            self._h = hashlib.sha256()
            self._open(0)
            raise errors.UpdateError(reasons.OTA_HASH, "download does not match its SHA-256")
        try:
            self.sink.finish()
        except OSError:
            raise errors.UpdateError(reasons.OTA_SPACE, "cannot finish the download")
        return True
