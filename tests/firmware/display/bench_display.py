"""Screen drawing time and heap under the MicroPython unix port (not a test:
numbers go to docs/display.md). Drawing only; the PNG dump is timed separately.

    python3 tests/firmware/display/bench_display.py
    python3 tests/firmware/display/bench_display.py --romfs   # heap only, firmware/
        compiled and executed in place from a ROMFS image (as frozen / a ROMFS
        partition on the device): fonts and texts are then read in place too
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import DRIVER, run_driver  # noqa: E402
from mpy import MICROPYTHON  # noqa: E402


def romfs_memory():
    """The driver's memory op with firmware/ in a ROMFS image (bench/bench_firmware_heap.py's build)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
    import bench_firmware_heap as heap

    with tempfile.TemporaryDirectory(prefix="gg-disp-rom-") as d:
        build = heap.Build("rom", Path(d))
        script = heap.ROM_MOUNT + "exec(open(%r).read())\n" % str(DRIVER)
        env = dict(os.environ, MICROPYPATH=".frozen", GG_ROMFS=str(build.romfs))
        proc = subprocess.run([MICROPYTHON, "-X", "heapsize=4m", "-c", script],
                              input=b'{"op": "memory", "id": 0}\n', capture_output=True, env=env)
        if proc.returncode:
            raise SystemExit(proc.stderr.decode())
        a = json.loads(proc.stdout)
    a.pop("id")
    return a

SCREENS = [
    ["idle", ["Chợ Bình Tây – Cổng 2", "10:42", True, 12, 345, 0]],
    ["accept", [3, "ĐVƯ", 1969]],
    ["deny", [16]],
    ["out_of_sync", []],
    ["setup", ["gg-7f3a9c"]],
    ["message", ["Cổng đóng lúc 18:00 hôm nay. Gate closes at 18:00 today.", 30]],
]


def main():
    if "--romfs" in sys.argv[1:]:
        print("heap bytes, ROMFS (held by panel+screens+fonts; allocated per screen):",
              json.dumps(romfs_memory()))
        return
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
