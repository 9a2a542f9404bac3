"""The EU DCC signers page in a real headless Chromium (Debian's chromium via
Playwright) against the app served by uvicorn: a viewer follows the
navigation link, sees every trusted country of the imported real list,
opens one country's signers and switches to English. Screenshots go to
<repo>/artifacts/screenshots/."""

from __future__ import annotations

import collections
import threading

import pytest

from web_helpers import make_app, seed
from fleet_helpers import wait_until

from test_chromium import ARGS, CHROMIUM, free_port, shot  # same directory
from test_dcc_page import CLOCK, LIST, _expected  # counted with cryptography, not the importer

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")


@pytest.fixture
def served(tmp_path, testdata):
    import uvicorn

    from fleet.core.config import Settings
    from fleet.core.db import make_engine, make_sessionmaker
    from fleet.models import Base
    from fleet.services import dcc

    settings = Settings(demo=True, database_url=f"sqlite:///{tmp_path / 'fleet.db'}",
                        data_dir=tmp_path / "data", admin_password="admin-password-1",
                        argon2_time_cost=1, argon2_memory_kib=1024)
    engine = make_engine(settings.db_url)
    Base.metadata.create_all(engine)
    with make_sessionmaker(engine)() as db:
        seed(db, settings)
        report = dcc.import_trustlist(db, (testdata / LIST).read_bytes(), "trustlist_de.json", "test", now=CLOCK)
        db.commit()
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(make_app(settings), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=30)
    try:
        yield f"http://127.0.0.1:{port}", report
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        engine.dispose()


def test_dcc_page_in_chromium(served, testdata):
    from playwright.sync_api import expect, sync_playwright

    base, report = served
    per_country = collections.Counter({c: sum(k.values()) for c, k in _expected(testdata).items()})
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.set_default_timeout(20_000)
            csp_refusals: list[str] = []
            page.on("console", lambda m: csp_refusals.append(m.text)
                    if "Content Security Policy" in m.text else None)
            page.goto(base + "/ui/login")
            page.fill("input[name=username]", "viewer")
            page.fill("input[name=password]", "viewer-password-1")
            page.click("button[type=submit]")
            page.click("nav >> text=Chứng nhận EU DCC")
            expect(page.locator("h1")).to_have_text("Chứng thư ký Chứng nhận COVID số EU (DCC)")
            rows = page.locator("#dcc-countries-table tbody tr")
            expect(rows).to_have_count(len(per_country))
            expect(page.locator("#dcc-total")).to_have_text(str(report.accepted))
            shot(page, "dcc-01-countries")

            country, n = per_country.most_common(1)[0]
            page.click(f'#dcc-countries-table tr[data-country="{country}"] a')
            expect(page.locator("#dcc-signers tbody tr")).to_have_count(n)
            shot(page, f"dcc-02-country-{country}")

            page.click("a.lang")
            expect(page.locator("h1")).to_have_text("EU Digital COVID Certificate signers (DCC)")
            expect(page.locator("#dcc-signers tbody tr")).to_have_count(n)
            assert csp_refusals == []
        finally:
            browser.close()
