# Reason codes: the one vocabulary every part of GreenGate uses for a verdict.
#
# On the wire (scan reports, CBOR) a reason is the small int; in JSON, logs and
# the dashboard it is the NAME. Codes are append-only: never renumber one.
# Grouped by the layer that decides, so a code also says where a pass failed.
from micropython import const

OK = const(0)
# -- decoding layers (the QR text itself) --
PREFIX = const(1)          # not "GG1:" (unknown scheme or version)
BASE45 = const(2)          # not valid base45
INFLATE = const(3)         # bad zlib stream or inflates past the cap
CBOR = const(4)            # malformed or over-limit CBOR
COSE = const(5)            # not a well-formed COSE_Sign1
ALG = const(6)             # algorithm other than EdDSA (-8)
KID_UNKNOWN = const(7)     # no trusted issuer key has this kid
SIGNATURE = const(8)       # no key with this kid verifies the signature
CLAIMS = const(9)          # a known claim is missing or malformed
EXPIRED = const(10)        # now > exp + skew
NOT_YET_VALID = const(11)  # now < nbf - skew (or iat in the future)
# -- lists pushed by the fleet --
REVOKED = const(12)        # pass hash is on the revocation list
OUT_OF_SYNC = const(13)    # the device's signed lists are too old to decide
# -- site rules (signed site configuration) --
ROLE = const(14)           # role not admitted at this site
VACCINATION = const(15)    # too few doses or last dose outside its window
TEST = const(16)           # no negative test inside the window
F0 = const(17)             # holder is F0 (isolating) or test positive
HEALTH_DECL = const(18)    # health declaration missing or too old
HOURS = const(19)          # outside opening hours
WRONG_BUSINESS = const(20) # worker pass for another business
NOT_LISTED = const(21)     # worker not on the approved allowlist
CAPACITY = const(22)       # site full
DUPLICATE = const(23)      # same pass already admitted within the window
SUSPENDED = const(24)      # site stopped after an F0 case
ZONE = const(25)           # holder's zone colour not admitted
RULE_ERROR = const(26)     # a rule in the configuration is broken: deny
NOT_PROVISIONED = const(27)  # device has no trust list / configuration
CLOCK = const(28)          # device clock not trusted and a rule needs it
INTERNAL = const(29)       # unexpected failure: deny, logged
BAD_INPUT = const(30)      # scanner input over the length cap or not printable ASCII
# -- signed control messages from the fleet (not scan verdicts) --
CTRL_UNSIGNED = const(40)  # not a COSE_Sign1 / no signature
CTRL_SIGNATURE = const(41) # signature does not verify with the fleet key
CTRL_ROLLBACK = const(42)  # version older than the one applied
CTRL_REPLAY = const(43)    # same version already applied (different bytes)
CTRL_EXPIRED = const(44)   # past its valid-until
CTRL_MALFORMED = const(45) # fields missing, wrong type or out of range
CTRL_SCOPE = const(46)     # addressed to another device or site
# -- firmware updates (docs/protocol.md "Firmware updates"; state key 15) --
OTA_SIGNATURE = const(50)  # manifest not signed by a release key the device holds
OTA_MALFORMED = const(51)  # offer or manifest fields missing, wrong type or out of range
OTA_DOWNGRADE = const(52)  # release number below the installed one
OTA_REPLAY = const(53)     # this release number is already installed
OTA_TOO_OLD = const(54)    # installed release below the manifest's min_previous
OTA_HASH = const(55)       # payload or a file does not match the signed SHA-256
OTA_SPACE = const(56)      # flash full or failing while writing the new slot
OTA_PROBATION_FAILED = const(57)  # the new firmware never became healthy: rolled back
OTA_TARGET = const(58)     # target this device cannot install (image vs file bundle)
OTA_NO_KEY = const(59)     # no release key provisioned: updates refused

_NAMES = (
    "OK", "PREFIX", "BASE45", "INFLATE", "CBOR", "COSE", "ALG",
    "KID_UNKNOWN", "SIGNATURE", "CLAIMS", "EXPIRED", "NOT_YET_VALID",
    "REVOKED", "OUT_OF_SYNC", "ROLE", "VACCINATION", "TEST", "F0",
    "HEALTH_DECL", "HOURS", "WRONG_BUSINESS", "NOT_LISTED", "CAPACITY",
    "DUPLICATE", "SUSPENDED", "ZONE", "RULE_ERROR", "NOT_PROVISIONED",
    "CLOCK", "INTERNAL", "BAD_INPUT",
)
_CTRL_BASE = const(40)
_CTRL_NAMES = (
    "CTRL_UNSIGNED", "CTRL_SIGNATURE", "CTRL_ROLLBACK", "CTRL_REPLAY",
    "CTRL_EXPIRED", "CTRL_MALFORMED", "CTRL_SCOPE",
)
_OTA_BASE = const(50)
_OTA_NAMES = (
    "OTA_SIGNATURE", "OTA_MALFORMED", "OTA_DOWNGRADE", "OTA_REPLAY", "OTA_TOO_OLD",
    "OTA_HASH", "OTA_SPACE", "OTA_PROBATION_FAILED", "OTA_TARGET", "OTA_NO_KEY",
)


def name(code):
    """Machine-readable name of a reason code ("UNKNOWN" if not defined)."""
    if 0 <= code < len(_NAMES):
        return _NAMES[code]
    if _CTRL_BASE <= code < _CTRL_BASE + len(_CTRL_NAMES):
        return _CTRL_NAMES[code - _CTRL_BASE]
    if _OTA_BASE <= code < _OTA_BASE + len(_OTA_NAMES):
        return _OTA_NAMES[code - _OTA_BASE]
    return "UNKNOWN"


def code(reason_name):
    """Inverse of name(); -1 for an unknown name."""
    for i, n in enumerate(_NAMES):
        if n == reason_name:
            return i
    for i, n in enumerate(_CTRL_NAMES):
        if n == reason_name:
            return _CTRL_BASE + i
    for i, n in enumerate(_OTA_NAMES):
        if n == reason_name:
            return _OTA_BASE + i
    return -1
