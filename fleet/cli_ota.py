"""`greengate fleet release ...` and `greengate fleet campaign ...` (issue 14):
thin commands over greengate.ota (building, on the release manager's
machine) and fleet.services.releases / fleet.services.ota (the fleet side).

    greengate fleet release keygen --out release.key          # once, on the release manager's machine
    greengate fleet release build --key release.key --number 12 --version 0.4.0 --out rel-12
    greengate fleet release publish rel-12                    # on the fleet (release PUBLIC keys only)
    greengate fleet campaign create --release 12 --target ward:"Tân Phong" --waves 1,10,100
    greengate fleet campaign start 1
    greengate fleet campaign status 1 --json
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from fleet.cli import ACTOR, DbOpt, JsonOpt, _fail, _out, _session, _storage, campaign_app, release_app
from fleet.core import errors

CAMPAIGN_COLUMNS = ["id", "state", "release", "version", "wave", "devices", "name"]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _release_key(path: Path):  # noqa: ANN202
    """The release private key; never the fleet's control key (key roles,
    docs/protocol.md): that file is refused before it is read."""
    from greengate.passes import keys as gk

    storage = _storage(None)
    if _same_file(path, storage.signing_key_path) or path.name == storage.signing_key_path.name:
        _fail(errors.ConfigError("đây là khóa điều khiển của hệ thống, không phải khóa phát hành / "
                                 "this is the fleet's control key, not a release key",
                                 code="RELEASE_KEY_IS_FLEET_KEY"))
    try:
        return gk.load_private_key(path)
    except (OSError, gk.TrustFileError) as e:
        _fail(errors.ConfigError(f"không đọc được khóa phát hành / cannot read release key {path}: {e}",
                                 code="BAD_RELEASE_KEY"))


@release_app.command("keygen")
def release_keygen(out: Annotated[Path, typer.Option(help="new private key file (0600)")],
                   json_out: JsonOpt = False) -> None:
    """Make a release key (keep it off the fleet server); prints its public key."""
    from greengate.control.envelope import raw_public
    from greengate.passes import keys as gk

    if out.exists():
        _fail(errors.Conflict(f"tệp đã tồn tại / {out} exists", code="EXISTS"))
    key = gk.generate()
    gk.save_private_key(out, key)
    _out({"key": str(out), "public_key": raw_public(key).hex()}, json_out)


@release_app.command("build")
def release_build(
    key: Annotated[Path, typer.Option(help="release private key file (never the fleet key)")],
    number: Annotated[int, typer.Option(help="release number, above every earlier one")],
    version: Annotated[str, typer.Option(help="version text, e.g. 0.4.0")],
    out: Annotated[Path, typer.Option(help="directory to write manifest.cose, payload.bin, release.json")],
    firmware: Annotated[Optional[Path], typer.Option(
        help="firmware tree (bundle) or image file (image); default: this checkout's firmware/")] = None,
    min_previous: Annotated[int, typer.Option(help="oldest release number it may replace")] = 1,
    target: Annotated[str, typer.Option(help="bundle (.mpy files) or image (frozen firmware .bin)")] = "bundle",
    json_out: JsonOpt = False,
) -> None:
    """Build and sign a release on the release manager's machine."""
    from greengate.ota import release as rel
    from greengate.paths import FIRMWARE

    if target not in rel.TARGETS:
        _fail(errors.BadRequest("loại: bundle hoặc image / target: bundle or image", code="BAD_TARGET"))
    release_key = _release_key(key)
    typer.echo("đang tạo bản phát hành / building the release ...", err=True)
    try:
        r = rel.build_release(firmware or FIRMWARE, number, version, min_previous, rel.TARGETS[target],
                              release_key)
    except rel.ReleaseError as e:
        _fail(errors.BadRequest(str(e), code="RELEASE_BUILD"))
    r.write(out)
    info = {k: v for k, v in r.info.items() if k != "files"}
    _out({**info, "files": len(r.info["files"]), "out": str(out)}, json_out,
         ["release", "version", "payload_size", "files", "out"])


