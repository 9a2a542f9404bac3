"""Host side of the provisioning frames (docs/provisioning.md).

    A5 5A | type | seq | len (2, BE) | payload | CRC-32 (4, BE) over type..payload

An independent implementation of firmware/setup/frame.py: tests run each
against the other, byte for byte.
"""

from __future__ import annotations

import struct
import zlib

MAGIC = b"\xa5\x5a"
HEADER = 6
MAX_PAYLOAD = 2048
ERROR = 0x7F
RESPONSE = 0x80


def build(ftype: int, seq: int, payload: bytes) -> bytes:
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload too long for one frame")
    body = struct.pack(">BBH", ftype, seq & 0xFF, len(payload)) + payload
    return MAGIC + body + struct.pack(">I", zlib.crc32(body))


class Parser:
    """Incremental parser; noise and broken frames are skipped (counted)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.crc_errors = 0
        self.noise = 0

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        self.buf += data
        frames = []
        while True:
            i = self.buf.find(MAGIC)
            if i < 0:
                keep = 1 if self.buf.endswith(MAGIC[:1]) else 0
                self.noise += len(self.buf) - keep
                del self.buf[: len(self.buf) - keep]
                return frames
            self.noise += i
            del self.buf[:i]
            if len(self.buf) < HEADER:
                return frames
            ftype, seq, n = struct.unpack_from(">BBH", self.buf, 2)
            if n > MAX_PAYLOAD:
                self.noise += 1
                del self.buf[:1]
                continue
            if len(self.buf) < HEADER + n + 4:
                return frames
            body = bytes(self.buf[2 : HEADER + n])
            (crc,) = struct.unpack_from(">I", self.buf, HEADER + n)
            if crc != zlib.crc32(body):
                self.crc_errors += 1
                del self.buf[:1]
                continue
            frames.append((ftype, seq, body[4:]))
            del self.buf[: HEADER + n + 4]
