"""EU DCC Document Signer Certificates (issue 13): the trusted signers and
one row per imported list version (what the kind-7 message pushes)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, utcnow


class DccSigner(Base):
    """One DSC (greengate.dcc.trustlist.Signer). A kid is SHA-256 of the DER,
    so a row's key never changes; a re-import that drops the kid sets
    `active` false (the row stays for the record) and one that lists it again
    sets it back."""

    __tablename__ = "dcc_signer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kid: Mapped[str] = mapped_column(String(16), unique=True)  # hex, SHA-256(der)[:8]
    alg: Mapped[int] = mapped_column(SmallInteger)            # -7 ES256, -37 PS256
    key: Mapped[bytes] = mapped_column(LargeBinary)           # 04||X||Y or RSA modulus
    e: Mapped[int] = mapped_column(Integer)                   # 65537, 0 for EC
    not_before: Mapped[int] = mapped_column(BigInteger)       # unix seconds
    not_after: Mapped[int] = mapped_column(BigInteger)
    country: Mapped[str] = mapped_column(String(2), index=True)
    types: Mapped[str] = mapped_column(String(3))             # subset of "vtr", "" = all
    der: Mapped[bytes] = mapped_column(LargeBinary)
    subject: Mapped[str] = mapped_column(String(500))
    issuer: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(200))          # file it came from
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer)             # dcc_list.id of its last change


class DccList(Base):
    """One version of the trusted signer list: an import that changed it.
    `id` is the list version the GGDT tables carry; `kids` the signers in it
    (the base of later deltas). `snapshot_sha256` is set when a full table
    was cut at this version."""

    __tablename__ = "dcc_list"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    imported_by: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted: Mapped[int] = mapped_column(Integer)
    refused: Mapped[int] = mapped_column(Integer)
    added: Mapped[int] = mapped_column(Integer)
    removed: Mapped[int] = mapped_column(Integer)
    kids: Mapped[list] = mapped_column(JSON, default=list)
    # {country: {"es256": n, "ps256": n, "refused": n}}; refused entries [kid, country, code]
    countries: Mapped[dict] = mapped_column(JSON, default=dict)
    refusals: Mapped[list] = mapped_column(JSON, default=list)
    snapshot_sha256: Mapped[str | None] = mapped_column(ForeignKey("blob.sha256"))
