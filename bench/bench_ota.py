"""Firmware updates (docs/protocol.md "Firmware updates"; results in
docs/benchmarks.md, "Firmware updates over the air").

    python3 bench/bench_ota.py --size                      # the release of the current firmware
    python3 bench/bench_ota.py --time [--rate 32000]       # one gate updated over MQTT
    python3 bench/bench_ota.py --heap [--target image|bundle] [--mode frozen32|mpy|source]

--size: build_release() of firmware/ for the ESP32 (mpy-cross xtensawin):
    files, payload bytes, manifest bytes, build time.
--time: the real firmware (simulator, 64-bit unix port) on a real
    mosquitto; the fleet side (tests/firmware/ota/ota_kit.py) answers each
    fetch with the chunks paced at --rate bytes/s of chunk messages (one
    sender thread, a sleep of len/rate after each publish: the link's
    throughput, not its latency). Reports offer -> downloading -> verifying
    -> probation -> done, and the download's effective rate.
--heap: the firmware as the ESP32 runs it (--mode frozen32: frozen into the
    32-bit build, bench/bench_firmware_heap.py's Build and its `mem` events:
    gc.collect(); gc.mem_alloc() less the base) downloading a release while
    passes are scanned (one a second: a `mem` reading after each decision,
    and after each update phase). --target image: a firmware image into the
    next (simulated) partition, the frozen build's target; bundle: the file
    bundle with its ~5 KB manifest fetched as a blob and checked on the device.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench"), str(REPO / "tests"),
                str(REPO / "tests" / "firmware" / "runtime"), str(REPO / "tests" / "firmware" / "net"),
                str(REPO / "tests" / "firmware" / "e2e"), str(REPO / "tests" / "firmware" / "ota")]

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

from greengate.ota import offer as ota_offer, release as rel  # noqa: E402
from greengate.paths import FIRMWARE  # noqa: E402


def size() -> dict:
    key = Ed25519PrivateKey.generate()
    t = time.perf_counter()
    r = rel.build_release(FIRMWARE, 1, "0.1.0", 0, rel.TARGET_BUNDLE, key)
    took = time.perf_counter() - t
    files = r.info["files"]
    mpy = sum(n for p, n, _ in files if p.endswith(".mpy"))
    src = sum(p.stat().st_size for p in FIRMWARE.rglob("*.py") if p.name not in rel.NOT_IN_BUNDLE)
    body = ota_offer.offer_body(r, 1)
    return {"files": len(files), "mpy_files": sum(1 for p, _, _ in files if p.endswith(".mpy")),
            "payload_bytes": len(r.payload), "mpy_bytes": mpy, "data_bytes": len(r.payload) - mpy,
            "python_source_bytes": src, "manifest_bytes": len(r.manifest),
            "manifest_inline": 1 in body, "chunks_768": -(-len(r.payload) // 768),
            "build_s": round(took, 1)}


def update_time(rate: int) -> dict:
    from brokers import mosquitto
    from e2e_kit import boot, kind, provision_site
    from ota_kit import OtaFleet, configure, make_release

    tmp = Path(tempfile.mkdtemp(prefix="gg-ota-bench-"))
    broker = mosquitto(tmp / "broker").start()
    root = tmp / "sim"
    device = "gg-00000000b0a1"
    site = provision_site(root / "flash", tmp, device)
    key = Ed25519PrivateKey.generate()
    configure(root / "flash", [rel.raw_public(key)], ota_probation_s=300)
    release = make_release(key, 1)
    sim = boot(root, device, broker.port)
    fleet = OtaFleet(broker.port, device, site.fleet_key, rate_bps=rate)
    try:
        sim.start()
        sim.wait_for(kind("scanner", state="ready"), timeout=60)
        t0 = time.monotonic()
        fleet.offer(release, campaign=1)
        marks = {}
        for phase, name in ((1, "downloading"), (2, "verifying"), (4, "probation"), (5, "done")):
            fleet.wait_state(lambda s: s[4] == 1 and s[1] == phase and (phase != 1 or s[0] == 1),
                             timeout=3600)
            marks[name] = round(time.monotonic() - t0, 1)
        sent = fleet.sent_bytes
    finally:
        fleet.close()
        sim.stop()
        broker.stop()
    download = marks["verifying"] - marks["downloading"]
    return {"rate_bytes_s": rate, "payload_bytes": len(release.payload),
            "manifest_bytes": len(release.manifest), "chunk_bytes_sent": sent,
            "seconds_from_offer": marks, "download_s": round(download, 1),
            "effective_bytes_s": round(len(release.payload) / download) if download else None}


def heap(mode: str, target: str, heap_kb: int, rate: int | None = None, scans_per_s: float = 1.0) -> dict:
    import bench_firmware_heap as bh
    from brokers import mosquitto
    from mpy import native_march
    from ota_kit import OtaFleet, configure

    tmp = Path(tempfile.mkdtemp(prefix="gg-ota-heap-"))
    build = bh.Build(mode, tmp)
    key = Ed25519PrivateKey.generate()
    if target == "image":
        image = tmp / "fw.bin"
        image.write_bytes(bytes(range(256)) * 800)  # 200 KiB
        release = rel.build_release(image, 1, "1.0.0", 0, rel.TARGET_IMAGE, key)
    else:
        import subprocess

        from mpy import MICROPYTHON

        arch = subprocess.run([build.exe, "-c", "import sys; print(sys.implementation._mpy >> 10)"],
                              capture_output=True, text=True).stdout.strip()
        march = {"2": "x64", "1": "x86"}.get(arch, native_march() or "x64")
        assert MICROPYTHON
        release = rel.build_release(FIRMWARE, 1, "1.0.0", 0, rel.TARGET_BUNDLE, key, march=march)
    # the bench's own wrapper, with a reading after each update phase too
    bh.BOOT = bh.BOOT.replace('kind in ("decision", "control", "command")',
                              'kind in ("decision", "control", "command", "ota")')
    prov = bh.Provisioning(revoked=bh.REVOKED[0])
    broker = mosquitto(tmp / "broker").start()
    flash = tmp / "sim" / "flash"
    prov.install(flash, tmp)
    configure(flash, [rel.raw_public(key)], ota_target=1 if target == "image" else 0,
              ota_probation_s=600)
    errf = (tmp / "stderr.txt").open("wb")
    out: dict = {"mode": mode, "target": target, "heap_kb": heap_kb,
                 "payload_bytes": len(release.payload), "manifest_bytes": len(release.manifest)}
    from net_helpers import Fleet as ScanAcks

    fleet = OtaFleet(broker.port, bh.DEVICE, prov.fleet, rate_bps=rate)
    acks = ScanAcks(broker.port, [f"gg/v1/dev/{bh.DEVICE}/scans"])  # acks every scan batch
    try:
        with bh.HeapSim(tmp / "sim", build, errfile=errf, device_id=bh.DEVICE,
                        broker=f"mqtt://127.0.0.1:{broker.port}", heap=build.heap(heap_kb)) as sim:
            sim.wait_for(bh.is_kind("scanner", state="ready"), timeout=120)
            for text, _v, _r in prov.scans:  # the steady state before the update
                n = len(sim.events())
                sim.scan(text)
                sim.wait_for(bh.is_kind("decision"), after=n, timeout=30)
            before = len(sim.events())
            fleet.offer(release, campaign=1)
            i = 0
            while True:
                evs = sim.events()
                if any(e.get("kind") == "ota" and e.get("phase") in (2, 7) for e in evs[before:]):
                    break
                n = len(evs)
                sim.scan(prov.scans[i % len(prov.scans)][0])
                sim.wait_for(bh.is_kind("decision"), after=n, timeout=60)
                i += 1
                time.sleep(1 / scans_per_s)
            mem = [e for e in sim.events() if e.get("kind") == "mem"]
            evs = sim.events()
    finally:
        fleet.close()
        acks.close()
        broker.stop()
        errf.close()
    mark = next(i for i, e in enumerate(evs) if e.get("kind") == "ota" and e.get("phase") == 1)
    mem_before = [m["alloc"] for m in mem if m["after"] == "decision" and evs.index(m) < before]
    during = [m["alloc"] for m in mem if m["after"] == "decision" and evs.index(m) > mark]
    out.update(steady_before=max(mem_before) if mem_before else None,
               during_download_max=max(during) if during else None,
               during_download_min=min(during) if during else None,
               scans_during_download=len(during), during_download=during,
               after_phase={m["after"] + str(i): m["alloc"] for i, m in enumerate(mem) if m["after"] == "ota"},
               result=[e for e in evs if e.get("kind") == "ota"][-1])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", action="store_true")
    ap.add_argument("--time", action="store_true")
    ap.add_argument("--heap", action="store_true")
    ap.add_argument("--rate", type=int, default=32000,
                    help="chunk bytes per second (--time; --heap: only if given)")
    ap.add_argument("--mode", default="frozen32", choices=("frozen32", "mpy", "source"))
    ap.add_argument("--target", default="image", choices=("image", "bundle"))
    ap.add_argument("--heap-kb", type=int, default=1024)
    a = ap.parse_args()
    a.rate_given = "--rate" in sys.argv
    if a.size:
        print(json.dumps({"size": size()}, indent=1))
    if a.time:
        print(json.dumps({"time": update_time(a.rate)}, indent=1))
    if a.heap:
        print(json.dumps({"heap": heap(a.mode, a.target, a.heap_kb, a.rate if a.rate_given else None)},
                         indent=1))


if __name__ == "__main__":
    main()
