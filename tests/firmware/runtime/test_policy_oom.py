"""A decider rebuild that runs out of heap (app/policy.py reload): one retry
after gc.collect() that keeps the work already done, then a reset for a whole
heap; no second reset for the same cause within a minute of boot (no reset
loop). Real MicroPython; the MemoryError is real (a full heap) or injected by
the test driver (driver_policy_oom.py), never by a seam in the firmware."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from mpy import MICROPYTHON, mpy_env
from provision_kit import provision

DRIVER = Path(__file__).with_name("driver_policy_oom.py")
DEVICE = "gg-oom-1"
INTERNAL = 29  # verify/reasons.py


@pytest.fixture(scope="module")
def flash(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oom")
    provision(tmp / "flash", DEVICE, tmp)
    return tmp / "flash"


def run(flash: Path, tmp: Path, *args, nvs: int | None = None) -> dict:
    dev = tmp / "dev"
    shutil.copytree(flash, dev)
    if nvs is not None:
        (dev / "nvs.json").write_text(json.dumps({"oom_resets": nvs}))
    env = mpy_env()
    env.update(GG_FLASH_DIR=str(dev), GG_EVENT_FILE=str(tmp / "events.jsonl"))
    res = subprocess.run([MICROPYTHON, "-X", "heapsize=4m", str(DRIVER), args[0], DEVICE,
                          *map(str, args[1:])], capture_output=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    out = json.loads(res.stdout.decode().strip().splitlines()[-1])
    out["log"] = res.stderr.decode()
    events = tmp / "events.jsonl"
    out["events"] = ([json.loads(ln) for ln in events.read_text().splitlines()]
                     if events.exists() else [])
    return out


def rebuilds(out: dict) -> list[dict]:
    return [e for e in out["events"] if e["kind"] == "rebuild"]


def test_one_memory_error_is_retried_without_redoing_the_work(flash, tmp_path):
    out = run(flash, tmp_path, "inject", 1)
    assert out["boot_decider"] and out["decider"] and out["resets"] == 0
    assert out["opened"] == 1  # the revocation store opened before the failure was kept
    assert rebuilds(out) == [] and out["error"] is None


def test_memory_error_twice_resets_once_and_records_why(flash, tmp_path):
    out = run(flash, tmp_path, "inject", 2)
    assert not out["decider"] and out["resets"] == 1 and out["nvs"] == 1
    assert "MemoryError (INTERNAL), resetting" in out["log"]
    assert rebuilds(out)[0]["reset"] is True


def test_no_second_reset_for_the_same_cause_right_after_boot(flash, tmp_path):
    # the last reset was for a rebuild out of memory, and it fails again at boot
    out = run(flash, tmp_path, "inject", 2, nvs=1)
    assert not out["decider"] and out["resets"] == 0 and out["nvs"] == 1
    assert "no reset" in out["log"] and rebuilds(out)[0]["reset"] is False
    # the gate refuses (fail closed) and the device state says why
    assert out["verdict"] == "NOT_PROVISIONED" and out["error"] == [0, INTERNAL, 0]


def test_after_a_minute_up_the_same_cause_may_reset_again(flash, tmp_path):
    # reset before for this cause, the boot rebuild fails again (no reset),
    # then the rebuild after a control message fails too: 61 s after boot
    # that is no tight loop any more, the device resets
    out = run(flash, tmp_path, "inject", 2, 61, 2, nvs=1)
    assert not out["boot_decider"] and out["boot_resets"] == 0
    assert out["resets"] == 1 and out["nvs"] == 2
    # 30 s after boot: still none
    out = run(flash, tmp_path / "b", "inject", 2, 30, 2, nvs=1)
    assert out["boot_resets"] == 0 and out["resets"] == 0 and out["nvs"] == 1


def test_a_later_failure_after_a_good_boot_resets(flash, tmp_path):
    # the boot rebuild worked (counter cleared): the first failure may reset
    out = run(flash, tmp_path, "inject", 0, 5, 2, nvs=1)
    assert out["boot_decider"] and out["resets"] == 1 and out["nvs"] == 1


def test_a_good_rebuild_clears_the_counter(flash, tmp_path):
    out = run(flash, tmp_path, "inject", 0, nvs=2)
    assert out["decider"] and out["resets"] == 0 and out["nvs"] == 0


def test_real_memory_error_from_a_full_heap(flash, tmp_path):
    out = run(flash, tmp_path, "ballast")
    # the boot rebuild could not fit: retried, then a reset requested
    assert not out["boot_decider"] and out["boot_resets"] == 1 and out["boot_nvs"] == 1
    assert "MemoryError (INTERNAL), resetting" in out["log"]
    # with the heap back, the next rebuild works and clears the counter
    assert out["decider"] and out["nvs"] == 0 and out["error"] is None


BOOT_WITH_OOM = """# test wrapper (not firmware): every TrustStore.add runs out of heap
from verify.trust import TrustStore


def add(self, *args, **kw):
    raise MemoryError("injected by the test")


TrustStore.add = add
import main  # noqa: E402,F401
"""


def test_whole_firmware_resets_once_then_runs_fail_closed(tmp_path):
    """The real firmware under the simulator: the boot rebuild fails, the
    device resets (exit status 3, the simulator boots it again), fails again
    and this time stays up refusing passes instead of resetting in a loop."""
    import os

    from greengate.sim.terminal import FIRMWARE, SimTerminal, micropython_binary

    wrapper = tmp_path / "boot_oom.py"
    wrapper.write_text(BOOT_WITH_OOM)

    class OomSim(SimTerminal):
        def _spawn(self):
            # as SimTerminal._spawn, but booting through the wrapper
            p = self.paths
            env = dict(os.environ, MICROPYPATH=f"{FIRMWARE}:.frozen", GG_FLASH_DIR=str(p.flash),
                       GG_SCANNER_PTY=os.ttyname(self._slave),
                       GG_CONSOLE_PTY=os.ttyname(self._console[1]), GG_EVENT_FILE=str(p.events),
                       GG_INPUT_DIR=str(p.inputs), GG_DISPLAY_DUMP=str(p.display))
            self.proc = subprocess.Popen(
                [micropython_binary(), "-X", f"heapsize={self.heap}", str(wrapper)],
                env=env, cwd=str(p.root), stdout=self._stdout, stderr=self._stderr)

    root = tmp_path / "sim"
    provision(root / "flash", DEVICE, tmp_path)
    with OomSim(root, device_id=DEVICE, broker="mqtt://127.0.0.1:9") as sim:
        first = sim.wait_for(lambda e: e.get("kind") == "rebuild", timeout=30)
        assert first["reset"] is True and first["oom_resets"] == 0
        again = sim.wait_for(lambda e: e.get("kind") == "rebuild" and not e["reset"], timeout=60)
        assert again["oom_resets"] == 1 and sim.reboots == 1
        sim.wait_for(lambda e: e.get("kind") == "scanner" and e.get("state") == "ready", timeout=60)
        n = len(sim.events())
        sim.scan("GG1:ANY-CODE")
        d = sim.wait_for(lambda e: e.get("kind") == "decision", after=n, timeout=30)
        assert d["verdict"] is False and d["reason"] == "NOT_PROVISIONED"
        assert sim.reboots == 1 and sim.proc.poll() is None
        nvs = json.loads((root / "flash" / "nvs.json").read_text())
        assert nvs["oom_resets"] == 1
