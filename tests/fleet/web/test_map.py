"""The site map: coordinates in the registry, states computed on the server
(fleet/services/site_map.py), the marker endpoint behind a log-in and scoped,
the page's policy, the location form, and Leaflet fetched from the npm
registry only when it matches its pinned integrity (fleet/web/vendor.py)."""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile

import pytest
from sqlalchemy import select

from web_helpers import DEVICES, make_app

from fleet.models import Alert, Business, Site
from fleet.services import devices
from fleet.web import vendor
from greengate.demo import district7 as d7

# District 7 (Quận 7), generously: the seed's gates must fall inside it
D7_BOX = ((10.70, 10.765), (106.69, 106.75))


def _place(session_factory, sites, coords):
    with session_factory() as db:
        for bid, (lat, lon) in coords.items():
            s = db.get(Site, sites[bid])
            s.lat, s.lon = lat, lon
        db.commit()


def test_district7_seed_is_placed_in_district7():
    seen = set()
    for b in d7.BUSINESSES:
        (lat0, lat1), (lon0, lon1) = D7_BOX
        assert b.lat is not None and lat0 <= b.lat <= lat1, b.id
        assert b.lon is not None and lon0 <= b.lon <= lon1, b.id
        seen.add((b.lat, b.lon))
    assert len(seen) == len(d7.BUSINESSES)  # one place each


def test_marker_states_and_scope(web, session_factory):
    _, sites, b = web
    _place(session_factory, sites, {"B1": (10.7268, 106.7214), "B2": (10.7405, 106.7005)})
    anon = b[None].get("/ui/map/markers.json")
    assert anon.status_code == 401 and anon.json()["error"] == "NOT_AUTHENTICATED"
    assert b[None].get(f"/ui/map/sites/{sites['B1']}.json").status_code == 401
    op = b["operator"]
    biz_of = {sid: bid for bid, sid in sites.items()}

    def states() -> dict:
        body = op.get("/ui/map/markers.json").json()
        assert body["states"] == ["suspended", "alert", "offline", "online"]
        body["sites"] = [dict(zip(body["fields"], row)) for row in body["sites"]]
        for s in body["sites"]:
            s["state"] = body["states"][s["state"]]
        return {biz_of[s["id"]]: s["state"] for s in body["sites"]}, body

    def detail(bid: str, browser=op) -> dict:  # noqa: ANN001
        r = browser.get(f"/ui/map/sites/{sites[bid]}.json")
        assert r.status_code == 200, r.text
        return r.json()

    got, body = states()
    assert got == {"B1": "offline", "B2": "offline"} and body["unplaced"] == 0
    with session_factory() as db:
        for dev in DEVICES.values():
            devices.apply_state(db, dev, {"online": True})
        db.add(Site(business_id="B2", name="Kho chưa đặt", rules=[]))  # no coordinates, no gate
        db.commit()
    got, body = states()
    assert got == {"B1": "online", "B2": "online"} and body["unplaced"] == 1
    assert body["counts"] == {"suspended": 0, "alert": 0, "offline": 0, "online": 2}  # placed ones
    with session_factory() as db:
        db.add(Alert(kind="TAMPER", device_id=DEVICES["B1"], business_id="B1", detail={}))
        db.get(Business, "B2").status = "suspended"
        db.commit()
    got, body = states()
    assert got == {"B1": "alert", "B2": "suspended"}
    b1 = [s for s in body["sites"] if s["id"] == sites["B1"]][0]
    assert (b1["gates"], b1["online"], b1["lat"], b1["lon"]) == (1, 1, 10.7268, 106.7214)
    d1 = detail("B1")
    assert (d1["state"], d1["gate"], d1["gates"], d1["online"]) == ("alert", DEVICES["B1"], 1, 1)
    assert d1["business_name"] == "Bách hoá Xanh Tân Phong" and d1["business_id"] == "B1"
    assert d1["name"] and "lat" not in d1
    with session_factory() as db:  # acknowledged: back to online
        db.scalar(select(Alert)).acknowledged_at = db.get(Business, "B1").created_at
        db.commit()
    assert states()[0]["B1"] == "online" and detail("B1")["state"] == "online"
    with session_factory() as db:  # a second gate at B1's site, not online: the site is offline
        from fleet.services import registry
        from fleet_helpers import pubhex

        registry.register_device(db, "gg-0000000000a0", pubhex(), sites["B1"], "1.0.0", "test")
        db.commit()
    got, body = states()
    b1 = [s for s in body["sites"] if s["id"] == sites["B1"]][0]
    assert (b1["state"], b1["gates"], b1["online"]) == ("offline", 2, 1)
    assert detail("B1")["gate"] == "gg-0000000000a0"
    # a business manager sees only their own sites, and cannot open another's
    mine = b["manager"].get("/ui/map/markers.json").json()
    assert {row[mine["fields"].index("id")] for row in mine["sites"]} == {sites["B1"]}
    assert detail("B1", b["manager"])["business_id"] == "B1"
    other = b["manager"].get(f"/ui/map/sites/{sites['B2']}.json")
    assert other.status_code == 404 and other.json()["error"] == "NOT_FOUND"
    assert op.get("/ui/map/sites/999999.json").status_code == 404


