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


def _dsc_signers(trust: Path) -> list | None:
    """The signers of an EU DSC trust list ({"certificates": [...]}), or None
    if `trust` is not one (then it is a GG1 trust.json)."""
    from greengate.dcc.trustlist import DscError, parse_trustlist

    try:
        data = trust.read_bytes()
        doc = json.loads(data)
    except (OSError, ValueError):
        return None  # load_trust says what is wrong with it
    if not isinstance(doc, dict) or "certificates" not in doc:
        return None
    try:
        result = parse_trustlist(data)  # no `now`: a lapsed DSC answers EXPIRED, not unknown
    except DscError as e:
        raise _fail(f"danh sách DSC lỗi / bad DSC trust list: {e}") from None
    for r in result.refused:
        typer.echo(f"cảnh báo / warning: DSC {r.kid_b64} ({r.country}) bị từ chối / refused: {r.code}", err=True)
    return result.signers


def _check_dcc(qr_text: str, signers: list, now: int, eng: Engine, skew: int) -> tuple:
    """(verdict, reason NAME, claims, pass_hash hex) of an EU DCC."""
    from greengate.passes import reasons

    if eng is Engine.cpython:
        from greengate.dcc.verify import Verifier

        r = Verifier(signers, skew).check(qr_text, now)
        return r.verdict, reasons.name(r.reason), r.claims, r.pass_hash.hex() if r.pass_hash else None
    from greengate.passes.device import EngineError, Scan, check_dcc_on_device

    try:
        (ans,) = check_dcc_on_device([Scan(qr_text, now)], signers, skew)
    except EngineError as e:
        raise _fail(f"không chạy được MicroPython / MicroPython engine failed: {e}") from None
    return ans["verdict"], ans["reason"], ans["claims"], ans["pass_hash"]


@app.command()
def check(
    qr_text: Annotated[str, typer.Argument(help="The scanned text (GG1:... or an EU DCC HC1:...); '-' reads stdin.")],
    trust: Annotated[Path, typer.Option("--trust", help="trust.json, or an EU DSC trust list (JSON, {\"certificates\": [...]}) for DCCs")],
    at: Annotated[Optional[str], typer.Option("--at", help="Check time (ISO-8601); default now.")] = None,
    engine: Annotated[str, typer.Option(help="cpython (reference) or micropython (device code).")] = "cpython",
    skew: Annotated[int, typer.Option(help="Clock skew tolerance, seconds.")] = 300,
) -> None:
    """Verify a pass offline; prints one JSON verdict. Exit 0 accept, 1 reject, 2 usage."""
    from greengate.passes.claims import readable_to_json
    from greengate.passes.keys import TrustFileError, load_trust

    try:
        eng = Engine(engine)
    except ValueError:
        raise _fail(f"--engine: chỉ nhận cpython hoặc micropython / expected cpython or micropython, not {engine!r}") from None
    if skew < 0:
        raise _fail("--skew phải >= 0 / --skew must be >= 0")
    signers = _dsc_signers(trust)
    entries = []
    if signers is None:
        try:
            entries = load_trust(trust)
        except TrustFileError as e:
            raise _fail(f"danh sách tin cậy lỗi / bad trust list: {e}") from None
    now = _time(at, "--at") if at is not None else int(time.time())
    if qr_text == "-":
        qr_text = sys.stdin.read()
    if signers is not None:
        # an EU DSC list: the DCC pipeline (a GG1 text there is PREFIX)
        verdict, reason, dcc_claims, pass_hash = _check_dcc(qr_text, signers, now, eng, skew)
        _print_verdict(verdict, reason, dcc_claims, pass_hash)
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
    _print_verdict(verdict, reason, readable_to_json(raw) if raw else None, pass_hash)


