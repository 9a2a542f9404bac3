"""Issue 12's large fleet in Debian's Chromium (Playwright): a real
10,000-device / 10,000,000-scan PostgreSQL database, built by PostgreSQL
itself (bench/gen_fleet_db.py, the benches' generator: INSERT ... SELECT
FROM generate_series, indexes after the load, the rollup by GROUP BY),
served by uvicorn. On it: the map shows every site in its state's colour,
the filters and the search narrow the scans, devices and alerts lists to
exactly the rows SQL finds, paging walks them, the CSV of a filtered view
holds the view's rows, and the main pages fit a phone.
Every expectation is a plain SQL query written here, not the app's code.
Screenshots: artifacts/screenshots/10m-*.png. Skipped only without
PostgreSQL (GREENGATE_TEST_PG_URL, set by scripts/test) or chromium."""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from test_chromium import ARGS, CHROMIUM, free_port, shot
from web_helpers import make_app
from fleet_helpers import wait_until

from fleet.core.config import Settings, normalise_db_url
from fleet.core.db import make_engine
from fleet.web.listing import fold

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import gen_fleet_db  # noqa: E402

PG_URL = os.environ.get("GREENGATE_TEST_PG_URL")
pytestmark = [pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed"),
              pytest.mark.skipif(not PG_URL, reason="GREENGATE_TEST_PG_URL is not set: no PostgreSQL "
                                 "(scripts/test sets it after starting PostgreSQL)")]
DEVICES, SCANS = 10_000, 10_000_000
NOW = int(time.time())
PER_PAGE = 50
AT = "CASE WHEN s.time_valid THEN s.time ELSE s.received_at END"
PHONE = {"width": 390, "height": 844}


def _vary_states(conn) -> None:  # noqa: ANN001
    """Give the map all four states: 1 business in 20 suspended, an open
    alert on 1 gate in 53 (some acknowledged, several kinds for the alerts
    list); the generator leaves 1 gate in 10 offline."""
    conn.execute(text("UPDATE business SET status = 'suspended' WHERE substr(id, 2)::int % 20 = 7"))
    from fleet.services.alerts import SEVERITY

    now = dt.datetime.now(dt.timezone.utc)
    kinds = ("TAMPER", "GATE_ERROR", "OUTBOX_BACKLOG")
    rows = []
    for n, d in enumerate(range(0, DEVICES, 53)):
        seen = now - dt.timedelta(minutes=7 * n)
        rows.append({"kind": kinds[n % 3], "severity": SEVERITY[kinds[n % 3]], "device": f"gg-{d:012x}",
                     "created": seen - dt.timedelta(hours=1), "seen": seen,
                     "acked": seen if n % 4 == 3 else None})
    conn.execute(text(
        "INSERT INTO alert (kind, severity, device_id, business_id, detail, created_at, count, "
        "last_seen_at, acknowledged_at, acknowledged_by, notify_attempts) "
        "SELECT :kind, :severity, d.id, si.business_id, '{}', :created, 1, :seen, :acked, "
        "CASE WHEN CAST(:acked AS timestamptz) IS NULL THEN NULL ELSE 'operator' END, 0 "
        "FROM device d JOIN site si ON si.id = d.site_id WHERE d.id = :device"), rows)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    import uvicorn

    from fleet.core.db import make_sessionmaker
    from fleet.services import users

    url = normalise_db_url(PG_URL)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"PostgreSQL is unavailable at GREENGATE_TEST_PG_URL: {e}")
    t0 = time.perf_counter()
    # 6 days: every scan inside "last 7 days" however long the test runs
    gen_fleet_db.build(url, DEVICES, SCANS, days=6, n_passes=20_000, n_audit=1_000, end=NOW,
                       unlogged=True)
    print(f"\n10M database built in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    with engine.begin() as conn:
        _vary_states(conn)
        conn.execute(text("ANALYZE alert"))
        conn.execute(text("ANALYZE business"))
    tmp = tmp_path_factory.mktemp("big")
    settings = Settings(demo=True, database_url=url, data_dir=tmp / "data",
                        admin_password="admin-password-1", argon2_time_cost=1, argon2_memory_kib=1024)
    with make_sessionmaker(engine)() as db:
        users.ensure_admin(db, settings.admin_username, settings.admin_password)
        users.create_user(db, "operator", "operator-password-1", "operator", None)
        db.commit()
    server = uvicorn.Server(uvicorn.Config(make_app(settings), host="127.0.0.1", port=free_port(),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=30)
    try:
        yield f"http://127.0.0.1:{server.config.port}", engine
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        engine.dispose()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _page(browser, base: str, viewport: dict | None = None):  # noqa: ANN001
    page = browser.new_context(viewport=viewport or {"width": 1366, "height": 900},
                               accept_downloads=True).new_page()
    page.set_default_timeout(60_000)
    page.csp = []
    page.on("console", lambda m: page.csp.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(base + "/ui/login")
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", "operator-password-1")
    page.click("main button[type=submit]")
    page.wait_for_url(base + "/ui/")
    return page


def _sql(engine, sql: str, **params) -> list:  # noqa: ANN001
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql), params)]


