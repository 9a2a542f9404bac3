"""`greengate`: one command, one sub-command per area (Typer).

Each area keeps its own Typer app next to its library code; this module only
mounts them, importing lazily so `greengate pass ...` never pays for FastAPI.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(no_args_is_help=True, help="GreenGate gate terminals and fleet service.")

# (sub-command, module holding a Typer `app`, help)
_AREAS = [
    ("pass", "greengate.passes.cli", "Issuer keys, passes and offline checks."),
    ("sim", "greengate.sim.cli", "Simulated gate terminal (real firmware under MicroPython)."),
    ("provision", "provisioning.cli", "Set up a gate terminal over USB serial."),
    ("fleet", "fleet.cli", "Fleet service: serve, and the operator's admin tasks."),
    ("demo", "greengate.demo.cli", "A living District 7 fleet: fleet service, dashboard and simulated gates."),
]


def _mount() -> None:
    for name, module, help_text in _AREAS:
        sub = importlib.import_module(module).app
        app.add_typer(sub, name=name, help=help_text)


def main() -> None:
    _mount()
    app()


if __name__ == "__main__":
    main()
