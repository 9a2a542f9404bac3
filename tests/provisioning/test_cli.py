"""`greengate provision`: clear messages and exit codes for what a
technician meets before any device answers."""

import json
import os
import subprocess
import sys

import pytest

from provisioning import ports
from provisioning.errors import PortError
from provisioning.vcable import VirtualCable


def run(*args, env=None):
    e = dict(os.environ)
    e.pop("GREENGATE_TECH_TOKEN", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "greengate.cli", *args], capture_output=True,
                          text=True, env=e, timeout=60)


def test_missing_token_is_a_usage_error():
    r = run("provision", "run", "--port", "/dev/null")
    assert r.returncode == 2
    assert "token" in r.stderr


def test_missing_port_says_so():
    r = run("provision", "info", "--port", "/dev/ttyUSB-gone")
    assert r.returncode == 1
    assert "NO_PORT" in r.stderr and "/dev/ttyUSB-gone" in r.stderr


def test_silent_device_says_so():
    with VirtualCable() as cable:
        r = run("provision", "info", "--port", cable.host_path)
    assert r.returncode == 1
    assert "DEVICE_SILENT" in r.stderr


def test_info_prints_json(setup_device):
    dev = setup_device(chip_id="feedfacecafe")
    r = run("provision", "info", "--port", dev.cable.host_path)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["device_id"] == "gg-feedfacecafe"


def test_ports_lists_json():
    r = run("provision", "ports", "--json")
    assert r.returncode == 0
    assert isinstance(json.loads(r.stdout), list)


def test_pick_port_prefers_the_single_board_and_refuses_ambiguity():
    board = ports.PortInfo("/dev/ttyUSB0", "CP210x", 0x10C4, 0xEA60, True)
    other = ports.PortInfo("/dev/ttyS0", "ttyS0", None, None, False)
    assert ports.pick_port([other, board]) == "/dev/ttyUSB0"
    with pytest.raises(PortError) as e:
        ports.pick_port([])
    assert e.value.code == "NO_PORT"
    with pytest.raises(PortError) as e:
        ports.pick_port([board, ports.PortInfo("/dev/ttyUSB1", "CH340", 0x1A86, 0x7523, True)])
    assert e.value.code == "AMBIGUOUS_PORT"
    assert "2 boards" in str(e.value) and "/dev/ttyUSB0 (CP210x), /dev/ttyUSB1 (CH340)" in str(e.value)


def test_a_single_unknown_port_is_named_not_called_several():
    """Issue 11: one port, not a known ESP32 bridge, was reported as
    "several ports" listing one."""
    only = ports.PortInfo("/dev/ttyACM0", "USB Serial", 0x2E8A, 0x000A, False)
    with pytest.raises(PortError) as e:
        ports.pick_port([only])
    msg = str(e.value)
    assert e.value.code == "UNKNOWN_PORT" and "several" not in msg and "nhiều" not in msg
    assert "the only serial port, /dev/ttyACM0 (USB Serial)" in msg and "--port /dev/ttyACM0" in msg
    two = [only, ports.PortInfo("/dev/ttyS0", "ttyS0", None, None, False)]
    with pytest.raises(PortError) as e:
        ports.pick_port(two)
    assert e.value.code == "AMBIGUOUS_PORT" and "2 serial ports, none" in str(e.value)


def test_busy_port_says_so():
    with VirtualCable() as cable:
        first = ports.open_port(cable.host_path)
        try:
            with pytest.raises(PortError) as e:
                ports.open_port(cable.host_path)
            assert e.value.code == "PORT_BUSY"
        finally:
            first.close()


def test_flash_on_a_port_without_an_esp32_says_so(tmp_path):
    image = tmp_path / "micropython.bin"
    image.write_bytes(b"\xe9" + bytes(4095))
    with VirtualCable() as cable:
        r = run("provision", "flash", str(image), "--port", cable.host_path)
    assert r.returncode == 1
    assert "NO_BOOTLOADER" in r.stderr and "BOOT" in r.stderr


def test_flash_with_a_missing_image_says_so(tmp_path):
    r = run("provision", "flash", str(tmp_path / "nope.bin"), "--port", "/dev/null")
    assert r.returncode == 1
    assert "IMAGE" in r.stderr


# No ESP32-S3 and no non-root user exist on this machine: these two feed the
# tool the exact errors esptool and the kernel give, to pin the messages.
def test_wrong_chip_is_named(monkeypatch, tmp_path):
    import esptool

    from provisioning.errors import ChipError
    from provisioning.flash import flash_micropython

    def fake_main(args):
        raise esptool.FatalError("This chip is ESP32-S3, not ESP32. Wrong --chip argument?")

    monkeypatch.setattr(esptool, "main", fake_main)
    image = tmp_path / "fw.bin"
    image.write_bytes(b"\xe9" + bytes(100))
    with pytest.raises(ChipError) as e:
        flash_micropython("/dev/ttyUSB0", image, "esp32")
    assert e.value.code == "WRONG_CHIP" and "esp32" in str(e.value)


def test_no_permission_says_dialout(monkeypatch):
    import errno

    import serial

    def refuse(*args, **kwargs):
        raise serial.SerialException(errno.EACCES, "could not open port /dev/ttyUSB0: "
                                     "[Errno 13] Permission denied: '/dev/ttyUSB0'")

    monkeypatch.setattr(serial, "Serial", refuse)
    with pytest.raises(PortError) as e:
        ports.open_port("/dev/ttyUSB0")
    assert e.value.code == "PORT_PERMISSION" and "dialout" in str(e.value)
