import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mpy import TESTDATA  # noqa: E402


@pytest.fixture(scope="session")
def testdata() -> Path:
    if not TESTDATA.is_dir():
        pytest.fail(f"test vectors not found at {TESTDATA} (tests/vectors/README.md)")
    return TESTDATA


@pytest.fixture
def mosquitto_broker(tmp_path):
    """A running Debian mosquitto on a free loopback port (function scope)."""
    from brokers import mosquitto

    broker = mosquitto(tmp_path / "mosquitto").start()
    try:
        yield broker
    finally:
        broker.stop()
