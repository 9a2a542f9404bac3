"""Reason codes for host tools, read from the firmware's own table.

firmware/verify/reasons.py is the single source of truth (append-only codes);
parsing it here instead of copying it means the host can never drift from the
device. Parsed with `ast`, never executed (it imports `micropython`).
"""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

from greengate.paths import FIRMWARE

REASONS_FILE = FIRMWARE / "verify" / "reasons.py"


@lru_cache(maxsize=None)
def table(path: Path = REASONS_FILE) -> dict[str, int]:
    """NAME -> code for every public `NAME = const(N)` in the firmware table."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: dict[str, int] = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1):
            continue
        target, value = node.targets[0], node.value
        if not isinstance(target, ast.Name) or target.id.startswith("_"):
            continue
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "const"
            and len(value.args) == 1
            and isinstance(value.args[0], ast.Constant)
            and isinstance(value.args[0].value, int)
        ):
            out[target.id] = value.args[0].value
    return out


def code(reason_name: str) -> int:
    return table()[reason_name]


def name(reason_code: int) -> str:
    for n, c in table().items():
        if c == reason_code:
            return n
    return "UNKNOWN"


def __getattr__(attr: str) -> int:
    # `reasons.SIGNATURE` works like on the device.
    t = table()
    if attr in t:
        return t[attr]
    raise AttributeError(attr)
