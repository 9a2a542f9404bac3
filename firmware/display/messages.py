# Texts shown on the gate display: Vietnamese (full diacritics) first, then
# English. Reason texts cover every code in verify/reasons.py (a test checks
# it); an unknown code still gets a generic text with the number.
from verify import reasons

# (Vietnamese, English), indexed by reason code 0..29
_SCAN = (
    ("Hợp lệ", "Valid"),                                                # OK
    ("Không phải mã GreenGate", "Not a GreenGate code"),                # PREFIX
    ("Mã QR bị lỗi", "Damaged QR code"),                                # BASE45
    ("Mã QR bị lỗi (nén)", "Damaged QR code (compression)"),            # INFLATE
    ("Dữ liệu thẻ bị lỗi", "Damaged pass data"),                        # CBOR
    ("Khối chữ ký bị lỗi", "Damaged signature block"),                  # COSE
    ("Thuật toán ký không hỗ trợ", "Unsupported signature algorithm"),  # ALG
    ("Nơi cấp không được tin cậy", "Unknown issuer"),                   # KID_UNKNOWN
    ("Chữ ký không hợp lệ", "Invalid signature"),                       # SIGNATURE
    ("Thông tin thẻ thiếu hoặc sai", "Pass data missing or invalid"),   # CLAIMS
    ("Hết hạn", "Expired"),                                             # EXPIRED
    ("Chưa đến ngày hiệu lực", "Not valid yet"),                        # NOT_YET_VALID
    ("Đã bị thu hồi", "Revoked"),                                       # REVOKED
    ("Dữ liệu thiết bị quá cũ", "Device data out of date"),             # OUT_OF_SYNC
    ("Đối tượng không được vào", "Role not admitted here"),             # ROLE
    ("Chưa đủ điều kiện tiêm chủng", "Vaccination requirement not met"),  # VACCINATION
    ("Không có xét nghiệm âm tính còn hạn", "No valid negative test"),  # TEST
    ("F0 hoặc xét nghiệm dương tính", "F0 or positive test"),           # F0
    ("Thiếu khai báo y tế mới", "Health declaration missing or old"),   # HEALTH_DECL
    ("Ngoài giờ mở cửa", "Outside opening hours"),                      # HOURS
    ("Thẻ của doanh nghiệp khác", "Pass for another business"),         # WRONG_BUSINESS
    ("Không có trong danh sách", "Not on the approved list"),           # NOT_LISTED
    ("Đã đủ người", "Site full"),                                       # CAPACITY
    ("Thẻ vừa được quét", "Pass already used just now"),                # DUPLICATE
    ("Địa điểm tạm dừng hoạt động", "Site suspended"),                  # SUSPENDED
    ("Vùng không được phép vào", "Zone not admitted"),                  # ZONE
    ("Lỗi quy tắc cấu hình", "Configuration rule error"),               # RULE_ERROR
    ("Thiết bị chưa được cài đặt", "Device not set up"),                # NOT_PROVISIONED
    ("Đồng hồ thiết bị chưa đúng", "Device clock not set"),             # CLOCK
    ("Lỗi hệ thống", "Internal error"),                                 # INTERNAL
)
# codes 40..46: refused control messages (shown on the operator message line)
_CTRL = (
    ("Lệnh không có chữ ký", "Unsigned command"),                       # CTRL_UNSIGNED
    ("Chữ ký lệnh không hợp lệ", "Invalid command signature"),          # CTRL_SIGNATURE
    ("Phiên bản cũ hơn bản đang dùng", "Older version refused"),        # CTRL_ROLLBACK
    ("Phiên bản đã được áp dụng", "Version already applied"),           # CTRL_REPLAY
    ("Lệnh đã hết hạn", "Command expired"),                             # CTRL_EXPIRED
    ("Lệnh sai định dạng", "Malformed command"),                        # CTRL_MALFORMED
    ("Lệnh dành cho thiết bị khác", "Command for another device"),      # CTRL_SCOPE
)
_CTRL_BASE = 40

# pass role claim (docs/pass-format.md key 1)
ROLES = (
    ("Cư dân", "Resident"),
    ("Người lao động", "Worker"),
    ("Shipper / Giao hàng", "Delivery"),
    ("Cán bộ / Tình nguyện viên", "Official / Volunteer"),
    ("Đi chợ hộ", "Shopping on behalf"),
)

# fixed screen texts: (Vietnamese, English)
ACCEPT = ("MỜI VÀO", "Welcome")
DENY = ("TỪ CHỐI", "Denied")
BORN = ("Sinh năm", "Born")
OUT_OF_SYNC = ("MẤT ĐỒNG BỘ", "Out of sync")
OUT_OF_SYNC_HINT = ("Chờ cập nhật dữ liệu", "Waiting for a data update")
SUSPENDED = ("TẠM DỪNG", "Suspended")
SUSPENDED_HINT = ("Địa điểm đang đóng cửa", "This site is closed for now")
FULL = ("ĐÃ ĐỦ NGƯỜI", "Site full")
FULL_HINT = ("Vui lòng chờ", "Please wait")
SETUP = ("CÀI ĐẶT", "Setup")
SETUP_HINT = ("Cắm cáp USB để cài đặt", "Connect USB to set up")
DEVICE = ("Mã thiết bị", "Device ID")
ERROR = ("LỖI", "Error")
MESSAGE = ("THÔNG BÁO", "Message")
ONLINE = ("Trực tuyến", "Online")
OFFLINE = ("Ngoại tuyến", "Offline")
CONFIG = ("Cấu hình", "Config")
REVOCATION = ("DS thu hồi", "Revoked list")
QUEUE = ("Chờ gửi", "Queued")
SCAN_HINT = ("Mời quét mã QR", "Please scan your QR code")


def reason(code):
    """(Vietnamese, English) text for a reason code; never raises."""
    if isinstance(code, int):
        if 0 <= code < len(_SCAN):
            return _SCAN[code]
        if _CTRL_BASE <= code < _CTRL_BASE + len(_CTRL):
            return _CTRL[code - _CTRL_BASE]
    return ("Từ chối (mã %s)" % (code,), "Denied (code %s)" % (code,))


def role(code):
    """(Vietnamese, English) name of a pass role; unknown roles get a number."""
    if isinstance(code, int) and 0 <= code < len(ROLES):
        return ROLES[code]
    return ("Vai trò %s" % (code,), "Role %s" % (code,))


def known_reason_codes():
    """Every code verify/reasons.py defines (for tests and tools)."""
    out = []
    for c in range(0, 64):
        if reasons.name(c) != "UNKNOWN":
            out.append(c)
    return out
