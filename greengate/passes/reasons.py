"""Reason codes for host tools, read from the firmware's own table.

firmware/verify/reasons.py is the single source of truth (append-only codes);
parsing it here instead of copying it means the host can never drift from the
device. Parsed with `ast`, never executed (it imports `micropython`).
"""

from __future__ import annotations

import ast
import importlib.util
from functools import lru_cache
from pathlib import Path

from greengate.paths import FIRMWARE, REPO

REASONS_FILE = FIRMWARE / "verify" / "reasons.py"
# The gate screen's reviewed (Vietnamese, English) texts, one per reason code,
# read with the generator's own parser: host tools say what the gate says.
TEXTS_DIR = REPO / "tools" / "texts"


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


@lru_cache(maxsize=None)
def _screen_texts() -> dict[int, tuple[str, str]]:
    spec = importlib.util.spec_from_file_location("gg_gen_texts", TEXTS_DIR / "gen_texts.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    pairs, _ = gen.parse((TEXTS_DIR / "texts.tsv").read_text(encoding="utf-8"), table())
    return pairs


def text(reason_name: str) -> tuple[str, str]:
    """(Vietnamese, English) sentence for a reason NAME: what the gate's screen shows."""
    pair = _screen_texts().get(table().get(reason_name, -1))
    return pair or ("Lý do không xác định", "Unknown reason")


def __getattr__(attr: str) -> int:
    # `reasons.SIGNATURE` works like on the device.
    t = table()
    if attr in t:
        return t[attr]
    raise AttributeError(attr)
