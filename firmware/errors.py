# The device's exception tree. Every error carries a reason code from
# verify/reasons.py so callers (the decision pipeline, the control plane, the
# scan report) can turn any failure into a verdict without string matching.
#
#   GateError                 base: .reason (int), .detail (short ASCII text)
#   +-- DecodeError           untrusted bytes that do not parse
#   |   +-- CBORError         the one error class of codec/cbor.py
#   +-- VerifyError           well-formed but not trusted / not valid now
#   +-- ControlError          a fleet control message was refused
#   +-- UpdateError           a firmware update was refused or failed (OTA_*)
#   +-- StoreError            flash storage unreadable or full
#   +-- DeviceError           a peripheral (scanner, display) misbehaves
#
# Catch GateError at service boundaries; never let one escape a task.
from verify import reasons


class GateError(Exception):
    reason = reasons.INTERNAL

    def __init__(self, reason=None, detail=""):
        if reason is not None:
            self.reason = reason
        self.detail = detail
        super().__init__(reasons.name(self.reason), detail)


class DecodeError(GateError):
    reason = reasons.CBOR


class CBORError(DecodeError):
    reason = reasons.CBOR


class VerifyError(GateError):
    reason = reasons.SIGNATURE


class ControlError(GateError):
    reason = reasons.CTRL_MALFORMED


class UpdateError(GateError):
    reason = reasons.OTA_MALFORMED


class StoreError(GateError):
    reason = reasons.INTERNAL


class DeviceError(GateError):
    reason = reasons.INTERNAL
