"""Time to provision one gate end to end over a 115200-baud serial line.

    python3 bench/bench_provision.py [--runs 1] [--baud 115200] [--json]

Each run: a running fleet service (`greengate fleet serve` on embedded
defaults, as `greengate demo` starts it), one business + site made through
the API, a technician token; a blank simulated terminal (the real firmware
under the MicroPython unix port); the provisioning tool
(`provisioning.flow.provision`) opens a pty whose bytes are paced at the
given baud rate (10 bits per byte, both directions) on their way to the
terminal's USB console; it ends when the fleet reports the device online.
The summary's per-step seconds give the breakdown.

The simulator reports platform "unix", so the tool sends the firmware as
source (.py); an ESP32 gets it compiled by mpy-cross (.mpy): the script also
prints both sizes and their wire time at that baud rate. Target (issue 5):
<= 60 s end to end.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import sys
import tempfile
import threading
import time
import tty
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from greengate.demo.fleet_api import FleetApi  # noqa: E402
from greengate.demo.fleetproc import FleetProcess, free_port  # noqa: E402
from greengate.paths import FIRMWARE  # noqa: E402
from greengate.sim.terminal import SimTerminal  # noqa: E402

PASSWORD = "bench-password-1"


class PacedLine:
    """A pty for the tool, relayed to `device_path` at `baud` (both ways)."""

    def __init__(self, device_path: str, baud: int) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)
        self._slave = slave
        self.path = os.ttyname(slave)
        self.dev = os.open(device_path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.dev)
        self.byte_s = 10.0 / baud if baud else 0.0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._pump, args=(a, b), daemon=True)
                        for a, b in ((self.master, self.dev), (self.dev, self.master))]
        for t in self.threads:
            t.start()

    def _pump(self, src: int, dst: int) -> None:
        free_at = time.monotonic()
        while not self.stop.is_set():
            try:
                r, _, _ = select.select([src], [], [], 0.05)
                if not r:
                    continue
                data = os.read(src, 64)
            except OSError:
                time.sleep(0.01)
                continue
            free_at = max(free_at, time.monotonic()) + len(data) * self.byte_s
            delay = free_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                os.write(dst, data)
            except OSError:
                pass

    def close(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(1)
        for fd in (self.master, self._slave, self.dev):
            try:
                os.close(fd)
            except OSError:
                pass


def firmware_sizes() -> dict:
    from provisioning import build

    src = build.source_firmware(FIRMWARE)
    out = {"files": len(src), "source_bytes": sum(len(f.data) for f in src)}
    try:
        mpy = build.compile_firmware(FIRMWARE)
        out["mpy_bytes"] = sum(len(f.data) for f in mpy)
    except Exception as e:  # noqa: BLE001 - mpy-cross missing: report without it
        out["mpy_error"] = str(e)
    return out


def one_run(fleet_url: str, api: FleetApi, site_id: int, baud: int, root: Path) -> dict:
    from provisioning import flow, ports
    from provisioning.fleet_client import FleetClient
    from provisioning.link import Link

    token = api.post("/technician-tokens", {"site_id": site_id})["token"]
    root.mkdir(parents=True, exist_ok=True)
    log = open(root / "firmware.log", "ab")
    sim = SimTerminal(root, device_id=None)
    sim.start(stdout=log, stderr=log)
    stop = threading.Event()

    def supervise() -> None:  # reboot = exit status 3: boot the firmware again
        while not stop.wait(0.1):
            sim.poll()

    threading.Thread(target=supervise, daemon=True).start()
    line = PacedLine(sim.console_path, baud)
    client = FleetClient(fleet_url, token)
    port = ports.open_port(line.path, baud=baud or 115200)
    try:
        t0 = time.monotonic()
        s = flow.provision(Link(port, timeout=5.0), client, FIRMWARE, site_id, wait_online=120)
        total = time.monotonic() - t0
    finally:
        port.close()
        client.close()
        line.close()
        stop.set()
        sim.stop()
        log.close()
    return {"total_s": round(total, 2), "steps_s": s.seconds, "files_sent": len(s.files_sent),
            "resent_frames": s.resent_frames, "device_id": s.device_id, "online": s.online}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--baud", type=int, default=115200, help="0: no pacing")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sizes = firmware_sizes()
    results = []
    with tempfile.TemporaryDirectory(prefix="gg-bench-prov-") as tmp:
        tmp = Path(tmp)
        fleet = FleetProcess(tmp / "fleet", free_port(), free_port(), PASSWORD).start()
        try:
            api = FleetApi(fleet.url).login("admin", PASSWORD)
            api.post("/businesses", {"id": "BENCH", "name": "Bench", "sector": "supermarket",
                                     "address": "Q7", "ward": "Tân Phong", "operating_mode": "3_tai_cho",
                                     "two_doses": True, "five_k": True, "plan_approved": True,
                                     "testing_interval_days": 3})
            api.post("/businesses/BENCH/approve")
            site = api.post("/sites", {"business_id": "BENCH", "name": "Cổng"})["id"]
            for i in range(args.runs):
                r = one_run(fleet.url, api, site, args.baud, tmp / f"dev{i}")
                results.append(r)
                print(f"run {i + 1}: {r['total_s']:.1f} s end to end {r['steps_s']} "
                      f"({r['files_sent']} files, {r['resent_frames']} frames resent)", file=sys.stderr)
            api.close()
        finally:
            fleet.stop()
    wire = {k: round(sizes[k] * 10 / args.baud, 1) for k in ("source_bytes", "mpy_bytes")
            if k in sizes and args.baud}
    report = {"baud": args.baud, "firmware": sizes, "wire_time_s": wire, "runs": results}
    if args.json:
        print(json.dumps(report, indent=1))
        return
    print(f"firmware: {sizes['files']} files, {sizes['source_bytes']} bytes as source"
          + (f", {sizes['mpy_bytes']} bytes as .mpy (ESP32)" if "mpy_bytes" in sizes else ""))
    if wire:
        print("bare wire time at %d baud: %s" % (args.baud, ", ".join(f"{k} {v} s" for k, v in wire.items())))
    for i, r in enumerate(results):
        print(f"run {i + 1}: total {r['total_s']} s; " + ", ".join(f"{k} {v} s" for k, v in r["steps_s"].items()))


if __name__ == "__main__":
    main()
