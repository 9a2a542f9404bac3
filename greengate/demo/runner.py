"""`greengate demo` as a library: start everything, run the scenario, stop
cleanly.

Order: fleet service (child process) -> seed District 7 through the API ->
N blank terminals -> each provisioned over its console pty with a technician
token -> scan streams -> F0 case after `f0_after` seconds -> run until
Ctrl-C / SIGTERM / `duration`. Stopping: scan streams, terminals (SIGTERM to
each firmware process, SIGKILL after 5 s), fleet (SIGINT: uvicorn, bridge
and broker shut down), then any child process still alive is killed.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from greengate.demo import traffic
from greengate.demo.fleet_api import ApiError, FleetApi
from greengate.demo.fleetproc import FleetProcess, free_port
from greengate.demo.seed import seed
from greengate.demo.terminals import DemoTerminal, technician_token
from greengate.listen import port_in_use
from greengate.sim.terminal import SimError, micropython_binary

MARKER = ".greengate-demo"


class DemoError(Exception):
    """A failure the demo reports in one line and exits 1 for."""


@dataclass
class Options:
    terminals: int = 4
    port: int = 8000
    host: str = "127.0.0.1"
    speed: float = 1.0          # scans per gate about every 4 s / speed
    f0_after: float = 60.0      # seconds after the first scans (divided by speed)
    duration: float = 0.0       # 0: until Ctrl-C
    data_dir: Path | None = None  # default: a temporary directory, removed at the end
    password: str = "greengate-demo"
    seed: int = 7


def log(msg: str) -> None:
    sys.stderr.write(f"[demo {time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


class Stop(Exception):
    """SIGINT / SIGTERM."""


def _raise_stop(signum, _frame) -> None:  # noqa: ANN001
    raise Stop(signal.Signals(signum).name)


def prepare_dir(path: Path | None) -> tuple[Path, bool]:
    """(data dir, remove at the end). A --dir left by an earlier demo is reused
    from scratch; any other non-empty directory is refused."""
    if path is None:
        return Path(tempfile.mkdtemp(prefix="greengate-demo-")), True
    path = Path(path).resolve()  # the firmware runs with its own working directory
    if path.exists() and any(path.iterdir()):
        if not (path / MARKER).exists():
            raise DemoError(f"{path} is not empty and not a demo directory: choose another --dir")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path, False


def run(opts: Options) -> int:
    if not 1 <= opts.terminals <= 32:
        raise DemoError("--terminals must be 1..32")
    if opts.speed <= 0:
        raise DemoError("--speed must be > 0")
    if port_in_use(opts.port, opts.host):
        raise DemoError(f"port {opts.port} is in use: choose another with --port")
    try:  # before the fleet starts and seeds: the gates cannot boot without it
        micropython_binary()
    except SimError as e:
        raise DemoError(str(e)) from None
    root, temporary = prepare_dir(opts.data_dir)
    old_int = signal.signal(signal.SIGINT, _raise_stop)
    old_term = signal.signal(signal.SIGTERM, _raise_stop)
    (root / MARKER).write_text("greengate demo data; removed by the next demo run in this directory\n")
    fleet = FleetProcess(root / "fleet", opts.port, free_port(opts.host), opts.password, host=opts.host)
    terms: list[DemoTerminal] = []
    streams: list[traffic.ScanStream] = []
    stop_streams = threading.Event()
    api: FleetApi | None = None
    clean = False  # on a failure the data (logs) stay for inspection
    try:
        log(f"data in {root}")
        log(f"starting the fleet service (SQLite, embedded amqtt broker on :{fleet.broker_port}, "
            f"dashboard) on {fleet.url}")
        fleet.start()
        api = FleetApi(fleet.url).login("admin", opts.password)
        log("seeding District 7 / Quận 7 through the fleet API")
        world = seed(api, root / "fleet", opts.password, managed=opts.terminals, log=log)

        gates = [world.gates[i % len(world.gates)] for i in range(opts.terminals)]
        terms = [DemoTerminal(root / f"gate-{i + 1}", g, i + 1) for i, g in enumerate(gates)]
        for t in terms:
            t.start()
        log(f"{len(terms)} blank terminals booted (real firmware, MicroPython unix port)")
        _provision_all(api, fleet.url, terms)
        print_banner(fleet.url, opts.password, terms)

        interval = 4.0 / opts.speed
        for i, t in enumerate(terms):
            s = traffic.ScanStream(t, world, interval, stop_streams, seed=opts.seed * 100 + i)
            streams.append(s)
            s.start()
        started = time.monotonic()
        f0_at = started + opts.f0_after / opts.speed
        f0_done = False
        screens: dict[int, str] = {}
        while True:
            _report(terms, screens)
            now = time.monotonic()
            if not f0_done and now >= f0_at:
                try:
                    f0_done = traffic.f0_case(api, world, terms, log) is not None
                except ApiError as e:
                    log(f"F0 case failed, trying again in 10 s: {e}")
                if not f0_done:
                    f0_at = now + 10
            if opts.duration and now - started >= opts.duration:
                log("duration reached")
                break
            crashed = [t for t in terms if not t.running]
            if crashed:
                raise DemoError(f"{crashed[0].label} stopped (firmware exit status "
                                f"{crashed[0].sim.proc.returncode}); see {crashed[0].log}")
            if fleet.proc is not None and fleet.proc.poll() is not None:
                raise DemoError(f"the fleet service exited ({fleet.proc.returncode}); see {fleet.log}")
            time.sleep(0.5)
        clean = True
        return 0
    except Stop as e:
        log(f"{e}: stopping / đang dừng")
        clean = True
        return 0
    finally:
        # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            stop_streams.set()
            for s in streams:
                s.join(2)
            with ThreadPoolExecutor(max(1, len(terms))) as pool:
                list(pool.map(lambda t: t.stop(), terms))
            if api is not None:
                api.close()
            fleet.stop()
            killed = kill_children()
            if killed:
                log(f"killed {killed} left-over child process(es)")
            if temporary and clean:
                shutil.rmtree(root, ignore_errors=True)
            elif not clean:
                log(f"logs kept in {root} (fleet/fleet.log, gate-N/firmware.log)")
            log("stopped; no process left behind / đã dừng")
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)


def _provision_all(api: FleetApi, url: str, terms: list[DemoTerminal]) -> None:
    """One technician per gate, all at once: token from the operator, then the
    provisioning tool over the gate's USB console."""

    from provisioning.errors import ProvisionError

    def one(t: DemoTerminal) -> None:
        token = technician_token(api, t.gate.site_id)
        try:
            s = t.provision(url, token, step=lambda st: log(f"{t.label}: provisioning: {st}")
                            if st in ("firmware", "register", "online") else None)
        except ProvisionError as e:
            raise DemoError(f"{t.label}: provisioning failed [{e.code}]: {e}") from e
        t.new_events()  # what the blank board did before is not news
        log(f"{t.label}: {s['device_id']} online at site {s['site_id']}, "
            f"{len(s['files_sent'])}/{s['files_total']} files sent, steps {s['seconds']}")

    pool = ThreadPoolExecutor(len(terms), thread_name_prefix="provision")
    try:
        for f in [pool.submit(one, t) for t in terms]:
            f.result()
    finally:
        # on Ctrl-C do not wait for the technicians: stopping the terminals
        # closes their consoles, which ends the provisioning threads
        pool.shutdown(wait=False, cancel_futures=True)


