"""EU Digital COVID Certificate ("HC1:") QR text -> the few fields the gate needs.

decode(text) -> (reason, result)   never raises for any input
    reason: reasons.OK and a result dict, or a decoding reason and None.
    NO signature check and no validity decision here (issue 13, later work):
    the result carries what a verifier needs (alg, kid, protected, payload,
    signature; to_be_signed(result) builds the Sig_structure bytes).

Layers and their reasons (the GG1 ones, verify/qr.py + verify/cose.py):
    "HC1:" prefix -> PREFIX; base45 -> BASE45 (text over 4,096 chars:
    BASE45 before anything is decoded); zlib REQUIRED, inflated <= 2 KiB
    (window <= 2 KiB whatever the header asks) -> INFLATE;
    COSE_Sign1 (tag 18, bare or inside CWT tag 61) -> COSE;
    alg in the PROTECTED header, -7 (ES256) or -37 (PS256) -> ALG;
    kid (protected wins over unprotected) a byte string of 8, required -> COSE;
    payload CBOR (codec's depth bound) -> CBOR; claims -> CLAIMS.

result keys (nothing else of the certificate is kept - privacy):
    alg (int), kid (bytes), protected, payload, signature (bytes),
    iss (str or None: claim 1, issuer country), exp, iat (int: claims 4, 6;
    a float claim, as some issuers send, is truncated - single precision on
    the ESP32, so within ~2 minutes there),
    type ("v", "t" or "r": exactly one present and not null), and for
      v: dn, sd (int), dt, mp (str)
      t: tt, sc, tr (str)   (sc: the sample datetime text, not parsed)
      r: fr, df, du (str)
    taken from the LAST entry of the list (the schema allows one; some
    issuers send a vaccination history), sc also as tag 0 over text.
    ini (str: first ASCII letter of nam.fnt then of nam.gnt, each if any),
    yob (int or None: the year of dob),
    uci_h, couci_h (16 bytes: the EU revocation hashes UCI and
      COUNTRYCODEUCI, SHA-256(ci)[:16] and SHA-256(iss + ci)[:16]; the
      certificate identifier itself is not kept; couci_h None without iss).
"""
from micropython import const

import errors
from verify import reasons

_MAX_TEXT = const(4096)      # the HC1 corpus tops out near 1,100 chars
# Inflated COSE bytes: the corpus tops out at 870 B, an RSA-4096 DCC ~900 B.
# codec/inflate.py allocates no buffer of the cap's size (a 512-byte window
# first, then the output's exact size), but a stream over 1 KB needs the
# cap's window: HC1 stays at GG1's 2048.
_CAP = const(2048)
_KID_LEN = const(8)          # DCC: the first 8 bytes of the DSC's SHA-256
_ALG = const(1)
_ES256 = const(-7)
_PS256 = const(-37)
_ISS = const(1)
_EXP = const(4)
_IAT = const(6)
_HCERT = const(-260)
_FIELDS = {
    "v": (("dn", int), ("sd", int), ("dt", str), ("mp", str)),
    "t": (("tt", str), ("sc", str), ("tr", str)),
    "r": (("fr", str), ("df", str), ("du", str)),
}


class _Bad(Exception):
    pass


def _need(cond, detail):
    if not cond:
        raise _Bad(detail)


def decode(text):
    try:
        return reasons.OK, _decode(text)
    except _Bad:
        return reasons.CLAIMS, None
    except errors.GateError as e:
        return e.reason, None
    except MemoryError:
        return reasons.INTERNAL, None
    except Exception:  # a bug, not an input: deny, never crash the scan loop
        return reasons.INTERNAL, None


def _decode(text):
    from verify import cose, qr
    from codec import cbor

    if isinstance(text, (str, bytes, bytearray, memoryview)) and len(text) > _MAX_TEXT:
        raise errors.DecodeError(reasons.BASE45, "text too long")
    body = qr.unwrap(text, "HC1:", _CAP, True)
    s = cose.parse_sign1(body, _CAP)
    body = None
    alg = s.phdr.get(_ALG)
    if alg != _ES256 and alg != _PS256 or type(alg) is not int:
        raise errors.DecodeError(reasons.ALG, "alg")
    if s.kid is None or len(s.kid) != _KID_LEN:
        raise errors.DecodeError(reasons.COSE, "kid is not 8 bytes")
    try:
        claims = cbor.loads(s.payload, max_bytes=_CAP)
    except errors.CBORError as e:
        raise errors.DecodeError(reasons.CBOR, e.detail)
    _need(type(claims) is dict, "payload not a map")
    r = {
        "alg": alg, "kid": s.kid, "protected": s.protected,
        "payload": s.payload, "signature": s.signature,
    }
    iss = claims.get(_ISS)
    _need(iss is None or type(iss) is str, "iss")
    r["iss"] = iss
    for label, key in ((_EXP, "exp"), (_IAT, "iat")):
        v = claims.get(label)
        if type(v) is float and -2e9 < v < 4e9:  # some issuers (ES, HU) send floats
            v = int(v)
        _need(type(v) is int, key)
        r[key] = v
    h = claims.get(_HCERT)
    _need(type(h) is dict, "hcert")
    h = h.get(1)
    _need(type(h) is dict, "hcert 1")
    kind = None
    for k in ("v", "t", "r"):
        if h.get(k) is not None:  # BG sends the unused two as null
            _need(kind is None, "more than one type")
            kind = k
    _need(kind is not None, "no v/t/r")
    entries = h[kind]
    # the schema says one entry; RO/SK send a vaccination history: the LAST counts
    _need(type(entries) is list and entries, "entries")
    e = entries[-1]
    _need(type(e) is dict, "entry")
    r["type"] = kind
    ci = e.get("ci")
    _need(type(ci) is str and ci, "ci")  # needed for the revocation check
    import hashlib

    r["uci_h"] = hashlib.sha256(ci).digest()[:16]
    r["couci_h"] = hashlib.sha256(iss + ci).digest()[:16] if iss else None
    ci = None
    for key, typ in _FIELDS[kind]:
        v = e.get(key)
        if type(v) is cbor.Tag and v.tag == 0:  # SE: sc as a tag-0 datetime
            v = v.value
        _need(type(v) is typ, key)
        r[key] = v
    nam = h.get("nam")
    _need(type(nam) is dict, "nam")
    ini = ""
    for key in ("fnt", "gnt"):
        v = nam.get(key)
        _need(v is None or type(v) is str, key)
        if v and "A" <= v[0] <= "Z":
            ini += v[0]
    r["ini"] = ini
    dob = h.get("dob")
    _need(type(dob) is str, "dob")
    yob = None
    if len(dob) >= 4 and all("0" <= c <= "9" for c in dob[:4]):
        yob = int(dob[:4])
    r["yob"] = yob
    return r


def to_be_signed(result):
    """The COSE Sig_structure bytes the signature covers (no external AAD)."""
    from verify import cose

    return cose.sig_structure(cose.Sign1(result["protected"], {}, {},
                                         result["payload"], result["signature"]))
