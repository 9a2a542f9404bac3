"""Test rig shared by the fleet benchmarks: a fresh database (SQLite file or a
dropped-and-recreated PostgreSQL database), a registry with N gates, Debian's
mosquitto with a generated config, and broker-bridge workers as their own
processes (`python -m fleet.broker_bridge`, the production entry point), so
the simulator and the bridge don't share one GIL."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
for p in (str(REPO), str(REPO / "tests"), str(REPO / "bench")):
    if p not in sys.path:
        sys.path.insert(0, p)

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from brokers import mosquitto  # noqa: E402
from fleet.core.config import normalise_db_url  # noqa: E402
from fleet.core.db import make_engine, make_sessionmaker  # noqa: E402
from fleet.models import Base, Business, ControlOutbox, Device, Site  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://greengate:greengate@127.0.0.1:5432/greengate_bench"


def raise_nofile(need: int) -> int:
    """Raise the open-file limit (inherited by mosquitto and the workers)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else max(need, soft)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft < need:
        raise SystemExit(f"open-file limit {soft} < {need} needed (raise the hard limit: ulimit -Hn)")
    return soft


def fresh_db(db: str, tmp: Path) -> str:
    """'sqlite' (a file in tmp), 'pg' (greengate_bench on local PostgreSQL) or a
    URL. A PostgreSQL database is dropped and created again (never the test DB)."""
    if db in ("", "sqlite"):
        return f"sqlite:///{tmp / 'bench.db'}"
    url = normalise_db_url(PG_DEFAULT if db == "pg" else db)
    u = make_url(url)
    if u.get_backend_name() == "postgresql":
        if u.database in ("greengate_test", "postgres", None):
            raise SystemExit(f"refusing to drop database {u.database!r}: use a bench database")
        admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{u.database}" WITH (FORCE)'))
            c.execute(text(f'CREATE DATABASE "{u.database}"'))
        admin.dispose()
    return url


def seed(db_url: str, n_devices: int, device_id, with_site: bool = True):  # noqa: ANN001, ANN201
    """Schema + one approved business with one site holding every gate. Rows
    are inserted directly (registering 10,000 gates through the API is not
    what is measured); returns (engine, sessionmaker, site id)."""
    engine = make_engine(db_url)
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        db.add(Business(id="B1", name="Bench", sector="supermarket", address="1 Nguyễn Văn Linh",
                        ward="Tân Phong", operating_mode="3_tai_cho", status="approved"))
        site = Site(business_id="B1", name="Cổng chính", rules=[])
        db.add(site)
        db.flush()
        site_id = site.id if with_site else None
        db.commit()
    rows = [{"id": device_id(i), "site_id": site_id, "public_key": "00" * 32,
             "mqtt_username": device_id(i), "mqtt_password_hash": "x", "status": "active",
             "online": False, "tamper": False} for i in range(n_devices)]
    with engine.begin() as c:
        for i in range(0, len(rows), 2000):
            c.execute(Device.__table__.insert(), rows[i:i + 2000])
    return engine, sessions, site.id


def start_broker(tmp: Path, max_inflight: int = 100):  # noqa: ANN201
    """mosquitto 2 from tests/brokers.py (max_queued_messages 100000) plus the
    production queue limits of fleet/broker_bridge/mosquitto_conf.py."""
    extra = ("max_connections -1\n"
             f"max_inflight_messages {max_inflight}\n"
             "max_queued_bytes 0\n"
             "max_packet_size 65536\n")
    return mosquitto(tmp / "mq", extra_conf=extra).start()


def start_workers(db_url: str, port: int, n: int, tmp: Path, *, fleet_key: Path | None = None,
                  batch_max: int = 500) -> list[subprocess.Popen]:
    """n bridge workers sharing $share/greengate; worker 0 also publishes when
    a fleet key is given."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    procs = []
    for w in range(n):
        cmd = [sys.executable, "-m", "fleet.broker_bridge", "--db", db_url, "--broker", f"mqtt://127.0.0.1:{port}",
                "--client-id", f"bench-bridge-{w}", "--batch-max", str(batch_max)]
        if fleet_key is not None and w == 0:
            cmd += ["--fleet-key", str(fleet_key)]
        else:
            cmd += ["--no-publish"]
        p = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE,
                             stderr=(tmp / f"bridge-{w}.log").open("ab"), text=True)
        line = p.stdout.readline()
        if line.strip() != "ready":
            p.kill()
            raise SystemExit(f"bridge worker {w} did not start: see {tmp / f'bridge-{w}.log'}")
        procs.append(p)
    return procs


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_outbox_empty(sessions, timeout: float) -> float:  # noqa: ANN001
    """Seconds until every queued control message is published."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        with sessions() as db:
            left = db.scalar(select(func.count()).select_from(ControlOutbox)
                             .where(ControlOutbox.published_at.is_(None)))
            total = db.scalar(select(func.count()).select_from(ControlOutbox))
        if total and not left:
            return time.monotonic() - t0
        time.sleep(0.1)
    raise TimeoutError(f"control outbox not published after {timeout}s ({left} of {total} left)")


