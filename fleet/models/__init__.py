"""SQLAlchemy 2 typed models. Importing this package registers every table on
`Base.metadata` (Alembic's target)."""

from .base import Base, UTCDateTime, utcnow
from .dcc import DccList, DccSigner
from .events import (Alert, AuditLog, Blob, CommandReply, ControlOutbox, F0Case,
                     LoginThrottle, RevocationSnapshot, Scan, User, UserSession)
from .ingest import DeadLetter
from .ota import Campaign, CampaignDevice, Release
from .passes import AllowlistEntry, Pass, Revocation
from .rollup import (NO_SITE, SCAN_AT, ScanDailySite, ScanDailySiteReason, ScanHourly,
                     ScanHourlyDistrict)
from .registry import (ZONE_CODE, Business, BusinessStatus, Device, Issuer, OperatingMode,
                       Sector, Site, Zone)

__all__ = [
    "Alert", "AllowlistEntry", "AuditLog", "Base", "Blob", "Business", "BusinessStatus", "Campaign",
    "CampaignDevice", "CommandReply", "ControlOutbox", "DccList", "DccSigner", "DeadLetter", "Device",
    "F0Case", "Issuer", "LoginThrottle", "NO_SITE", "OperatingMode", "Release", "RevocationSnapshot",
    "Pass", "Revocation", "SCAN_AT", "Scan", "ScanDailySite", "ScanDailySiteReason", "ScanHourly",
    "ScanHourlyDistrict", "Sector", "Site", "User", "UserSession", "UTCDateTime",
    "ZONE_CODE", "Zone", "utcnow",
]
