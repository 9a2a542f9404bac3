"""`greengate sim scan IMAGE`: zxing-cpp reads the QR, the running simulator types it."""

from __future__ import annotations

import segno
from typer.testing import CliRunner

from greengate.sim.cli import app
from greengate.sim.terminal import SimTerminal


def test_scan_image_reaches_the_firmware(tmp_path):
    text = "GG1:SIM-CLI-TEST-0123456789"
    image = tmp_path / "qr.png"
    segno.make(text, error="q").save(str(image), scale=5)
    root = tmp_path / "sim"
    runner = CliRunner()
    with SimTerminal(root, device_id="gg-cli-1", broker="mqtt://127.0.0.1:9") as sim:
        sim.wait_for(lambda e: e.get("kind") == "scanner")
        n = len(sim.fake.received)
        res = runner.invoke(app, ["scan", str(image), "--dir", str(root)])
        assert res.exit_code == 0, res.output
        assert text in res.stdout
        decision = sim.wait_for(lambda e: e.get("kind") == "decision")
        assert decision["verdict"] is False
        assert len(sim.fake.received) == n  # scanning sends no commands to the module
    res = runner.invoke(app, ["scan", str(image), "--dir", str(root)])
    assert res.exit_code == 1 and "no simulator running" in res.output


def test_image_without_qr_is_a_clear_error(tmp_path):
    from PIL import Image

    blank = tmp_path / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    res = CliRunner().invoke(app, ["scan", str(blank), "--dir", str(tmp_path)])
    assert res.exit_code == 1 and "no QR code found" in res.output
