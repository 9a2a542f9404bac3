"""`greengate fleet release ...` and `greengate fleet campaign ...`: data on
stdout (--json), `error [CODE]` on stderr; the release key stays apart from
the fleet's control key."""

from __future__ import annotations

import json

from ota_helpers import seed_gates
from test_cli import cli  # noqa: F401  (the fixture: a fresh data dir per test)

from fleet.core.db import make_engine, make_sessionmaker


def firmware_tree(root):  # noqa: ANN001, ANN201
    (root / "lib").mkdir(parents=True)
    (root / "main.py").write_text("import lib.hello\n")
    (root / "lib" / "hello.py").write_text("def hi():\n    return 'xin chào'\n")
    (root / "lib" / "table.bin").write_bytes(bytes(range(256)))
    return root


def test_release_build_publish_and_a_campaign(cli, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.delenv("GREENGATE_RELEASE_PUBLIC_KEYS", raising=False)
    key = tmp_path / "release.key"
    pub = json.loads(cli("release", "keygen", "--out", str(key), "--json").stdout)["public_key"]
    assert len(pub) == 64
    r = cli("release", "keygen", "--out", str(key), ok=False)
    assert r.exit_code == 1 and "EXISTS" in r.stderr
    fw = firmware_tree(tmp_path / "fw")
    out = json.loads(cli("release", "build", "--key", str(key), "--number", "12", "--version", "0.4.0",
                         "--firmware", str(fw), "--out", str(tmp_path / "rel"), "--json").stdout)
    assert out["release"] == 12 and out["files"] == 3          # main.mpy, lib/hello.mpy, lib/table.bin
    assert (tmp_path / "rel" / "manifest.cose").exists()
    # the fleet refuses it without release public keys, and with the wrong one
    r = cli("release", "publish", str(tmp_path / "rel"), ok=False)
    assert r.exit_code == 1 and "NO_RELEASE_KEYS" in r.stderr
    r = cli("release", "publish", str(tmp_path / "rel"), "--release-pubkey", "11" * 32, ok=False)
    assert r.exit_code == 1 and "RELEASE_INVALID" in r.stderr
    r = cli("release", "publish", str(tmp_path / "rel"), "--release-pubkey", "zz", ok=False)
    assert r.exit_code == 1 and "BAD_RELEASE_KEY" in r.stderr
    out = json.loads(cli("release", "publish", str(tmp_path / "rel"), "--release-pubkey", pub,
                         "--json").stdout)
    assert (out["number"], out["version"], out["target"]) == (12, "0.4.0", "bundle")
    assert [r["number"] for r in json.loads(cli("release", "list", "--json").stdout)] == [12]
    assert cli("release", "list").stdout.startswith("12\t0.4.0\tbundle")

    engine = make_engine(f"sqlite:///{tmp_path / 'data' / 'fleet.db'}")
    with make_sessionmaker(engine)() as db:
        seed_gates(db, 20)
        db.commit()
    engine.dispose()
    r = cli("campaign", "create", "--release", "12", "--waves", "10,5", ok=False)
    assert r.exit_code == 1 and "BAD_WAVES" in r.stderr
    r = cli("campaign", "create", "--release", "13", ok=False)
    assert r.exit_code == 1 and "RELEASE_NOT_FOUND" in r.stderr
    c = json.loads(cli("campaign", "create", "--release", "12", "--target", "ward:Tân Phong",
                       "--waves", "10,100", "--pause", "0", "--json").stdout)
    assert c["state"] == "draft" and c["devices"] == 20 and [w["devices"] for w in c["waves"]] == [2, 18]
    cid = str(c["id"])
    assert json.loads(cli("campaign", "start", cid, "--json").stdout)["totals"]["offered"] == 2
    r = cli("campaign", "start", cid, ok=False)
    assert r.exit_code == 1 and "CAMPAIGN_STATE" in r.stderr
    assert json.loads(cli("campaign", "pause", cid, "--json").stdout)["state"] == "paused"
    assert json.loads(cli("campaign", "resume", cid, "--json").stdout)["state"] == "running"
    st = json.loads(cli("campaign", "status", cid, "--devices", "--json").stdout)
    assert len(st["device_status"]) == 20
    assert sorted(d["status"] for d in st["device_status"]).count("offered") == 2
    text = cli("campaign", "status", cid).stdout.splitlines()
    assert text[0].startswith(f"{cid}\trunning\t12\t0.4.0") and len(text) == 3
    assert json.loads(cli("campaign", "cancel", cid, "--json").stdout)["state"] == "cancelled"
    assert [x["state"] for x in json.loads(cli("campaign", "list", "--json").stdout)] == ["cancelled"]
    r = cli("campaign", "status", "99", ok=False)
    assert r.exit_code == 1 and "CAMPAIGN_NOT_FOUND" in r.stderr


def test_build_refuses_the_fleet_control_key(cli, tmp_path):  # noqa: F811
    """The fleet's own signing key is refused before it is read."""
    fleet_key = tmp_path / "data" / "fleet-signing.key"
    fleet_key.parent.mkdir(parents=True)
    fleet_key.write_bytes(b"not read")
    fw = firmware_tree(tmp_path / "fw")
    for path in (fleet_key, tmp_path / "data" / "." / "fleet-signing.key"):
        r = cli("release", "build", "--key", str(path), "--number", "1", "--version", "0.1",
                "--firmware", str(fw), "--out", str(tmp_path / "rel"), ok=False)
        assert r.exit_code == 1 and "RELEASE_KEY_IS_FLEET_KEY" in r.stderr
    assert not (tmp_path / "rel").exists()
