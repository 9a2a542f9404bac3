"""`greengate demo`: one command, a living District 7 fleet (docs/demo.md).

The dashboard URL and the demo login go to stdout; progress to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="A living fleet: fleet service, dashboard and simulated gates on one command.")


@app.callback(invoke_without_command=True)
def demo(
    terminals: Annotated[int, typer.Option("--terminals", "-n", help="Simulated gate terminals")] = 4,
    port: Annotated[int, typer.Option(help="Dashboard / API port")] = 8000,
    host: Annotated[str, typer.Option(help="Listen address")] = "127.0.0.1",
    speed: Annotated[float, typer.Option(help="Time factor: 2 = scans twice as often, F0 twice as soon")] = 1.0,
    f0_after: Annotated[float, typer.Option("--f0-after", help="Seconds of scanning before the F0 case "
                                                                 "(divided by --speed)")] = 60.0,
    duration: Annotated[float, typer.Option(help="Stop after this many seconds (0: until Ctrl-C)")] = 0.0,
    data_dir: Annotated[Optional[Path], typer.Option("--dir", help="Keep the demo's data here "
                                                     "(default: a temporary directory, removed)")] = None,
    password: Annotated[str, typer.Option(envvar="GREENGATE_DEMO_PASSWORD",
                                          help="Password of the demo accounts")] = "greengate-demo",
) -> None:
    """Start the fleet service, seed District 7, provision N simulated gates over
    their USB console and feed them scans; an F0 case after a minute. Ctrl-C stops."""
    from greengate.demo.runner import DemoError, Options, run

    if len(password) < 10:
        typer.echo("error: --password needs at least 10 characters", err=True)
        raise typer.Exit(2)
    try:
        code = run(Options(terminals=terminals, port=port, host=host, speed=speed, f0_after=f0_after,
                           duration=duration, data_dir=data_dir, password=password))
    except DemoError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from None
    except Exception as e:  # noqa: BLE001 - one line, not a traceback, for a newcomer
        typer.echo(f"error: {type(e).__name__}: {e}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)
