"""Bounded zlib inflate: the optional compression layer of a pass.

inflate(data, cap) -> bytes   raises errors.DecodeError(reasons.INFLATE)

- Output is read in chunks into ONE preallocated bytearray of `cap` bytes:
  a zlib bomb stops as soon as the output would exceed `cap`, nothing past
  the cap is ever allocated.
- Window: a stream whose output is at most `cap` bytes can never refer back
  further than `cap` bytes, so the decoder window is the smallest power of two
  >= cap (2^9..2^15) instead of the 32 KB a zlib header usually declares.
  A back-reference beyond that window can only come from a stream that would
  exceed the cap anyway; MicroPython rejects it as a bad stream.
- Bad streams (bad header, bad block, truncated, preset dictionary) are
  rejected. MicroPython's `deflate` module checks the Adler-32 trailer of
  ZLIB streams (verified by tests/firmware/codec), so does CPython's zlib.
- Trailing bytes after the end of the zlib stream are rejected (strict: the
  QR body is exactly one stream).

Under CPython (host tools and tests) the same contract is met with `zlib`.
"""
import sys

import errors
from verify import reasons

_MPY = sys.implementation.name == "micropython"


def _window_bits(cap):
    wbits = 9
    while (1 << wbits) < cap and wbits < 15:
        wbits += 1
    return wbits


def _fail(detail):
    return errors.DecodeError(reasons.INFLATE, detail)


def inflate(data, cap):
    if cap < 1:
        raise _fail("bad cap")
    if _MPY:
        return _inflate_mpy(data, cap)
    return _inflate_cpython(data, cap)


def _inflate_mpy(data, cap):
    import deflate
    import io

    src = io.BytesIO(data)
    out = bytearray(cap)
    view = memoryview(out)
    n = 0
    try:
        stream = deflate.DeflateIO(src, deflate.ZLIB, _window_bits(cap))
        while n < cap:
            got = stream.readinto(view[n:])
            if not got:
                break
            n += got
        if n == cap and stream.readinto(bytearray(1)):
            raise _fail("output exceeds cap %d" % cap)
    except errors.DecodeError:
        raise
    except (OSError, EOFError, ValueError):
        # EINVAL: bad header/block/checksum; EOFError: truncated stream.
        raise _fail("bad zlib stream")
    except MemoryError:  # the window: at most 32 KB, usually 2 KB
        raise _fail("out of memory")
    if src.tell() != len(data):
        raise _fail("trailing bytes after zlib stream")
    return bytes(view[:n])


def _inflate_cpython(data, cap):
    import zlib

    d = zlib.decompressobj(15)
    try:
        out = d.decompress(bytes(data), cap + 1)
    except zlib.error:
        raise _fail("bad zlib stream")
    if len(out) > cap:
        raise _fail("output exceeds cap %d" % cap)
    if not d.eof:
        raise _fail("bad zlib stream")
    if d.unused_data or d.unconsumed_tail:
        raise _fail("trailing bytes after zlib stream")
    return out
