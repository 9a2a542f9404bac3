"""Host-side helpers for the control-plane firmware tests: fleet keys,
signed messages, and a MicroPython driver session."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from greengate.control import envelope as env
from mpy import run_micropython

HERE = Path(__file__).resolve().parent
DRIVERS = HERE / "drivers"

DEVICE = "gg-a1b2c3d4e5f6"
SITE = "q7-bhx-012"
T0 = 1_632_000_000  # 2021-09-18


class Fleet:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.key = Ed25519PrivateKey.generate()
        self.other = Ed25519PrivateKey.generate()
        self.key_file = tmp / "fleet.pub"
        self.key_file.write_bytes(env.raw_public(self.key))
        self._n = 0

    def msg(self, kind, version, body, scope=None, key=None, iat=T0, until=T0 + 86400) -> bytes:
        if scope is None:
            scope = env.device_scope(DEVICE) if kind in (1, 4) else env.fleet_scope()
        return env.sign_message(kind, version, body, scope, key or self.key, iat, until)

    def file(self, data: bytes) -> str:
        self._n += 1
        p = self.tmp / f"m{self._n}.bin"
        p.write_bytes(data)
        return str(p)


def run_driver(driver: str, args: list[str], cmds: list[dict], heap: str = "4m") -> list[dict]:
    stdin = "".join(json.dumps(c) + "\n" for c in cmds)
    r = run_micropython(DRIVERS / driver, stdin=stdin, args=args, heap=heap)
    if r.returncode != 0:
        raise AssertionError(r.stderr.decode() + r.stdout.decode()[-2000:])
    out = [json.loads(line) for line in r.stdout.decode().splitlines() if line.strip()]
    assert len(out) == len(cmds), r.stdout.decode()
    return out


def config_body(rules=None, extra: dict | None = None, **named) -> dict:
    body = {1: SITE, 2: "BIZ-0001", 3: 25200, 4: False, 5: rules or [], 7: {}}
    body.update(extra or {})
    body.update(named)  # unknown text keys: ignored by the device, change the bytes
    return body
