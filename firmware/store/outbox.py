# Persistent outbox: every gate decision is appended here first and stays
# until the fleet has acknowledged committing it (the end-to-end ack,
# docs/protocol.md 4.4; net/reporter.py). Survives a power cut at any
# instant; see docs/outbox-and-mqtt.md.
#
# Files (one directory):
#   o<k>.seg  k = 0..segments-1, a ring of segment files. Record seq s lives in
#             segment index s // segment_records, stored in slot index % segments,
#             so the file holding a seq is known without an index.
#   st.a/st.b two alternating copies of the state (generation, acked seq,
#             floor, dropped counter, seq high-water mark) with a CRC32: a torn
#             state write leaves the other copy intact.
#
# Record = 12-byte header + payload:
#   0xA5 | 0x01 | len u16 LE | seq u32 LE | crc32 u32 LE (over len, seq, payload)
# A power cut can tear the record being appended: readers check the CRC and
# resynchronise on the next header, recovery drops the torn tail (copy +
# rename, never in place).
#
# Overflow rule: the ring holds `capacity` records. Starting a new segment
# erases the oldest one; its records that were never acked are lost and
# counted in `dropped` (persisted, reported in the device state). The new
# floor is persisted *before* the erase, so a crash never double counts.
# Records found corrupt (bad CRC inside the ring) are skipped and counted in
# `dropped` too.
#
# Sequence numbers start at 1, never repeat, never go back: at start the next
# seq is max(newest valid record + 1, acked + 1, floor, persisted high-water
# mark). A torn record was never returned by append() and never read, so its
# seq may go to the next record: no two reported records share a seq.
import os
import struct
from binascii import crc32
from micropython import const

import errors
from verify import reasons

_MAGIC = const(0xA5)
_VERSION = const(0x01)
_HDR = const(12)
_STATE_LEN = const(28)
_STATE_MAGIC = b"GGOS"
_MAX_RECORD = const(1024)


def _sync():
    # flush() commits the file (LittleFS: lfs_file_sync); os.sync exists on
    # some ports and flushes every mounted filesystem.
    s = getattr(os, "sync", None)
    if s:
        s()


def _store_error(what, e):
    return errors.StoreError(reasons.INTERNAL, "outbox %s: %s" % (what, e))


