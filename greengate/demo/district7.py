"""District 7 (Quận 7, Ho Chi Minh City), September 2021: the demo's world.

Businesses are invented but shaped like the ones the district let reopen
first (../shared/reference.md): priority sectors, one per ward, each with
its operating mode ("3 tại chỗ" or "1 cung đường 2 điểm đến"), its gate and
its rules (docs/protocol.md section 8). People are initials and birth years
only: passes carry no names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WARDS = ["Tân Thuận Đông", "Tân Thuận Tây", "Tân Kiểng", "Tân Hưng", "Bình Thuận",
         "Tân Quy", "Phú Thuận", "Tân Phú", "Tân Phong", "Phú Mỹ"]

# pass roles (greengate/passes/claims.py)
RESIDENT, WORKER, SHIPPER, OFFICIAL, SHOPPER = 0, 1, 2, 3, 4
THREE_ON_SITE, ONE_ROUTE = "3_tai_cho", "1_cung_duong_2_diem_den"


@dataclass(frozen=True)
class Business:
    id: str
    name: str
    sector: str
    ward: str
    address: str
    mode: str
    gate_vi: str
    gate_en: str
    admits: tuple[int, ...]          # roles the gate lets in
    capacity: int | None = None      # people inside at once (5K distancing)
    resident_slots: bool = False     # residents only in their ward's shopping slot
    workers: int = 4                 # worker passes issued; the last one is not allowlisted
    managers: tuple[str, ...] = field(default=())
    # the gate on the site map (WGS 84, plausible for the address in its ward)
    lat: float | None = None
    lon: float | None = None


# The first ones get gates (terminals) first; `greengate demo -n 6` uses six.
BUSINESSES = [
    Business("Q7-SM01", "Siêu thị Xanh Tân Phong", "supermarket", "Tân Phong",
             "25 Nguyễn Lương Bằng, P. Tân Phong", THREE_ON_SITE,
             "Cổng chính siêu thị", "Supermarket main gate",
             admits=(RESIDENT, WORKER, SHIPPER, SHOPPER), capacity=40, resident_slots=True,
             lat=10.7268, lon=106.7214),
    Business("Q7-PH02", "Nhà thuốc Bình An", "pharmacy_clinic", "Tân Hưng",
             "210 Nguyễn Thị Thập, P. Tân Hưng", ONE_ROUTE,
             "Cửa nhà thuốc", "Pharmacy door",
             admits=(RESIDENT, WORKER, OFFICIAL, SHOPPER), capacity=3, workers=2,
             lat=10.7405, lon=106.7005),
    Business("Q7-FP03", "Công ty TNHH Thực phẩm Sông Sài Gòn", "food_production", "Tân Thuận Đông",
             "Lô C12, KCX Tân Thuận, P. Tân Thuận Đông", THREE_ON_SITE,
             "Cổng nhà máy", "Factory gate", admits=(WORKER, OFFICIAL), workers=5,
             lat=10.7555, lon=106.742),
    Business("Q7-LG04", "Kho vận Tân Thuận Tây", "delivery_logistics", "Tân Thuận Tây",
             "68 Huỳnh Tấn Phát, P. Tân Thuận Tây", ONE_ROUTE,
             "Cổng kho hàng", "Warehouse gate", admits=(WORKER, SHIPPER, OFFICIAL),
             lat=10.752, lon=106.7255),
    Business("Q7-TA05", "Bếp cơm tấm mang về Tân Kiểng", "takeaway_food", "Tân Kiểng",
             "112 Trần Xuân Soạn, P. Tân Kiểng", ONE_ROUTE,
             "Quầy giao nhận", "Pick-up counter", admits=(WORKER, SHIPPER), capacity=6, workers=3,
             lat=10.75, lon=106.7085),
    Business("Q7-MS06", "Thiết bị Y tế Phú Mỹ", "medical_supply", "Phú Mỹ",
             "15 Đường số 1, KDC Phú Mỹ, P. Phú Mỹ", THREE_ON_SITE,
             "Cổng kho thiết bị", "Equipment store gate", admits=(WORKER, SHIPPER, OFFICIAL),
             lat=10.713, lon=106.7395),
    Business("Q7-EC07", "Trung tâm đơn hàng TMĐT Bình Thuận", "ecommerce", "Bình Thuận",
             "301 Huỳnh Tấn Phát, P. Bình Thuận", ONE_ROUTE,
             "Cổng phân loại", "Sorting hub gate", admits=(WORKER, SHIPPER),
             lat=10.7425, lon=106.727),
    Business("Q7-PG08", "Cửa hàng xăng dầu Tân Quy", "petrol_gas", "Tân Quy",
             "40 Lê Văn Lương, P. Tân Quy", ONE_ROUTE,
             "Cổng cửa hàng", "Station gate", admits=(WORKER, SHIPPER, OFFICIAL), workers=2,
             lat=10.7445, lon=106.704),
    Business("Q7-CL09", "Phòng khám đa khoa Tân Phú", "pharmacy_clinic", "Tân Phú",
             "5 Nguyễn Văn Linh, P. Tân Phú", THREE_ON_SITE,
             "Sảnh tiếp đón", "Reception", admits=(RESIDENT, WORKER, OFFICIAL), capacity=10,
             lat=10.7282, lon=106.73),
    Business("Q7-FP10", "Cơ sở bánh mì Phú Thuận", "food_production", "Phú Thuận",
             "77 Phạm Hữu Lầu, P. Phú Thuận", THREE_ON_SITE,
             "Cổng xưởng", "Bakery gate", admits=(WORKER, SHIPPER), workers=3,
             lat=10.7245, lon=106.741),
]

# Initials and birth years of the people the demo issues passes to.
RESIDENTS = [("NVA", 1962), ("TTB", 1988), ("LVC", 1975), ("PTD", 1991), ("HMT", 1983),
             ("VTL", 1958), ("ĐQH", 1979), ("BTN", 1996), ("NTH", 1969), ("TQK", 2001)]
ELDERLY = [("NTM", 1941), ("LVT", 1946), ("PTX", 1950)]   # no smartphone: printed cards
SHOPPERS = [("ĐVT", 1993), ("NHL", 1998)]                  # "đi chợ hộ" volunteers
SHIPPERS = [("TVS", 1995), ("LMQ", 1990), ("HĐP", 1987)]
OFFICIALS = [("PVĐ", 1976)]
WORKER_INITIALS = ["NVB", "TTC", "LHD", "PQE", "VMG", "ĐTK", "HNL", "BVM", "TĐN", "NQP"]
