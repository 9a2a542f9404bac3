"""Dashboard texts of the operations pages (alert handling, the F0 case
report, revocation lifts): Vietnamese (full diacritics) first, English
second. Kept apart from i18n.py's table so parallel work on other pages
does not touch the same lines; i18n.TEXTS includes them."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    # alerts page
    "sev.critical": ("Khẩn cấp", "Critical"),
    "sev.warning": ("Cảnh báo", "Warning"),
    "sev.info": ("Thông tin", "Info"),
    "alerts.open_now": ("Đang mở", "Open now"),
    "alerts.state": ("Tình trạng", "State"),
    "alerts.state.open": ("Chưa xử lý", "Open"),
    "alerts.state.acked": ("Đã xác nhận", "Acknowledged"),
    "alerts.state.all": ("Tất cả", "All"),
    "alerts.severity": ("Mức độ", "Severity"),
    "alerts.search": ("Tìm (thiết bị, doanh nghiệp, mã thẻ)", "Search (device, business, pass hash)"),
    "alerts.note": ("Ghi chú xác nhận", "Acknowledgement note"),
    "alerts.ack_selected": ("Xác nhận các mục đã chọn", "Acknowledge selected"),
    "alerts.select_all": ("Chọn mọi cảnh báo đang mở trên trang", "Select every open alert on the page"),
    "alerts.select": ("Chọn cảnh báo", "Select alert"),
    "alerts.subject": ("Đối tượng", "Subject"),
    "alerts.pass": ("Thẻ", "Pass"),
    "alerts.last_gate": ("cổng gần nhất:", "last gate:"),
    "alerts.count": ("Số lần", "Count"),
    "alerts.first_seen": ("Lần đầu", "First seen"),
    "alerts.last_seen": ("Gần nhất", "Last seen"),
    "alerts.grouping_hint": (
        "Mỗi dòng là một nhóm: cùng loại cảnh báo cho cùng thiết bị (hoặc cùng thẻ tại cùng doanh "
        "nghiệp). Lần xảy ra mới được cộng vào nhóm đang mở; sau khi xác nhận, lần tiếp theo mở nhóm mới.",
        "Each row is a group: the same kind of alert for the same device (or the same pass at the same "
        "business). New occurrences add to the open group; after acknowledging, the next one opens a new group."),
    "error.BAD_SELECTION": ("Hãy chọn ít nhất một cảnh báo (tối đa 500).",
                            "Select at least one alert (at most 500)."),
    # revocation lift
    "rev.lift_note": ("Lý do gỡ (bắt buộc)", "Why lift it (required)"),
    "error.LIFT_NOTE": ("Hãy ghi lý do gỡ thu hồi (tối đa 300 ký tự).",
                        "Write why the revocation is lifted (at most 300 characters)."),
    # F0 case report
    "f0.report_pdf": ("Tải báo cáo ca F0 (PDF) cho truy vết", "Download the F0 case report (PDF) for contact tracers"),
}
