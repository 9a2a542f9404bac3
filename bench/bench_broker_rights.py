"""What the broker's identity and topic rights cost (docs/fleet.md "Broker
identities"): mosquitto 2 with the generated configuration (password file +
dynamic-security plugin) against the same broker with the old `acl_file`,
and what the plugin costs with a district's worth of gates.

    python3 bench/bench_broker_rights.py [--messages 20000] [--devices 10000]

1. QoS 1 throughput: one gate publishes --messages scan messages (100 in
   flight); one fleet account receives them through `$share/greengate/...`
   with clean session; messages/s from the first publish to the last
   arrival (wall time: bound by the Python clients and noisy on a shared
   machine) and the broker's own CPU time per message (/proc: steadier;
   this is where the checks would show).
2. With --devices accounts in the files: mosquitto start-up (process start
   to listening) and one run-time account change over `$CONTROL` (the
   account keeper's create for one new gate: role + client, answered).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from brokers import Mosquitto, free_port  # noqa: E402
from fleet.broker_bridge import mosquitto_conf as mc  # noqa: E402
from fleet.broker_bridge import topics  # noqa: E402
from fleet.broker_bridge.account_sync import DynsecControl  # noqa: E402
from fleet.broker_bridge.bridge import BrokerParams, make_client  # noqa: E402

PW = "bench-password"
GATE = "gg-00000000000a"
OLD_ACL = f"""pattern write {topics.ROOT}/dev/%u/scans
pattern read {topics.ROOT}/dev/%u/cmd
user {mc.BRIDGE_USER}
topic readwrite {topics.ROOT}/#
"""


def start(out: Path, devices: list[mc.DeviceAccount], old_acl: bool) -> tuple[Mosquitto, float]:
    port = free_port()
    conf = mc.write_config(out, devices, PW, port=port, bind="127.0.0.1", run_as="root")
    if old_acl:  # the configuration before the plugin: password file + acl_file
        (out / "acl").write_text(OLD_ACL)
        text = conf.read_text().splitlines()
        text = [ln for ln in text if not ln.startswith("plugin")] + [f"acl_file {out / 'acl'}"]
        conf.write_text("\n".join(text) + "\n")
    t0 = time.perf_counter()
    m = Mosquitto(port=port, conf=conf, log=out / "mosquitto.log").start()
    return m, time.perf_counter() - t0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def throughput(port: int, pid: int, n: int) -> tuple[float, float]:
    got, done = [0], threading.Event()

    def on_message(_c, _u, _m) -> None:  # noqa: ANN001
        got[0] += 1
        if got[0] == n:
            done.set()
    sub = make_client(BrokerParams(port=port, username=mc.BRIDGE_USER, password=PW), mc.BRIDGE_USER,
                      clean_session=True)
    subscribed = threading.Event()
    sub.on_message = on_message
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.on_connect = lambda c, *_: c.subscribe(topics.shared(topics.SCANS_ALL), 1)
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    pub = make_client(BrokerParams(port=port, username=GATE, password=PW), GATE, clean_session=True)
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    assert subscribed.wait(10)
    payload = bytes(200)  # about a 3-scan batch
    t0, cpu0 = time.perf_counter(), cpu_s(pid)
    infos = [pub.publish(topics.scans(GATE), payload, qos=1) for _ in range(n)]
    for i in infos:
        i.wait_for_publish(120)
    if not done.wait(120):
        raise SystemExit(f"only {got[0]} of {n} arrived")
    rate, cpu = n / (time.perf_counter() - t0), (cpu_s(pid) - cpu0) / n
    for c in (pub, sub):
        c.disconnect()
        c.loop_stop()
    return rate, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--devices", type=int, default=10_000)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-rights-"))
    hashed = mc.password_hash(PW)
    try:
        gate = [mc.DeviceAccount(GATE, hashed, None)]
        for name, old in (("acl_file (before)", True), ("dynamic-security (now)", False)):
            m, _ = start(tmp / name.split()[0], gate, old)
            try:
                rate, cpu = throughput(m.port, m.proc.pid, a.messages)
                print(f"{name:24s} QoS 1 via $share: {rate:8,.0f} msg/s, broker CPU "
                      f"{cpu * 1e6:5.1f} us/msg")
            finally:
                m.stop()
        many = gate + [mc.DeviceAccount(f"gg-{i:012x}", hashed, None) for i in range(1, a.devices)]
        m, startup = start(tmp / "many", many, False)
        try:
            ctl = DynsecControl(BrokerParams(port=m.port, username=mc.ACCOUNTS_USER, password=PW))
            t0 = time.perf_counter()
            ctl.apply({"gg-ffffffffffff"}, set())
            change = time.perf_counter() - t0
            print(f"{a.devices:,} devices: mosquitto start {startup:.2f} s, one account added over "
                  f"$CONTROL {change * 1000:.0f} ms, dynamic-security.json "
                  f"{(tmp / 'many' / 'dynamic-security.json').stat().st_size / 1e6:.1f} MB")
        finally:
            m.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
