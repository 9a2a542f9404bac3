"""Local time on every page: the district's zone (setting `timezone`,
Asia/Ho_Chi_Minh by default), stated once per page in the footer and on
chart axes. The database keeps UTC (aware datetimes, unix seconds); only
what is shown is converted."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

DEFAULT_ZONE = "Asia/Ho_Chi_Minh"
DATE_TIME = "%d/%m/%Y %H:%M:%S"
DATE = "%d/%m/%Y"


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def to_local(value: dt.datetime | int | float, tz: ZoneInfo) -> dt.datetime:
    """An aware datetime, a naive one (UTC, as SQLite hands some back) or unix seconds."""
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, tz)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(tz)


def fmt(value: dt.datetime | int | float | None, tz: ZoneInfo, pattern: str = DATE_TIME) -> str:
    return "" if value is None else to_local(value, tz).strftime(pattern)


def iso(value: dt.datetime | int | float, tz: ZoneInfo) -> str:
    """The same instant as shown, machine-readable with its offset (a <time datetime>)."""
    return to_local(value, tz).isoformat()


def offset_text(tz: ZoneInfo, at: dt.datetime | None = None) -> str:
    """"UTC+07:00" at `at` (now by default): zones with summer time change it."""
    off = (at or dt.datetime.now(dt.timezone.utc)).astimezone(tz).utcoffset() or dt.timedelta(0)
    minutes = int(off.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def zone_label(tz: ZoneInfo) -> str:
    return f"{tz.key} ({offset_text(tz)})"


def offset_seconds(tz: ZoneInfo, at: float) -> int:
    off = dt.datetime.fromtimestamp(at, tz).utcoffset()
    return int(off.total_seconds()) if off else 0


def signed_seconds(value: float) -> str:
    """Clock drift as whole seconds with a sign; never "-0" (a drift of -0.3 s is 0)."""
    whole = round(value)
    return "0" if whole == 0 else f"{whole:+d}"
