"""Run the firmware's own verifier under the MicroPython unix port.

`check_on_device` feeds any number of scans through ONE `micropython` process
(the JSON-lines driver mpy_driver.py), so batches cost one interpreter start.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from greengate.paths import FIRMWARE, ToolNotFound, tool
from greengate.passes.keys import TrustEntry

DRIVER = Path(__file__).with_name("mpy_driver.py")


class EngineError(RuntimeError):
    """The MicroPython engine is missing or its driver failed."""


@dataclass
class Scan:
    qr: str | bytes  # bytes = raw scanner bytes (not necessarily UTF-8)
    now: int | None


def micropython_binary() -> str:
    try:
        return tool("micropython")
    except ToolNotFound as e:
        raise EngineError(str(e)) from e


def check_on_device(
    scans: list[Scan],
    trust: list[TrustEntry],
    clock_skew: int = 300,
    heap: str = "2m",
    timeout: float = 600,
) -> list[dict]:
    """One answer dict per scan: verdict (bool), reason (NAME), claims, pass_hash."""
    cfg = {
        "trust": [
            {"kid": e.kid.hex(), "public_key": e.public_key.hex(), "issuer": e.issuer,
             "not_after": e.not_after or 0}
            for e in trust
        ],
        "skew": clock_skew,
    }
    return _run(cfg, scans, heap, timeout)


def check_dcc_on_device(scans: list[Scan], signers: list, clock_skew: int = 300, heap: str = "2m",
                        timeout: float = 600) -> list[dict]:
    """EU DCCs through the device's verify/dcc.py: the signers (trustlist.Signer)
    go into a GGDT table file the device searches as on a gate."""
    import tempfile

    from greengate.dcc.table import table_bytes

    with tempfile.TemporaryDirectory(prefix="gg-dcc-") as tmp:
        path = Path(tmp) / "dcc_table.bin"
        path.write_bytes(table_bytes(signers))
        return _run({"dcc_table": str(path), "skew": clock_skew}, scans, heap, timeout)


def _run(cfg: dict, scans: list[Scan], heap: str, timeout: float) -> list[dict]:
    lines = [json.dumps(cfg)]
    for s in scans:
        if isinstance(s.qr, (bytes, bytearray)):
            lines.append(json.dumps({"qr_hex": bytes(s.qr).hex(), "now": s.now}))
        else:
            lines.append(json.dumps({"qr": s.qr, "now": s.now}))
    env = dict(os.environ)
    env["MICROPYPATH"] = f"{FIRMWARE}:.frozen"
    proc = subprocess.run(
        [micropython_binary(), "-X", f"heapsize={heap}", str(DRIVER)],
        input="\n".join(lines).encode() + b"\n",
        capture_output=True,
        env=env,
        timeout=timeout,
    )
    out = proc.stdout.decode("utf-8", "replace").splitlines()
    if proc.returncode != 0 or not out or len(out) != len(scans) + 1:
        tail = proc.stderr.decode("utf-8", "replace")[-2000:]
        raise EngineError(f"micropython driver failed (exit {proc.returncode}): {tail}")
    return [json.loads(line) for line in out[1:]]
