"""`greengate sim`: run a simulated gate terminal, show it QR codes (an image
or the text itself), press its exit button."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from greengate.sim.gm65 import TERMIOS_SPEED
from greengate.sim.terminal import SimError, SimTerminal, print_event, read_qr, send

HOW_TO = (
    "Start a terminal / Khởi động một cổng: `greengate sim` (no command; runs until Ctrl-C, "
    "shows its events here and its screen in sim/display.png).\n\n"
    "Then, from a second shell in the same directory / Sau đó, ở cửa sổ thứ hai: "
    "`greengate sim scan --text 'GG1:...'` or `greengate sim scan qr.png` shows it a pass; "
    "`greengate sim press` presses the exit button."
)
app = typer.Typer(help="Simulated gate terminal: the real firmware under MicroPython.", epilog=HOW_TO)

DIR_OPT = typer.Option(Path("sim"), "--dir", help="Simulator directory (flash, events, display).")


def _interrupt(*_args) -> None:
    raise KeyboardInterrupt


@app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context,
    dir: Path = DIR_OPT,
    device_id: str = typer.Option(None, "--device-id", help="Device id written to config.json."),
    broker: str = typer.Option(None, "--broker", help="MQTT broker, mqtt://host:port."),
    module_baud: int = typer.Option(9600, "--module-baud", help="Scanner module's baud rate at power-up."),
) -> None:
    """Run the terminal until Ctrl-C (no command: this starts it). Events go to
    stderr, the display to DIR/display.png."""
    if ctx.invoked_subcommand is not None:
        return
    if module_baud not in TERMIOS_SPEED:
        typer.echo(f"error: --module-baud must be one of {sorted(TERMIOS_SPEED)}", err=True)
        raise typer.Exit(2)
    dir.mkdir(parents=True, exist_ok=True)
    sim = SimTerminal(dir, device_id=device_id, broker=broker, module_baud=module_baud)
    try:
        sim.start()
    except SimError as e:
        sim.stop()
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1)
    # SIGTERM stops the simulator like Ctrl-C (the firmware child goes too)
    signal.signal(signal.SIGTERM, _interrupt)
    typer.echo(f"simulator running in {dir} (display: {sim.paths.display}); Ctrl-C stops", err=True)
    typer.echo(f"console (provisioning tool): {sim.console_path}", err=True)
    seen = 0
    try:
        while sim.poll() is None:
            evs = sim.events()
            for ev in evs[seen:]:
                print_event(ev)
            seen = len(evs)
            time.sleep(0.2)
        typer.echo(f"firmware exited with status {sim.proc.returncode}", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


@app.command()
def scan(
    image: Optional[Path] = typer.Argument(None, exists=True, dir_okay=False, help="Image with a QR code."),
    text: Optional[str] = typer.Option(None, "--text", help="The QR code's text itself, as a scanner "
                                                           "reads it (- reads one line from stdin)."),
    dir: Path = DIR_OPT,
) -> None:
    """Present a QR code to the running simulator's scanner: the one in IMAGE, or --text."""
    if (image is None) == (text is None):
        typer.echo("lỗi / error: give an IMAGE or --text TEXT (one of them)", err=True)
        raise typer.Exit(2)
    if text == "-":
        text = sys.stdin.readline().rstrip("\r\n")
    if text is not None and not text:
        typer.echo("lỗi / error: --text is empty", err=True)
        raise typer.Exit(2)
    try:
        texts = read_qr(image) if image is not None else [text]
        for text in texts:
            send(dir, {"cmd": "scan", "text": text})
            typer.echo(text)
    except SimError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1)


@app.command()
def press(
    dir: Path = DIR_OPT,
    name: str = typer.Option("exit_button", help="Input pin to press."),
) -> None:
    """Press the exit button of the running simulator."""
    try:
        send(dir, {"cmd": "press", "name": name})
    except SimError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1)


def main() -> None:  # python -m greengate.sim.cli
    app()


if __name__ == "__main__":
    main()
