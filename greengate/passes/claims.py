"""The typed claim model of a GG1 pass, its CWT map, and its validation.

Two sets of rules, both specified in docs/pass-format.md:

- reader rules (`PassClaims.from_cwt`): exactly what the device accepts
  (firmware/verify/claims.py); unknown claims are ignored, a malformed known
  claim raises ClaimsError. Kept deliberately simple so the device can check
  it cheaply (text length in code points, no control characters...).
- issuer rules (`PassClaims.check_for_issue`): stricter, for what we sign:
  initials are NFC-normalised letters, iat/nbf/exp consistent, etc.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timezone
from enum import IntEnum
from typing import Any

# CWT claim keys (RFC 8392) and the private GreenGate claim.
ISS, EXP, NBF, IAT, CTI = 1, 4, 5, 6, 7
GG = -65537
# Keys inside the `gg` map.
G_ROLE, G_INITIALS, G_BIRTH_YEAR, G_VACCINATION, G_TEST, G_F0 = 1, 2, 3, 4, 5, 6
G_HEALTH_DECL, G_BUSINESS, G_ZONE = 7, 8, 9

NUMERIC_DATE_MAX = 0xFFFFFFFF  # uint32 seconds: until 2106
DAY_MAX = 0xFFFF  # uint16 days since 1970-01-01: until 2149
EPOCH_DAY = date(1970, 1, 1)


class Role(IntEnum):
    RESIDENT = 0
    WORKER = 1
    SHIPPER = 2
    OFFICIAL = 3
    SHOPPER = 4


class LabResult(IntEnum):
    NEGATIVE = 0
    POSITIVE = 1


class F0Status(IntEnum):
    NONE = 0
    ISOLATING = 1
    RECOVERED = 2


class Zone(IntEnum):
    GREEN = 0
    YELLOW = 1
    ORANGE = 2
    RED = 3


class ClaimsError(ValueError):
    """A known claim is missing or malformed (reason CLAIMS)."""


def day_number(d: date) -> int:
    return (d - EPOCH_DAY).days


def day_date(n: int) -> date:
    return date.fromordinal(EPOCH_DAY.toordinal() + n)


def iso_time(t: int) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- reader rules: the device's rules, type by type ---------------------------


def _is_int(v: Any) -> bool:
    # CBOR true/false decode to bool, which Python counts as int: not a number here.
    return type(v) is int


def _uint(v: Any, lo: int, hi: int, what: str) -> int:
    if not _is_int(v) or v < lo or v > hi:
        raise ClaimsError(f"{what}: expected integer {lo}..{hi}")
    return v


def _text(v: Any, lo: int, hi: int, what: str) -> str:
    if type(v) is not str or not lo <= len(v) <= hi:
        raise ClaimsError(f"{what}: expected text of {lo}..{hi} characters")
    for ch in v:
        o = ord(ch)
        if o < 0x20 or 0x7F <= o <= 0x9F:
            raise ClaimsError(f"{what}: control character")
    return v


def _pair(v: Any, what: str) -> list:
    if type(v) is not list or len(v) != 2:
        raise ClaimsError(f"{what}: expected a 2-element array")
    return v


@dataclass(frozen=True)
class Vaccination:
    doses: int
    last_dose: date


@dataclass(frozen=True)
class LabTest:
    result: LabResult
    time: int  # NumericDate of the sample


@dataclass(frozen=True)
class F0:
    status: F0Status
    date: date


@dataclass(frozen=True)
class PassClaims:
    iss: str
    iat: int
    exp: int
    role: Role
    nbf: int | None = None
    cti: bytes | None = None
    initials: str | None = None
    birth_year: int | None = None
    vaccination: Vaccination | None = None
    test: LabTest | None = None
    f0: F0 | None = None
    health_decl: date | None = None
    business: str | None = None
    zone: Zone | None = None

    # -- CWT map ---------------------------------------------------------------

    def to_cwt(self) -> dict:
        gg: dict[int, Any] = {G_ROLE: int(self.role)}
        if self.initials is not None:
            gg[G_INITIALS] = self.initials
        if self.birth_year is not None:
            gg[G_BIRTH_YEAR] = self.birth_year
        if self.vaccination is not None:
            gg[G_VACCINATION] = [self.vaccination.doses, day_number(self.vaccination.last_dose)]
        if self.test is not None:
            gg[G_TEST] = [int(self.test.result), self.test.time]
        if self.f0 is not None:
            gg[G_F0] = [int(self.f0.status), day_number(self.f0.date)]
        if self.health_decl is not None:
            gg[G_HEALTH_DECL] = day_number(self.health_decl)
        if self.business is not None:
            gg[G_BUSINESS] = self.business
        if self.zone is not None:
            gg[G_ZONE] = int(self.zone)
        cwt: dict[int, Any] = {ISS: self.iss}
        if self.cti is not None:
            cwt[CTI] = self.cti
        cwt[IAT] = self.iat
        if self.nbf is not None:
            cwt[NBF] = self.nbf
        cwt[EXP] = self.exp
        cwt[GG] = gg
        return cwt

    @classmethod
    def from_cwt(cls, cwt: Any) -> "PassClaims":
        """Reader rules (the device's): raises ClaimsError on a malformed known claim."""
        if type(cwt) is not dict:
            raise ClaimsError("payload is not a map")
        if ISS not in cwt or IAT not in cwt or EXP not in cwt or GG not in cwt:
            raise ClaimsError("iss, iat, exp and gg are required")
        iss = _text(cwt[ISS], 1, 32, "iss")
        iat = _uint(cwt[IAT], 0, NUMERIC_DATE_MAX, "iat")
        exp = _uint(cwt[EXP], 0, NUMERIC_DATE_MAX, "exp")
        nbf = _uint(cwt[NBF], 0, NUMERIC_DATE_MAX, "nbf") if NBF in cwt else None
        cti = None
        if CTI in cwt:
            cti = cwt[CTI]
            if type(cti) is not bytes or not 8 <= len(cti) <= 16:
                raise ClaimsError("cti: expected 8..16 bytes")
        if iat > exp or (nbf is not None and nbf > exp):
            raise ClaimsError("validity window is empty (iat or nbf after exp)")
        gg = cwt[GG]
        if type(gg) is not dict:
            raise ClaimsError("gg is not a map")
        if G_ROLE not in gg:
            raise ClaimsError("role is required")
        kw: dict[str, Any] = {}
        kw["role"] = Role(_uint(gg[G_ROLE], 0, 4, "role"))
        if G_INITIALS in gg:
            kw["initials"] = _text(gg[G_INITIALS], 1, 6, "initials")
        if G_BIRTH_YEAR in gg:
            kw["birth_year"] = _uint(gg[G_BIRTH_YEAR], 1900, 2100, "birth_year")
        if G_VACCINATION in gg:
            v = _pair(gg[G_VACCINATION], "vaccination")
            kw["vaccination"] = Vaccination(
                _uint(v[0], 0, 9, "doses"), day_date(_uint(v[1], 0, DAY_MAX, "last_dose"))
            )
        if G_TEST in gg:
            v = _pair(gg[G_TEST], "test")
            kw["test"] = LabTest(
                LabResult(_uint(v[0], 0, 1, "test result")),
                _uint(v[1], 0, NUMERIC_DATE_MAX, "test time"),
            )
        if G_F0 in gg:
            v = _pair(gg[G_F0], "f0")
            kw["f0"] = F0(
                F0Status(_uint(v[0], 0, 2, "f0 status")),
                day_date(_uint(v[1], 0, DAY_MAX, "f0 date")),
            )
        if G_HEALTH_DECL in gg:
            kw["health_decl"] = day_date(_uint(gg[G_HEALTH_DECL], 0, DAY_MAX, "health_decl"))
        if G_BUSINESS in gg:
            kw["business"] = _text(gg[G_BUSINESS], 1, 16, "business")
        if G_ZONE in gg:
            kw["zone"] = Zone(_uint(gg[G_ZONE], 0, 3, "zone"))
        return cls(iss=iss, iat=iat, exp=exp, nbf=nbf, cti=cti, **kw)

    # -- issuer rules -------------------------------------------------------------

    def normalised(self) -> "PassClaims":
        """Copy with text claims in NFC (the device's font has precomposed glyphs only)."""
        changes = {}
        for f in ("iss", "initials", "business"):
            v = getattr(self, f)
            if v is not None:
                changes[f] = unicodedata.normalize("NFC", v)
        return dataclasses.replace(self, **changes)

    def check_for_issue(self) -> None:
        """Issuer rules: everything the reader checks, plus what only we can check."""
        c = self
        for f in ("iss", "initials", "business"):
            v = getattr(c, f)
            if v is not None and unicodedata.normalize("NFC", v) != v:
                raise ClaimsError(f"{f}: not NFC-normalised")
        if c.initials is not None and not all(
            unicodedata.category(ch).startswith("L") for ch in c.initials
        ):
            raise ClaimsError("initials: letters only")
        if c.role == Role.WORKER and c.business is None:
            raise ClaimsError("a worker pass needs --business")
        if c.cti is not None and not 8 <= len(c.cti) <= 16:
            raise ClaimsError("cti: expected 8..16 bytes")
        # Round trip through the reader rules: what we sign, the device accepts.
        PassClaims.from_cwt(c.to_cwt())

    # -- readable forms -------------------------------------------------------------

    def readable(self) -> dict:
        """The device's claims dict (verify/claims.py): readable keys, wire values."""
        out: dict[str, Any] = {"iss": self.iss, "iat": self.iat, "exp": self.exp}
        if self.nbf is not None:
            out["nbf"] = self.nbf
        if self.cti is not None:
            out["cti"] = self.cti
        out["role"] = int(self.role)
        if self.initials is not None:
            out["initials"] = self.initials
        if self.birth_year is not None:
            out["birth_year"] = self.birth_year
        if self.vaccination is not None:
            out["vaccination"] = [self.vaccination.doses, day_number(self.vaccination.last_dose)]
        if self.test is not None:
            out["test"] = [int(self.test.result), self.test.time]
        if self.f0 is not None:
            out["f0"] = [int(self.f0.status), day_number(self.f0.date)]
        if self.health_decl is not None:
            out["health_decl"] = day_number(self.health_decl)
        if self.business is not None:
            out["business"] = self.business
        if self.zone is not None:
            out["zone"] = int(self.zone)
        return out


def readable_to_json(raw: dict) -> dict:
    """Human/JSON form of a device claims dict (shared by both engines of `pass check`)."""
    out: dict[str, Any] = {}
    for k in ("iss", "iat", "nbf", "exp"):
        if k in raw:
            out[k] = raw[k] if k == "iss" else iso_time(raw[k])
    if "cti" in raw:
        cti = raw["cti"]
        out["cti"] = cti.hex() if isinstance(cti, (bytes, bytearray)) else cti
    out["role"] = Role(raw["role"]).name.lower()
    for k in ("initials", "birth_year", "business"):
        if k in raw:
            out[k] = raw[k]
    if "vaccination" in raw:
        d, day = raw["vaccination"]
        out["vaccination"] = {"doses": d, "last_dose": day_date(day).isoformat()}
    if "test" in raw:
        r, t = raw["test"]
        out["test"] = {"result": LabResult(r).name.lower(), "time": iso_time(t)}
    if "f0" in raw:
        s, day = raw["f0"]
        out["f0"] = {"status": F0Status(s).name.lower(), "date": day_date(day).isoformat()}
    if "health_decl" in raw:
        out["health_decl"] = day_date(raw["health_decl"]).isoformat()
    if "zone" in raw:
        out["zone"] = Zone(raw["zone"]).name.lower()
    return out
