"""Request/answer over the provisioning frames, with retries.

Every request carries a sequence number; the device answers with the same
one. A frame the device received damaged comes back as a NAK (seq 0xFF) and
is resent at once; silence is resent after `timeout`. After `retries`
attempts the link gives up with DeviceSilent (nothing ever answered) or
TransferError (answers came, but never intact).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import cbor2

from provisioning import frame
from provisioning.errors import DeviceRefused, DeviceSilent, TransferError

NAK_SEQ = 0xFF


class SerialLike(Protocol):
    def write(self, data: bytes) -> int | None: ...
    def read(self, size: int = 1) -> bytes: ...
    @property
    def in_waiting(self) -> int: ...


class Link:
    def __init__(self, port: SerialLike, timeout: float = 2.0, retries: int = 5) -> None:
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.parser = frame.Parser()
        self.seq = 0
        self.resent = 0
        self.heard_from_device = False

    def connect(self, wait: float = 10.0, every: float = 0.3) -> dict[int, Any]:
        """HELLO until the device answers (it may still be booting, and bytes
        sent before its console is open are lost); the HELLO answer."""
        deadline = time.monotonic() + wait
        while True:
            try:
                return self.request(0x01, timeout=every, retries=1)
            except DeviceSilent:
                if time.monotonic() >= deadline:
                    raise

    def _next_seq(self) -> int:
        self.seq = (self.seq + 1) % 0xFF  # 0xFF is reserved for NAKs
        return self.seq

    def request(self, ftype: int, body: dict[int, Any] | None = None,
                timeout: float | None = None, retries: int | None = None) -> dict[int, Any]:
        payload = cbor2.dumps(body or {})
        seq = self._next_seq()
        data = frame.build(ftype, seq, payload)
        wait = timeout or self.timeout
        damaged = 0
        for attempt in range(retries or self.retries):
            if attempt:
                self.resent += 1
            self.port.write(data)
            answer = self._await(seq, wait)
            if answer is None:
                continue
            if answer == "nak":
                damaged += 1
                continue
            atype, body_out = answer
            if atype == frame.ERROR:
                code = body_out.get(1, "error") if isinstance(body_out, dict) else "error"
                detail = body_out.get(2, "") if isinstance(body_out, dict) else ""
                raise DeviceRefused(f"device refused: {code} {detail}".strip(), code=str(code))
            if atype != ftype | frame.RESPONSE:
                damaged += 1
                continue
            return body_out
        if damaged or self.parser.crc_errors:
            raise TransferError(
                "data kept arriving damaged: check the USB cable / "
                "dữ liệu bị lỗi nhiều lần: kiểm tra cáp USB")
        raise DeviceSilent(
            "the device does not answer: is the GreenGate firmware running? / "
            "thiết bị không trả lời: firmware GreenGate đã chạy chưa?")

    def _await(self, seq: int, wait: float):
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            chunk = self.port.read(max(1, self.port.in_waiting))
            if not chunk:
                continue
            for ftype, fseq, payload in self.parser.feed(chunk):
                self.heard_from_device = True
                if fseq == NAK_SEQ and ftype == frame.ERROR:
                    return "nak"
                if fseq != seq:
                    continue  # a late answer to an earlier attempt
                try:
                    return ftype, cbor2.loads(payload)
                except Exception:  # noqa: BLE001 - a damaged body counts as a NAK
                    return "nak"
        return None
