"""SQLAlchemy 2 typed models. Importing this package registers every table on
`Base.metadata` (Alembic's target)."""

from .base import Base, UTCDateTime, utcnow
from .events import (Alert, AuditLog, Blob, CommandReply, ControlOutbox, F0Case,
                     LoginThrottle, RevocationSnapshot, Scan, User, UserSession)
from .ingest import DeadLetter
from .passes import AllowlistEntry, Pass, Revocation
from .rollup import (NO_SITE, SCAN_AT, ScanDailySite, ScanDailySiteReason, ScanHourly,
                     ScanHourlyDistrict)
from .registry import (ZONE_CODE, Business, BusinessStatus, Device, Issuer, OperatingMode,
                       Sector, Site, Zone)

__all__ = [
    "Alert", "AllowlistEntry", "AuditLog", "Base", "Blob", "RevocationSnapshot", "Business", "BusinessStatus",
    "CommandReply", "ControlOutbox", "DeadLetter", "Device", "F0Case", "Issuer", "LoginThrottle", "OperatingMode",
    "NO_SITE", "Pass", "Revocation", "SCAN_AT", "Scan", "ScanDailySite", "ScanDailySiteReason", "ScanHourly", "ScanHourlyDistrict", "Sector", "Site", "User", "UserSession", "UTCDateTime",
    "ZONE_CODE", "Zone", "utcnow",
]
