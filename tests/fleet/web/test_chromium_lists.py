"""Find, filter, page and export in a real headless Chromium (Debian's
/usr/bin/chromium through Playwright) against the app served by uvicorn on a
SQLite file, on two generated fleets (bench/gen_fleet_db.py): the demo's
District 7 (its ten businesses, one per ward) and a large registry (10,000
gates; scans reduced to 60,000 for CI, the 10,000,000-scan numbers are in
docs/benchmarks.md). The operator uses the filter form as a person would,
and every list must show exactly the rows the database says, page by page,
and the CSV download must hold the same rows. Screenshots: artifacts/screenshots/2x-*.png."""

from __future__ import annotations

import csv
import io
import sys
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from test_chromium import ARGS, CHROMIUM, free_port, shot
from web_helpers import make_app

from sqlalchemy import select

from fleet.core.config import Settings
from fleet.core.db import make_engine, make_sessionmaker
from fleet.models import SCAN_AT, Business, Scan, Site
from fleet.services import users
from fleet.web.listing import fold
from fleet_helpers import wait_until

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import gen_fleet_db  # noqa: E402

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")
NOW = int(time.time())
FLEETS = {"demo": dict(n_devices=20, n_scans=4000, demo=True),
          "large": dict(n_devices=10_000, n_scans=60_000, demo=False)}


@pytest.fixture(params=list(FLEETS))
def served(request, tmp_path):
    import uvicorn

    kind = request.param
    settings = Settings(demo=True, database_url=f"sqlite:///{tmp_path / 'fleet.db'}",
                        data_dir=tmp_path / "data", admin_password="admin-password-1",
                        argon2_time_cost=1, argon2_memory_kib=1024)
    cfg = FLEETS[kind]
    # 6 days of scans: all inside "last 7 days" however long the test runs (a 7-day
    # history would lose its oldest rows to the moving window between NOW and the request)
    gen_fleet_db.build(settings.db_url, cfg["n_devices"], cfg["n_scans"], days=6, n_passes=500,
                       n_audit=100, end=NOW, demo=cfg["demo"])
    engine = make_engine(settings.db_url)
    sessions = make_sessionmaker(engine)
    with sessions() as db:
        users.ensure_admin(db, settings.admin_username, settings.admin_password)
        users.create_user(db, "operator", "operator-password-1", "operator", None)
        db.commit()
        scans = [dict(r._mapping) for r in db.execute(
            select(Scan.id, Scan.verdict, Scan.reason, SCAN_AT.label("at"), Site.business_id,
                   Business.ward, Business.name.label("bname"))
            .join(Site, Site.id == Scan.site_id).join(Business, Business.id == Site.business_id))]
    app = make_app(settings)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=30)
    try:
        yield kind, f"http://127.0.0.1:{port}", scans
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        engine.dispose()


def newest_first(rows: list[dict]) -> list[int]:
    return [r["id"] for r in sorted(rows, key=lambda r: (r["at"], r["id"]), reverse=True)]


def shown_ids(page) -> list[int]:  # noqa: ANN001
    return [int(i) for i in page.locator("#scans tbody tr[data-id]").evaluate_all(
        "rows => rows.map(r => r.dataset.id)")]


def test_filters_search_paging_and_csv_in_chromium(served, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    kind, base, scans = served
    ward = scans[len(scans) // 3]["ward"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900}, accept_downloads=True)
            page.set_default_timeout(20_000)
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(base + "/ui/scans")
            page.fill("input[name=username]", "operator")
            page.fill("input[name=password]", "operator-password-1")
            page.click("button[type=submit]")
            expect(page.locator("h1")).to_have_text("Lịch sử lượt quét")

            # Ward + last 7 days + denied, chosen in the form; the URL carries them (shareable).
            page.select_option("select[name=range]", "7d")
            page.select_option("select[name=ward]", ward)
            page.select_option("select[name=verdict]", "denied")
            page.click("form.list-filters button[type=submit]")
            query = parse_qs(urlparse(page.url).query)
            assert query["ward"] == [ward] and query["verdict"] == ["denied"] and query["range"] == ["7d"]
            want = newest_first([r for r in scans if r["ward"] == ward and not r["verdict"]
                                 and r["at"] >= NOW - 7 * 86400])
            assert want, "the generated fleet has denials in that ward"
            got = shown_ids(page)
            assert got == want[:50]
            for cell in page.locator("#scans tbody tr td:nth-child(2)").all_inner_texts():
                assert cell == ward
            shot(page, f"20-{kind}-scans-ward-denied")

            # Every page once, in order, then back to the first.
            pages = [got]
            while page.locator("a[rel=next]").count():
                page.click("a[rel=next]")
                pages.append(shown_ids(page))
                assert len(pages) < 100
            assert [i for p in pages for i in p] == want
            if len(pages) > 1:
                page.click("a[rel=prev]")
                assert shown_ids(page) == pages[-2]

            # The CSV download of this filter holds exactly these rows.
            with page.expect_download() as dl:
                page.click("a.csv")
            path = tmp_path / "scans.csv"
            dl.value.save_as(path)
            raw = path.read_bytes()
            assert raw.startswith(b"\xef\xbb\xbf")
            table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
            assert table[0][0] == "Thời gian / Time"
            assert [int(r[-1]) for r in table[1:]] == want
            assert {r[2] for r in table[1:]} == {ward} and {r[9] for r in table[1:]} == {"Từ chối"}

            # Free-text search by business name, typed without diacritics.
            target = scans[len(scans) // 2]
            words = target["bname"].split()[:2]
            typed = fold(" ".join(words))
            page.goto(base + "/ui/scans?range=all")
            page.fill("input[name=q]", typed)
            page.click("form.list-filters button[type=submit]")
            want_q = newest_first([r for r in scans if typed in fold(r["bname"])])
            assert target["id"] in want_q
            assert shown_ids(page) == want_q[:50]
            shot(page, f"21-{kind}-scans-search")

            # Analytics of the same ward, from the rollup, equal to the scans.
            page.goto(base + "/ui/charts?range=all&ward=" + ward)
            acc = sum(1 for r in scans if r["ward"] == ward and r["verdict"])
            den = sum(1 for r in scans if r["ward"] == ward and not r["verdict"])
            expect(page.locator("#an-accepted")).to_have_text(str(acc))
            expect(page.locator("#an-denied")).to_have_text(str(den))
            shot(page, f"22-{kind}-charts-ward")

            # Phone width: the page does not scroll sideways, the table scrolls in its box.
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(base + "/ui/scans?range=7d")
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            shot(page, f"23-{kind}-scans-phone")
            assert not [p for p in problems if "Content Security Policy" in p], problems
        finally:
            browser.close()
