"""Bounded zlib inflate: the optional compression layer of a pass.

inflate(data, cap) -> bytes   raises errors.DecodeError(reasons.INFLATE)

- Two passes over the (small: <= ~1 KB) compressed data, so that no buffer
  of `cap` bytes is ever allocated (the heap of a DCC check, issue 13):
  1. the stream is inflated and checked whole (Adler-32, trailing bytes)
     through a 64-byte scratch buffer, counting its output: a zlib bomb
     stops as soon as the count would exceed `cap`. Tried with an output
     bound (and window) of 512 bytes first, doubled after a failure up to
     the cap: a bad stream is refused by the cap's try only;
  2. it is inflated again with read(n): one bytes object of the exact size,
     no copy.
- Window: a stream whose output is at most n bytes can never refer back
  further than n bytes, so the decoder window is the smallest power of two
  >= the output bound (2^9..2^15: the bound tried in pass 1, n in pass 2) instead
  of the 32 KB a zlib header usually declares. A back-reference beyond the
  window is a bad stream (uzlib's dictionary check). One before the start of
  the output but inside the window reads zeros (the window is allocated
  zeroed): CPython refuses it, here the output is what the stream says with
  zeros there, decoded and signature-checked like any other
  (tests/zlib_kit.py cases).
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
    try:
        n = _count_small_first(data, cap)
        # pass 2: the same bytes again, so the same (checked) output
        out = _stream(data, n)[1].read(n) if n else b""
    except errors.DecodeError:
        raise
    except (OSError, EOFError, ValueError):
        # EINVAL: bad header/block/checksum/distance; EOFError: truncated stream.
        raise _fail("bad zlib stream")
    except MemoryError:  # the window: at most 32 KB, usually 1-2 KB
        raise _fail("out of memory")
    if len(out) != n:
        raise _fail("bad zlib stream")
    return out


def _stream(data, bound):
    import deflate
    import io

    src = io.BytesIO(data)  # bytes: read in place, not copied
    return src, deflate.DeflateIO(src, deflate.ZLIB, _window_bits(bound))


def _count_small_first(data, cap):
    # A DCC inflates to 300-900 B: pass 1 tries a 512-byte bound (window and
    # output) first and doubles it up to the cap after any failure, so the
    # usual stream never allocates the cap's window; only the cap's try
    # decides that a stream is bad.
    bound = 512
    while bound < cap:
        try:
            return _count(data, bound)
        except (errors.DecodeError, OSError, EOFError, ValueError):
            bound <<= 1
    return _count(data, cap)


def _count(data, cap):
    """Pass 1: the output's length (<= cap), the whole stream checked."""
    src, stream = _stream(data, cap)
    scratch = bytearray(64)
    n = 0
    while True:
        got = stream.readinto(scratch)
        if not got:
            break
        n += got
        if n > cap:
            raise _fail("output exceeds cap %d" % cap)
    if src.tell() != len(data):
        raise _fail("trailing bytes after zlib stream")
    return n


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
