"""Screen drawing time under the MicroPython unix port (not a test: numbers
go to docs/display.md). Drawing only; the PNG dump is timed separately.

    python3 tests/firmware/display/bench_display.py
"""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import run_driver  # noqa: E402

SCREENS = [
    ["idle", ["Chợ Bình Tây – Cổng 2", "10:42", True, 12, 345, 0]],
    ["accept", [3, "ĐVƯ", 1969]],
    ["deny", [16]],
    ["out_of_sync", []],
    ["setup", ["gg-7f3a9c"]],
    ["message", ["Cổng đóng lúc 18:00 hôm nay. Gate closes at 18:00 today.", 30]],
]


def main():
    for panel in ("ssd1306", "st7789"):
        [a] = run_driver([{"op": "bench", "panel": panel, "screens": SCREENS, "n": 50}])
        a.pop("id")
        print(panel, "draw ms/screen:", json.dumps({k: round(v, 2) for k, v in a.items()}))
    [a] = run_driver([{"op": "memory"}])
    a.pop("id")
    print("heap bytes (held by panel+screens+fonts; allocated per screen):", json.dumps(a))
    [a] = run_driver([{"op": "bench_show", "n": 50}])
    a.pop("id")
    print("show() to a null bus, ms:", json.dumps({k: round(v, 2) for k, v in a.items()}))
    # full cycle incl. show(): PNG dump (unix only)
    for panel in ("ssd1306", "st7789"):
        reqs = [{"op": "screen", "panel": panel, "method": "deny", "args": [16],
                 "png": "/tmp/gg_bench.png"}] * 20
        t = time.perf_counter()
        run_driver(reqs)
        print(panel, "draw+PNG, 20 screens incl. interpreter start: %.0f ms"
              % ((time.perf_counter() - t) * 1000))


if __name__ == "__main__":
    main()
