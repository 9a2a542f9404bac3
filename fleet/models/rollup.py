"""Hourly scan counters kept on ingest (fleet/services/rollup.py) and the
listing indexes of the scan table, both keyed on a scan's event time."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, Integer, SmallInteger, case
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import Grouping

from .base import Base
from .events import Scan

# When the scan happened: the gate's clock when it was trusted, else the
# fleet's receive time. Lists, filters and the rollup all use this one
# expression; the indexes below are on it (PostgreSQL and SQLite match an
# expression index only when the query spells the same expression).
SCAN_AT = case((Scan.time_valid, Scan.time), else_=Scan.received_at)

NO_SITE = -1  # rollup key of scans from a gate with no site (a primary key cannot be NULL)

_AT_IX = Grouping(SCAN_AT)  # PostgreSQL wants an index expression in parentheses
Index("ix_scan_at_id", _AT_IX, Scan.id)
Index("ix_scan_site_at_id", Scan.site_id, _AT_IX, Scan.id)
Index("ix_scan_reason_at_id", Scan.reason, _AT_IX, Scan.id)
# Alembic cannot compare expression indexes (PostgreSQL reflects them
# reformatted, SQLite not at all): autogenerate skips them (migrations/env.py),
# tests/fleet/test_migrations.py checks them in the catalogue instead.
EXPRESSION_INDEXES = frozenset({"ix_scan_at_id", "ix_scan_site_at_id", "ix_scan_reason_at_id"})


def include_object(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001
    """Alembic autogenerate hook: leave the expression indexes alone."""
    return not (type_ == "index" and name in EXPRESSION_INDEXES)


class ScanHourly(Base):
    """Scans per (UTC hour of SCAN_AT, site, verdict, reason). Upserted in the
    transaction that inserts the scans, so every fleet process and bridge
    worker adds to the same counters and they always equal a GROUP BY over
    `scan`. The two tables below are the same counts at coarser grains, kept
    the same way, so a district-wide week reads hundreds of rows, not
    hundreds of thousands."""

    __tablename__ = "scan_hourly"
    __table_args__ = (Index("ix_scan_hourly_site_id_hour", "site_id", "hour"),  # one business, one ward
                      Index("ix_scan_hourly_reason_hour", "reason", "hour"))  # one reason, per site

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    site_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    verdict: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    reason: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ScanHourlyDistrict(Base):
    """Scans per (hour, verdict, reason), all sites together."""

    __tablename__ = "scan_hourly_district"

    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    verdict: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    reason: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ScanDailySite(Base):
    """Scans per (UTC day, site, verdict): totals per site, ward or business
    over long ranges (the hours at the range's ends come from scan_hourly)."""

    __tablename__ = "scan_daily_site"

    day: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    site_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    verdict: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)


class ScanDailySiteReason(Base):
    """Scans per (UTC day, site, verdict, reason): per-site totals over long
    ranges when one reason is asked for (read on its (reason, day) index)."""

    __tablename__ = "scan_daily_site_reason"
    __table_args__ = (Index("ix_scan_daily_site_reason_reason_day", "reason", "day"),)

    day: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    site_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    verdict: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    reason: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