def _ids(page, selector: str, attr: str) -> list:  # noqa: ANN001
    return page.locator(selector).evaluate_all(f"rows => rows.map(r => r.getAttribute('{attr}'))")


def test_the_database_is_the_size_the_issue_names(big):
    _, engine = big
    [(devices, sites, scans, ok)] = _sql(
        engine, "SELECT (SELECT count(*) FROM device), (SELECT count(*) FROM site), "
                "(SELECT count(*) FROM scan), (SELECT sum(count) FROM scan_hourly)")
    assert (devices, scans, ok) == (DEVICES, SCANS, SCANS) and sites == DEVICES // 5
    # every gate's counter runs 1..n without a gap, like a real gate's
    [(gaps,)] = _sql(engine, "SELECT count(*) FROM (SELECT device_id FROM scan GROUP BY device_id "
                             "HAVING max(seq) <> count(*) OR min(seq) <> 1) g")
    assert gaps == 0


def test_map_shows_every_site_in_its_state_colour(big, browser):
    from playwright.sync_api import expect

    base, engine = big
    # the states by their definition (docs/dashboard.md): suspended > alert > offline > online
    want = dict(_sql(engine, """
        SELECT si.id::text, CASE
          WHEN b.status <> 'approved' THEN 'suspended'
          WHEN EXISTS (SELECT 1 FROM alert a JOIN device d ON d.id = a.device_id
                       WHERE d.site_id = si.id AND d.status = 'active' AND a.acknowledged_at IS NULL)
            THEN 'alert'
          WHEN NOT EXISTS (SELECT 1 FROM device d WHERE d.site_id = si.id AND d.status = 'active')
            OR EXISTS (SELECT 1 FROM device d WHERE d.site_id = si.id AND d.status = 'active'
                       AND NOT d.online) THEN 'offline'
          ELSE 'online' END
        FROM site si JOIN business b ON b.id = si.business_id WHERE si.lat IS NOT NULL"""))
    assert set(want.values()) == {"suspended", "alert", "offline", "online"}
    page = _page(browser, base)
    page.goto(base + "/ui/map")
    expect(page.locator("#site-map")).to_have_attribute("data-ready", str(len(want)))
    pins = page.locator(".leaflet-marker-icon.site-pin").evaluate_all(
        "els => els.map(e => [e.dataset.site, [...e.classList].find(c => c.startsWith('state-')),"
        " getComputedStyle(e).backgroundColor])")
    got = {site: cls.removeprefix("state-") for site, cls, _ in pins}
    assert len(pins) == len(want) and got == want
    colours = {cls: set() for _, cls, _ in pins}
    for _, cls, bg in pins:
        colours[cls].add(bg)
    assert all(len(c) == 1 for c in colours.values()) and len({c.pop() for c in colours.values()}) == 4
    for state in ("suspended", "alert", "offline", "online"):
        assert page.locator(f"#count-{state}").inner_text() == str(sum(v == state for v in want.values()))
    shot(page, "10m-01-map")
    # a marker opens its site: names fetched on opening, as in the registry
    site = min(int(s) for s, v in want.items() if v == "alert")
    [(name, biz, biz_name)] = _sql(engine, "SELECT si.name, b.id, b.name FROM site si JOIN business b "
                                           "ON b.id = si.business_id WHERE si.id = :s", s=site)
    page.locator(f'.site-pin[data-site="{site}"]').click()
    popup = page.locator(f'.site-popup[data-site="{site}"][data-ready="1"]')
    expect(popup).to_contain_text(name)
    expect(popup.get_by_role("link", name=biz_name)).to_have_attribute("href", f"/ui/businesses/{biz}")
    shot(page, "10m-02-map-popup")
    assert page.csp == []


