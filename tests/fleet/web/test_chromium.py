"""The dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven
by Playwright), against the real app served by uvicorn on a loopback port with
a SQLite file database, and the real MQTT path: the embedded amqtt broker, the
fleet's broker bridge, and a simulated gate publishing its CBOR state and scan
batches. Log in, see the gate come online, see its scans arrive live in the
feed (Server-Sent Events), run the F0 workflow and see the business
suspended, reinstate it, see the gate go offline (Last Will), then as the
admin create a user on the users page and deactivate it.
Screenshots go to <repo>/artifacts/screenshots/."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from web_helpers import DEVICES, make_app, seed
from fleet_helpers import wait_until

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(__file__).resolve().parents[3] / "artifacts" / "screenshots"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_dashboard(tmp_path, seeder=seed, **overrides):
    """The real app on a loopback port (uvicorn) over a SQLite file seeded by
    `seeder(db, settings)`, settings `overrides` applied; yields (base URL,
    sessions, what seeder returned)."""
    import uvicorn

    from fleet.core.config import Settings
    from fleet.core.db import make_engine, make_sessionmaker
    from fleet.models import Base

    settings = Settings(demo=True, database_url=f"sqlite:///{tmp_path / 'fleet.db'}",
                        data_dir=tmp_path / "data", admin_password="admin-password-1",
                        argon2_time_cost=1, argon2_memory_kib=1024, **overrides)
    engine = make_engine(settings.db_url)
    Base.metadata.create_all(engine)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        seeded = seeder(db, settings)
    # The app opens its own engine on the same file, like `greengate fleet serve`.
    app = make_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=30)
    try:
        yield f"http://127.0.0.1:{port}", sessions, seeded
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        engine.dispose()


@pytest.fixture
def served(tmp_path):
    from fleet.broker_bridge.bridge import Bridge, BrokerParams
    from fleet.broker_bridge.embedded import EmbeddedBroker

    with serve_dashboard(tmp_path) as (base, sessions, _):
        broker = EmbeddedBroker(free_port()).start()
        params = BrokerParams.from_url(broker.url)
        bridge = Bridge(sessions, params, None, shared=False, publish=False, poll_s=0.05).start()
        try:
            yield base, sessions, params
        finally:
            bridge.stop()
            broker.stop()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_dashboard_in_chromium(served):
    from playwright.sync_api import expect, sync_playwright

    from fleet.broker_bridge.simulator import SimDevice

    base, sessions, params = served
    gate = DEVICES["B1"]
    pass_hash = "ab" * 16
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.set_default_timeout(20_000)
            # the strict Content-Security-Policy must not block anything the pages use
            csp_refusals: list[str] = []
            page.on("console", lambda m: csp_refusals.append(m.text)
                    if "Content Security Policy" in m.text else None)

            # Log in (Vietnamese by default).
            page.goto(base + "/ui/")
            expect(page).to_have_url(base + "/ui/login?next=%2Fui%2F")
            page.fill("input[name=username]", "operator")
            page.fill("input[name=password]", "operator-password-1")
            shot(page, "01-login")
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Tổng quan thiết bị")
            row = page.locator(f'tr[data-device="{gate}"]')
            expect(row).to_contain_text("Mất kết nối")

            # The gate connects and publishes its retained state over MQTT;
            # the bridge stores it. The overview is a plain page: reload until seen.
            sim = SimDevice(gate, params).connect()
            sim.publish_state(firmware="1.2.3", applied={1: 1, 3: 0}, outbox=3,
                              clock=int(time.time()) + 2)

            def online_shown() -> bool:
                page.reload()
                return "Trực tuyến" in row.inner_text()

            wait_until(online_shown, timeout=20, step=0.5)
            expect(row).to_contain_text("1.2.3")
            shot(page, "02-overview-online")

            # Live feed: a scan ingested while the page is open appears by itself.
            page.goto(base + "/ui/feed")
            expect(page.locator("#live")).to_be_visible()
            sim.publish_scans(1, 1, pass_hash=bytes.fromhex(pass_hash)).wait_for_publish(10)
            sim.publish_scans(2, 1, pass_hash=bytes.fromhex("cd" * 16), verdict=False,
                              reason=12).wait_for_publish(10)
            feed = page.locator("#feed tbody")
            expect(feed.locator("tr", has_text=pass_hash[:8])).to_contain_text("Cho vào")
            expect(feed.locator("tr", has_text="cdcdcdcd")).to_contain_text("Đã bị thu hồi")
            # names beside the codes in streamed rows too (feed.js)
            expect(feed.locator("tr", has_text="cdcdcdcd")).to_contain_text("Bách hoá Xanh Tân Phong B1")
            expect(feed.locator("tr", has_text="cdcdcdcd")).to_contain_text("Cổng chính B1")
            assert pass_hash not in page.content()  # only a prefix of the hash is shown
            shot(page, "03-live-feed")

            # F0 workflow: mark -> exposure list -> suspend -> business shows SUSPENDED.
            page.goto(base + "/ui/f0")
            page.fill("#f0-mark input[name=pass_hash]", pass_hash)
            page.click("#f0-mark button[type=submit]")
            expect(page.locator("#exposure")).to_contain_text("B1")
            shot(page, "04-f0-exposure")
            page.get_by_role("button", name="Tạm dừng các doanh nghiệp liên quan").click()
            expect(page.locator('#affected tr[data-business="B1"] .bstatus')).to_have_text("TẠM DỪNG")
            page.goto(base + "/ui/businesses/B1")
            expect(page.locator("#business-status")).to_have_text("TẠM DỪNG")
            shot(page, "05-business-suspended")

            # Reinstate, then the English view of the same page.
            page.get_by_role("button", name="Cho hoạt động lại").click()
            expect(page.locator("#business-status")).to_have_text("Đang hoạt động")
            page.goto(base + "/ui/businesses/B1?lang=en")
            expect(page.locator("#business-status")).to_have_text("Approved")
            page.goto(base + "/ui/charts?business=B1")
            expect(page.locator("svg.chart").first).to_be_visible()
            shot(page, "06-charts-en")

            # Issue a pass: the QR is shown once, with the printable card form.
            page.goto(base + "/ui/passes?lang=vi")
            page.select_option("select[name=role]", "1")
            page.fill("input[name=initials]", "NVA")
            page.fill("input[name=birth_year]", "1988")
            page.fill("input[name=business_id]", "B1")
            page.get_by_role("button", name="Cấp thẻ").click()
            expect(page.locator(".issued .qr svg")).to_be_visible()
            expect(page.get_by_role("button", name="Tải thẻ in (PDF)")).to_be_visible()
            shot(page, "08-pass-issued")
            # The QR as the browser drew it decodes (zxing-cpp) to the issued GG1 text.
            import io

            import zxingcpp
            from PIL import Image

            png = page.locator(".issued .qr svg").screenshot()
            decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)),
                                                                  formats=zxingcpp.BarcodeFormat.QRCode)]
            qr_text = page.locator("input[name=qr_text]").get_attribute("value")
            assert qr_text.startswith("GG1:") and decoded == [qr_text]

            # The gate drops off the network: its Last Will marks it offline.
            sim.crash()

            def offline_shown() -> bool:
                page.goto(base + "/ui/?lang=vi")
                return "Mất kết nối" in row.inner_text()

            wait_until(offline_shown, timeout=30, step=0.5)
            shot(page, "07-overview-offline")

            # An admin creates a user on the users page, then deactivates it.
            page.get_by_role("button", name="Đăng xuất").click()
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", "admin-password-1")
            page.click("button[type=submit]")
            page.get_by_role("link", name="Người dùng").click()
            expect(page.locator('#users tr[data-user="manager"]')).to_contain_text("Quản lý doanh nghiệp")
            page.click("#user-new summary")
            page.fill("#user-new input[name=username]", "nv.phuong")
            page.fill("#user-new input[name=password]", "Phường-Tân-Phong-1")
            page.select_option("#user-new select[name=role]", "manager")
            page.fill("#user-new input[name=business_id]", "B1")
            page.get_by_role("button", name="Tạo").click()
            expect(page.locator(".flash")).to_have_text("Đã tạo người dùng.")
            page.get_by_role("button", name="Khoá tài khoản").click()
            expect(page.locator("#user-status")).to_have_text("Đã khoá")
            page.goto(base + "/ui/users")
            expect(page.locator('#users tr[data-user="nv.phuong"] .ustatus')).to_have_text("Đã khoá")
            shot(page, "09-users")
            assert csp_refusals == []
        finally:
            browser.close()

    from sqlalchemy import select

    from fleet.models import AuditLog, User
    with sessions() as db:
        actions = set(db.scalars(select(AuditLog.action).where(AuditLog.actor == "operator")))
    assert {"f0.mark", "f0.exposure", "f0.suspend", "business.suspended",
            "business.approved"} <= actions
    with sessions() as db:
        created = db.scalar(select(User).where(User.username == "nv.phuong"))
        assert (created.role, created.business_id, created.active) == ("manager", "B1", False)


HOSTILE_BIZ = '<img src=x onerror="document.title=\'pwned\'">=HYPERLINK("x")'
HOSTILE_SITE = "<script>document.title='pwned2'</script> & cổng"


def _seed_hostile(db, settings) -> dict:
    from sqlalchemy import select

    from fleet.models import Business, Site

    sites = seed(db, settings)
    db.get(Business, "B1").name = HOSTILE_BIZ
    db.scalars(select(Site).where(Site.business_id == "B1")).one().name = HOSTILE_SITE
    db.commit()
    return sites


def test_feed_shows_hostile_names_as_text(tmp_path):
    """A business and a site named with HTML: the server-rendered row and a row
    that arrives over the stream show the names as text; nothing runs."""
    from playwright.sync_api import expect, sync_playwright

    from fleet.services import scans

    def ingest(sessions, seq: int, h: str) -> None:
        with sessions() as db:
            scans.ingest_for_device(db, DEVICES["B1"], [{"seq": seq, "time": int(time.time()),
                                                         "time_valid": True, "pass_hash": h,
                                                         "verdict": True, "reason": 0}])
            db.commit()

    with serve_dashboard(tmp_path, _seed_hostile) as (base, sessions, _), sync_playwright() as pw:
        ingest(sessions, 1, "a1" * 16)
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(base + "/ui/login")
            page.fill("input[name=username]", "operator")
            page.fill("input[name=password]", "operator-password-1")
            page.click("main button[type=submit]")
            page.wait_for_url(base + "/ui/")
            page.goto(base + "/ui/feed")
            expect(page.locator("#live")).to_be_visible()
            ingest(sessions, 2, "b2" * 16)
            feed = page.locator("#feed tbody")
            for prefix in ("a1a1a1a1", "b2b2b2b2"):  # rendered by the server, then by feed.js
                row = feed.locator("tr", has_text=prefix)
                expect(row).to_contain_text(HOSTILE_BIZ)
                expect(row).to_contain_text(HOSTILE_SITE)
            assert page.locator("#feed img, #feed script").count() == 0
            assert "pwned" not in page.title() and dialogs == []
            shot(page, "03b-live-feed-hostile-names")
        finally:
            browser.close()
