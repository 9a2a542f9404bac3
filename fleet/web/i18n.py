"""Dashboard texts: Vietnamese (full diacritics, the default) and English.

Reason-code texts are read from the gate's own display text table
(firmware/display/texts.bin, the file the gate reads its screen texts from),
so the dashboard and the gate screen always say the same thing about a verdict.
"""

from __future__ import annotations

import struct
from functools import lru_cache

from greengate.passes import reasons
from greengate.paths import FIRMWARE

LANGS = ("vi", "en")
DEFAULT_LANG = "vi"
LANG_COOKIE = "gg_lang"

# key -> (Vietnamese, English)
TEXTS: dict[str, tuple[str, str]] = {
    "app": ("GreenGate – Bảng điều khiển", "GreenGate – Dashboard"),
    "nav.overview": ("Tổng quan thiết bị", "Fleet overview"),
    "nav.feed": ("Lượt quét trực tiếp", "Live scans"),
    "nav.charts": ("Biểu đồ", "Charts"),
    "nav.alerts": ("Cảnh báo", "Alerts"),
    "nav.businesses": ("Doanh nghiệp", "Businesses"),
    "nav.passes": ("Thẻ đi lại", "Passes"),
    "nav.revocations": ("Thu hồi", "Revocations"),
    "nav.f0": ("Quy trình F0", "F0 workflow"),
    "nav.users": ("Người dùng", "Users"),
    "logout": ("Đăng xuất", "Log out"),
    "login": ("Đăng nhập", "Log in"),
    "login.title": ("Đăng nhập hệ thống", "Sign in"),
    "username": ("Tên đăng nhập", "Username"),
    "password": ("Mật khẩu", "Password"),
    "login.failed": ("Sai tên đăng nhập hoặc mật khẩu.", "Wrong username or password."),
    "login.throttled": ("Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau {0} giây.",
                        "Too many failed sign-ins. Please try again in {0} s."),
    "role.admin": ("Quản trị viên", "Administrator"),
    "role.operator": ("Cán bộ quận", "District operator"),
    "role.manager": ("Quản lý doanh nghiệp", "Business manager"),
    "role.viewer": ("Người xem", "Viewer"),
    "online": ("Trực tuyến", "Online"),
    "offline": ("Mất kết nối", "Offline"),
    "never": ("Chưa từng", "Never"),
    "devices": ("Thiết bị", "Devices"),
    "device": ("Thiết bị", "Device"),
    "site": ("Địa điểm", "Site"),
    "sites": ("Địa điểm", "Sites"),
    "business": ("Doanh nghiệp", "Business"),
    "status": ("Trạng thái", "Status"),
    "last_seen": ("Lần cuối", "Last seen"),
    "firmware": ("Phần mềm", "Firmware"),
    "config_version": ("Cấu hình", "Config"),
    "revocation_version": ("DS thu hồi", "Revocations"),
    "outbox": ("Hàng đợi", "Outbox"),
    "clock_drift": ("Lệch giờ", "Clock drift"),
    "drift": ("Lệch phiên bản", "Version drift"),
    "all": ("Tất cả", "All"),
    "filter": ("Lọc", "Filter"),
    "search_device": ("Mã thiết bị", "Device id"),
    "only_drift": ("Chỉ thiết bị lệch", "Drift only"),
    "page": ("Trang", "Page"),
    "prev": ("‹ Trước", "‹ Previous"),
    "next": ("Sau ›", "Next ›"),
    "of": ("trên", "of"),
    "total": ("Tổng", "Total"),
    "published": ("đã phát hành", "published"),
    "summary.online": ("Đang trực tuyến", "Online now"),
    "summary.offline": ("Mất kết nối", "Offline"),
    "summary.drift": ("Lệch cấu hình / thu hồi", "Config / revocation drift"),
    "summary.accepted24": ("Cho vào (24 giờ)", "Accepted (24 h)"),
    "summary.denied24": ("Từ chối (24 giờ)", "Denied (24 h)"),
    "summary.alerts": ("Cảnh báo đang mở", "Open alerts"),
    "rev_current": ("Phiên bản danh sách thu hồi hiện tại", "Current revocation list version"),
    "no_devices": ("Không có thiết bị nào.", "No devices."),
    "feed.title": ("Lượt quét trực tiếp", "Live scan feed"),
    "feed.hint": ("Chỉ hiển thị mã băm thẻ, kết quả và lý do — không có thông tin cá nhân.",
                  "Only the pass hash, verdict and reason are shown — no personal data."),
    "feed.live": ("Đang cập nhật trực tiếp", "Live"),
    "feed.nojs": ("Bật JavaScript để cập nhật trực tiếp; hoặc tải lại trang.",
                  "Enable JavaScript for live updates, or reload the page."),
    "time": ("Thời gian", "Time"),
    "pass_hash": ("Mã băm thẻ", "Pass hash"),
    "verdict": ("Kết quả", "Verdict"),
    "reason": ("Lý do", "Reason"),
    "accepted": ("Cho vào", "Accepted"),
    "denied": ("Từ chối", "Denied"),
    "charts.title": ("Lượt cho vào / từ chối theo thời gian", "Accepted / denied over time"),
    "charts.fleet": ("Toàn quận, theo giờ (giờ nhận)", "Whole district, per hour (time received)"),
    "charts.per_business": ("Theo doanh nghiệp", "Per business"),
    "charts.range": ("Khoảng thời gian", "Range"),
    "charts.24h": ("24 giờ", "24 hours"),
    "charts.7d": ("7 ngày", "7 days"),
    "charts.30d": ("30 ngày", "30 days"),
    "charts.top": ("Doanh nghiệp nhiều lượt quét nhất (24 giờ)", "Busiest businesses (24 h)"),
    "charts.empty": ("Chưa có dữ liệu.", "No data yet."),
    "charts.business_title": ("Doanh nghiệp {0}: theo giờ thiết bị", "Business {0}: by device time"),
    "alerts.title": ("Cảnh báo", "Alerts"),
    "alerts.open_only": ("Chỉ cảnh báo chưa xử lý", "Open only"),
    "alerts.ack": ("Xác nhận", "Acknowledge"),
    "alerts.acked": ("Đã xác nhận", "Acknowledged"),
    "alerts.evaluate": ("Kiểm tra toàn hệ thống", "Run fleet checks"),
    "alerts.none": ("Không có cảnh báo.", "No alerts."),
    "kind": ("Loại", "Kind"),
    "detail": ("Chi tiết", "Detail"),
    "created": ("Tạo lúc", "Created"),
    "alert.REVOKED_PRESENTED": ("Thẻ đã thu hồi được xuất trình", "Revoked pass presented"),
    "alert.DEVICE_OFFLINE": ("Thiết bị mất kết nối quá lâu", "Device offline too long"),
    "alert.CONFIG_DRIFT": ("Lệch cấu hình", "Configuration drift"),
    "alert.REVOCATION_DRIFT": ("Lệch danh sách thu hồi", "Revocation list drift"),
    "alert.CLOCK_DRIFT": ("Lệch đồng hồ", "Clock drift"),
    "alert.OUTBOX_BACKLOG": ("Hàng đợi gửi bị dồn", "Outbox backlog"),
    "alert.GATE_ERROR": ("Cổng lỗi nội bộ, có thể đang từ chối mọi thẻ",
                         "Gate internal error: it may be refusing every pass"),
    "alert.TAMPER": ("Nghi bị can thiệp", "Tamper"),
    "alert.CONTROL_REJECTED": ("Cổng từ chối thông điệp điều khiển (lùi phiên bản, sai phạm vi, "
                               "hết hạn, sai chữ ký, sai định dạng hoặc quá lớn)",
                               "Gate refused a control message (rollback, scope, expired, "
                               "signature, malformed or too large)"),
    "alerts.times": ("{0} lần, gần nhất", "{0} times, last"),
    "alert.INGEST_DEAD_LETTER": ("Tin nhắn của cổng bị từ chối, đã lưu riêng để kiểm tra",
                                 "Gate message refused and set aside (dead letter)"),
    "biz.title": ("Doanh nghiệp", "Businesses"),
    "biz.new": ("Thêm doanh nghiệp", "New business"),
    "biz.search": ("Tìm mã hoặc tên", "Search code or name"),
    "biz.none": ("Không có doanh nghiệp nào.", "No businesses."),
    "biz.id": ("Mã", "Code"),
    "biz.name": ("Tên", "Name"),
    "biz.sector": ("Ngành", "Sector"),
    "biz.address": ("Địa chỉ", "Address"),
    "biz.ward": ("Phường", "Ward"),
    "biz.zone": ("Vùng", "Zone"),
    "biz.mode": ("Phương án", "Operating mode"),
    "biz.conditions": ("Điều kiện", "Conditions"),
    "biz.two_doses": ("Tiêm đủ 2 mũi", "Two doses"),
    "biz.five_k": ("Thực hiện 5K", "5K rules"),
    "biz.plan": ("Phương án được duyệt", "Approved plan"),
    "biz.testing": ("Xét nghiệm định kỳ (ngày)", "Periodic testing (days)"),
    "biz.approve": ("Duyệt hoạt động", "Approve"),
    "biz.suspend": ("Tạm dừng", "Suspend"),
    "biz.reinstate": ("Cho hoạt động lại", "Reinstate"),
    "biz.suspended_reason": ("Lý do tạm dừng", "Suspension reason"),
    "bstatus.pending": ("Chờ duyệt", "Pending"),
    "bstatus.approved": ("Đang hoạt động", "Approved"),
    "bstatus.suspended": ("TẠM DỪNG", "SUSPENDED"),
    "bstatus.rejected": ("Bị từ chối", "Rejected"),
    "mode.3_tai_cho": ("3 tại chỗ", "3 on site"),
    "mode.1_cung_duong_2_diem_den": ("1 cung đường 2 điểm đến", "1 route, 2 places"),
    "zone.green": ("Xanh", "Green"),
    "zone.yellow": ("Vàng", "Yellow"),
    "zone.orange": ("Cam", "Orange"),
    "zone.red": ("Đỏ", "Red"),
    "site.new": ("Thêm địa điểm", "New site"),
    "site.capacity": ("Sức chứa", "Capacity"),
    "site.publish": ("Gửi lại cấu hình", "Push configuration"),
    "allow.title": ("Danh sách người lao động", "Worker allowlist"),
    "allow.draft": ("Đề xuất thêm", "Draft entry"),
    "allow.approve": ("Duyệt", "Approve"),
    "allow.reject": ("Từ chối", "Reject"),
    "allow.remove": ("Gỡ bỏ", "Remove"),
    "astatus.draft": ("Chờ quận duyệt", "Awaiting district"),
    "astatus.approved": ("Đã duyệt", "Approved"),
    "astatus.rejected": ("Bị từ chối", "Rejected"),
    "astatus.removed": ("Đã gỡ", "Removed"),
    "dev.commands": ("Lệnh điều khiển", "Commands"),
    "dev.cmd.sync": ("Đồng bộ ngay", "Sync now"),
    "dev.cmd.reboot": ("Khởi động lại", "Reboot"),
    "dev.cmd.open_gate": ("Mở cổng", "Open gate"),
    "dev.cmd.screenshot": ("Chụp màn hình", "Screenshot"),
    "dev.cmd.show_message": ("Hiện thông báo", "Show message"),
    "dev.msg_vi": ("Thông báo (tiếng Việt)", "Message (Vietnamese)"),
    "dev.msg_en": ("Thông báo (tiếng Anh)", "Message (English)"),
    "dev.queued": ("Đã xếp lệnh vào hàng đợi gửi.", "Command queued for sending."),
    "dev.screenshot": ("Ảnh màn hình gần nhất", "Latest screenshot"),
    "dev.move": ("Chuyển địa điểm", "Move to site"),
    "dev.retire": ("Ngừng sử dụng", "Retire"),
    "dev.tamper": ("Can thiệp", "Tamper"),
    "passes.title": ("Thẻ đi lại", "Passes"),
    "passes.issue": ("Cấp thẻ", "Issue a pass"),
    "passes.role": ("Đối tượng", "Role"),
    "passes.initials": ("Chữ cái đầu họ tên", "Initials"),
    "passes.birth_year": ("Năm sinh", "Birth year"),
    "passes.valid_days": ("Hiệu lực (ngày)", "Valid for (days)"),
    "passes.expires": ("Hết hạn", "Expires"),
    "passes.issued": ("Đã cấp thẻ. Mã QR chỉ hiển thị một lần — hãy in thẻ ngay.",
                      "Pass issued. The QR is shown once only — print the card now."),
    "passes.card": ("Tải thẻ in (PDF)", "Printable card (PDF)"),
    "passes.none": ("Chưa có thẻ.", "No passes yet."),
    "prole.0": ("Cư dân", "Resident"),
    "prole.1": ("Người lao động", "Worker"),
    "prole.2": ("Giao hàng", "Shipper"),
    "prole.3": ("Cán bộ / Tình nguyện viên", "Official / Volunteer"),
    "prole.4": ("Đi chợ hộ", "Shopping on behalf"),
    "pstatus.active": ("Còn hiệu lực", "Active"),
    "pstatus.revoked": ("Đã thu hồi", "Revoked"),
    "pstatus.f0": ("F0", "F0"),
    "rev.title": ("Danh sách thu hồi", "Revocation list"),
    "rev.new": ("Thu hồi thẻ", "Revoke a pass"),
    "rev.version": ("Phiên bản", "Version"),
    "rev.by": ("Người thực hiện", "By"),
    "rev.reason.F0": ("F0", "F0"),
    "rev.reason.LOST": ("Mất thẻ", "Lost"),
    "rev.reason.FRAUD": ("Gian lận", "Fraud"),
    "rev.reason.STATUS_CHANGED": ("Thay đổi tình trạng", "Status changed"),
    "rev.reason.OTHER": ("Khác", "Other"),
    "rev.state": ("Trạng thái", "State"),
    "rev.active": ("Đang thu hồi", "Revoked"),
    "rev.lifted": ("Đã gỡ thu hồi", "Lifted"),
    "rev.lift": ("Gỡ thu hồi", "Lift"),
    "rev.lift.ERROR": ("Thu hồi nhầm", "Revoked in error"),
    "rev.lift.RECOVERED": ("Đã khỏi bệnh", "Recovered"),
    "rev.lift.FOUND": ("Đã tìm lại thẻ", "Card found"),
    "rev.lift.OTHER": ("Khác", "Other"),
    "rev.lifted_done": ("Đã gỡ thu hồi; bản cập nhật đang được gửi tới mọi cổng.",
                        "Revocation lifted; the update is on its way to every gate."),
    "rev.done": ("Đã thu hồi; bản cập nhật đang được gửi tới mọi cổng.",
                 "Revoked; the update is on its way to every gate."),
    "f0.title": ("Quy trình F0", "F0 workflow"),
    "f0.mark": ("Đánh dấu F0 và thu hồi thẻ", "Mark F0 and revoke the pass"),
    "f0.steps": ("1. Đánh dấu F0 → 2. Thu hồi trên mọi cổng → 3. Danh sách tiếp xúc → "
                 "4. Tạm dừng doanh nghiệp liên quan → 5. Cho hoạt động lại",
                 "1. Mark F0 → 2. Revoked on every gate → 3. Exposure list → "
                 "4. Suspend affected businesses → 5. Reinstate"),
    "f0.days": ("Số ngày truy vết", "Look-back days"),
    "f0.hours": ("Khung giờ ± (giờ)", "Window ± (hours)"),
    "f0.case": ("Ca F0", "F0 case"),
    "f0.cases": ("Các ca F0", "F0 cases"),
    "f0.exposure": ("Danh sách tiếp xúc", "Exposure list"),
    "f0.visits": ("Lượt vào", "Visits"),
    "f0.contacts": ("Thẻ tiếp xúc", "Contact passes"),
    "f0.no_exposure": ("Không tìm thấy nơi thẻ này đã vào.", "No site admitted this pass."),
    "f0.suspend": ("Tạm dừng các doanh nghiệp liên quan", "Suspend affected businesses"),
    "f0.suspended": ("Đã tạm dừng", "Suspended"),
    "f0.close": ("Đóng ca", "Close case"),
    "f0.opened": ("Mở lúc", "Opened"),
    "f0.audit": ("Nhật ký thao tác", "Audit trail"),
    "audit.action": ("Thao tác", "Action"),
    "audit.actor": ("Người thực hiện", "By"),
    "cstatus.open": ("Đang xử lý", "Open"),
    "cstatus.closed": ("Đã đóng", "Closed"),
    "sector.takeaway_food": ("Bán đồ ăn mang đi", "Takeaway food"),
    "sector.supermarket": ("Siêu thị, cửa hàng tiện lợi", "Supermarket / convenience store"),
    "sector.pharmacy_clinic": ("Nhà thuốc, phòng khám", "Pharmacy / clinic"),
    "sector.medical_supply": ("Chuỗi dược phẩm, thiết bị y tế", "Pharmaceutical / medical supply"),
    "sector.food_production": ("Sản xuất thực phẩm", "Food production"),
    "sector.petrol_gas": ("Xăng dầu, gas", "Petrol / gas"),
    "sector.public_works": ("Công trình công cộng", "Public works"),
    "sector.ecommerce": ("Thương mại điện tử", "E-commerce"),
    "sector.building_maintenance": ("Bảo trì tòa nhà", "Building maintenance"),
    "sector.delivery_logistics": ("Giao hàng, vận tải, logistics", "Delivery / logistics"),
    "sector.finance": ("Tài chính, kho bạc", "Finance / treasury"),
    "sector.telecoms": ("Viễn thông", "Telecoms"),
    "sector.press": ("Báo chí", "Press"),
    "sector.it_services": ("Dịch vụ công nghệ thông tin", "IT services"),
    "sector.electricity": ("Điện lực", "Electricity"),
    "sector.post": ("Bưu chính", "Post"),
    "sector.public_utilities": ("Dịch vụ công ích", "Public utilities"),
    "sector.sanitation": ("Vệ sinh môi trường", "Sanitation"),
    "sector.funeral": ("Dịch vụ tang lễ", "Funeral services"),
    "sector.notary": ("Công chứng", "Notary"),
    "users.title": ("Người dùng", "Users"),
    "users.new": ("Thêm người dùng", "New user"),
    "users.search": ("Tìm tên đăng nhập hoặc mã doanh nghiệp", "Search username or business code"),
    "users.none": ("Không có người dùng nào.", "No users."),
    "users.role": ("Vai trò", "Role"),
    "users.language": ("Ngôn ngữ", "Language"),
    "users.state": ("Tình trạng", "State"),
    "users.deactivate": ("Khoá tài khoản", "Deactivate"),
    "users.activate": ("Mở khoá tài khoản", "Activate"),
    "users.deactivate_hint": ("Khoá tài khoản sẽ kết thúc ngay mọi phiên đăng nhập và mã kỹ thuật viên "
                              "của tài khoản.",
                              "Deactivating ends all its sessions and technician tokens at once."),
    "users.reset_password": ("Đặt lại mật khẩu", "Reset password"),
    "users.new_password": ("Mật khẩu mới", "New password"),
    "users.password_hint": ("Ít nhất 10 ký tự. Đặt lại mật khẩu sẽ đăng xuất người này khỏi mọi phiên.",
                            "At least 10 characters. A reset logs this user out everywhere."),
    "users.change": ("Vai trò, doanh nghiệp, ngôn ngữ", "Role, business, language"),
    "users.business_hint": ("Chỉ dành cho quản lý doanh nghiệp.", "Business managers only."),
    "users.you": ("bạn", "you"),
    "users.self_note": ("Đây là tài khoản của bạn: bạn không thể tự khoá hay tự bỏ quyền quản trị; "
                        "hãy đổi mật khẩu ở trang Tài khoản của tôi.",
                        "This is your own account: you cannot deactivate or demote yourself; "
                        "change your password on the My account page."),
    "users.sessions": ("Phiên đăng nhập đang mở", "Open sessions"),
    "users.tech_tokens": ("Mã kỹ thuật viên còn hạn", "Live technician tokens"),
    "users.last_login": ("Đăng nhập gần nhất", "Last log-in"),
    "users.trail": ("Lịch sử thay đổi", "Change history"),
    "users.no_changes": ("Chưa có thay đổi nào.", "No changes yet."),
    "ustatus.active": ("Đang hoạt động", "Active"),
    "ustatus.inactive": ("Đã khoá", "Deactivated"),
    "lang.vi": ("Tiếng Việt", "Vietnamese"),
    "lang.en": ("Tiếng Anh", "English"),
    "user.created": ("Đã tạo người dùng.", "User created."),
    "user.activated": ("Đã mở khoá tài khoản.", "Account activated."),
    "user.deactivated": ("Đã khoá tài khoản; mọi phiên đăng nhập của tài khoản đã kết thúc.",
                         "Account deactivated; all its sessions have ended."),
    "user.password_reset": ("Đã đặt lại mật khẩu; người dùng phải đăng nhập lại bằng mật khẩu mới.",
                            "Password reset; the user must log in again with the new password."),
    "user.updated": ("Đã cập nhật tài khoản.", "Account updated."),
    "user.password_changed": ("Đã đổi mật khẩu; các phiên đăng nhập khác của bạn đã kết thúc.",
                              "Password changed; your other sessions have ended."),
    "account.title": ("Tài khoản của tôi", "My account"),
    "account.change_password": ("Đổi mật khẩu", "Change password"),
    "account.current_password": ("Mật khẩu hiện tại", "Current password"),
    "account.new_password2": ("Nhập lại mật khẩu mới", "Repeat the new password"),
    "account.hint": ("Ít nhất 10 ký tự. Các phiên đăng nhập khác của bạn (máy khác, mã kỹ thuật viên) "
                     "sẽ kết thúc.",
                     "At least 10 characters. Your other sessions (other devices, technician tokens) "
                     "will end."),
    "save": ("Lưu", "Save"),
    "create": ("Tạo", "Create"),
    "actions": ("Thao tác", "Actions"),
    "view": ("Xem", "View"),
    "yes": ("Có", "Yes"),
    "no": ("Không", "No"),
    "none": ("—", "—"),
    "error": ("Lỗi", "Error"),
    "error.forbidden": ("Bạn không có quyền truy cập trang này.", "You may not open this page."),
    "error.csrf": ("Phiên biểu mẫu không hợp lệ, hãy tải lại trang và thử lại.",
                   "The form expired or is invalid: reload the page and try again."),
    "error.not_found": ("Không tìm thấy.", "Not found."),
    "error.back": ("Quay lại", "Go back"),
    # Fleet error codes shown in the page's language (context.error_page).
    "error.WEAK_PASSWORD": ("Mật khẩu phải có ít nhất 10 ký tự.",
                            "The password must be at least 10 characters."),
    "error.USER_EXISTS": ("Tên đăng nhập này đã tồn tại.", "This username already exists."),
    "error.BAD_ROLE": ("Vai trò không hợp lệ.", "Unknown role."),
    "error.BAD_LANGUAGE": ("Ngôn ngữ phải là tiếng Việt hoặc tiếng Anh.",
                           "The language must be Vietnamese or English."),
    "error.BAD_BUSINESS": ("Quản lý doanh nghiệp cần mã của một doanh nghiệp có thật; "
                           "các vai trò khác không thuộc doanh nghiệp nào.",
                           "A business manager needs the code of an existing business; "
                           "other roles belong to none."),
    "error.SELF_DEACTIVATE": ("Bạn không thể tự khoá tài khoản của mình.",
                              "You cannot deactivate your own account."),
    "error.SELF_DEMOTE": ("Bạn không thể tự bỏ quyền quản trị của mình.",
                          "You cannot remove your own administrator role."),
    "error.SELF_PASSWORD": ("Hãy đổi mật khẩu của mình ở trang Tài khoản của tôi (cần mật khẩu hiện tại).",
                            "Change your own password on the My account page (it needs the current one)."),
    "error.LAST_ADMIN": ("Không thể khoá hoặc hạ quyền quản trị viên cuối cùng đang hoạt động.",
                         "The last active administrator cannot be deactivated or demoted."),
    "error.WRONG_PASSWORD": ("Mật khẩu hiện tại không đúng.", "The current password is wrong."),
    "error.SAME_PASSWORD": ("Mật khẩu mới phải khác mật khẩu hiện tại.",
                            "The new password must differ from the current one."),
    "error.PASSWORD_MISMATCH": ("Hai lần nhập mật khẩu mới không khớp.",
                                "The two new passwords do not match."),
    "error.TOO_MANY_ATTEMPTS": ("Nhập sai mật khẩu quá nhiều lần. Vui lòng thử lại sau {0} giây.",
                                "Too many wrong passwords. Please try again in {0} s."),
    "done": ("Đã thực hiện.", "Done."),
    "lang.switch": ("English", "Tiếng Việt"),
    "read_only": ("Chỉ xem", "Read only"),
    "seconds": ("giây", "s"),
}

