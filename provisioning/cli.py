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


@app.command("info")
def info_cmd(port: PortOpt = None) -> None:
    """Ask the device who it is (JSON)."""
    try:
        i = device.hello(_open(port))
    except ProvisionError as e:
        _fail(e)
    d = i.__dict__ | {"public_key": i.public_key.hex() if i.public_key else None}
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
    port: PortOpt = None,
) -> None:
    """Provision one device end to end and print a JSON summary."""
    if not token:
        err.print("[red]error[/red] [TOKEN] a technician token is needed (--token or "
                  "GREENGATE_TECH_TOKEN) / cần mã kỹ thuật viên")
        raise typer.Exit(2)
    fleet = FleetClient(fleet_url, token)
    try:
        link = _open(port)
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                      console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("upload", total=None)

            def progress(_what: str, done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            summary = flow.provision(link, fleet, firmware, site,
                                     wifi=(wifi_ssid, wifi_password or "") if wifi_ssid else None,
                                     rekey=rekey, wait_online=wait,
                                     on_step=lambda s: err.print(f"- {s}"), progress=progress)
        if label_dir:
            from provisioning.label import write_label

            png, pdf = write_label(summary.device_id, str(summary.site_id), label_dir)
            err.print(f"label: {png} {pdf}")
    except ProvisionError as e:
        _fail(e)
    finally:
        fleet.close()
    print(json.dumps(summary.as_dict()))
