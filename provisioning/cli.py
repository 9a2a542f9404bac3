"""`greengate provision ...`: thin commands over the provisioning library.

Data (JSON summaries, port lists) go to stdout; progress and diagnostics to
stderr; every failure a technician can meet exits non-zero with a message in
Vietnamese and English.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

from greengate.paths import FIRMWARE
from provisioning import device, flow, ports
from provisioning.errors import ProvisionError
from provisioning.fleet_client import FleetClient
from provisioning.link import Link

app = typer.Typer(no_args_is_help=True, help="Set up gate terminals over USB serial.")
err = Console(stderr=True)

PortOpt = Annotated[Optional[str], typer.Option("--port", "-p", help="Serial port (default: the one board found)")]


def _fail(e: ProvisionError) -> None:
    err.print(f"[red]error[/red] [{e.code}] {e}")
    raise typer.Exit(1)


def _open(port: str | None) -> Link:
    url = port or ports.pick_port(ports.list_serial_ports())
    return Link(ports.open_port(url))


@app.command("ports")
def ports_cmd(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List serial ports; likely ESP32 boards first."""
    found = ports.list_serial_ports()
    if as_json:
        print(json.dumps([p.__dict__ for p in found]))
        return
    for p in found:
        mark = "*" if p.likely_board else " "
        print(f"{mark} {p.device}\t{p.description}")


@app.command("flash")
def flash_cmd(image: Path, port: PortOpt = None, chip: str = "esp32") -> None:
    """Erase the board and write a MicroPython image with esptool."""
    from provisioning.flash import flash_micropython

    try:
        url = port or ports.pick_port(ports.list_serial_ports())
        err.print(f"flashing {image} to {url} ({chip})...")
        flash_micropython(url, image, chip)
        err.print("[green]done[/green]")
    except ProvisionError as e:
        _fail(e)


def _read_release(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as e:
        raise ProvisionError(f"cannot read the release {path}: {e.strerror} / "
                             f"không đọc được tệp {path}", code="RELEASE_INVALID") from None


@app.command("release")
def release_cmd(
    version: Annotated[int, typer.Option(help="Release number: higher than the gates' installed one")],
    fleet_key: Annotated[Path, typer.Option("--fleet-key", envvar="GREENGATE_FLEET_KEY_PATH",
                                            help="The fleet's signing key (PEM)")],
    out: Annotated[Path, typer.Option(help="Where to write the signed release")],
    platform: Annotated[str, typer.Option(help="esp32 (compiled .mpy) or unix (source)")] = "esp32",
    label: Annotated[str, typer.Option(help="A short name shown in logs, e.g. 0.2.0")] = "",
    firmware: Annotated[Path, typer.Option(help="Firmware tree")] = FIRMWARE,
) -> None:
    """Sign a firmware release with the fleet key (an operator's step): a
    provisioned gate installs files only inside one."""
    from greengate.passes import keys as gk
    from provisioning import release as releases

    try:
        try:
            key = gk.load_private_key(fleet_key)
        except (OSError, gk.TrustFileError) as e:
            raise ProvisionError(f"cannot load the fleet key {fleet_key}: {e} / "
                                 f"không đọc được khóa hệ thống", code="FLEET_KEY") from None
        files, stale = releases.firmware_for(platform, firmware)
        out.write_bytes(releases.sign(files, stale, key, version, label))
    except ProvisionError as e:
        _fail(e)
    print(json.dumps({"version": version, "platform": platform, "files": len(files),
                      "out": str(out)}))


@app.command("info")
def info_cmd(port: PortOpt = None) -> None:
    """Ask the device who it is (JSON)."""
    try:
        i = device.hello(_open(port))
    except ProvisionError as e:
        _fail(e)
    d = i.__dict__ | {"public_key": i.public_key.hex() if i.public_key else None,
                      "fleet_keys": [k.hex() for k in i.fleet_keys]}
    print(json.dumps(d))


@app.command("run")
def run_cmd(
    site: Annotated[Optional[int], typer.Option(help="Site id the gate belongs to")] = None,
    fleet_url: Annotated[str, typer.Option("--fleet", envvar="GREENGATE_FLEET_URL")] = "http://127.0.0.1:8000",
    token: Annotated[Optional[str], typer.Option(envvar="GREENGATE_TECH_TOKEN", help="Technician token")] = None,
    wifi_ssid: Annotated[Optional[str], typer.Option("--wifi-ssid")] = None,
    wifi_password: Annotated[Optional[str], typer.Option("--wifi-password", envvar="GREENGATE_WIFI_PASSWORD")] = None,
    rekey: Annotated[bool, typer.Option(help="Make a new device key pair (re-registers)")] = False,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the device to come online (0: don't)")] = 60.0,
    label_dir: Annotated[Optional[Path], typer.Option("--label-dir", help="Write the device label here")] = None,
    firmware: Annotated[Path, typer.Option(help="Firmware tree")] = FIRMWARE,
    release: Annotated[Optional[Path], typer.Option(
        "--release", help="Fleet-signed firmware release (needed to update a provisioned gate)")] = None,
    port: PortOpt = None,
) -> None:
    """Provision one device end to end and print a JSON summary."""
    if not token:
        err.print("[red]error[/red] [TOKEN] a technician token is needed (--token or "
                  "GREENGATE_TECH_TOKEN) / cần mã kỹ thuật viên")
        raise typer.Exit(2)
    fleet = FleetClient(fleet_url, token)
    try:
        signed = _read_release(release)
        link = _open(port)
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                      console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("upload", total=None)

            def progress(_what: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            summary = flow.provision(link, fleet, firmware, site,
                                     wifi=(wifi_ssid, wifi_password or "") if wifi_ssid else None,
                                     rekey=rekey, wait_online=wait,
                                     on_step=lambda s: err.print(f"- {s}"), progress=progress,
                                     release=signed)
        if label_dir:
            from provisioning.label import write_label

            png, pdf = write_label(summary.device_id, str(summary.site_id), label_dir)
            err.print(f"label: {png} {pdf}")
    except ProvisionError as e:
        _fail(e)
    finally:
        fleet.close()
    print(json.dumps(summary.as_dict()))
