"""Run firmware code under the real MicroPython unix port.

The firmware tree is the device's filesystem root, so it goes first on
MICROPYPATH; `.frozen` keeps the port's built-in asyncio and friends.
Tests drive firmware modules through small driver scripts that read JSON
lines on stdin and answer JSON lines on stdout, so thousands of cases cost one
interpreter start.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIRMWARE = REPO / "firmware"
SHARED = REPO.parent / "shared"
TESTDATA = SHARED / "testdata"

MICROPYTHON = shutil.which("micropython") or "micropython"


def mpy_env(extra_path: list[Path] | None = None) -> dict[str, str]:
    paths = [str(p) for p in (extra_path or [])] + [str(FIRMWARE), ".frozen"]
    env = dict(os.environ)
    env["MICROPYPATH"] = ":".join(paths)
    return env


def run_micropython(
    script: str | Path,
    stdin: str | bytes | None = None,
    args: list[str] | None = None,
    extra_path: list[Path] | None = None,
    timeout: float = 300,
    heap: str = "4m",
) -> subprocess.CompletedProcess:
    """Run a script file (Path) or source text (str) under MicroPython."""
    cmd = [MICROPYTHON, "-X", f"heapsize={heap}"]
    if isinstance(script, Path):
        cmd.append(str(script))
    else:
        cmd += ["-c", script]
    cmd += list(args or [])
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run(
        cmd, input=data, capture_output=True, timeout=timeout, env=mpy_env(extra_path)
    )
