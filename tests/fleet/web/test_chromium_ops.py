"""Issue 12's operations pages in a real headless Chromium (Debian's
/usr/bin/chromium driven by Playwright) against the real app served by
uvicorn (the `served` fixture of test_chromium.py: SQLite file, embedded
broker, bridge):

- alert grouping: 23 scans of one lost card through the real ingest are one
  row with count 23; filters; acknowledge one with a note (its own button),
  then all the rest at once (the header checkbox, alerts.js); the
  acknowledged list shows who and the note; the page fits a 390 px phone;
- the F0 case report: the link downloads a PDF that PDFium renders and whose
  text lists the exposure (the contact's hash, the business, diacritics);
- the users page: an admin creates a manager and resets its password; that
  manager, logged in, has no Users entry and is refused the page.
Screenshots go to <repo>/artifacts/screenshots/ (ops-*.png)."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest

from test_chromium import ARGS, CHROMIUM, SHOTS, served, shot  # noqa: F401 (the fixture)
from web_helpers import DEVICES

LOST, F0, CONTACT = "ab" * 16, "f0" * 16, "c1" * 16

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")


def seed_events(sessions) -> int:
    """Through the fleet's ingest: the lost card 23 times in 5 minutes at
    B1's gate (revoked first), tamper on B2's gate, clock drift on B1's, and an F0 pass
    admitted at B1 next to a contact."""
    from fleet.models import Device
    from fleet.services import alerts, revocations, scans
    from fleet.core.config import Settings

    now = int(time.time())
    with sessions() as db:
        revocations.revoke(db, LOST, "LOST", "operator")
        for i in range(23):
            scans.ingest_for_device(db, DEVICES["B1"], [{
                "seq": 100 + i, "time": now - 300 + 13 * i, "time_valid": True, "pass_hash": LOST,
                "verdict": False, "reason": scans.REVOKED_REASON}])
        scans.ingest_for_device(db, DEVICES["B1"], [
            {"seq": 1, "time": now - 3600, "time_valid": True, "pass_hash": F0, "verdict": True,
             "reason": 0},
            {"seq": 2, "time": now - 3000, "time_valid": True, "pass_hash": CONTACT, "verdict": True,
             "reason": 0}])
        db.get(Device, DEVICES["B2"]).tamper = True
        db.get(Device, DEVICES["B1"]).clock_drift_s = -900.0
        alerts.evaluate(db, Settings(demo=True))
        db.commit()
    return now - 3600  # the F0 pass's entry


def log_in(page, base: str, user: str, password: str) -> None:
    page.goto(base + "/ui/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/ui/$"))


def pdf_text(path) -> str:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    try:
        first = doc[0]
        first.render(scale=1.3).to_pil().save(SHOTS / "ops-04-f0-report-page1.png")
        out = []
        for i in range(len(doc)):
            tp = doc[i].get_textpage()
            out.append(tp.get_text_range())
            tp.close()
        return re.sub(r"\s+", " ", "\n".join(out))
    finally:
        doc.close()


def test_operations_pages_in_chromium(served, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    base, sessions, _params = served
    f0_entry = seed_events(sessions)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            ctx = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
            page = ctx.new_page()
            page.set_default_timeout(20_000)
            csp: list[str] = []
            page.on("console", lambda m: csp.append(m.text) if "Content Security Policy" in m.text else None)
            log_in(page, base, "operator", "operator-password-1")

            # grouping: one row for the lost card, count 23, critical
            page.get_by_role("link", name="Cảnh báo").click()
            rows = page.locator("#alerts tbody tr[data-alert]")
            lost = page.locator('#alerts tr[data-kind="REVOKED_PRESENTED"]')
            expect(lost).to_have_count(1)
            expect(lost.locator("td.count")).to_have_text("23")
            expect(lost).to_contain_text("Khẩn cấp")
            expect(lost).to_contain_text(LOST)
            expect(page.locator("#alert-summary")).to_contain_text("Khẩn cấp 2")
            shot(page, "ops-01-alerts-grouped")
            # filter: info only -> the clock drift
            page.select_option("#alert-filters select[name=severity]", "info")
            page.click("#alert-filters button[type=submit]")
            expect(rows).to_have_count(1)
            expect(rows.first).to_have_attribute("data-kind", "CLOCK_DRIFT")
            page.select_option("#alert-filters select[name=severity]", "critical")
            page.click("#alert-filters button[type=submit]")
            expect(rows).to_have_count(2)

            # acknowledge one, with a note, by its own button
            page.fill("#alert-ack input[name=note]", "Thẻ mất đã huỷ, báo phường")
            lost.get_by_role("button", name="Xác nhận").click()
            expect(page.locator(".flash")).to_have_text("Đã thực hiện.")
            expect(page).to_have_url(re.compile(r"severity=critical"))  # back to the same filter
            expect(lost).to_have_count(0)
            expect(rows).to_have_count(1)

            # acknowledge many: all open alerts, header checkbox, one note
            page.goto(base + "/ui/alerts")
            open_rows = rows.count()
            assert open_rows == 2  # tamper and the clock drift
            page.check("#ack-all")
            expect(page.locator("input.ack-box:checked")).to_have_count(open_rows)
            page.fill("#alert-ack input[name=note]", "Kiểm tra ca đêm")
            page.click("#ack-selected")
            expect(page.locator(".flash")).to_be_visible()
            expect(rows).to_have_count(0)
            page.select_option("#alert-filters select[name=state]", "acked")
            page.click("#alert-filters button[type=submit]")
            expect(rows).to_have_count(open_rows + 1)
            expect(lost.locator("q.ack-note")).to_have_text("Thẻ mất đã huỷ, báo phường")
            shot(page, "ops-02-alerts-acknowledged")

            # the same page on a 390 px phone: nothing wider than the screen
            phone = ctx.new_page()
            phone.set_viewport_size({"width": 390, "height": 844})
            phone.goto(base + "/ui/alerts?state=all")
            expect(phone.locator("#alerts")).to_be_visible()
            # the table scrolls inside its box; the page itself is no wider than the phone
            assert phone.evaluate("document.querySelector('.table-scroll').getBoundingClientRect().right") <= 390.5
            assert phone.evaluate("document.querySelector('main').scrollWidth") <= 390
            assert phone.evaluate("document.querySelector('#alert-filters').scrollWidth") <= 390
            shot(phone, "ops-03-alerts-phone")
            phone.close()

            # F0: mark, then download the case report from the case page
            page.goto(base + "/ui/f0")
            page.fill("#f0-mark input[name=pass_hash]", F0)
            page.click("#f0-mark button[type=submit]")
            expect(page.locator("#exposure")).to_contain_text("B1")
            with page.expect_download() as info:
                page.click("#f0-report")
            download = info.value
            assert re.fullmatch(r"greengate-f0-case-\d+\.pdf", download.suggested_filename)
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
            assert saved.read_bytes().startswith(b"%PDF-")
            text = pdf_text(saved)
            assert "Danh sách tiếp xúc" in text and CONTACT in text
            assert "Bách hoá Xanh Tân Phong" in text and "Cổng chính B1" in text
            local = dt.datetime.fromtimestamp(f0_entry, dt.timezone(dt.timedelta(hours=7)))
            assert local.strftime("%d/%m/%Y %H:%M") in text  # the F0 entry, Ho Chi Minh City time
            shot(page, "ops-05-f0-case")

            # users: an admin creates a manager and resets its password
            page.get_by_role("button", name="Đăng xuất").click()
            log_in(page, base, "admin", "admin-password-1")
            page.get_by_role("link", name="Người dùng").click()
            page.click("#user-new summary")
            page.fill("#user-new input[name=username]", "ql.bachhoa")
            page.fill("#user-new input[name=password]", "Tạm-thời-mật-khẩu-1")
            page.select_option("#user-new select[name=role]", "manager")
            page.fill("#user-new input[name=business_id]", "B1")
            page.get_by_role("button", name="Tạo").click()
            expect(page.locator(".flash")).to_have_text("Đã tạo người dùng.")
            page.fill("form[action$='/password'] input[name=password]", "Mật-khẩu-mới-2026")
            page.get_by_role("button", name="Đặt lại mật khẩu").click()
            expect(page.locator(".flash")).to_contain_text("Đã đặt lại mật khẩu")
            shot(page, "ops-06-user-admin")

            # ... who, logged in with the new password, may not open the users page
            other = browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
            log_in(other, base, "ql.bachhoa", "Mật-khẩu-mới-2026")
            expect(other.locator("header nav")).not_to_contain_text("Người dùng")
            response = other.goto(base + "/ui/users")
            assert response.status == 403
            expect(other.locator("main")).to_contain_text("Bạn không có quyền truy cập trang này.")
            shot(other, "ops-07-users-forbidden")
            other.context.close()
            assert csp == []
        finally:
            browser.close()

    from sqlalchemy import select

    from fleet.models import AuditLog
    with sessions() as db:
        acts = list(db.execute(select(AuditLog.actor, AuditLog.action)))
    assert ("operator", "alert.ack") in acts and ("operator", "f0.report") in acts
    assert {("admin", "user.create"), ("admin", "user.password_reset")} <= set(acts)
