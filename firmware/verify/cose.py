"""COSE_Sign1 (RFC 9052) envelope of a pass or a signed control message.

parse_sign1(data, max_bytes=16384) -> Sign1   raises errors.DecodeError(reasons.COSE)
    data: COSE_Sign1 tagged 18, untagged (a bare 4-array), or wrapped in the
    CWT tag 61 (RFC 8392 section 6: 61(18([...])), seen in the EU corpus).
    [protected: bstr (empty, or a CBOR map), unprotected: map,
     payload: bstr (nil = detached payload: rejected), signature: bstr]
    Header labels must be int or text. A label present in both buckets is
    tolerated (EU DCC issuers put the kid in both); the PROTECTED value
    wins, since only it is covered by the signature.
    Sign1: .protected (raw bytes, as signed), .phdr, .uhdr (dicts),
           .payload, .signature (bytes), .alg (int or None if absent),
           .kid (bytes or None).

sig_structure(sign1, external_aad=b"") -> bytes
    The ToBeSigned bytes: CBOR ["Signature1", protected, external_aad,
    payload], built directly (RFC 9052 section 4.4) and exactly as RFC 8949
    preferred serialization encodes it.
"""
from micropython import const

import errors
from verify import reasons

_TAG_SIGN1 = const(18)
_TAG_CWT = const(61)
_ALG = const(1)
_KID = const(4)
_MAX_COSE = const(16384)  # a pass is ~200 B; control messages stay small


class Sign1:
    def __init__(self, protected, phdr, uhdr, payload, signature):
        self.protected = protected
        self.phdr = phdr
        self.uhdr = uhdr
        self.payload = payload
        self.signature = signature
        alg = _pick(phdr, uhdr, _ALG)
        if alg is not None and type(alg) is not int:
            raise _err("alg is not an int")
        self.alg = alg
        kid = _pick(phdr, uhdr, _KID)
        if kid is not None and type(kid) is not bytes:
            raise _err("kid is not a byte string")
        self.kid = kid


def _pick(phdr, uhdr, label):
    # Protected wins; a label present with a nil value is malformed, not absent.
    # (membership tests, not a module-level sentinel object: this module's
    # globals stay 12, one dict table size smaller, docs/memory.md)
    if label in phdr:
        v = phdr[label]
    elif label in uhdr:
        v = uhdr[label]
    else:
        return None
    if v is None:
        raise _err("header %d is nil" % label)
    return v


def _err(detail):
    return errors.DecodeError(reasons.COSE, detail)


def _header_map(h, where):
    if type(h) is not dict:
        raise _err(where + " header is not a map")
    for label in h:
        if type(label) is not int and type(label) is not str:
            raise _err(where + " header label is not int or text")
    return h


def parse_sign1(data, max_bytes=_MAX_COSE):
    from codec import cbor

    try:
        obj = cbor.loads(data, max_bytes=max_bytes)
    except errors.CBORError as e:
        raise _err("not CBOR: " + e.detail)
    if type(obj) is cbor.Tag and obj.tag == _TAG_CWT:
        obj = obj.value
        if type(obj) is not cbor.Tag:
            raise _err("CWT tag without COSE tag")
    if type(obj) is cbor.Tag:
        if obj.tag != _TAG_SIGN1:
            raise _err("tag %d is not COSE_Sign1" % obj.tag)
        obj = obj.value
    if type(obj) is not list or len(obj) != 4:
        raise _err("not a 4-element array")
    protected, uhdr, payload, signature = obj
    if type(protected) is not bytes:
        raise _err("protected header is not a byte string")
    if protected:
        try:
            phdr = cbor.loads(protected)
        except errors.CBORError as e:
            raise _err("protected header: " + e.detail)
    else:
        phdr = {}
    _header_map(phdr, "protected")
    _header_map(uhdr, "unprotected")
    if payload is None:
        raise _err("detached payload")
    if type(payload) is not bytes:
        raise _err("payload is not a byte string")
    if type(signature) is not bytes:
        raise _err("signature is not a byte string")
    return Sign1(protected, phdr, uhdr, payload, signature)


def _bstr_head(n):
    if n < 24:
        return bytes((0x40 | n,))
    if n < 0x100:
        return bytes((0x58, n))
    if n < 0x10000:
        return bytes((0x59, n >> 8, n & 0xFF))
    return bytes((0x5A,)) + n.to_bytes(4, "big")


def sig_structure(sign1, external_aad=b""):
    p = sign1.protected
    body = sign1.payload
    return b"".join((
        b"\x84\x6aSignature1",  # 0x84: array(4); 0x6a "Signature1": text(10), the context
        _bstr_head(len(p)), p,
        _bstr_head(len(external_aad)), external_aad,
        _bstr_head(len(body)), body,
    ))
