"""Every failure a technician can meet, as one exception tree.

    ProvisionError             base: .code (machine-readable), str() = the
    |                          message shown (Vietnamese / English), exit 1
    +-- PortError              no serial port, port busy, no permission
    +-- ChipError              the board is not an ESP32 / esptool failed
    +-- DeviceSilent           nothing answers the setup protocol
    +-- TransferError          data corrupted after every retry
    +-- DeviceRefused          the device refused a request (its code)
    +-- FleetError             fleet unreachable, token refused/expired,
                               site unknown, device not coming online
"""

from __future__ import annotations


class ProvisionError(Exception):
    code = "PROVISION"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code:
            self.code = code


class PortError(ProvisionError):
    code = "PORT"


class ChipError(ProvisionError):
    code = "CHIP"


class DeviceSilent(ProvisionError):
    code = "DEVICE_SILENT"


class TransferError(ProvisionError):
    code = "TRANSFER"


class DeviceRefused(ProvisionError):
    code = "DEVICE_REFUSED"


class FleetError(ProvisionError):
    code = "FLEET"
