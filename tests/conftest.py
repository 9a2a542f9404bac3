import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mpy  # noqa: E402
from mpy import TESTDATA  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--mpy32", action="store_true",
                     help="run under the 32-bit MicroPython build (the ESP32 stand-in, built"
                          " from ../shared into ~/.cache/greengate; CI: tests/firmware)")


def pytest_configure(config):
    config._mpy32_missing = None
    if not config.getoption("--mpy32"):
        return
    import mpy32

    try:
        exe = mpy32.interpreter()
    except mpy32.Missing as e:
        config._mpy32_missing = str(e)
        return
    mpy.use_micropython(str(exe))
    config._mpy32_ssl = mpy32.has_module(exe, "ssl")


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--mpy32"):
        return
    if config._mpy32_missing:
        skip = pytest.mark.skip(reason=config._mpy32_missing)
        for item in items:
            item.add_marker(skip)
    elif not config._mpy32_ssl:
        skip = pytest.mark.skip(reason="the 32-bit MicroPython build has no ssl module")
        for item in items:
            if item.get_closest_marker("needs_ssl"):
                item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, config):
    if getattr(config, "_mpy32_missing", None):
        terminalreporter.write_line(f"SKIPPED every test: {config._mpy32_missing}", yellow=True)


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