@release_app.command("publish")
def release_publish(
    directory: Path,
    release_pubkey: Annotated[list[str], typer.Option(
        help="release public key (64 hex); default GREENGATE_RELEASE_PUBLIC_KEYS")] = [],  # noqa: B006
    db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """Store a built release on the fleet (signature and payload checked)."""
    from greengate.control.envelope import raw_public
    from greengate.passes import keys as gk

    from fleet.services import releases

    with _session(db) as (s, settings):
        pubkeys = releases.parse_public_keys(release_pubkey or settings.release_public_keys)
        fleet_pub = None
        if settings.signing_key_path.exists():  # on the fleet server: make sure roles stay apart
            fleet_pub = raw_public(gk.load_private_key(settings.signing_key_path))
        rel = releases.load_dir(directory, pubkeys)
        out = releases.summary(releases.publish(s, rel, pubkeys, fleet_pub, ACTOR))
    _out(out, json_out, ["number", "version", "target", "size", "sha256"])


@release_app.command("list")
def release_list(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    from fleet.services import releases

    with _session(db) as (s, _):
        rows = [releases.summary(r) for r in releases.list_releases(s)]
    _out(rows, json_out, ["number", "version", "target", "size", "published_at"])


def _waves(text: str) -> list[float]:
    try:
        return [float(w) if "." in w else int(w) for w in text.split(",")]
    except ValueError:
        _fail(errors.BadRequest("các đợt: tỉ lệ cách nhau bằng dấu phẩy, ví dụ 1,10,100 / waves: "
                                "comma-separated percentages, e.g. 1,10,100", code="BAD_WAVES"))


@campaign_app.command("create")
def campaign_create(
    release: Annotated[int, typer.Option(help="release number")],
    target: Annotated[str, typer.Option(help="all | ward:NAME | business:ID | devices:ID,ID | percent:N")] = "all",
    waves: Annotated[str, typer.Option(help="cumulative percentages ending at 100")] = "1,10,100",
    pause: Annotated[int, typer.Option(help="seconds between a finished wave and the next")] = 3600,
    threshold: Annotated[float, typer.Option(help="halt when failures + rollbacks of a wave exceed this %")] = 2.0,
    max_in_flight: Annotated[int, typer.Option(help="gates updating at once")] = 200,
    stall: Annotated[int, typer.Option(help="seconds of silence after which a gate no longer holds "
                                             "its wave back")] = 6 * 3600,
    name: str = "", db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """Make a draft campaign (gates and waves fixed now); `start` runs it."""
    from fleet.services import ota

    with _session(db) as (s, _):
        c = ota.create(s, release, ota.parse_target(target), _waves(waves), ACTOR, name=name,
                       pause_s=pause, failure_threshold_pct=threshold, max_in_flight=max_in_flight,
                       stall_s=stall)
        out = ota.summary(s, c)
    _out(out, json_out, CAMPAIGN_COLUMNS)


def _transition(verb: str, campaign_id: int, db: str | None, as_json: bool) -> None:
    from fleet.services import ota

    with _session(db) as (s, _):
        c = getattr(ota, verb)(s, campaign_id, ACTOR)
        out = ota.summary(s, c)
    _out(out, as_json, CAMPAIGN_COLUMNS)


@campaign_app.command("start")
def campaign_start(campaign_id: int, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """draft -> running: the first wave is offered the release."""
    _transition("start", campaign_id, db, json_out)


@campaign_app.command("pause")
def campaign_pause(campaign_id: int, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """No new offers; offers no gate acted on yet are withdrawn."""
    _transition("pause", campaign_id, db, json_out)


@campaign_app.command("resume")
def campaign_resume(campaign_id: int, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """paused or halted -> running (a halted campaign's failures so far are accepted)."""
    _transition("resume", campaign_id, db, json_out)


@campaign_app.command("cancel")
def campaign_cancel(campaign_id: int, db: DbOpt = None, json_out: JsonOpt = False) -> None:
    """Final: no new offers; gates already updating finish."""
    _transition("cancel", campaign_id, db, json_out)


@campaign_app.command("status")
def campaign_status(
    campaign_id: int,
    devices: Annotated[bool, typer.Option("--devices", help="also every gate's status")] = False,
    status: Annotated[Optional[str], typer.Option(help="only gates in this status")] = None,
    db: DbOpt = None, json_out: JsonOpt = False,
) -> None:
    """Per-wave progress (and per-gate status with --devices)."""
    from fleet.services import ota

    with _session(db) as (s, _):
        c = ota.get(s, campaign_id)
        out = ota.summary(s, c)
        if devices or status:
            out["device_status"] = ota.device_rows(s, c.id, status)
    if json_out:
        _out(out, True)
        return
    _out(out, False, CAMPAIGN_COLUMNS)
    _out(out["waves"], False, ["wave", "percent", "devices", "pending", "offered", "downloading",
                               "verifying", "probation", "done", "rolled_back", "failed"])
    if "device_status" in out:
        _out(out["device_status"], False, ["device", "wave", "status", "percent", "reason"])


@campaign_app.command("list")
def campaign_list(db: DbOpt = None, json_out: JsonOpt = False) -> None:
    from fleet.services import ota

    with _session(db) as (s, _):
        rows = [ota.summary(s, c) for c in ota.list_campaigns(s)]
    _out(rows, json_out, CAMPAIGN_COLUMNS)