def test_markers_are_compact_validated_and_gzipped(web, session_factory):
    _, sites, b = web
    _place(session_factory, sites, {"B1": (10.72681234, 106.72149876), "B2": (10.7405, 106.7005)})
    op = b["operator"]
    r = op.get("/ui/map/markers.json")
    body = r.json()
    row = [s for s in body["sites"] if s[0] == sites["B1"]][0]
    assert row[1:3] == [10.72681, 106.7215]  # 5 decimals, about a metre
    assert "private" in r.headers["cache-control"] and "no-store" not in r.headers["cache-control"]
    tag = r.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"')
    # the same body: 304 with no body; a change of state: a new tag
    same = op.get("/ui/map/markers.json", headers={"If-None-Match": tag})
    assert same.status_code == 304 and same.content == b"" and same.headers["etag"] == tag
    with session_factory() as db:
        devices.apply_state(db, DEVICES["B2"], {"online": True})
        db.commit()
    changed = op.get("/ui/map/markers.json", headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    # gzip only when asked for and worth it (two sites: too small to bother)
    assert "content-encoding" not in changed.headers
    with session_factory() as db:
        for i in range(200):
            db.add(Site(business_id="B1", name=f"Điểm {i}", rules=[], lat=10.7 + i / 1e4, lon=106.7))
        db.commit()
    big = op.get("/ui/map/markers.json", headers={"Accept-Encoding": "gzip"})
    assert big.headers["content-encoding"] == "gzip" and "Accept-Encoding" in big.headers["vary"]
    assert len(big.json()["sites"]) == 202
    plain = op.get("/ui/map/markers.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.json() == big.json()
    refused = op.get("/ui/map/markers.json", headers={"Accept-Encoding": "br, gzip;q=0"})
    assert "content-encoding" not in refused.headers
    assert plain.headers["etag"] == big.headers["etag"]


def test_map_page_policy_legend_and_attention(web, session_factory, settings, monkeypatch):
    app, sites, b = web
    _place(session_factory, sites, {"B1": (10.7268, 106.7214)})
    r = b["viewer"].get("/ui/map")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "img-src 'self' data:;" in csp and "script-src 'self';" in csp and "unsafe" not in csp
    page = r.text
    # what the policy would block: inline scripts, handlers, styles, javascript: URLs
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert not re.search(r"\son[a-z]+\s*=|\sstyle\s*=|<style|javascript:", page, re.I)
    assert 'id="count-offline">1<' in page and "1 địa điểm chưa có toạ độ" in page
    assert page.count('<tr data-site="') == 2  # both offline: both need attention
    assert "<title>Bản đồ địa điểm – GreenGate</title>" in page
    assert 'href="/ui/map"' in page  # in the navigation
    if vendor.installed():
        assert '<script src="/ui/vendor/leaflet/leaflet.js" defer>' in page
        js = b[None].get("/ui/vendor/leaflet/leaflet.js")
        assert js.status_code == 200 and "Leaflet" in js.text[:2000]
    # without the library: the list still works and says how to install it
    monkeypatch.setenv("GREENGATE_VENDOR_DIR", str(settings.data_dir / "no-vendor"))
    bare = b["viewer"].get("/ui/map").text
    assert 'id="map-missing"' in bare and "leaflet.js" not in bare and 'data-site="' in bare
    # an app started without it answers 404 for its files, never a server error
    from fastapi.testclient import TestClient

    with TestClient(make_app(settings, session_factory), raise_server_exceptions=False) as client:
        missing = client.get("/ui/vendor/leaflet/leaflet.js")
        assert missing.status_code == 404 and "<html" not in missing.text


def test_tile_server_is_the_only_extra_origin(settings, session_factory):
    from fastapi.testclient import TestClient

    from web_helpers import Browser, password_for, seed

    with session_factory() as db:
        seed(db, settings)
    tiled = settings.model_copy(update={"map_tile_url": "https://{s}.tiles.q7.example/{z}/{x}/{y}.png",
                                        "map_tile_attribution": "© Quận 7"})
    with TestClient(make_app(tiled, session_factory)) as client:
        br = Browser(client)
        br.login("viewer", password_for("viewer", settings))
        r = br.get("/ui/map")
        assert "img-src 'self' data: https://*.tiles.q7.example;" in r.headers["content-security-policy"]
        assert 'data-tiles="https://{s}.tiles.q7.example/{z}/{x}/{y}.png"' in r.text
        # every other page keeps the strict policy
        assert "tiles.q7.example" not in br.get("/ui/").headers["content-security-policy"]
    from fleet.core.config import Settings
    from pydantic import ValidationError

    for bad in ("javascript:alert(1)//{z}{x}{y}", "https://tiles.example/", "ftp://t/{z}/{x}/{y}"):
        with pytest.raises(ValidationError):
            Settings(demo=True, map_tile_url=bad)


def test_location_form(web, session_factory):
    _, sites, b = web
    op = b["operator"]
    sid = sites["B1"]
    assert op.post(f"/ui/sites/{sid}/location", {"lat": "10,7268", "lon": "106.7214"}).status_code == 303
    with session_factory() as db:
        s = db.get(Site, sid)
        assert (s.lat, s.lon, s.config_version) == (10.7268, 106.7214, 0)
    for bad in ({"lat": "91", "lon": "106"}, {"lat": "10.7", "lon": ""}, {"lat": "x", "lon": "1"},
                {"lat": "nan", "lon": "1"}, {"lat": "1" * 40, "lon": "1"}):
        assert op.post(f"/ui/sites/{sid}/location", bad).status_code == 400, bad
    assert b["manager"].post(f"/ui/sites/{sid}/location", {"lat": "1", "lon": "1"}).status_code == 403
    assert op.post(f"/ui/sites/{sid}/location", {"lat": "", "lon": ""}).status_code == 303
    with session_factory() as db:
        assert db.get(Site, sid).lat is None
    r = op.post("/ui/sites", {"business_id": "B1", "name": "Cổng phụ", "lat": "10.73", "lon": "106.72"})
    assert r.status_code == 303
    with session_factory() as db:
        assert db.scalar(select(Site).where(Site.name == "Cổng phụ")).lon == 106.72


def _tarball(members: dict) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if data is None:  # a symlink where a file should be
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


class _Resp(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_vendor_fetch_checks_integrity_and_takes_only_its_files(tmp_path, monkeypatch):
    monkeypatch.setenv("GREENGATE_VENDOR_DIR", str(tmp_path / "npm"))
    good = _tarball({"package/dist/x.js": b"ok()", "package/LICENSE": b"BSD",
                     "package/../../evil.js": b"pwned", "/abs.js": b"pwned"})
    pkg = vendor.NpmPackage("demo", "1.0.0", _integrity(good), ("dist/x.js", "LICENSE"))
    asked = []

    def opener(url, timeout):
        asked.append(url)
        return _Resp(good)

    dest = vendor.fetch(pkg, opener)
    assert asked == ["https://registry.npmjs.org/demo/-/demo-1.0.0.tgz"]
    assert (dest / "dist/x.js").read_bytes() == b"ok()"
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["LICENSE", "x.js"]
    vendor.fetch(pkg, opener)
    assert len(asked) == 1  # present: nothing fetched again
    tampered = good[:-1] + bytes([good[-1] ^ 1])
    other = vendor.NpmPackage("demo", "2.0.0", pkg.integrity, pkg.files)
    with pytest.raises(vendor.VendorError, match="integrity mismatch"):
        vendor.fetch(other, lambda url, timeout: _Resp(tampered))
    assert not vendor.package_dir(other).exists()
    link = _tarball({"package/dist/x.js": None, "package/LICENSE": b"BSD"})
    linked = vendor.NpmPackage("demo", "3.0.0", _integrity(link), pkg.files)
    with pytest.raises(vendor.VendorError, match="missing in the tarball: dist/x.js"):
        vendor.fetch(linked, lambda url, timeout: _Resp(link))
    with pytest.raises(vendor.VendorError, match="cannot download"):
        vendor.fetch(vendor.NpmPackage("demo", "4.0.0", pkg.integrity, pkg.files),
                     lambda url, timeout: (_ for _ in ()).throw(OSError("offline")))
    assert vendor.LEAFLET.integrity.startswith("sha512-") and vendor.LEAFLET.version == "1.9.4"
