"""hardware.md's pin table lists exactly the firmware's default pins."""

from __future__ import annotations

import ast
import re

from mpy import FIRMWARE, REPO

ROW = re.compile(r"^\|[^|]*\|\s*`(?P<name>[a-z0-9_]+)`\s*\|\s*(?P<gpio>\d+)\s*\|")


def firmware_pins() -> dict[str, int]:
    tree = ast.parse((FIRMWARE / "app" / "pins.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "PINS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("PINS not found in firmware/app/pins.py")


def documented_pins() -> dict[str, int]:
    text = (REPO / "hardware.md").read_text()
    section = text.split("## Pin map", 1)[1].split("\n## ", 1)[0]
    pins: dict[str, int] = {}
    for line in section.splitlines():
        m = ROW.match(line)
        if m:
            assert m["name"] not in pins, f"{m['name']} listed twice"
            pins[m["name"]] = int(m["gpio"])
    return pins


def test_pin_table_matches_pins_py():
    assert documented_pins() == firmware_pins()


def test_no_gpio_used_twice_and_none_reserved():
    pins = firmware_pins()
    gpios = list(pins.values())
    assert len(gpios) == len(set(gpios))
    # flash (6-11), PSRAM on WROVER (16, 17), strapping pins (0, 2, 12, 15)
    assert not set(gpios) & {0, 2, 6, 7, 8, 9, 10, 11, 12, 15, 16, 17}
    outputs = {k: v for k, v in pins.items() if k not in ("scanner_rx", "exit_button")}
    assert all(v < 34 for v in outputs.values()), "GPIO 34-39 are input-only"