def test_scans_filters_paging_search_and_csv(big, browser, tmp_path):
    from playwright.sync_api import expect

    base, engine = big
    ward = gen_fleet_db.WARDS[4]
    page = _page(browser, base)
    page.goto(base + "/ui/scans")
    expect(page.locator("h1")).to_have_text("Lịch sử lượt quét")
    page.select_option("select[name=range]", "7d")
    page.select_option("select[name=ward]", ward)
    page.select_option("select[name=verdict]", "denied")
    page.click("form.list-filters button[type=submit]")
    want = [i for (i,) in _sql(engine, f"""
        SELECT s.id FROM scan s JOIN site si ON si.id = s.site_id JOIN business b ON b.id = si.business_id
        WHERE b.ward = :ward AND NOT s.verdict ORDER BY {AT} DESC, s.id DESC LIMIT :n""",
                                ward=ward, n=3 * PER_PAGE)]
    assert len(want) == 3 * PER_PAGE

    def shown() -> list[int]:
        return [int(i) for i in _ids(page, "#scans tbody tr[data-id]", "data-id")]

    assert shown() == want[:PER_PAGE]
    assert set(page.locator("#scans tbody tr td:nth-child(2)").all_inner_texts()) == {ward}
    shot(page, "10m-03-scans-ward-denied")
    page.click("a[rel=next]")
    assert shown() == want[PER_PAGE:2 * PER_PAGE]
    page.click("a[rel=next]")
    assert shown() == want[2 * PER_PAGE:]
    page.click("a[rel=prev]")
    assert shown() == want[PER_PAGE:2 * PER_PAGE]

    # search by a business's name typed without diacritics
    names = _sql(engine, "SELECT id, name FROM business ORDER BY id")
    typed = fold(" ".join(names[321][1].split()[-2:]))  # "so 321"
    hits = [b for b, n in names if typed in fold(n)]
    assert names[321][0] in hits
    page.goto(base + "/ui/scans?range=all")
    page.fill("input[name=q]", typed)
    page.click("form.list-filters button[type=submit]")
    want_q = [i for (i,) in _sql(engine, f"""
        SELECT s.id FROM scan s JOIN site si ON si.id = s.site_id
        WHERE si.business_id = ANY(:b) ORDER BY {AT} DESC, s.id DESC LIMIT :n""", b=hits, n=PER_PAGE)]
    assert shown() == want_q
    shot(page, "10m-04-scans-search")

    # the CSV of a narrow view (one business's denials) holds exactly its rows
    biz = names[77][0]
    page.goto(base + f"/ui/scans?range=all&business={biz}&verdict=denied")
    want_csv = [i for (i,) in _sql(engine, f"""
        SELECT s.id FROM scan s JOIN site si ON si.id = s.site_id
        WHERE si.business_id = :b AND NOT s.verdict ORDER BY {AT} DESC, s.id DESC""", b=biz)]
    assert shown() == want_csv[:PER_PAGE]
    with page.expect_download() as dl:
        page.click("a.csv")
    path = tmp_path / "scans.csv"
    dl.value.save_as(path)
    table = list(csv.reader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))
    assert [int(r[-1]) for r in table[1:]] == want_csv and {r[3] for r in table[1:]} == {biz}
    assert page.csp == []


def test_devices_and_alerts_filters(big, browser):
    base, engine = big
    ward = gen_fleet_db.WARDS[2]
    page = _page(browser, base)
    page.select_option("select[name=ward]", ward)
    page.select_option("select[name=state]", "offline")
    page.click("form.list-filters button[type=submit]")
    want = [d for (d,) in _sql(engine, """
        SELECT d.id FROM device d JOIN site si ON si.id = d.site_id JOIN business b ON b.id = si.business_id
        WHERE d.status = 'active' AND NOT d.online AND b.ward = :w ORDER BY d.id""", w=ward)]
    assert len(want) > PER_PAGE  # more than one page
    assert _ids(page, "#devices tr[data-device]", "data-device") == want[:PER_PAGE]
    shot(page, "10m-05-devices-ward-offline")
    assert page.locator("nav.pager span").inner_text().endswith(str(len(want)))  # the total
    page.locator("nav.pager a").last.click()  # page 2
    assert _ids(page, "#devices tr[data-device]", "data-device") == want[PER_PAGE:2 * PER_PAGE]

    page.goto(base + "/ui/alerts")
    page.select_option("select[name=kind]", "GATE_ERROR")
    page.click("form.list-filters button[type=submit]")
    want_a = [str(i) for (i,) in _sql(engine, """
        SELECT id FROM alert WHERE kind = 'GATE_ERROR' AND acknowledged_at IS NULL
        ORDER BY last_seen_at DESC, id DESC""")]
    assert len(want_a) > 1
    assert _ids(page, "#alerts tr[data-alert]", "data-alert") == want_a[:PER_PAGE]
    assert set(_ids(page, "#alerts tr[data-alert]", "data-kind")) == {"GATE_ERROR"}
    shot(page, "10m-06-alerts-kind")
    assert page.csp == []


@pytest.mark.parametrize("url", ["/ui/", "/ui/map", "/ui/scans?range=7d", "/ui/alerts", "/ui/charts"])
def test_main_pages_fit_a_phone(big, browser, url):
    base, _ = big
    page = _page(browser, base, viewport=PHONE)
    page.goto(base + url)
    if url == "/ui/map":
        page.wait_for_selector("#site-map[data-ready]")
        assert page.locator("#site-map").get_attribute("data-ready") != "error"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "10m-phone-" + (url.strip("/").split("?")[0].replace("ui/", "").replace("ui", "overview")
                               or "overview"))
