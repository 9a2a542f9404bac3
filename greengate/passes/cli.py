"""`greengate pass ...`: issuer keys, issuing, offline checks (thin Typer layer).

Data goes to stdout (trust entry, QR text, one JSON verdict), diagnostics to
stderr. `check` exits 0 on accept, 1 on reject, 2 on a usage error.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(no_args_is_help=True, help="Issuer keys, GG1 passes and offline checks.")

DEFAULT_ISSUER = "HCM-D7"


class Engine(str, Enum):
    cpython = "cpython"
    micropython = "micropython"


def _fail(message: str, code: int = 2) -> typer.Exit:
    """Print a bilingual diagnostic ("Vietnamese / English: detail") and exit."""
    typer.echo(f"lỗi / error: {message}", err=True)
    return typer.Exit(code)


def _time(value: str | None, what: str) -> int | None:
    from greengate.passes.keys import parse_time

    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise _fail(f"{what}: không phải thời gian ISO-8601 / not an ISO-8601 time: {value!r}") from None


def _day(value: str | None, what: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _fail(f"{what}: không phải ngày (YYYY-MM-DD) / not a date (YYYY-MM-DD): {value!r}") from None


def _enum(enum_cls, value: str | None, what: str):
    if value is None:
        return None
    try:
        return enum_cls[value.upper()] if not value.isdigit() else enum_cls(int(value))
    except (KeyError, ValueError):
        names = ", ".join(m.name.lower() for m in enum_cls)
        raise _fail(f"{what}: chỉ nhận / expected one of: {names}") from None


@app.command()
def keygen(
    out: Annotated[Path, typer.Option("--out", help="Directory for issuer.key and trust.json.")],
    issuer: Annotated[str, typer.Option(help="Issuer id written into passes (iss).")] = DEFAULT_ISSUER,
    not_after: Annotated[Optional[str], typer.Option(help="Key not trusted after (ISO-8601).")] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing issuer.key.")] = False,
) -> None:
    """Make an Ed25519 issuer key: OUT/issuer.key (0600) and OUT/trust.json."""
    from greengate.passes.keys import TrustFileError, keygen as make

    try:
        entry = make(out, issuer, _time(not_after, "--not-after"), force)
    except (FileExistsError, ValueError, TrustFileError) as e:
        raise _fail(f"không tạo được khóa / cannot create the key: {e}") from None
    typer.echo(json.dumps(entry.to_json(), ensure_ascii=False))
    typer.echo(f"đã ghi / wrote {out / 'issuer.key'}, {out / 'trust.json'}", err=True)


@app.command()
def issue(
    key: Annotated[Path, typer.Option("--key", help="issuer.key (PEM PKCS#8).")],
    role: Annotated[str, typer.Option(help="resident, worker, shipper, official, shopper.")] = "resident",
    initials: Annotated[Optional[str], typer.Option(help="Holder initials (1-6 letters).")] = None,
    birth_year: Annotated[Optional[int], typer.Option(help="Holder birth year.")] = None,
    doses: Annotated[Optional[int], typer.Option(help="Vaccine doses (0-9).")] = None,
    last_dose: Annotated[Optional[str], typer.Option(help="Date of the last dose.")] = None,
    test_result: Annotated[Optional[str], typer.Option(help="negative or positive.")] = None,
    test_time: Annotated[Optional[str], typer.Option(help="Sample time (ISO-8601).")] = None,
    f0_status: Annotated[Optional[str], typer.Option(help="none, isolating, recovered.")] = None,
    f0_date: Annotated[Optional[str], typer.Option(help="Isolating until / recovered on.")] = None,
    health_decl: Annotated[Optional[str], typer.Option(help="Date of the health declaration.")] = None,
    business: Annotated[Optional[str], typer.Option(help="Business id (worker passes).")] = None,
    zone: Annotated[Optional[str], typer.Option(help="green, yellow, orange, red.")] = None,
    valid_days: Annotated[int, typer.Option(help="Validity from nbf/iat, in days.")] = 7,
    exp: Annotated[Optional[str], typer.Option(help="Expiry (ISO-8601); overrides --valid-days.")] = None,
    nbf: Annotated[Optional[str], typer.Option(help="Not valid before (ISO-8601).")] = None,
    iat: Annotated[Optional[str], typer.Option(help="Issue time (ISO-8601); default now.")] = None,
    issuer: Annotated[Optional[str], typer.Option(help="iss; default: from trust.json next to the key.")] = None,
    cti: Annotated[Optional[str], typer.Option(help="Pass id, hex (8-16 bytes); default random.")] = None,
    compress: Annotated[Optional[bool], typer.Option("--compress/--no-compress", help="Force zlib on/off (default: only if shorter).")] = None,
    png: Annotated[Optional[Path], typer.Option(help="Also write the QR as PNG.")] = None,
    svg: Annotated[Optional[Path], typer.Option(help="Also write the QR as SVG.")] = None,
) -> None:
    """Sign a pass and print its QR text (GG1:...)."""
    from greengate.passes import claims as c
    from greengate.passes.issue import issue as sign, save_qr
    from greengate.passes.keys import TRUST_FILE, TrustFileError, kid_for, load_private_key, load_trust, raw_public

    try:
        private = load_private_key(key)
    except TrustFileError as e:
        raise _fail(f"khóa không dùng được / unusable key: {e}") from None
    if issuer is None:
        trust_path = key.parent / TRUST_FILE
        kid = kid_for(raw_public(private))
        try:
            found = [e.issuer for e in load_trust(trust_path) if e.kid == kid] if trust_path.exists() else []
        except TrustFileError as e:
            raise _fail(f"danh sách tin cậy lỗi / bad trust list: {e}") from None
        if not found:
            raise _fail(f"thiếu --issuer / no --issuer given, and {trust_path} does not list this key")
        issuer = found[0]
    now = int(time.time())
    t_iat = _time(iat, "--iat") or now
    t_nbf = _time(nbf, "--nbf")
    t_exp = _time(exp, "--exp")
    if t_exp is None:
        t_exp = (t_nbf or t_iat) + valid_days * 86400
    if (doses is None) != (last_dose is None):
        raise _fail("--doses và --last-dose phải đi cùng nhau / --doses and --last-dose go together")
    if (test_result is None) != (test_time is None):
        raise _fail("--test-result và --test-time phải đi cùng nhau / --test-result and --test-time go together")
    if (f0_status is None) != (f0_date is None):
        raise _fail("--f0-status và --f0-date phải đi cùng nhau / --f0-status and --f0-date go together")
    try:
        cti_bytes = bytes.fromhex(cti) if cti else os.urandom(8)
    except ValueError:
        raise _fail("--cti: không phải hex / not hex") from None
    try:
        claims = c.PassClaims(
            iss=issuer,
            iat=t_iat,
            nbf=t_nbf,
            exp=t_exp,
            cti=cti_bytes,
            role=_enum(c.Role, role, "--role"),
            initials=initials,
            birth_year=birth_year,
            vaccination=c.Vaccination(doses, _day(last_dose, "--last-dose")) if doses is not None else None,
            test=c.LabTest(_enum(c.LabResult, test_result, "--test-result"), _time(test_time, "--test-time"))
            if test_result is not None else None,
            f0=c.F0(_enum(c.F0Status, f0_status, "--f0-status"), _day(f0_date, "--f0-date"))
            if f0_status is not None else None,
            health_decl=_day(health_decl, "--health-decl"),
            business=business,
            zone=_enum(c.Zone, zone, "--zone"),
        )
        text = sign(claims, private, compress=compress)
    except (c.ClaimsError, ValueError, OverflowError) as e:
        raise _fail(f"thông tin thẻ không hợp lệ / invalid claims: {e}") from None
    for path in (png, svg):
        if path is not None:
            try:
                qr = save_qr(text, path)
            except (OSError, ValueError) as e:
                raise _fail(f"không ghi được / cannot write {path}: {e}") from None
            typer.echo(f"đã ghi / wrote {path} (QR phiên bản / version {qr.version}, EC {qr.error})", err=True)
    typer.echo(text)


@app.command("export-trust")
def export_trust(
    trust: Annotated[Path, typer.Option("--trust", help="trust.json")],
    out: Annotated[Path, typer.Option("--out", help="Device trust file (CBOR).")],
) -> None:
    """Write the compact trust file the firmware loads (verify/trust.py)."""
    from greengate.passes.keys import TrustFileError, device_trust_bytes, load_trust

    try:
        entries = load_trust(trust)
    except TrustFileError as e:
        raise _fail(f"danh sách tin cậy lỗi / bad trust list: {e}") from None
    out.write_bytes(device_trust_bytes(entries))
    typer.echo(f"đã ghi / wrote {out}: {len(entries)} khóa / keys", err=True)


@app.command()
def check(
    qr_text: Annotated[str, typer.Argument(help="The scanned text (GG1:...); '-' reads stdin.")],
    trust: Annotated[Path, typer.Option("--trust", help="trust.json")],
    at: Annotated[Optional[str], typer.Option("--at", help="Check time (ISO-8601); default now.")] = None,
    engine: Annotated[str, typer.Option(help="cpython (reference) or micropython (device code).")] = "cpython",
    skew: Annotated[int, typer.Option(help="Clock skew tolerance, seconds.")] = 300,
) -> None:
    """Verify a pass offline; prints one JSON verdict. Exit 0 accept, 1 reject, 2 usage."""
    from greengate.passes import reasons
    from greengate.passes.claims import readable_to_json
    from greengate.passes.keys import TrustFileError, load_trust

    try:
        eng = Engine(engine)
    except ValueError:
        raise _fail(f"--engine: chỉ nhận cpython hoặc micropython / expected cpython or micropython, not {engine!r}") from None
    if skew < 0:
        raise _fail("--skew phải >= 0 / --skew must be >= 0")
    try:
        entries = load_trust(trust)
    except TrustFileError as e:
        raise _fail(f"danh sách tin cậy lỗi / bad trust list: {e}") from None
    now = _time(at, "--at") if at is not None else int(time.time())
    if qr_text == "-":
        qr_text = sys.stdin.read()
    if eng is Engine.cpython:
        from greengate.passes.verify import Verifier

        v = Verifier(entries, skew)
        for e in v.skipped:
            typer.echo(f"cảnh báo / warning: khóa / key {e.kid.hex()} ({e.issuer}) "
                       "không dùng được / is not a usable Ed25519 key", err=True)
        r = v.check(qr_text, now)
        verdict, reason, raw = r.verdict, r.reason_name, r.claims
        pass_hash = r.pass_hash.hex() if r.pass_hash else None
    else:
        from greengate.passes.device import EngineError, Scan, check_on_device

        try:
            (ans,) = check_on_device([Scan(qr_text, now)], entries, skew)
        except EngineError as e:
            raise _fail(f"không chạy được MicroPython / MicroPython engine failed: {e}") from None
        verdict, reason, raw, pass_hash = ans["verdict"], ans["reason"], ans["claims"], ans["pass_hash"]
    if not verdict and raw is None and reason in READABLE_REJECTS:
        from greengate.passes.verify import signed_claims

        raw = signed_claims(qr_text)  # the engine has verified the signature: say what it holds
    vi, en = reasons.text(reason)
    out = {
        "verdict": "accept" if verdict else "reject",
        "reason": reason,
        "message": {"vi": vi, "en": en},
        "claims": readable_to_json(raw) if raw else None,
        "pass_hash": pass_hash,
    }
    typer.echo(json.dumps(out, ensure_ascii=False))
    if not verdict:
        when = f" ({out['claims']['exp']})" if reason == "EXPIRED" and out["claims"] else ""
        typer.echo(f"từ chối / rejected [{reason}]: {vi} / {en}{when}", err=True)
        if reason in DAMAGED_TEXT:
            typer.echo(DAMAGED_HINT, err=True)
    raise typer.Exit(0 if verdict else 1)


# Rejected after the signature verified: the claims are authentic, shown so the
# holder sees why (e.g. the expiry date).
READABLE_REJECTS = ("EXPIRED", "NOT_YET_VALID")
# Decoding layers below the signature: the text itself is damaged, often cut short.
DAMAGED_TEXT = ("BASE45", "INFLATE", "CBOR", "COSE")
DAMAGED_HINT = ("gợi ý / hint: văn bản QR bị hỏng hoặc thiếu: đã chép đủ cả mã (bắt đầu bằng GG1:) chưa? / "
                "the QR text is damaged or incomplete: was all of it (from GG1: on) copied?")
