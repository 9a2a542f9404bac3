"""Dashboard texts for versions, local time, the site map, the 404 page and
accessibility (key -> (Vietnamese, English)); merged into i18n.TEXTS. Kept in
their own module so the page families stay easy to review."""

from __future__ import annotations

TEXTS: dict[str, tuple[str, str]] = {
    "ver.resigned": ("chờ bản ký lại", "re-signed copy pending"),
    "ver.published": ("bản đã phát tới cổng", "published to gates"),
    "tz.shown": ("Giờ hiển thị theo múi giờ", "Times shown in zone"),
    "charts.axis": ("Giờ địa phương ({0})", "Local time ({0})"),
    "error.NO_PAGE": ("Không có trang này (404). Hãy kiểm tra lại địa chỉ.",
                      "There is no such page (404). Please check the address."),
    "error.UNKNOWN_BUSINESS": ("Không có doanh nghiệp mã “{0}”.", "There is no business “{0}”."),
    "pstatus.expired": ("Hết hạn", "Expired"),
    "astatus.revoked": ("Thẻ đã bị thu hồi", "Pass revoked"),
    "astatus.f0": ("Thẻ bị thu hồi (F0)", "Pass revoked (F0)"),
    "astatus.expired": ("Thẻ hết hạn", "Pass expired"),
    "f0.no_cases": ("Chưa có ca F0 nào. Khi có người nhiễm, nhập mã băm thẻ của họ ở trên: "
                    "thẻ bị thu hồi trên mọi cổng và danh sách tiếp xúc được lập.",
                    "No F0 cases yet. When someone tests positive, enter their pass hash above: "
                    "the pass is revoked on every gate and the exposure list is drawn up."),
    "nav.map": ("Bản đồ", "Map"),
    "map.title": ("Bản đồ địa điểm", "Site map"),
    "map.legend": ("Chú giải", "Legend"),
    "map.state.online": ("Hoạt động", "Online"),
    "map.state.offline": ("Mất kết nối", "Offline"),
    "map.state.suspended": ("Tạm dừng", "Suspended"),
    "map.state.alert": ("Có cảnh báo", "Alert"),
    "map.gates": ("Cổng", "Gates"),
    "map.hint": ("Chọn một điểm (chuột hoặc Tab rồi Enter) để mở doanh nghiệp và cổng của địa điểm.",
                 "Pick a marker (mouse, or Tab then Enter) to open the site's business and gates."),
    "map.no_tiles": ("Chưa cấu hình máy chủ bản đồ nền: các điểm hiện trên nền trơn.",
                     "No map tile server configured: markers are shown on a plain background."),
    "map.no_library": ("Thư viện bản đồ (Leaflet) chưa được cài. Hãy chạy",
                       "The map library (Leaflet) is not installed. Run"),
    "map.unplaced": ("{0} địa điểm chưa có toạ độ nên không hiện trên bản đồ.",
                     "{0} sites have no coordinates and are not on the map."),
    "map.attention": ("Địa điểm cần chú ý", "Sites needing attention"),
    "map.more": ("… và {0} địa điểm khác.", "… and {0} more."),
    "map.all_well": ("Mọi địa điểm đều hoạt động bình thường.", "Every site is online and well."),
    "site.coords": ("Toạ độ (vĩ độ, kinh độ)", "Coordinates (lat, lon)"),
    "site.lat": ("Vĩ độ", "Latitude"),
    "site.lon": ("Kinh độ", "Longitude"),
    "a11y.skip": ("Bỏ qua, đến nội dung chính", "Skip to main content"),
    "a11y.menu": ("☰ Danh mục", "☰ Menu"),
    "a11y.main_nav": ("Điều hướng chính", "Main navigation"),
}
