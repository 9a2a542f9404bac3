"""`greengate pass keygen / issue / check / export-trust`: files, output, exit codes."""

import json
import stat
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from gg_pass_helpers import REPO_ROOT
from greengate.passes.cli import app
from greengate.passes.keys import kid_for, load_private_key, load_trust, raw_public

runner = CliRunner()
AT = "2021-09-21T04:53:20Z"  # == NOW
ENGINES = ["cpython", "micropython"]


@pytest.fixture(scope="module")
def issuer_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("issuer")
    r = runner.invoke(app, ["keygen", "--out", str(d), "--issuer", "HCM-D7"])
    assert r.exit_code == 0, r.stderr
    return d


def issue(d, *extra):
    r = runner.invoke(app, ["issue", "--key", str(d / "issuer.key"), "--iat", "2021-09-20T00:00:00Z", *extra])
    assert r.exit_code == 0, r.stderr
    return r.stdout.strip()


def check(d, text, *extra):
    r = runner.invoke(app, ["check", "--trust", str(d / "trust.json"), text, *extra])
    return r.exit_code, r.stdout, r.stderr


def test_keygen_writes_private_key_0600_and_trust_list(issuer_dir):
    key_file = issuer_dir / "issuer.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    entries = json.loads((issuer_dir / "trust.json").read_text())
    assert isinstance(entries, list) and len(entries) == 1
    e = entries[0]
    pub = raw_public(load_private_key(key_file))
    assert e["issuer"] == "HCM-D7" and e["kid"] == kid_for(pub).hex()
    assert load_trust(issuer_dir / "trust.json")[0].public_key == pub


