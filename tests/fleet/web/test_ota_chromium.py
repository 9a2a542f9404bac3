"""The firmware pages in a real headless Chromium (Debian's chromium through
Playwright) against the app served by uvicorn: an admin finds a campaign the
engine halted, sees its per-wave progress bars, the halt reason and each
gate's status, resumes it, pauses it and cancels it with the page's buttons;
the strict Content-Security-Policy blocks nothing. Screenshots go to
<repo>/artifacts/screenshots/."""

from __future__ import annotations

import pytest

from ota_helpers import report, started_campaign
from test_chromium import ARGS, CHROMIUM, served, shot  # noqa: F401  (served is a fixture)

from fleet.models import utcnow
from fleet.services import ota

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")


def test_campaign_page_in_chromium(served):  # noqa: F811
    from playwright.sync_api import expect, sync_playwright

    base, sessions, _ = served
    with sessions() as db:
        c, offered = started_campaign(db, 60, "Toàn quận", pause_s=0, failure_threshold_pct=2)
        report(db, offered[0], 7, 1, 37, 0, c.id)
        report(db, offered[1], 7, 7, 0, 56, c.id)             # OTA_SPACE
        for d in offered[2:5]:
            report(db, d, 7, 5, 100, 0, c.id)
        ota.advance(db, ota.lock(db, c.id), utcnow())
        assert c.state == "halted"
        db.commit()
        cid = c.id
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.set_default_timeout(20_000)
            csp: list[str] = []
            page.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
            page.goto(base + "/ui/login")
            page.fill("input[name=username]", "admin")
            page.fill("input[name=password]", "admin-password-1")
            page.click("button[type=submit]")
            page.get_by_role("link", name="Cập nhật phần mềm").click()
            row = page.locator(f'#campaigns tr[data-campaign="{cid}"]')
            expect(row).to_contain_text("Đã tự động dừng")
            row.locator("a").click()
            expect(page.locator("#halt")).to_contain_text("đợt 1")
            wave0 = page.locator('#waves tr[data-wave="0"] progress')
            assert wave0.get_attribute("max") == "6" and wave0.get_attribute("value") == "4"
            gate = page.locator(f'#gates tr[data-device="{offered[0]}"]')
            expect(gate).to_contain_text("Đang tải")
            assert gate.locator("progress").get_attribute("value") == "37"
            expect(page.locator(f'#gates tr[data-device="{offered[1]}"]')).to_contain_text("OTA_SPACE")
            shot(page, "ota-01-halted")
            page.get_by_role("button", name="Tiếp tục (chấp nhận các lỗi hiện có)").click()
            expect(page.locator("#state")).to_have_text("Đang chạy")
            page.get_by_role("button", name="Tạm dừng").click()
            expect(page.locator("#state")).to_have_text("Tạm dừng")
            page.goto(page.url.split("?")[0] + "?lang=en")
            expect(page.locator("#waves")).to_contain_text("Rolled back")
            shot(page, "ota-02-paused-en")
            page.get_by_role("button", name="Cancel campaign").click()
            expect(page.locator("#state")).to_have_text("Cancelled")
            expect(page.locator("#steer button")).to_have_count(0)
            assert csp == []
        finally:
            browser.close()
    with sessions() as db:
        assert ota.get(db, cid).state == "cancelled"
