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
    "alerts.range": ("Khoảng thời gian", "Time range"),
    "alerts.range.1h": ("1 giờ qua", "Last hour"),
    "alerts.range.today": ("Hôm nay", "Today"),
    "alerts.range.7d": ("7 ngày qua", "Last 7 days"),
    "alerts.range.custom": ("Tự chọn (từ / đến)", "Custom (from / to)"),
    "alerts.since": ("Từ", "From"),
    "alerts.until": ("Đến", "To"),
    "alerts.search": ("Tìm (thiết bị, doanh nghiệp, mã thẻ)", "Search (device, business, pass hash)"),
    "alerts.csv": ("Tải CSV", "Download CSV"),
    "alerts.zone": ("Giờ địa phương ({0}).", "Local time ({0})."),
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
    # CSV header (alert_list.CSV_COLUMNS)
    "alerts.csv.id": ("Mã", "ID"),
    "alerts.csv.severity": ("Mức độ", "Severity"),
    "alerts.csv.kind": ("Loại", "Kind"),
    "alerts.csv.device": ("Thiết bị", "Device"),
    "alerts.csv.business": ("Doanh nghiệp", "Business"),
    "alerts.csv.pass_hash": ("Mã băm thẻ", "Pass hash"),
    "alerts.csv.count": ("Số lần", "Count"),
    "alerts.csv.first_seen": ("Lần đầu", "First seen"),
    "alerts.csv.last_seen": ("Gần nhất", "Last seen"),
    "alerts.csv.state": ("Tình trạng", "State"),
    "alerts.csv.acked_by": ("Người xác nhận", "Acknowledged by"),
    "alerts.csv.acked_at": ("Xác nhận lúc", "Acknowledged at"),
    "alerts.csv.ack_note": ("Ghi chú", "Note"),
    "alerts.csv.detail": ("Chi tiết", "Detail"),
}