def test_keygen_refuses_to_overwrite_and_rotates_with_force(tmp_path):
    assert runner.invoke(app, ["keygen", "--out", str(tmp_path)]).exit_code == 0
    r = runner.invoke(app, ["keygen", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "exists" in r.stderr
    assert runner.invoke(app, ["keygen", "--out", str(tmp_path), "--force"]).exit_code == 0
    assert len(load_trust(tmp_path / "trust.json")) == 2  # old key still trusted


@pytest.mark.parametrize("engine", ENGINES)
def test_issue_then_check_accepts_with_claims(issuer_dir, engine):
    text = issue(issuer_dir, "--initials", "ĐTH", "--birth-year", "1990", "--doses", "2",
                 "--last-dose", "2021-08-01", "--health-decl", "2021-09-19", "--zone", "green")
    assert text.startswith("GG1:")
    code, out, err = check(issuer_dir, text, "--at", AT, "--engine", engine)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["verdict"] == "accept" and doc["reason"] == "OK"
    cl = doc["claims"]
    assert cl["initials"] == "ĐTH" and cl["role"] == "resident" and cl["iss"] == "HCM-D7"
    assert cl["vaccination"] == {"doses": 2, "last_dose": "2021-08-01"}
    assert cl["exp"] == "2021-09-27T00:00:00Z" and len(doc["pass_hash"]) == 32


@pytest.mark.parametrize("engine", ENGINES)
def test_check_rejects_with_exit_1(issuer_dir, engine):
    text = issue(issuer_dir, "--valid-days", "1")
    code, out, err = check(issuer_dir, text, "--at", "2021-09-25T00:00:00Z", "--engine", engine)
    assert code == 1
    doc = json.loads(out)
    # signature verified, only the time is wrong: the claims say why (the expiry)
    assert doc == {"verdict": "reject", "reason": "EXPIRED",
                   "message": {"vi": "Hết hạn", "en": "Expired"},
                   "claims": doc["claims"], "pass_hash": doc["pass_hash"]}
    assert doc["claims"]["exp"] == "2021-09-21T00:00:00Z" and doc["claims"]["role"] == "resident"
    assert "Hết hạn / Expired (2021-09-21T00:00:00Z)" in err
    code, out, err = check(issuer_dir, "HC1:NCFOXN%TS3DH", "--engine", engine)
    assert code == 1 and json.loads(out)["reason"] == "PREFIX"
    assert "Không phải mã GreenGate / Not a GreenGate code" in err


@pytest.mark.parametrize("engine", ENGINES)
def test_rejections_say_why_in_both_languages(issuer_dir, engine, tmp_path):
    text = issue(issuer_dir)
    for cut in (len(text) - 1, len(text) - 3, len(text) // 2):  # a pass copied short
        code, out, err = check(issuer_dir, text[:cut], "--at", AT, "--engine", engine)
        doc = json.loads(out)
        assert code == 1 and doc["reason"] in ("BASE45", "INFLATE", "CBOR", "COSE"), doc
        assert doc["message"]["vi"] and doc["message"]["en"] and doc["claims"] is None
        assert f"[{doc['reason']}]: {doc['message']['vi']} / {doc['message']['en']}" in err
        assert "was all of it (from GG1: on) copied?" in err
    # a forged pass is not read out: claims only once the signature verified
    assert runner.invoke(app, ["keygen", "--out", str(tmp_path), "--issuer", "HCM-D7"]).exit_code == 0
    forged = runner.invoke(app, ["issue", "--key", str(tmp_path / "issuer.key"),
                                 "--iat", "2021-09-01T00:00:00Z", "--valid-days", "1"]).stdout.strip()
    code, out, err = check(issuer_dir, forged, "--at", AT, "--engine", engine)
    doc = json.loads(out)
    assert code == 1 and doc["reason"] == "KID_UNKNOWN" and doc["claims"] is None
    assert doc["message"] == {"vi": "Nơi cấp không được tin cậy", "en": "Unknown issuer"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--engine", "java"], "--engine"),
        (["--at", "yesterday"], "--at"),
        (["--skew", "-1"], "--skew"),
    ],
)
def test_check_usage_errors_exit_2(issuer_dir, args, message):
    code, out, err = check(issuer_dir, "GG1:X", *args)
    assert code == 2 and out == "" and message in err


def test_check_bad_trust_file_exits_2(tmp_path):
    cases = {
        "missing.json": None,
        "notjson.json": "{nope",
        "notlist.json": '{"issuer": "x"}',
        "badkey.json": '[{"issuer": "x", "public_key": "AAAA"}]',
        "badkid.json": '[{"issuer": "x", "kid": "zz", "public_key": "' + "11" * 32 + '"}]',
    }
    for name, content in cases.items():
        p = tmp_path / name
        if content is not None:
            p.write_text(content)
        r = runner.invoke(app, ["check", "--trust", str(p), "GG1:X"])
        assert r.exit_code == 2 and r.stdout == "" and "error:" in r.stderr, name


def test_issue_usage_errors_exit_2(issuer_dir):
    key = str(issuer_dir / "issuer.key")
    bad = [
        ["--role", "mayor"],
        ["--initials", "N1"],           # not letters
        ["--initials", "ABCDEFG"],      # too long
        ["--birth-year", "1850"],
        ["--doses", "2"],               # without --last-dose
        ["--zone", "purple"],
        ["--role", "worker"],           # worker without --business
        ["--exp", "2020-01-01T00:00:00Z"],  # before iat
        ["--cti", "zz"],
    ]
    for extra in bad:
        r = runner.invoke(app, ["issue", "--key", key, *extra])
        assert r.exit_code == 2 and r.stdout == "" and "error:" in r.stderr, extra
    r = runner.invoke(app, ["issue", "--key", str(issuer_dir / "nope.key")])
    assert r.exit_code == 2


def test_issue_normalises_initials_to_nfc(issuer_dir):
    decomposed = "D\u0303T"  # D + combining tilde: NFC has no precomposed form, stays 3 chars
    nfd = "E\u0302"          # Ê decomposed -> one precomposed letter
    text = issue(issuer_dir, "--initials", nfd + "T")
    code, out, _ = check(issuer_dir, text, "--at", AT)
    assert code == 0 and json.loads(out)["claims"]["initials"] == "\u00caT"
    r = runner.invoke(app, ["issue", "--key", str(issuer_dir / "issuer.key"), "--initials", decomposed])
    assert r.exit_code == 2  # a combining mark is not a letter


def test_export_trust_writes_device_file(issuer_dir, tmp_path):
    import cbor2

    out = tmp_path / "trust.cbor"
    r = runner.invoke(app, ["export-trust", "--trust", str(issuer_dir / "trust.json"), "--out", str(out)])
    assert r.exit_code == 0
    (entry,) = cbor2.loads(out.read_bytes())
    t = load_trust(issuer_dir / "trust.json")[0]
    assert entry == [t.kid, t.public_key, "HCM-D7", 0]


def test_real_entry_point_separates_data_and_diagnostics(issuer_dir, tmp_path):
    cmd = [sys.executable, "-c", "from greengate.cli import main; main()", "pass"]
    r = subprocess.run(cmd + ["issue", "--key", str(issuer_dir / "issuer.key"), "--png", str(tmp_path / "p.png")],
                       capture_output=True, text=True, cwd=REPO_ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1 and r.stdout.startswith("GG1:") and "QR" in r.stderr and "version" in r.stderr
    r2 = subprocess.run(cmd + ["check", "--trust", str(issuer_dir / "trust.json"), "-"],
                        input=r.stdout, capture_output=True, text=True, cwd=REPO_ROOT)
    assert r2.returncode == 0 and json.loads(r2.stdout)["verdict"] == "accept"


def test_missing_micropython_is_a_usage_error(issuer_dir, monkeypatch):
    monkeypatch.setenv("MICROPYTHON", "/nonexistent/micropython")
    code, out, err = check(issuer_dir, "GG1:X", "--engine", "micropython")
    assert code == 2 and out == "" and "micropython" in err
