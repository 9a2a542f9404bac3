"""The dashboard in Debian's Chromium (Playwright), issue 12 "dash-core":
the site map (every placed site a marker with its state's colour, on a plain
background with no tile server), the 404 page, a title per page, local time,
every page at phone width (390 px) with no sideways scrolling, and keyboard
use (skip link, visible focus, the collapsing menu). Screenshots go to
<repo>/artifacts/screenshots/ (phone-*.png, map-*.png, kbd-*.png)."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from test_chromium import ARGS, CHROMIUM, SHOTS, serve_dashboard
from web_helpers import DEVICES, seed
from fleet_helpers import pubhex, wait_until

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")

# extra businesses on the map: id -> (state to give it, lat, lon)
EXTRA = {"B3": ("online", 10.7555, 106.7420), "B4": ("offline", 10.7520, 106.7255),
         "B5": ("suspended", 10.7500, 106.7085), "B6": ("alert", 10.7130, 106.7395),
         "B7": ("online", 10.7425, 106.7270), "B8": ("suspended", 10.7445, 106.7040)}
PHONE = {"width": 390, "height": 844}


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)  # kept for review (artifacts/ is not committed)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, animations="disabled")


def _seed_map(db, settings) -> dict:
    """B1 online, B2 offline (from web_helpers.seed), B3..B8 as EXTRA, one
    unplaced site; a few scans, one F0 case. Returns {state: count} of placed sites."""
    from fleet.models import Alert, Business, Site
    from fleet.services import devices, f0, registry, scans

    sites = seed(db, settings)
    db.get(Site, sites["B1"]).lat, db.get(Site, sites["B1"]).lon = 10.7268, 106.7214
    db.get(Site, sites["B2"]).lat, db.get(Site, sites["B2"]).lon = 10.7405, 106.7005
    devices.apply_state(db, DEVICES["B1"], {"online": True, "clock": int(time.time())})
    for n, (bid, (state, lat, lon)) in enumerate(EXTRA.items()):
        db.add(Business(id=bid, name=f"Doanh nghiệp {bid}", sector="supermarket",
                        address=f"{n + 1} Huỳnh Tấn Phát", ward="Tân Thuận Tây",
                        operating_mode="3_tai_cho",
                        status="suspended" if state == "suspended" else "approved"))
        site = Site(business_id=bid, name=f"Cổng {bid}", rules=[], lat=lat, lon=lon)
        db.add(site)
        db.flush()
        dev = f"gg-0000000000{n + 0xc1:02x}"
        registry.register_device(db, dev, pubhex(), site.id, "1.0.0", "test")
        if state in ("online", "alert", "suspended"):
            devices.apply_state(db, dev, {"online": True})
        if state == "alert":
            db.add(Alert(kind="TAMPER", device_id=dev, business_id=bid, detail={}))
    db.add(Site(business_id="B3", name="Kho chưa có toạ độ", rules=[]))
    now = int(time.time())
    scans.ingest_for_device(db, DEVICES["B1"], [
        {"seq": i + 1, "time": now - 300 + i, "time_valid": True, "pass_hash": h, "verdict": True,
         "reason": 0} for i, h in enumerate(["f0" * 16, "c1" * 16, "c2" * 16])])
    f0.mark_f0(db, "f0" * 16, "operator", 14, 2)
    db.commit()
    return {"online": 3, "offline": 2, "suspended": 2, "alert": 1}


@pytest.fixture
def dash(tmp_path):
    with serve_dashboard(tmp_path, _seed_map) as served:
        yield served


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _page(browser, base, user=None, viewport=None):
    """A new page (own cookies), logged in as `user` when given; CSP refusals collected."""
    ctx = browser.new_context(viewport=viewport or {"width": 1366, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    page.csp = []
    page.on("console", lambda m: page.csp.append(m.text) if "Content Security Policy" in m.text else None)
    if user:
        page.goto(base + "/ui/login")
        page.fill("input[name=username]", user)
        page.fill("input[name=password]", "admin-password-1" if user == "admin" else f"{user}-password-1")
        page.click("main button[type=submit]")
        page.wait_for_url(base + "/ui/")
    return page


def test_map_shows_every_site_in_its_colour(dash, browser):
    from playwright.sync_api import expect

    from fleet.web import vendor

    if not vendor.installed():
        pytest.fail("Leaflet is not installed: run scripts/setup (python -m fleet.web.vendor)")
    base, _, expected = dash
    page = _page(browser, base, "operator")
    page.goto(base + "/ui/map")
    expect(page.locator("#site-map")).to_have_attribute("data-ready", str(sum(expected.values())))
    pins = page.locator(".leaflet-marker-icon.site-pin")
    assert pins.count() == sum(expected.values())
    css = {}
    for state, n in expected.items():
        marker = page.locator(f".leaflet-marker-icon.site-pin.state-{state}")
        assert marker.count() == n, state
        assert page.locator(f"#count-{state}").inner_text() == str(n)
        css[state] = marker.first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert len(set(css.values())) == 4  # four states, four colours
    assert css["online"] == "rgb(46, 125, 50)" and css["alert"] == "rgb(198, 40, 40)"
    assert page.locator("img.leaflet-tile").count() == 0  # no tile server: plain background
    bg = page.locator("#site-map").evaluate("e => getComputedStyle(e).backgroundColor")
    assert bg == "rgb(233, 238, 242)"
    # every marker is inside the visible map after fitting the bounds
    box = page.locator("#site-map").bounding_box()
    for i in range(pins.count()):
        p = pins.nth(i).bounding_box()
        assert box["x"] <= p["x"] and p["x"] + p["width"] <= box["x"] + box["width"]
        assert box["y"] <= p["y"] and p["y"] + p["height"] <= box["y"] + box["height"]
    assert "1 địa điểm chưa có toạ độ" in page.locator("#map-unplaced").inner_text()
    shot(page, "map-01-desktop")
    # clickable: the alert site's popup leads to its business and its gate
    page.locator(".site-pin.state-alert").click()
    popup = page.locator(".leaflet-popup-content")
    expect(popup).to_contain_text("Có cảnh báo")
    expect(popup).to_contain_text("Cổng B6")  # the site's name, fetched when the popup opened
    shot(page, "map-02-popup")
    popup.get_by_role("link", name="Doanh nghiệp B6").click()
    page.wait_for_url(base + "/ui/businesses/B6")
    # keyboard: a marker takes the focus and Enter opens its popup
    page.goto(base + "/ui/map")
    expect(page.locator("#site-map")).to_have_attribute("data-ready", str(sum(expected.values())))
    first = page.locator(".site-pin.state-suspended").first
    first.focus()
    assert first.evaluate("e => e === document.activeElement && e.getAttribute('tabindex') === '0'")
    page.keyboard.press("Enter")
    expect(page.locator(".leaflet-popup-content")).to_contain_text("Tạm dừng")
    assert page.csp == []


def test_map_markers_show_with_the_tile_server_unreachable(tmp_path, browser):
    from playwright.sync_api import expect

    from test_chromium import free_port
    from fleet.web import vendor

    if not vendor.installed():
        pytest.fail("Leaflet is not installed: run scripts/setup (python -m fleet.web.vendor)")
    dead = free_port()  # nothing listens there: every tile fails
    tiles = f"http://127.0.0.1:{dead}/{{z}}/{{x}}/{{y}}.png"
    with serve_dashboard(tmp_path, _seed_map, map_tile_url=tiles) as (base, _, expected):
        page = _page(browser, base, "viewer")
        failed = []
        page.on("requestfailed", lambda r: failed.append(r.url) if f":{dead}/" in r.url else None)
        page.goto(base + "/ui/map")
        expect(page.locator("#site-map")).to_have_attribute("data-ready", str(sum(expected.values())))
        for state, n in expected.items():
            assert page.locator(f".leaflet-marker-icon.site-pin.state-{state}").count() == n, state
        wait_until(lambda: failed, timeout=20)  # the map did ask the (dead) tile server
        assert page.locator("img.leaflet-tile").count() > 0
        shot(page, "map-03-tiles-unreachable")
        assert page.csp == []  # its origin is allowed on this page only


def test_404_titles_and_local_time(dash, browser):
    from playwright.sync_api import expect

    base, sessions, _ = dash
    page = _page(browser, base, "admin")
    resp = page.goto(base + "/ui/no-such-page")
    assert resp.status == 404 and "text/html" in resp.headers["content-type"]
    expect(page.locator("main h1")).to_contain_text("Lỗi")
    expect(page.locator(".error")).to_contain_text("Không có trang này (404)")
    assert page.title().startswith("Lỗi 404")
    shot(page, "page-404")
    titles = {}
    for url in ("/ui/", "/ui/map", "/ui/feed", "/ui/charts", "/ui/alerts", "/ui/businesses",
                "/ui/businesses/B1", f"/ui/devices/{DEVICES['B1']}", "/ui/passes", "/ui/revocations",
                "/ui/f0", "/ui/f0/1", "/ui/users", "/ui/account"):
        page.goto(base + url)
        titles[url] = page.title()
        assert page.locator("#tz").inner_text().endswith("Asia/Ho_Chi_Minh (UTC+07:00)")
    assert len(set(titles.values())) == len(titles), titles
    # the feed's times are local (UTC+7): the newest scan, as stored
    from sqlalchemy import func, select

    from fleet.models import Scan
    with sessions() as db:
        newest = db.scalar(select(Scan).where(Scan.id == select(func.max(Scan.id)).scalar_subquery()))
    local = dt.datetime.fromtimestamp(newest.time, dt.timezone(dt.timedelta(hours=7)))
    page.goto(base + "/ui/feed")
    expect(page.locator(f'#feed tr[data-id="{newest.id}"] td').first).to_have_text(
        local.strftime("%d/%m/%Y %H:%M:%S"))
    page.goto(base + "/ui/charts?business=NOPE")
    expect(page.locator(".error")).to_contain_text("NOPE")
    assert page.csp == []


PHONE_PAGES = ["/ui/", "/ui/map", "/ui/feed", "/ui/charts", "/ui/charts?business=B1", "/ui/alerts",
               "/ui/businesses", "/ui/businesses/B1", f"/ui/devices/{DEVICES['B1']}", "/ui/passes",
               "/ui/revocations", "/ui/f0", "/ui/f0/1", "/ui/users", "/ui/users/1", "/ui/account",
               "/ui/nope"]


def _name(url: str) -> str:
    return (url.strip("/").replace("ui/", "", 1).replace("/", "-").replace("?", "-")
            .replace("=", "-") or "overview").replace("ui", "overview")


def test_every_page_fits_a_phone(dash, browser):
    base, _, _ = dash
    anon = _page(browser, base, viewport=PHONE)
    anon.goto(base + "/ui/login")
    assert anon.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(anon, "phone-login")
    page = _page(browser, base, "admin", viewport=PHONE)
    for url in PHONE_PAGES:
        page.goto(base + url)
        page.wait_for_load_state("load")
        if url == "/ui/map":
            page.wait_for_selector("#site-map[data-ready]")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (url, width)
        # the header is compact: the menu is folded behind its button
        header = page.locator("header.top").bounding_box()
        assert header["height"] <= 64, (url, header)
        assert page.locator("header nav").is_hidden()
        shot(page, "phone-" + _name(url))
    # wide tables scroll inside themselves
    page.goto(base + "/ui/")
    table = page.locator("#devices")
    assert table.evaluate("e => e.scrollWidth > e.clientWidth && getComputedStyle(e).overflowX === 'auto'")
    # the menu opens and closes, and says so
    toggle = page.locator(".nav-toggle")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true" and page.locator("header nav").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "phone-menu-open")
    page.keyboard.press("Escape")
    assert toggle.get_attribute("aria-expanded") == "false" and page.locator("header nav").is_hidden()
    assert page.evaluate("document.activeElement.className") == "nav-toggle"
    assert page.csp == []


def test_keyboard_navigation(dash, browser):
    base, _, _ = dash
    page = _page(browser, base, "operator")
    page.goto(base + "/ui/alerts")
    page.keyboard.press("Tab")
    skip = page.locator("a.skip")
    assert page.evaluate("document.activeElement.className") == "skip"
    box = skip.bounding_box()
    assert box and box["x"] >= 0 and box["y"] >= 0  # shown when focused
    shot(page, "kbd-01-skip-link")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # from the top, Tab reaches every navigation link in order, each with a visible ring
    page.goto(base + "/ui/alerts")
    page.keyboard.press("Tab")  # skip link
    page.keyboard.press("Tab")  # brand
    links = page.locator("header nav a")
    seen = []
    for _ in range(links.count()):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.getAttribute('href')"))
        ring = page.evaluate("(() => { const s = getComputedStyle(document.activeElement);"
                             " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()")
        assert ring[0] != "none" and ring[1] >= 2, (seen[-1], ring)
    assert seen == [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert page.locator('header nav a[aria-current="page"]').get_attribute("href") == "/ui/alerts"
    # Enter on a focused link follows it
    page.keyboard.press("Shift+Tab")
    target = page.evaluate("document.activeElement.getAttribute('href')")
    page.keyboard.press("Enter")
    page.wait_for_url(base + target)
    shot(page, "kbd-02-followed")
    # on a phone: Tab to the menu button, open it with Enter, Tab into the links
    phone = _page(browser, base, "operator", viewport=PHONE)
    phone.goto(base + "/ui/")
    for _ in range(3):
        phone.keyboard.press("Tab")
        if phone.evaluate("document.activeElement.className") == "nav-toggle":
            break
    assert phone.evaluate("document.activeElement.className") == "nav-toggle"
    phone.keyboard.press("Enter")
    phone.keyboard.press("Tab")
    assert phone.evaluate("document.activeElement.getAttribute('href')") == "/ui/"
    phone.keyboard.press("Tab")
    assert phone.evaluate("document.activeElement.getAttribute('href')") == "/ui/map"
    shot(phone, "kbd-03-phone-menu")
    phone.keyboard.press("Enter")
    phone.wait_for_url(base + "/ui/map")
    assert page.csp == [] and phone.csp == []