class Outbox:
    def __init__(self, directory, capacity=2048, segment_records=128):
        if segment_records < 1 or capacity < 2 * segment_records:
            raise ValueError("capacity must hold at least 2 segments")
        self.dir = directory
        self.seg_records = segment_records
        self.segments = (capacity + segment_records - 1) // segment_records
        self.capacity = self.segments * segment_records
        self._hdr = bytearray(_HDR)
        self._hmv = memoryview(self._hdr)
        self._st = bytearray(_STATE_LEN)
        self._gen = 0
        self.acked = 0        # every seq <= acked was committed by the fleet
        self.floor = 1        # lowest seq still worth reading (> acked)
        self.dropped = 0      # unacked records lost (overflow or corruption)
        self.next_seq = 1
        self._file = None     # append handle on the newest segment
        self._hint = (0, 0)   # (seq, byte offset) where pending() resumes
        try:
            os.mkdir(directory)
        except OSError:
            pass
        try:
            self._recover()
        except OSError as e:
            raise _store_error("recover", e)

    # -- files -----------------------------------------------------------
    def _path(self, seq):
        return "%s/o%d.seg" % (self.dir, (seq // self.seg_records) % self.segments)

    def _records(self, f, off=0, last=0):
        """Yield (seq, payload, end_offset) for each valid record from off.
        Bad bytes (torn or corrupt) are skipped up to the next good header."""
        hdr = self._hdr
        while True:
            f.seek(off)
            if f.readinto(hdr) != _HDR:
                return
            if hdr[0] == _MAGIC and hdr[1] == _VERSION:
                ln, seq, crc = struct.unpack_from("<HII", hdr, 2)
                if ln <= _MAX_RECORD and seq > last:
                    data = f.read(ln)
                    if len(data) == ln and crc32(data, crc32(self._hmv[2:8])) & 0xFFFFFFFF == crc:
                        off += _HDR + ln
                        last = seq
                        yield seq, data, off
                        continue
            off = self._resync(f, off + 1)
            if off < 0:
                return

    @staticmethod
    def _resync(f, off):
        f.seek(off)
        while True:
            chunk = f.read(64)
            if not chunk:
                return -1
            i = chunk.find(b"\xa5")
            if i >= 0:
                return off + i
            off += len(chunk)

    def _last_in(self, path):
        """(last valid seq, end of it) in a segment file, (0, 0) if none."""
        last = end = 0
        try:
            with open(path, "rb") as f:
                for seq, _, e in self._records(f):
                    last, end = seq, e
        except OSError:
            pass
        return last, end

    # -- state (A/B copies) ------------------------------------------------
    def _load_state(self):
        best = None
        for name in ("st.a", "st.b"):
            try:
                with open("%s/%s" % (self.dir, name), "rb") as f:
                    n = f.readinto(self._st)
            except OSError:
                continue
            b = self._st
            if n != _STATE_LEN or b[0:4] != _STATE_MAGIC:
                continue
            if crc32(memoryview(b)[0:24]) & 0xFFFFFFFF != struct.unpack_from("<I", b, 24)[0]:
                continue
            v = struct.unpack_from("<IIIII", b, 4)
            if best is None or v[0] > best[0]:
                best = v
        return best

    def _save_state(self):
        self._gen += 1
        b = self._st
        b[0:4] = _STATE_MAGIC
        struct.pack_into("<IIIII", b, 4, self._gen, self.acked, self.floor,
                         self.dropped, self.next_seq)
        struct.pack_into("<I", b, 24, crc32(memoryview(b)[0:24]) & 0xFFFFFFFF)
        try:
            with open("%s/%s" % (self.dir, "st.a" if self._gen & 1 else "st.b"), "wb") as f:
                f.write(b)
                f.flush()
            _sync()
        except OSError as e:
            raise _store_error("state", e)

    # -- recovery ----------------------------------------------------------
    def _recover(self):
        for name in os.listdir(self.dir):
            if name.endswith(".tmp"):
                os.remove("%s/%s" % (self.dir, name))
        st = self._load_state()
        hw = 1
        if st:
            self._gen, self.acked, self.floor, self.dropped, hw = st
        newest = newest_end = 0
        newest_path = None
        for slot in range(self.segments):
            path = "%s/o%d.seg" % (self.dir, slot)
            last, end = self._last_in(path)
            if last > newest:
                newest, newest_end, newest_path = last, end, path
        self.next_seq = max(newest + 1, self.acked + 1, self.floor, hw)
        if self.floor < self.acked + 1:
            self.floor = self.acked + 1
        if newest_path and os.stat(newest_path)[6] != newest_end:
            self._cut_tail(newest_path, newest_end)

    def _cut_tail(self, path, valid):
        """Rewrite a segment without its torn tail (copy, then atomic rename)."""
        tmp = path + ".tmp"
        with open(path, "rb") as src, open(tmp, "wb") as dst:
            left = valid
            while left:
                chunk = src.read(min(left, 256))
                if not chunk:
                    break
                dst.write(chunk)
                left -= len(chunk)
            dst.flush()
        os.rename(tmp, path)
        _sync()

    # -- appending -----------------------------------------------------------
    @property
    def depth(self):
        """Records appended and neither acked nor dropped."""
        return self.next_seq - self.floor if self.next_seq > self.floor else 0

    def append(self, data):
        """Persist one record; returns its seq once it is on flash."""
        ln = len(data)
        if ln > _MAX_RECORD:
            raise errors.StoreError(reasons.INTERNAL, "outbox record too large")
        seq = self.next_seq
        try:
            if self._file is None:
                self._open_segment(seq)
            hdr = self._hdr
            hdr[0] = _MAGIC
            hdr[1] = _VERSION
            struct.pack_into("<HI", hdr, 2, ln, seq)
            struct.pack_into("<I", hdr, 8, crc32(data, crc32(self._hmv[2:8])) & 0xFFFFFFFF)
            f = self._file
            f.write(hdr)
            f.write(data)
            f.flush()
            _sync()
        except OSError as e:
            self.close()
            raise _store_error("append", e)
        self.next_seq = seq + 1
        if self.next_seq % self.seg_records == 0:
            self.close()  # the next record opens a new segment
        return seq

    def _open_segment(self, seq):
        path = self._path(seq)
        idx = seq // self.seg_records
        if seq % self.seg_records:
            # Mid-segment (after a restart): continue the file if it holds
            # this segment's earlier records.
            last, _ = self._last_in(path)
            if last and last < seq and last // self.seg_records == idx:
                self._file = open(path, "ab")
                return
        # Starting segment idx erases segment idx - segments: move the floor
        # past it (counting unacked records as dropped) and persist first.
        new_floor = (idx - self.segments + 1) * self.seg_records
        if new_floor > self.floor:
            self.dropped += new_floor - self.floor
            self.floor = new_floor
        self._save_state()  # also persists the high-water mark next_seq
        self._file = open(path, "wb")
        self._hint = (0, 0)

    def close(self):
        if self._file:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None

    # -- reading and acking ---------------------------------------------------
    def pending(self, max_n=16, max_bytes=0):
        """Oldest unacked records first: list of (seq, payload), at most
        max_n records and (if max_bytes) at most max_bytes of payload (but at
        least one record). Never blocks on the network; reads flash only."""
        out = []
        seq = self.floor
        try:
            while seq < self.next_seq and len(out) < max_n:
                nxt = self._collect(seq, out, max_n, max_bytes)
                if nxt == seq or nxt < 0:
                    break
                seq = nxt
        except OSError as e:
            raise _store_error("read", e)
        return out

    def _collect(self, seq, out, max_n, max_bytes):
        """Append records [seq, end of its segment) to out. Returns the next
        seq to read, or -1 when a limit (or a hole after some records)
        stopped the walk."""
        seg_end = min((seq // self.seg_records + 1) * self.seg_records, self.next_seq)
        try:
            f = open(self._path(seq), "rb")
        except OSError:
            f = None  # erased or never written: the whole range is a hole
        expect = seq
        if f:
            with f:
                expect = self._walk(f, seq, seg_end, out, max_n, max_bytes)
        if expect < 0:
            return -1
        if expect < seg_end and not self._skip(expect, seg_end, out):
            return -1
        return seg_end

    def _walk(self, f, seq, seg_end, out, max_n, max_bytes):
        hseq, hoff = self._hint
        off = hoff if hseq == seq else 0
        total = 0
        for _, d in out:
            total += len(d)
        expect = seq
        for s, data, end in self._records(f, off, seq - 1 if off else 0):
            if s < expect:
                continue
            if s >= seg_end:
                break
            if s > expect and not self._skip(expect, s, out):
                return -1
            if out and (len(out) >= max_n or (max_bytes and total + len(data) > max_bytes)):
                return -1
            out.append((s, data))
            total += len(data)
            expect = s + 1
            # The hint is an offset in this segment's file only.
            self._hint = (expect, end if expect % self.seg_records else 0)
        return expect

    def _skip(self, lo, hi, out):
        """Records [lo, hi) are unreadable (erased or corrupt). Count them
        once the reader reaches them with nothing unacked before them."""
        if out:
            return False  # report what precedes the hole first
        if hi > self.floor:
            self.dropped += hi - max(lo, self.floor)
            self.floor = hi
            self._save_state()
        return True

    def ack(self, upto_seq):
        """Every record up to upto_seq is with the fleet: persist that."""
        if upto_seq >= self.next_seq:
            upto_seq = self.next_seq - 1
        if upto_seq <= self.acked:
            return
        self.acked = upto_seq
        if self.floor <= upto_seq:
            self.floor = upto_seq + 1
        self._save_state()
