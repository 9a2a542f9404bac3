"""SMS codes: short references to a pass, checked online only (docs/pass-format.md s.10).

10 Crockford base32 symbols = 9 random (45 bits) + 1 Luhn mod 32 check symbol,
displayed as two groups of five. The check symbol only catches typos; the code
proves nothing offline, so a gate never admits on an SMS code alone.
"""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford: no I, L, O, U
N = len(ALPHABET)  # 32
DATA_LEN = 9
_ALIASES = {"I": "1", "L": "1", "O": "0"}


def check_symbol(data: str) -> str:
    """Luhn mod N over data symbols (rightmost symbol doubled first)."""
    total = 0
    factor = 2
    for ch in reversed(data):
        v = ALPHABET.index(ch) * factor
        total += v // N + v % N
        factor = 3 - factor
    return ALPHABET[(N - total % N) % N]


def new_code() -> str:
    data = "".join(secrets.choice(ALPHABET) for _ in range(DATA_LEN))
    return data + check_symbol(data)


def normalise(text: str) -> str | None:
    """Canonical 10-symbol form of what a person typed, or None."""
    out = []
    for ch in text.upper():
        if ch in " -":
            continue
        ch = _ALIASES.get(ch, ch)
        if ch not in ALPHABET:
            return None
        out.append(ch)
    return "".join(out) if len(out) == DATA_LEN + 1 else None


def is_well_formed(text: str) -> bool:
    code = normalise(text)
    return code is not None and check_symbol(code[:DATA_LEN]) == code[DATA_LEN]


def display(code: str) -> str:
    return f"{code[:5]}-{code[5:]}"
