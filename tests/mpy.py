"""Run firmware code under the real MicroPython unix port.

The firmware tree is the device's filesystem root, so it goes first on
MICROPYPATH; `.frozen` keeps the port's built-in asyncio and friends.
Tests drive firmware modules through small driver scripts that read JSON
lines on stdin and answer JSON lines on stdout, so thousands of cases cost one
interpreter start.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from greengate.paths import tool

REPO = Path(__file__).resolve().parent.parent
FIRMWARE = REPO / "firmware"
# ../shared beside the repo (the team's machines; GREENGATE_SHARED elsewhere):
# only the optional 32-bit build reads it (tests/mpy32.py)
SHARED = Path(os.environ.get("GREENGATE_SHARED") or REPO.parent / "shared")
# External test vectors, copied into the project (tests/vectors/README.md):
# the suite must run on a clone with nothing beside it.
TESTDATA = REPO / "tests" / "vectors"

# The venv's own tools (beside sys.executable), then PATH: greengate.paths.tool.
MICROPYTHON = tool("micropython")
MPY_CROSS = tool("mpy-cross")


def use_micropython(exe: str) -> None:
    """Run the firmware under `exe` instead (pytest --mpy32: the 32-bit
    build): here, and for every lookup of `micropython` in this process and
    its children (PATH first, MICROPYTHON)."""
    global MICROPYTHON
    MICROPYTHON = exe
    os.environ["MICROPYTHON"] = exe
    os.environ["PATH"] = str(Path(exe).parent) + os.pathsep + os.environ.get("PATH", "")


# py/persistentcode.h MP_NATIVE_ARCH_* -> mpy-cross -march
_MARCH = {1: "x86", 2: "x64", 9: "xtensa", 10: "xtensawin"}


def native_march() -> str | None:
    """mpy-cross -march for native/viper code the selected interpreter loads
    (x64 for the PyPI build, x86 for the 32-bit one); None if it has none."""
    r = subprocess.run([MICROPYTHON, script_file("import sys\nprint(sys.implementation._mpy >> 10)\n")],
                       capture_output=True, text=True, check=True)
    arch = int(r.stdout.split()[-1])
    if arch in _MARCH:
        return _MARCH[arch]
    import platform

    return {"aarch64": "arm64"}.get(platform.machine())


_scripts: Path | None = None


def script_file(text: str) -> str:
    """A file holding `text`, to run as `micropython FILE`. Scripts are never
    passed with `-c`: the PyPI unix-port wrapper now and then mangles a long
    command-line argument, and the script then ends early without a word
    (exit 0, no output)."""
    global _scripts
    if _scripts is None:
        _scripts = Path(tempfile.mkdtemp(prefix="gg-mpy-"))
        atexit.register(shutil.rmtree, _scripts, True)
    path = _scripts / (hashlib.sha256(text.encode()).hexdigest()[:20] + ".py")
    if not path.exists():
        path.write_text(text)
    return str(path)


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
    cmd.append(str(script) if isinstance(script, Path) else script_file(script))
    cmd += list(args or [])
    data = stdin.encode() if isinstance(stdin, str) else stdin
    return subprocess.run(
        cmd, input=data, capture_output=True, timeout=timeout, env=mpy_env(extra_path)
    )
