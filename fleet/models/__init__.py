"""SQLAlchemy 2 typed models. Importing this package registers every table on
`Base.metadata` (Alembic's target)."""

from .base import Base, UTCDateTime, utcnow
from .events import (Alert, AuditLog, CommandReply, ControlOutbox, F0Case, Scan, User,
                     UserSession)
from .passes import AllowlistEntry, Pass, Revocation
from .registry import (ZONE_CODE, Business, BusinessStatus, Device, Issuer, OperatingMode,
                       Sector, Site, Zone)

__all__ = [
    "Alert", "AllowlistEntry", "AuditLog", "Base", "Business", "BusinessStatus",
    "CommandReply", "ControlOutbox", "Device", "F0Case", "Issuer", "OperatingMode",
    "Pass", "Revocation", "Scan", "Sector", "Site", "User", "UserSession", "UTCDateTime",
    "ZONE_CODE", "Zone", "utcnow",
]
