"""A byte-exact fake GM65-family scanner module on the master side of a pty.

The firmware opens the pty's slave as its scanner UART. Like the real module,
the fake only understands the line when both ends use the same speed: it reads
the speed the firmware set on the pty (termios is shared by both ends) and
ignores frames sent at another speed; codes it "reads" at a mismatched speed
arrive as garbage bytes. Command frames follow the GM65 manual (see
docs/scanner.md): `7E 00 <type> <len> <addrH> <addrL> <data> <CRC16 or AB CD>`,
replies `02 00 00 <len> <data> <CRC16>`.

Used by the simulator (`greengate sim`) and by the firmware tests.
"""

from __future__ import annotations

import os
import select
import termios
import threading
import time

READ, WRITE, SAVE = 0x07, 0x08, 0x09
REG_SETTINGS, REG_SAME_CODE, REG_BAUD, REG_TAIL = 0x0000, 0x0013, 0x002A, 0x0060
BAUD_VALUES = {9600: 0x0139, 14400: 0x00D0, 19200: 0x009C, 38400: 0x004E, 57600: 0x0034, 115200: 0x001A}
TERMIOS_SPEED = {
    9600: termios.B9600,
    19200: termios.B19200,
    38400: termios.B38400,
    57600: termios.B57600,
    115200: termios.B115200,
}
TAILS = {0: b"\r", 1: b"\r\n", 2: b"\t", 3: b""}
ACK = bytes.fromhex("02000001003331")


def crc16(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def command(kind: int, addr: int, data: bytes) -> bytes:
    body = bytes([kind, len(data), addr >> 8, addr & 0xFF]) + data
    return b"\x7e\x00" + body + crc16(body).to_bytes(2, "big")


def reply(data: bytes) -> bytes:
    body = bytes([0x00, 0x00, len(data)]) + data
    return b"\x02" + body + crc16(body).to_bytes(2, "big")


def factory_registers() -> dict[int, int]:
    # plausible factory values: manual mode, light/aimer normal, buzzer on,
    # CR terminator, same-code delay off, 9600 baud
    regs = {addr: 0 for addr in range(0x0000, 0x0100)}
    regs[REG_SETTINGS] = 0x54
    regs[REG_SAME_CODE] = 0x00
    regs[REG_TAIL] = 0x00
    regs[REG_BAUD] = BAUD_VALUES[9600] & 0xFF
    regs[REG_BAUD + 1] = BAUD_VALUES[9600] >> 8
    return regs


class FakeGM65:
    """Plays a GM65 module on a pty master fd (runs a reader thread)."""

    def __init__(self, master_fd: int, baud: int = 9600, responsive: bool = True, require_crc: bool = False):
        self.fd = master_fd
        self.responsive = responsive
        self.require_crc = require_crc
        self.registers = factory_registers()
        self.set_baud_register(baud)
        self.flash = dict(self.registers)
        self.received: list[bytes] = []  # every frame understood, in order
        self.sent: list[bytes] = []  # every reply sent, in order
        self.ignored = 0  # bytes seen at a mismatched speed or not a frame
        self.lock = threading.Lock()
        self._buf = bytearray()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-gm65", daemon=True)

    # -- state ---------------------------------------------------------------
    @property
    def baud(self) -> int:
        value = self.registers[REG_BAUD] | self.registers[REG_BAUD + 1] << 8
        for baud, v in BAUD_VALUES.items():
            if v == value:
                return baud
        return 9600

    def set_baud_register(self, baud: int) -> None:
        value = BAUD_VALUES[baud]
        self.registers[REG_BAUD] = value & 0xFF
        self.registers[REG_BAUD + 1] = value >> 8

    @property
    def mode(self) -> int:
        return self.registers[REG_SETTINGS] & 0x03

    @property
    def terminator(self) -> bytes:
        return TAILS[(self.registers[REG_TAIL] >> 5) & 0x03]

    def line_speed_matches(self) -> bool:
        try:
            speed = termios.tcgetattr(self.fd)[4]
        except termios.error:
            return False
        return TERMIOS_SPEED.get(self.baud) == speed

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> "FakeGM65":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.05)
            except (OSError, ValueError):
                return
            if not ready:
                continue
            try:
                data = os.read(self.fd, 512)
            except OSError:
                time.sleep(0.05)  # slave not open (yet / any more)
                continue
            if not data:
                continue
            if not self.line_speed_matches():
                with self.lock:
                    self.ignored += len(data)
                continue
            with self.lock:
                self._buf += data
                self._parse()

    # -- protocol ------------------------------------------------------------
    def _parse(self) -> None:
        buf = self._buf
        while True:
            start = buf.find(b"\x7e\x00")
            if start < 0:
                self.ignored += max(0, len(buf) - 1)
                del buf[: max(0, len(buf) - 1)]
                return
            if start:
                self.ignored += start
                del buf[:start]
            if len(buf) < 6:
                return
            n = buf[3]
            end = 6 + n + 2
            if len(buf) < end:
                return
            frame = bytes(buf[:end])
            del buf[:end]
            body, check = frame[2:-2], frame[-2:]
            crc_ok = int.from_bytes(check, "big") == crc16(body)
            if not crc_ok and (self.require_crc or check != b"\xab\xcd"):
                self.ignored += len(frame)
                continue
            self.received.append(frame)
            if self.responsive:
                self._execute(frame[2], (frame[4] << 8) | frame[5], frame[6:-2])

    def _send(self, data: bytes) -> None:
        self.sent.append(data)
        os.write(self.fd, data)

    def _execute(self, kind: int, addr: int, data: bytes) -> None:
        if kind == READ and len(data) == 1:
            count = data[0]
            values = bytes(self.registers.get(addr + i, 0) for i in range(count))
            self._send(reply(values))
        elif kind == WRITE and data:
            for i, b in enumerate(data):
                self.registers[addr + i] = b
            self._send(ACK)  # at the old speed; a baud write takes effect after
        elif kind == SAVE:
            self.flash = dict(self.registers)
            self._send(ACK)

    # -- scanning ------------------------------------------------------------
    def scan(self, text: str | bytes, pace: bool = True) -> None:
        """Output one decoded code the way the module does: text + terminator,
        paced at the module's baud rate (10 bits per byte on the wire)."""
        payload = (text.encode() if isinstance(text, str) else text) + self.terminator
        self.write_raw(payload, pace=pace)

    def write_raw(self, payload: bytes, pace: bool = True) -> None:
        if not self.line_speed_matches():
            # what a UART makes of bytes sent at another speed
            payload = bytes((b ^ 0x5A) | 0x80 for b in payload)
        # All bytes at once, then the wire time: the module sends a code with
        # no gap, and a sleep between parts could outlast the gate's
        # inter-byte timeout on a loaded machine and cut the code in two.
        with self.lock:
            view = memoryview(payload)
            while view:
                view = view[os.write(self.fd, view):]
            if pace:
                time.sleep(10.0 * len(payload) / self.baud)
