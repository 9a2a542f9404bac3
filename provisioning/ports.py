"""Find and open the board's serial port, with a clear message per failure."""

from __future__ import annotations

import errno
from dataclasses import dataclass

import serial
from serial.tools import list_ports

from provisioning.errors import PortError

# USB-serial bridges found on ESP32 boards (VID, PID) -> name
KNOWN_BRIDGES = {
    (0x10C4, 0xEA60): "Silicon Labs CP210x",
    (0x1A86, 0x7523): "WCH CH340",
    (0x1A86, 0x55D4): "WCH CH9102",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6010): "FTDI FT2232",
    (0x303A, 0x1001): "Espressif USB-Serial/JTAG",
    (0x303A, 0x0002): "Espressif USB CDC",
}


@dataclass
class PortInfo:
    device: str
    description: str
    vid: int | None
    pid: int | None
    likely_board: bool


def list_serial_ports() -> list[PortInfo]:
    out = []
    for p in list_ports.comports():
        known = (p.vid, p.pid) in KNOWN_BRIDGES
        desc = KNOWN_BRIDGES.get((p.vid, p.pid), p.description or "")
        out.append(PortInfo(p.device, desc, p.vid, p.pid, known))
    out.sort(key=lambda i: (not i.likely_board, i.device))
    return out


def _named(p: PortInfo) -> str:
    return f"{p.device} ({p.description})" if p.description else p.device


def pick_port(ports: list[PortInfo]) -> str:
    """The one port with a USB-serial bridge known on ESP32 boards. Anything
    else needs --port, and the error says what was found and why."""
    boards = [p for p in ports if p.likely_board]
    if len(boards) == 1:
        return boards[0].device
    if not ports:
        raise PortError("no serial port found: plug the board in with a data USB cable / "
                        "không thấy cổng serial: cắm bo mạch bằng cáp USB có truyền dữ liệu",
                        code="NO_PORT")
    if boards:
        names = ", ".join(_named(p) for p in boards)
        raise PortError(f"{len(boards)} boards plugged in, say which with --port: {names} / "
                        f"có {len(boards)} bo mạch, chọn bằng --port: {names}", code="AMBIGUOUS_PORT")
    if len(ports) == 1:
        only = ports[0]
        raise PortError(f"the only serial port, {_named(only)}, has no USB-serial bridge known on "
                        f"ESP32 boards: if it is the gate, say --port {only.device} / "
                        f"cổng serial duy nhất {_named(only)} không phải bộ chuyển USB-serial "
                        f"quen thuộc của bo ESP32: nếu đúng là thiết bị, dùng --port {only.device}",
                        code="UNKNOWN_PORT")
    names = ", ".join(_named(p) for p in ports)
    raise PortError(f"{len(ports)} serial ports, none with a USB-serial bridge known on ESP32 boards: "
                    f"say which with --port: {names} / có {len(ports)} cổng serial, không cổng nào "
                    f"là bộ chuyển USB-serial của bo ESP32: chọn bằng --port: {names}",
                    code="AMBIGUOUS_PORT")


def open_port(url: str, baud: int = 115200, timeout: float = 0.05) -> serial.SerialBase:
    """Open a port path or a pyserial URL (loop://, socket://...)."""
    try:
        if "://" in url:
            port = serial.serial_for_url(url, baudrate=baud, timeout=timeout)
        else:
            port = serial.Serial(url, baudrate=baud, timeout=timeout, exclusive=True)
    except serial.SerialException as e:
        err = getattr(e, "errno", None)
        text = str(e)
        if err == errno.EACCES or "Permission denied" in text:
            raise PortError(f"no permission for {url}: add yourself to the 'dialout' group / "
                            f"không có quyền dùng {url}: thêm tài khoản vào nhóm 'dialout'",
                            code="PORT_PERMISSION") from e
        if err == errno.EBUSY or "busy" in text.lower() or "lock" in text.lower():
            raise PortError(f"{url} is busy: close the other program using it (serial monitor?) / "
                            f"{url} đang bận: đóng chương trình khác đang dùng cổng",
                            code="PORT_BUSY") from e
        if err == errno.ENOENT or "No such file" in text or "could not open" in text:
            raise PortError(f"{url} does not exist: is the board plugged in? / "
                            f"không có {url}: bo mạch đã cắm chưa?", code="NO_PORT") from e
        raise PortError(f"cannot open {url}: {text}", code="PORT") from e
    return port
