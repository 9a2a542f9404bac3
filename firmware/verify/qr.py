"""QR text -> COSE bytes: the first three decoding layers of a scan.

unwrap(text, prefix="GG1:", cap=2048, zlib_required=False) -> bytes
    text: str or bytes-like as the scanner delivered it; trailing CR/LF
    (the scanner's line terminator) is stripped.
    1. prefix: must start with `prefix` (case-sensitive)  -> PREFIX
    2. base45 (RFC 9285, strict) of the rest              -> BASE45
    3. first byte 0x78 (the zlib header of a 32 KB-window deflate stream)
       => codec.inflate with the output capped at `cap` bytes -> INFLATE;
       otherwise the body is the raw COSE bytes: a COSE_Sign1 starts with
       0xD2 (tag 18) or 0x84 (array), never 0x78. GG1 allows both forms;
       the EU DCC "HC1:" scheme requires zlib: with zlib_required=True a
       body that is not zlib fails with INFLATE.
    Text longer than a QR code can hold (4400 bytes) fails with BASE45
    before anything is allocated for it. Non-ASCII text fails in base45.
    Raises errors.DecodeError with the reason of the failing layer.
"""
from micropython import const

import errors
from verify import reasons

_DEFAULT_CAP = const(2048)   # largest COSE we inflate to (GG1 passes are ~200 B)
_MAX_TEXT = const(4400)     # QR version 40 holds 4296 alphanumeric chars (+ prefix, CR/LF)
_ZLIB_FIRST = const(0x78)


def unwrap(text, prefix="GG1:", cap=_DEFAULT_CAP, zlib_required=False):
    if not isinstance(text, (str, bytes, bytearray, memoryview)):
        raise errors.DecodeError(reasons.PREFIX, "not text")
    if len(text) > _MAX_TEXT:
        raise errors.DecodeError(reasons.BASE45, "text longer than %d" % _MAX_TEXT)
    if isinstance(text, str):
        try:
            text = memoryview(text)  # MicroPython: the text's UTF-8 bytes, not a copy
        except TypeError:
            text = text.encode()  # CPython
        # non-ASCII bytes then fail in base45
    if isinstance(prefix, str):
        prefix = prefix.encode()
    end = len(text)
    while end and text[end - 1] in (10, 13):
        end -= 1
    plen = len(prefix)
    if end < plen or bytes(text[:plen]) != prefix:
        raise errors.DecodeError(reasons.PREFIX, "missing prefix")
    from codec.base45 import b45decode

    body = b45decode(memoryview(text)[plen:end])
    if body and body[0] == _ZLIB_FIRST:
        from codec.inflate import inflate

        return inflate(body, cap)
    if zlib_required:
        raise errors.DecodeError(reasons.INFLATE, "not a zlib stream")
    return body