_CONTROL = {1: "site configuration", 2: "trust list", 3: "revocation list"}
_STATE_SCREENS = ("suspended", "setup", "out_of_sync", "offline", "idle")


def _report(terms: list[DemoTerminal], screens: dict[int, str]) -> None:
    """Decisions and screen changes on stderr (pass hash prefixes only, never the pass)."""
    for t in terms:
        for ev in t.new_events():
            kind = ev.get("kind")
            if kind == "decision":
                verdict = "ADMIT" if ev.get("verdict") else "DENY "
                log(f"{t.device_id}: {verdict} {ev.get('reason')} pass {str(ev.get('pass') or '')[:8]}")
            elif kind == "control" and ev.get("msg_kind") in _CONTROL:
                state = "applied" if ev.get("applied") else "refused"
                log(f"{t.device_id}: {state} {_CONTROL[ev['msg_kind']]} v{ev.get('version')} (signed by the fleet)")
            elif kind == "screen" and ev.get("screen") in _STATE_SCREENS \
                    and screens.get(t.number) != ev.get("screen"):
                screens[t.number] = ev.get("screen")
                log(f"{t.device_id}: screen {ev.get('screen')}")


def print_banner(url: str, password: str, terms: list[DemoTerminal]) -> None:
    out = sys.stdout
    out.write(f"Dashboard / Bảng điều khiển: {url}/ui/\n")
    out.write(f"Login / Đăng nhập: operator / {password}   (admin / {password})\n")
    for t in terms:
        out.write(f"{t.device_id}\t{t.gate.business.id}\t{t.gate.business.gate_en}\t{t.root}\n")
    out.write("Ctrl-C stops the demo / Ctrl-C để dừng\n")
    out.flush()


# -- no process left behind -------------------------------------------------------------

def child_pids(parent: int) -> list[int]:
    """Processes whose parent is `parent` (from /proc; no psutil)."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            out.append(int(entry))
    return out


def kill_children() -> int:
    """SIGKILL whatever child the clean stop left (there should be none)."""
    killed = 0
    for pid in child_pids(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            killed += 1
        except (ProcessLookupError, ChildProcessError):
            pass
    return killed