# -- dash-ops: alert handling, F0 case report, revocation lifts (issue 12) --
from .i18n_ops import TEXTS as _OPS_TEXTS  # noqa: E402

TEXTS.update(_OPS_TEXTS)
# -- end dash-ops --


@lru_cache(maxsize=1)
def _reason_texts() -> dict[int, tuple[str, str]]:
    """code -> (vi, en) from the gate's text table: a "GGT1" file made by
    tools/texts/gen_texts.py, where text ids 0..63 are the reason codes."""
    data = (FIRMWARE / "display" / "texts.bin").read_bytes()
    if data[:4] != b"GGT1":
        return {}
    n = int.from_bytes(data[4:6], "little")
    offsets = struct.unpack_from(f"<{2 * n + 1}H", data, 8)
    area = data[8 + 2 * len(offsets):]
    out = {}
    for code in range(min(n, 64)):
        a, b, c = offsets[2 * code:2 * code + 3]
        if a < c:
            out[code] = (area[a:b].decode(), area[b:c].decode())
    return out


def pick_lang(value: str | None) -> str | None:
    return value if value in LANGS else None


def t(lang: str, key: str, *args: object) -> str:
    pair = TEXTS.get(key)
    if pair is None:
        return key
    text = pair[1] if lang == "en" else pair[0]
    return text.format(*args) if args else text


def reason_text(lang: str, code: int) -> str:
    pair = _reason_texts().get(code)
    if pair is None:
        return ("Lý do khác ({0})" if lang != "en" else "Other reason ({0})").format(code)
    return pair[1] if lang == "en" else pair[0]


def reason_name(code: int) -> str:
    return reasons.name(code)
