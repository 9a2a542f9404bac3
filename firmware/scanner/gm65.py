# GM65-family command protocol: frame building and response parsing only,
# no I/O. Register addresses and bit meanings: docs/scanner.md (GM65 user
# manual, "zone bits"). Host frame: 7E 00 <type> <len> <addrH> <addrL>
# <data...> <CRC16 hi> <CRC16 lo>; reply: 02 00 <status> <len> <data...> <crc>.
from micropython import const

READ = const(0x07)
WRITE = const(0x08)
SAVE = const(0x09)

REG_SETTINGS = const(0x0000)  # bits 1-0 working mode, 3-2 light, 5-4 aimer, 6 buzzer
REG_READ_INTERVAL = const(0x0005)  # x100 ms between reads (sense mode)
REG_SAME_CODE = const(0x0013)  # bit 7 enable, bits 6-0 interval x100 ms
REG_BAUD = const(0x002A)  # 2 bytes, little endian divisor
REG_TAIL = const(0x0060)  # bits 6-5 terminator

MODE_MANUAL = const(0)
MODE_COMMAND = const(1)
MODE_CONTINUOUS = const(2)
MODE_SENSE = const(3)
MODE_MASK = const(0x03)

TAIL_CR = const(0)
TAIL_CRLF = const(1)
TAIL_TAB = const(2)
TAIL_NONE = const(3)
TAIL_SHIFT = const(5)
TAIL_MASK = const(0x60)

SAME_CODE_ENABLE = const(0x80)

# baud -> register value (3 MHz / baud, rounded), as the manual lists it
BAUD_VALUES = {
    9600: 0x0139,
    14400: 0x00D0,
    19200: 0x009C,
    38400: 0x004E,
    57600: 0x0034,
    115200: 0x001A,
}

ACK = b"\x02\x00\x00\x01\x00\x33\x31"
MAX_REPLY_DATA = const(16)


def crc16(buf, start=0, end=None):
    # CRC-16/XMODEM (poly 0x1021, init 0), as the manual specifies.
    if end is None:
        end = len(buf)
    crc = 0
    for i in range(start, end):
        crc ^= buf[i] << 8
        for _ in range(8):
            if crc & 0x8000:
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
    return crc


def command(kind, addr, data):
    n = len(data)
    frame = bytearray(8 + n)
    frame[0] = 0x7E
    frame[1] = 0x00
    frame[2] = kind
    frame[3] = n
    frame[4] = (addr >> 8) & 0xFF
    frame[5] = addr & 0xFF
    frame[6 : 6 + n] = data
    crc = crc16(frame, 2, 6 + n)
    frame[6 + n] = crc >> 8
    frame[7 + n] = crc & 0xFF
    return bytes(frame)


def read_register(addr, count=1):
    # for a read, the data byte is how many registers to read
    return command(READ, addr, bytes((count,)))


def write_register(addr, data):
    return command(WRITE, addr, data)


def save_settings():
    return command(SAVE, 0x0000, b"\x00")


def baud_bytes(baud):
    value = BAUD_VALUES.get(baud)
    if value is None:
        return None
    return bytes((value & 0xFF, value >> 8))


def with_mode(settings, mode):
    return (settings & ~MODE_MASK & 0xFF) | (mode & MODE_MASK)


def with_tail(tail_reg, tail):
    return (tail_reg & ~TAIL_MASK & 0xFF) | ((tail << TAIL_SHIFT) & TAIL_MASK)


def same_code_value(interval_ms):
    # 0 disables the module's own suppression; else 100 ms steps, 1..127
    if interval_ms <= 0:
        return 0
    steps = (interval_ms + 50) // 100
    if steps < 1:
        steps = 1
    if steps > 127:
        steps = 127
    return SAME_CODE_ENABLE | steps


class ReplyParser:
    """Finds `02 00 <status> <len> <data> <crc>` replies in a byte stream.

    Bytes that are not part of a reply (codes the module reads while we talk
    to it, line noise) are skipped. A reply with a bad CRC is dropped and
    counted; `feed` returns (status, data) for each good one.
    """

    def __init__(self):
        self.buf = bytearray(4 + MAX_REPLY_DATA + 2)
        self.n = 0
        self.bad_crc = 0

    def reset(self):
        self.n = 0

    def feed_byte(self, b):
        buf = self.buf
        n = self.n
        if n == 0:
            if b == 0x02:
                buf[0] = b
                self.n = 1
            return None
        if n == 1 and b != 0x00:
            self.n = 1 if b == 0x02 else 0
            return None
        if n == 3 and b > MAX_REPLY_DATA:
            self.n = 1 if b == 0x02 else 0
            return None
        buf[n] = b
        n += 1
        self.n = n
        if n < 4:
            return None
        length = buf[3]
        if n < 6 + length:
            return None
        self.n = 0
        crc = crc16(buf, 1, 4 + length)
        if (buf[4 + length] << 8 | buf[5 + length]) != crc:
            self.bad_crc += 1
            return None
        return buf[2], bytes(buf[4 : 4 + length])
