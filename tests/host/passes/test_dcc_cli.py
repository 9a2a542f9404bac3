"""`greengate pass issue-dcc` and `greengate pass check` with an EU DSC trust
list: both engines (cryptography on the host, the device code under
MicroPython) give the same verdict; KID_UNKNOWN for a signer not on the
list, EXPIRED when expired; the QR PNG decodes to the same text."""

import json
import stat

import pytest
from typer.testing import CliRunner

from gg_pass_helpers import REPO_ROOT
from greengate.passes.cli import app

runner = CliRunner()
ENGINES = ["cpython", "micropython"]
DE_LIST = REPO_ROOT / "tests" / "vectors" / "dcc-trustlist" / "trustlist_de.json"
AT = "2030-06-01T00:00:00Z"
IAT = "2030-05-31T00:00:00Z"


@pytest.fixture(scope="module", params=["es256", "ps256"])
def dsc(request, tmp_path_factory):
    d = tmp_path_factory.mktemp("dsc") / "dsc"
    r = runner.invoke(app, ["issue-dcc", "--make-dsc", "--dsc", str(d), "--alg", request.param, "--types", "vt",
                            "--iat", IAT])
    assert r.exit_code == 0, r.stderr
    return d, r.stdout.strip()


def check(trust, text, *extra):
    r = runner.invoke(app, ["check", "--trust", str(trust), text, *extra])
    return r.exit_code, (json.loads(r.stdout) if r.stdout.strip() else None), r.stderr


def issue(d, *extra):
    r = runner.invoke(app, ["issue-dcc", "--dsc", str(d), "--iat", IAT, *extra])
    assert r.exit_code == 0, r.stderr
    return r.stdout.strip()


def test_made_dsc_files(dsc):
    d, text = dsc
    assert stat.S_IMODE((d / "dsc.key").stat().st_mode) == 0o600
    listed = json.loads((d / "dcc-trust.json").read_text())["certificates"]
    assert len(listed) == 1 and listed[0]["certificateType"] == "DSC" and listed[0]["country"] == "VN"
    assert text.startswith("HC1:")


@pytest.mark.parametrize("kind, extra, want", [
    ("v", [], ("OK", "v")),
    ("t", ["--test-result", "negative"], ("OK", "t")),
    ("r", [], ("DSC_TYPE", None)),  # the DSC's key usage says v and t only
])
def test_both_engines_same_verdict(dsc, kind, extra, want):
    d, _ = dsc
    text = issue(d, "--kind", kind, *extra)
    outs = [check(d / "dcc-trust.json", text, "--at", AT, "--engine", e) for e in ENGINES]
    for code, out, _err in outs:
        assert (out["reason"], out["claims"] and out["claims"]["type"]) == want
        assert code == (0 if want[0] == "OK" else 1)
    assert outs[0][1] == outs[1][1]  # identical JSON verdicts
    if want[0] == "OK":
        claims = outs[0][1]["claims"]
        assert claims["initials"] == "NV" and claims["birth_year"] == 1980
        assert "NGUYEN" not in json.dumps(outs[0][1])  # no names leave the check


def test_expired_and_unknown_signer(dsc):
    d, text = dsc
    for e in ENGINES:
        code, out, err = check(d / "dcc-trust.json", text, "--at", "2050-01-01T00:00:00Z", "--engine", e)
        assert (code, out["reason"]) == (1, "EXPIRED"), err
        code, out, err = check(DE_LIST, text, "--at", AT, "--engine", e)
        assert (code, out["reason"]) == (1, "KID_UNKNOWN"), err
        assert out["pass_hash"]


def test_formats_do_not_mix(dsc, tmp_path):
    d, text = dsc
    r = runner.invoke(app, ["keygen", "--out", str(tmp_path), "--issuer", "HCM-D7"])
    assert r.exit_code == 0
    gg1 = runner.invoke(app, ["issue", "--key", str(tmp_path / "issuer.key")]).stdout.strip()
    assert check(d / "dcc-trust.json", gg1)[1]["reason"] == "PREFIX"
    assert check(tmp_path / "trust.json", text)[1]["reason"] == "PREFIX"


def test_qr_png_decodes_to_the_text(dsc, tmp_path):
    import zxingcpp
    from PIL import Image

    d, _ = dsc
    png = tmp_path / "dcc.png"
    text = issue(d, "--png", str(png))
    (res,) = zxingcpp.read_barcodes(Image.open(png))
    assert res.text == text


def test_usage_errors(tmp_path):
    for args in (["--kind", "x"], ["--alg", "rs256", "--make-dsc"], ["--types", "vz", "--make-dsc"]):
        r = runner.invoke(app, ["issue-dcc", "--dsc", str(tmp_path / "d"), *args])
        assert r.exit_code == 2, args
    r = runner.invoke(app, ["issue-dcc", "--dsc", str(tmp_path / "missing")])
    assert r.exit_code == 2 and "missing" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"certificates": 5}')
    assert check(bad, "HC1:X")[0] == 2
