"""EU DCC revocation hashes of a certificate identifier (UCI), as the EU DCC
revocation specification defines them and every EU verifier computes them:

    UCI            = SHA-256(UCI)[:16]
    COUNTRYCODEUCI = SHA-256(issuing country code + UCI)[:16]

UTF-8 bytes of the `ci` text exactly as in the certificate (with its
"URN:UVCI:" prefix when it has one); the country code is the CWT issuer
(claim 1), two capital letters. (The third kind, SIGNATURE, hashes the COSE
signature and needs the certificate itself: greengate.dcc.verify.) The gate
stores these 16-byte hashes in the same revocation store as GG1 pass hashes.
"""

from __future__ import annotations

import hashlib
import re

UCI_MAX = 80  # the hcert schema's `ci` maxLength
_UCI = re.compile(r"[\x21-\x7e]{1,%d}\Z" % UCI_MAX)  # printable ASCII, no spaces
_COUNTRY = re.compile(r"[A-Z]{2}\Z")


def check_uci(uci: object) -> str:
    if not isinstance(uci, str) or not _UCI.match(uci):
        raise ValueError(f"UCI must be 1..{UCI_MAX} printable ASCII characters without spaces")
    return uci


def check_country(country: object) -> str:
    if not isinstance(country, str) or not _COUNTRY.match(country):
        raise ValueError("country must be two capital letters (the certificate's issuing country)")
    return country


def uci_hash(uci: str) -> bytes:
    return hashlib.sha256(check_uci(uci).encode()).digest()[:16]


def country_uci_hash(country: str, uci: str) -> bytes:
    return hashlib.sha256((check_country(country) + check_uci(uci)).encode()).digest()[:16]


def uci_hashes(uci: str, country: str) -> tuple[bytes, bytes]:
    """(UCI hash, COUNTRYCODEUCI hash): both go on the revocation list."""
    return uci_hash(uci), country_uci_hash(country, uci)
