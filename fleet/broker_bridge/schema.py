"""What the fleet accepts from a device, field by field: one schema per
message kind (scans 4.1, state 4.2, reply 4.3, fetch 6), checked before
anything reaches the database. Ranges are the database columns' ranges
(fleet/models); texts must be NFC, printable (no control, format or
unassigned characters) and short. docs/protocol.md section 4.5 is
`markdown()` of these tables (tests/fleet/test_ingest_schema.py keeps them
equal).

A message that breaks its schema is refused with a reason code (BAD_SCAN,
BAD_STATE, BAD_REPLY, BAD_FETCH) and set aside in the dead-letter table by
the bridge; it never reaches an INSERT, so it cannot stop the stream.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import cbor2

from fleet.core import errors

MAX_PAYLOAD = 8 * 1024      # device messages are <= 1 KiB; anything far bigger is refused
MAX_SCANS = 30              # protocol 4.1
INT32 = (1 << 31) - 1       # Integer columns
INT16 = (1 << 15) - 1       # SmallInteger columns
INT64 = (1 << 63) - 1       # BigInteger columns
UINT32 = (1 << 32) - 1      # device clocks and counters (unix seconds until 2106)


class WireError(errors.BadRequest):
    code = "BAD_MESSAGE"


@dataclass(frozen=True)
class Field:
    key: int                 # map key, or position in an array
    name: str
    type: str                # uint / bool / text / bytes / array / map
    hi: int = 0              # uint: 0..hi; text/bytes: max length
    exact: bool = False      # bytes: exactly `hi` long
    required: bool = False
    null: bool = False       # null allowed
    note: str = ""


SCAN_BATCH = (
    Field(1, "device_id", "text", 32, required=True, note="equals the topic's device id"),
    Field(2, "scans", "array", MAX_SCANS, required=True, note="1..30 scan entries"),
    Field(3, "sent_at", "uint", UINT32, note="device clock"),
)
SCAN_ENTRY = (  # positions in the 6-element array
    Field(0, "seq", "uint", INT64, required=True),
    Field(1, "time", "uint", UINT32, required=True),
    Field(2, "time_valid", "bool", required=True),
    Field(3, "pass_hash", "bytes", 16, exact=True, required=True, null=True),
    Field(4, "verdict", "bool", required=True),
    Field(5, "reason", "uint", 127, required=True),
)
STATE = (
    Field(1, "online", "bool", required=True),
    Field(2, "firmware", "text", 64),
    Field(3, "applied", "map", note="{1, 2 or 3 (kind): version (uint <= 2^31-1)}"),
    Field(4, "outbox_depth", "uint", INT32),
    Field(5, "dropped", "uint", INT32),
    Field(6, "clock_trusted", "bool"),
    Field(7, "scanner_baud", "uint", UINT32),
    Field(8, "clock", "uint", UINT32),
    Field(9, "uptime", "uint", UINT32),
    Field(10, "revocation_entries", "uint", UINT32),
    Field(11, "people_inside", "uint", UINT32),
    Field(12, "last_control_error", "array", 3, null=True, note="[kind <= 255, reason <= 255, version <= 2^31-1]"),
    Field(13, "fetching", "array", 3, null=True, note="[sha256 (bytes 32), next <= 2^31-1, count <= 2^31-1]"),
    Field(14, "protocol", "uint", 255, note="reporting protocol level; absent = 1"),
    Field(16, "dcc_table", "array", 2, null=True,
          note="DCC table in use: [kind-7 message version <= 2^31-1, key count <= 2^31-1]"),
)
REPLY = (
    Field(1, "id", "uint", INT32, required=True, note="command version"),
    Field(2, "status", "uint", INT16, required=True, note="reason code"),
    Field(3, "detail", "text", 64),
    Field(4, "chunk", "array", 2, note="[index, count], 0 <= index < count <= 100000"),
    Field(5, "data", "bytes", 1024, note="with 4 only"),
    Field(6, "sha256", "bytes", 32, exact=True),
)
FETCH = (  # greengate.control.blobs.parse_fetch checks these
    Field(1, "sha256", "bytes", 32, exact=True, required=True),
    Field(2, "first", "uint", INT32, required=True, note="first chunk index"),
    Field(3, "window", "uint", 16, note="1..16 chunks, default 16"),
)
KINDS = {"scans": (SCAN_BATCH, SCAN_ENTRY), "state": (STATE,), "reply": (REPLY,), "fetch": (FETCH,)}
CODES = {"scans": "BAD_SCAN", "state": "BAD_STATE", "reply": "BAD_REPLY", "fetch": "BAD_FETCH"}
MAX_CHUNKS = 100_000


def loads(payload: bytes, code: str = "BAD_MESSAGE") -> Any:
    if len(payload) > MAX_PAYLOAD:
        raise WireError("message too large", code=code)
    try:
        return cbor2.loads(payload)
    except Exception as e:  # cbor2 raises several error types on garbage
        raise WireError(f"not CBOR: {type(e).__name__}", code=code) from None


def as_map(obj: Any, what: str, code: str = "BAD_MESSAGE") -> dict:
    if not hasattr(obj, "items"):  # dict or cbor2's frozendict
        raise WireError(f"{what} must be a map", code=code)
    return dict(obj.items())


def printable(v: str) -> bool:
    """NFC and no control / format / surrogate / private / unassigned characters."""
    return unicodedata.normalize("NFC", v) == v and \
        not any(unicodedata.category(c)[0] == "C" for c in v)


def check(f: Field, v: Any, code: str) -> Any:
    """The value of one field, or WireError naming the field and the rule."""
    if v is None and f.null:
        return None

    def bad(rule: str) -> WireError:
        return WireError(f"{f.name} ({f.key}) must be {rule}", code=code)
    if f.type == "uint":
        if type(v) is not int or not 0 <= v <= f.hi:
            raise bad(f"an integer 0..{f.hi}")
    elif f.type == "bool":
        if type(v) is not bool:
            raise bad("a boolean")
    elif f.type == "text":
        if not isinstance(v, str) or len(v) > f.hi or not printable(v):
            raise bad(f"printable NFC text of at most {f.hi} characters")
    elif f.type == "bytes":
        if not isinstance(v, bytes) or (len(v) != f.hi if f.exact else len(v) > f.hi):
            raise bad(f"{'exactly' if f.exact else 'at most'} {f.hi} bytes")
    elif f.type == "array":
        if not isinstance(v, (list, tuple)) or len(v) > f.hi:
            raise bad(f"an array of at most {f.hi}")
    elif f.type == "map":
        if not hasattr(v, "items"):
            raise bad("a map")
    return v


def fields(table: tuple[Field, ...], m: dict, code: str) -> dict[str, Any]:
    """Named values of the known keys present in `m` (unknown keys are
    ignored: newer firmware may add some)."""
    out = {}
    for f in table:
        if f.key not in m:
            if f.required:
                raise WireError(f"{f.name} ({f.key}) is missing", code=code)
            continue
        out[f.name] = check(f, m[f.key], code)
    return out


def uints(v: Any, *limits: int) -> bool:
    return len(v) == len(limits) and all(type(x) is int and 0 <= x <= hi for x, hi in zip(v, limits))


# -- per kind ---------------------------------------------------------------------------

@dataclass
class ScanBatch:
    events: list[dict]   # valid entries, named (pass_hash as 32 hex or None)
    seqs: list[int]      # every readable seq, valid or not (what the ack may cover)
    bad: list[str]       # one reason per refused entry


def scan_batch(device_id: str, payload: bytes) -> ScanBatch:
    """Protocol 4.1. The envelope must be right (else WireError); each entry
    is checked alone so one bad entry does not hide the others."""
    code = CODES["scans"]
    v = fields(SCAN_BATCH, as_map(loads(payload, code), "scan batch", code), code)
    if v["device_id"] != device_id:
        raise WireError("scan batch names another device than its topic", code=code)
    if not v["scans"]:
        raise WireError(f"scan batch needs 1..{MAX_SCANS} scans", code=code)
    out = ScanBatch([], [], [])
    seq_hi, time_hi, reason_hi = SCAN_ENTRY[0].hi, SCAN_ENTRY[1].hi, SCAN_ENTRY[5].hi
    for s in v["scans"]:
        if isinstance(s, (list, tuple)) and s and type(s[0]) is int and 0 <= s[0] <= INT64:
            out.seqs.append(s[0])
        # the same rules as SCAN_ENTRY, inlined: ~20,000 entries a second go through here
        if type(s) is list and len(s) == 6:
            seq, t, tv, h, verdict, reason = s
            if type(seq) is int and 0 <= seq <= seq_hi and type(t) is int and 0 <= t <= time_hi \
                    and type(tv) is bool and (h is None or (type(h) is bytes and len(h) == 16)) \
                    and type(verdict) is bool and type(reason) is int and 0 <= reason <= reason_hi:
                out.events.append({"seq": seq, "time": t, "time_valid": tv,
                                   "pass_hash": h.hex() if h is not None else None,
                                   "verdict": verdict, "reason": reason})
                continue
        try:  # the slow path names the broken field
            if not isinstance(s, (list, tuple)) or len(s) != len(SCAN_ENTRY):
                raise WireError("scan entry must be a 6-element array", code=code)
            e = {f.name: check(f, x, code) for f, x in zip(SCAN_ENTRY, s)}
        except WireError as err:
            out.bad.append(err.message)
            continue
        e["pass_hash"] = e["pass_hash"].hex() if e["pass_hash"] is not None else None
        out.events.append(e)
    return out


def readable_seqs(payload: bytes) -> list[int]:
    """The seqs a refused scan batch still shows (what its ack may cover)."""
    try:
        scans = as_map(loads(payload), "scan batch").get(2)
    except WireError:
        return []
    if not isinstance(scans, (list, tuple)) or len(scans) > MAX_SCANS:
        return []
    return [s[0] for s in scans if isinstance(s, (list, tuple)) and s and type(s[0]) is int
            and 0 <= s[0] <= INT64]


def state(payload: bytes) -> dict:
    """Protocol 4.2 -> named fields for fleet.services.devices.apply_state."""
    code = CODES["state"]
    v = fields(STATE, as_map(loads(payload, code), "device state", code), code)
    out: dict[str, Any] = {"online": v["online"]}
    if "firmware" in v:
        out["firmware"] = v["firmware"]
    applied = v.get("applied")
    if applied is not None:
        for kind, name in ((1, "config_version"), (2, "trust_version"), (3, "revocation_version")):
            x = applied.get(kind)
            if x is not None and not uints([x], INT32):
                raise WireError(f"applied ({3}) {kind} must be an integer 0..{INT32}", code=code)
            if x is not None:
                out[name] = x
    for name in ("outbox_depth", "dropped"):
        if name in v:
            out[name] = v[name]
    if v.get("clock_trusted") is True and "clock" in v:  # a trusted clock: drift is meaningful
        out["clock"] = v["clock"]
    if "last_control_error" in v:
        err = v["last_control_error"]
        if err is not None and not uints(err, 255, 255, INT32):
            raise WireError("last_control_error (12) must be [kind, reason, version]", code=code)
        out["last_control_error"] = list(err) if err is not None else None
    fetching = v.get("fetching")
    if fetching is not None and not (len(fetching) == 3 and isinstance(fetching[0], bytes)
                                     and len(fetching[0]) == 32 and uints(fetching[1:], INT32, INT32)):
        raise WireError("fetching (13) must be [sha256, next, count]", code=code)
    table = v.get("dcc_table")
    if table is not None:
        if not (len(table) == 2 and uints(table, INT32, INT32)):
            raise WireError("dcc_table (16) must be [list version, key count]", code=code)
        out["dcc_version"], out["dcc_keys"] = table
    out["protocol"] = v.get("protocol", 1)
    return out


def reply(payload: bytes) -> dict:
    """Protocol 4.3 -> {"id", "status", "detail", "chunk": (i, n) | None,
    "data": bytes | None, "sha256": bytes | None}."""
    code = CODES["reply"]
    v = fields(REPLY, as_map(loads(payload, code), "command reply", code), code)
    chunk = v.get("chunk")
    if chunk is not None:
        if not (uints(chunk, MAX_CHUNKS, MAX_CHUNKS) and chunk[0] < chunk[1]):
            raise WireError("reply chunk must be [index, count]", code=code)
        if "data" not in v:
            raise WireError("reply chunk data must be bytes <= 1024", code=code)
    return {"id": v["id"], "status": v["status"], "detail": v.get("detail", ""),
            "chunk": tuple(chunk) if chunk is not None else None,
            "data": v.get("data") if chunk is not None else None, "sha256": v.get("sha256")}


def fetch(payload: bytes) -> Any:
    """Protocol 6 -> greengate.control.blobs.FetchRequest."""
    from greengate.control import blobs

    code = CODES["fetch"]
    fields(FETCH, as_map(loads(payload, code), "fetch request", code), code)
    try:
        return blobs.parse_fetch(payload)
    except ValueError as e:
        raise WireError(str(e)[:120], code=code) from None


# -- documentation ----------------------------------------------------------------------

def _rule(f: Field) -> str:
    if f.type == "uint":
        bits = (f.hi + 1).bit_length() - 1
        return f"uint <= 2^{bits}-1" if f.hi > 1000 and f.hi + 1 == 1 << bits else f"uint 0..{f.hi}"
    if f.type == "text":
        return f"text <= {f.hi}, NFC, printable"
    if f.type == "bytes":
        return f"bytes {'==' if f.exact else '<='} {f.hi}"
    if f.type == "array":
        return f"array <= {f.hi}"
    return f.type


def markdown() -> str:
    """The field tables of docs/protocol.md section 4.5."""
    titles = {"scans": ("4.1 scan batch", "4.1 scan entry (array position)"), "state": ("4.2 state",),
              "reply": ("4.3 reply",), "fetch": ("6 fetch",)}
    out = []
    for kind, tables in KINDS.items():
        for title, table in zip(titles[kind], tables):
            out += [f"**{title}** (refused with `{CODES[kind]}`)", "",
                    "| key | name | rule | required | note |", "|---|---|---|---|---|"]
            for f in table:
                req = "yes" if f.required else "no"
                rule = _rule(f) + (" or null" if f.null else "")
                out.append(f"| {f.key} | {f.name} | {rule} | {req} | {f.note} |")
            out.append("")
    return "\n".join(out)