def start_profilers(procs: list[subprocess.Popen], tmp: Path) -> list[tuple[subprocess.Popen, Path]]:
    """py-spy (sampling, every thread) attached to each worker for the timed
    part only. py-spy is a developer tool: `pip install py-spy`."""
    exe = shutil.which("py-spy")
    if exe is None:
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    out = []
    for i, p in enumerate(procs):
        path = tmp / f"bridge-{i}.folded"
        spy = subprocess.Popen([exe, "record", "--pid", str(p.pid), "-f", "raw", "-r", "200",
                                "--nonblocking", "-o", str(path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append((spy, path))
    time.sleep(0.5)  # attached
    return out


def stop_profilers(spies: list[tuple[subprocess.Popen, Path]], top: int = 22) -> None:
    """Stop py-spy and print, per worker, where the samples went: by thread,
    by function including callees, and by leaf (own time)."""
    for spy, _ in spies:
        spy.send_signal(signal.SIGINT)
    for spy, path in spies:
        spy.wait(30)
        stacks = []
        for line in path.read_text().splitlines() if path.exists() else []:
            frames, _, n = line.rpartition(" ")
            stacks.append((frames.split(";"), int(n)))
        total = sum(n for _, n in stacks) or 1
        threads: Counter = Counter()
        incl: Counter = Counter()
        leaf: Counter = Counter()
        for frames, n in stacks:
            threads[frames[0]] += n
            for f in set(frames[1:]):
                incl[f] += n
            leaf[frames[-1]] += n
        print(f"--- py-spy {path.name}: {total} samples at 200/s (all threads; idle ones not sampled) ---",
              file=sys.stderr)
        for title, c in (("thread", threads), ("inclusive", incl), ("leaf", leaf)):
            print(f"  by {title}:", file=sys.stderr)
            for f, n in c.most_common(top if title != "thread" else 8):
                print(f"    {100 * n / total:5.1f}%  {f[:150]}", file=sys.stderr)


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


class CpuMeter:
    """CPU seconds used by each part of the rig between start() and stop():
    this process (the simulator), mosquitto, the bridge workers and, summed,
    every PostgreSQL server process."""

    def __init__(self, broker_pid: int, worker_pids: list[int]) -> None:
        self.pids = {"mosquitto": [broker_pid], "bridge": worker_pids}
        self.t0: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        out = {"simulator": time.process_time()}
        for name, pids in self.pids.items():
            out[name] = sum(_cpu(p) for p in pids)
        pg = 0.0
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    if (d / "comm").read_text().strip() == "postgres":
                        pg += _cpu(int(d.name))
                except OSError:
                    pass
        out["postgres"] = pg  # backends that exit during the run are not counted
        return out

    def start(self) -> None:
        self.t0 = self._read()
        self.wall = time.monotonic()

    def stop(self) -> str:
        now = self._read()
        wall = time.monotonic() - self.wall
        parts = " ".join(f"{k}={now[k] - self.t0[k]:.1f}" for k in now)
        return f"cpu_s[{parts} wall={wall:.1f}]"


def add_common_args(ap, *, poll: float, timeout: float) -> None:  # noqa: ANN001
    """The options every fleet bench shares (argparse)."""
    ap.add_argument("--max-inflight", type=int, default=100, help="mosquitto max_inflight_messages")
    ap.add_argument("--poll", type=float, default=poll, help="database poll interval (s)")
    ap.add_argument("--timeout", type=float, default=timeout)
    ap.add_argument("--profile", action="store_true", help="py-spy the bridge workers during the timed part")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, DB)")


async def teardown(sim, procs: list[subprocess.Popen], broker, tmp: Path, keep: bool) -> None:  # noqa: ANN001
    """Stop the simulator, the bridge workers and mosquitto; drop or keep tmp."""
    if sim is not None:
        await sim.close()
    stop_workers(procs)
    if broker is not None:
        broker.stop()
    if keep:
        print(f"kept {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
