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


def test_scan_text_reaches_the_firmware_and_needs_one_source(tmp_path):
    """`sim scan --text` types a QR text (no image needed); `-` reads stdin."""
    root = tmp_path / "sim"
    runner = CliRunner()
    with SimTerminal(root, device_id="gg-cli-2", broker="mqtt://127.0.0.1:9") as sim:
        sim.wait_for(lambda e: e.get("kind") == "scanner")
        for args, stdin in ((["--text", "GG1:TYPED-0123456789"], None),
                            (["--text", "-"], "GG1:PIPED-0123456789\n")):
            seen = len(sim.events())
            res = runner.invoke(app, ["scan", *args, "--dir", str(root)], input=stdin)
            assert res.exit_code == 0, res.output
            typed = res.stdout.strip()
            assert typed.startswith("GG1:") and typed.endswith("-0123456789")
            decision = sim.wait_for(lambda e: e.get("kind") == "decision", timeout=60, after=seen)
            assert decision["verdict"] is False  # not a signed pass: denied, but read
    image = tmp_path / "qr.png"
    segno.make("GG1:X", error="q").save(str(image), scale=5)
    for args in ([], ["--text", ""], [str(image), "--text", "GG1:X"]):
        res = runner.invoke(app, ["scan", *args, "--dir", str(root)])
        assert res.exit_code == 2 and "--text" in res.output, (args, res.output)


def test_sim_help_says_how_to_start_a_terminal():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", "from greengate.cli import main; main()", "sim", "--help"],
                       capture_output=True, text=True, timeout=60, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    out = " ".join(r.stdout.split())
    assert "Start a terminal" in out and "Khởi động" in out
    assert "greengate sim scan --text" in out and "greengate sim press" in out
