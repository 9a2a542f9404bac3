"""The fleet side's one exception tree. Every error has a machine-readable
`code` and maps to an HTTP problem response (RFC 9457 style JSON):

    FleetError                 500 INTERNAL
    +-- BadRequest             400 BAD_REQUEST      (semantically invalid input)
    +-- NotAuthenticated       401 NOT_AUTHENTICATED
    +-- Forbidden              403 FORBIDDEN        (role or business scope)
    +-- CsrfError              403 CSRF
    +-- NotFound               404 NOT_FOUND
    +-- Conflict               409 CONFLICT         (duplicate, wrong state)
    +-- TooManyAttempts        429 TOO_MANY_ATTEMPTS (log-in throttled; retry_after_s)
    +-- ConfigError            500 CONFIG           (settings, keys missing)
    +-- BrokerError            503 BROKER           (MQTT unavailable)

Messages shown to people carry Vietnamese and English.
"""

from __future__ import annotations


class FleetError(Exception):
    status = 500
    code = "INTERNAL"

    def __init__(self, message: str = "", *, code: str | None = None, **extra: object) -> None:
        super().__init__(message or self.code)
        self.message = message or self.code
        if code:
            self.code = code
        self.extra = extra

    def problem(self) -> dict:
        body = {"type": f"urn:greengate:error:{self.code}", "title": self.code,
                "status": self.status, "detail": self.message}
        body.update(self.extra)
        return body


class BadRequest(FleetError):
    status, code = 400, "BAD_REQUEST"


class NotAuthenticated(FleetError):
    status, code = 401, "NOT_AUTHENTICATED"


class Forbidden(FleetError):
    status, code = 403, "FORBIDDEN"


class CsrfError(Forbidden):
    code = "CSRF"


class NotFound(FleetError):
    status, code = 404, "NOT_FOUND"


class Conflict(FleetError):
    status, code = 409, "CONFLICT"


class TooManyAttempts(FleetError):
    status, code = 429, "TOO_MANY_ATTEMPTS"


class ConfigError(FleetError):
    code = "CONFIG"


class BrokerError(FleetError):
    status, code = 503, "BROKER"
