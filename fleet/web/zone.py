"""The district's local time zone for dates people read (the alerts page,
its CSV, the F0 case report): Asia/Ho_Chi_Minh, or a `time_zone` setting
when the fleet has one."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fleet.core.config import Settings

LOCAL_ZONE = "Asia/Ho_Chi_Minh"


def local_zone(settings: Settings) -> ZoneInfo:
    return ZoneInfo(getattr(settings, "time_zone", None) or LOCAL_ZONE)
