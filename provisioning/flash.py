"""Flash MicroPython onto a blank ESP32 with esptool (only when asked)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from provisioning.errors import ChipError

ESP32_APP_OFFSET = {"esp32": "0x1000", "esp32s3": "0x0"}


def flash_micropython(port: str, image: Path, chip: str = "esp32", baud: int = 460800) -> str:
    """Erase and write a MicroPython image; returns esptool's log.

    Refuses a board that is not the expected chip (esptool checks the chip
    id when --chip is given) with ChipError."""
    import esptool

    if not image.is_file():
        raise ChipError(f"firmware image not found: {image} / không thấy tệp firmware", code="IMAGE")
    offset = ESP32_APP_OFFSET.get(chip)
    if offset is None:
        raise ChipError(f"unsupported chip {chip!r}: esp32 or esp32s3", code="WRONG_CHIP")
    log = io.StringIO()
    for args in (["--chip", chip, "--port", port, "erase-flash"],
                 ["--chip", chip, "--port", port, "--baud", str(baud), "write-flash", "-z",
                  offset, str(image)]):
        try:
            with contextlib.redirect_stdout(log):
                esptool.main(args)
        except (SystemExit, Exception) as e:  # esptool raises FatalError or exits
            text = log.getvalue()[-400:] + str(e)
            if "Wrong --chip" in text or "This chip is" in text:
                raise ChipError(f"this board is not an {chip}: {e} / bo mạch không phải {chip}",
                                code="WRONG_CHIP") from e
            if "Failed to connect" in text:
                raise ChipError("no ESP32 bootloader answers on this port: hold BOOT, press EN, "
                                "then try again / không kết nối được chip ESP32: giữ nút BOOT, "
                                "nhấn EN rồi thử lại", code="NO_BOOTLOADER") from e
            raise ChipError(f"esptool failed: {e} / esptool lỗi", code="FLASH") from e
    return log.getvalue()