def _print_verdict(verdict: bool, reason: str, claims: dict | None, pass_hash: str | None) -> None:
    """One JSON verdict on stdout, the reason on stderr; exits 0 / 1."""
    from greengate.passes import reasons

    vi, en = reasons.text(reason)
    out = {
        "verdict": "accept" if verdict else "reject",
        "reason": reason,
        "message": {"vi": vi, "en": en},
        "claims": claims,
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


@app.command("issue-dcc")
def issue_dcc(
    kind: Annotated[str, typer.Option("--kind", help="v (vaccination), t (test) or r (recovery).")] = "v",
    dsc_dir: Annotated[Path, typer.Option("--dsc", help="Test DSC directory: dsc.key, dsc.der, dcc-trust.json.")] = Path("dsc"),
    make_dsc: Annotated[bool, typer.Option("--make-dsc", help="Create the test DSC in --dsc first.")] = False,
    alg: Annotated[str, typer.Option(help="es256 or ps256 (--make-dsc).")] = "es256",
    country: Annotated[str, typer.Option(help="DSC and issuing country (2 letters).")] = "VN",
    types: Annotated[str, typer.Option(help="Types the DSC may sign, subset of vtr ('' = all; --make-dsc).")] = "",
    uci: Annotated[Optional[str], typer.Option(help="Certificate identifier; default random URN:UVCI.")] = None,
    family: Annotated[str, typer.Option(help="Family name (transliterated, A-Z).")] = "NGUYEN",
    given: Annotated[str, typer.Option(help="Given name (transliterated, A-Z).")] = "VAN AN",
    dob: Annotated[str, typer.Option(help="Date of birth YYYY-MM-DD.")] = "1980-05-17",
    doses: Annotated[int, typer.Option(help="v: dose number (dn).")] = 2,
    series: Annotated[int, typer.Option(help="v: doses in the series (sd).")] = 2,
    dose_date: Annotated[Optional[str], typer.Option(help="v: date of the dose; default 30 days ago.")] = None,
    test_result: Annotated[str, typer.Option(help="t: negative or positive.")] = "negative",
    test_time: Annotated[Optional[str], typer.Option(help="t: sample time (ISO-8601); default 1 h ago.")] = None,
    first_positive: Annotated[Optional[str], typer.Option(help="r: first positive test date; default 20 days ago.")] = None,
    iat: Annotated[Optional[str], typer.Option(help="Issue time (ISO-8601); default now.")] = None,
    valid_days: Annotated[int, typer.Option(help="Validity from iat, in days.")] = 365,
    png: Annotated[Optional[Path], typer.Option(help="Also write the QR as PNG.")] = None,
) -> None:
    """FOR DEMOS AND TESTS ONLY: sign an EU DCC with a local test DSC; prints the HC1 text."""
    from greengate.dcc import issue as dcc

    if kind not in ("v", "t", "r"):
        raise _fail("--kind: chỉ nhận v, t hoặc r / expected v, t or r")
    if alg not in ("es256", "ps256"):
        raise _fail("--alg: chỉ nhận es256 hoặc ps256 / expected es256 or ps256")
    if test_result not in ("negative", "positive"):
        raise _fail("--test-result: negative hoặc/or positive")
    if set(types) - set("vtr"):
        raise _fail("--types: tập con của / a subset of vtr")
    try:
        dsc = dcc.make_dsc_files(dsc_dir, dcc.ES256 if alg == "es256" else dcc.PS256, country, types) if make_dsc \
            else dcc.load_dsc_files(dsc_dir)
    except (OSError, ValueError) as e:
        raise _fail(f"DSC thử nghiệm / test DSC {dsc_dir}: {e}") from None
    if make_dsc:
        typer.echo(f"đã tạo / made {dsc_dir}: dsc.key, dsc.der, dcc-trust.json (kid {dsc.kid.hex()})", err=True)
    now = int(time.time())
    t_iat = _time(iat, "--iat") or now
    dose_day = _day(dose_date, "--dose-date")
    fp_day = _day(first_positive, "--first-positive")
    try:
        claims = dcc.dcc_payload(
            kind, country, t_iat, t_iat + valid_days * 86400, uci or f"URN:UVCI:01:{country}:{os.urandom(8).hex().upper()}",
            family=family, given=given, dob=dob, doses=doses, series=series,
            dose_day=int(time.mktime(dose_day.timetuple())) if dose_day else None,
            result=dcc.NEGATIVE if test_result == "negative" else dcc.POSITIVE,
            sample_time=_time(test_time, "--test-time"),
            first_positive=int(time.mktime(fp_day.timetuple())) if fp_day else None)
        text = dcc.sign_hc1(claims, dsc)
    except ValueError as e:
        raise _fail(f"chứng nhận không hợp lệ / invalid certificate: {e}") from None
    if png is not None:
        try:
            qr = dcc.qr_png(text, png)
        except OSError as e:
            raise _fail(f"không ghi được / cannot write {png}: {e}") from None
        typer.echo(f"đã ghi / wrote {png} (QR phiên bản / version {qr.version}, EC {qr.error})", err=True)
    typer.echo(text)
