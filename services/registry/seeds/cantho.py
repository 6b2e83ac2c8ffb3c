"""Seed scenarios: Cần Thơ as the seed article describes it (2021) and after the 2025 reorganisation.

Facts from the article (DESIGN §1): 123 agencies, all announced — 29 mandatory (the city People's
Committee, its 9 district committees, 19 departments) and 94 encouraged (the Political School,
83 commune / ward / township committees, 10 units under departments); in the first half of 2021,
45 units were updating or expanding their ISO scope, 9 had re-announced and 36 were reviewing.

The names of districts, wards and communes are those of the city's 2020 map; agency codes follow
the QCVN 102:2016 shape (``000.<unit>.<parent unit>.H13``) but are illustrative, not the official
list. Procedures are real rows of the national catalogue (code, name, field, level, time, deciding
act) — byte for byte what the catalogue import produces, so both agree. Every date is fixed: the
scenarios are deterministic, and applying one twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from services.registry.domain.agencies import default_obligation
from services.registry.domain.iso_process import capacity_hours
from shared.calendar import DurationUnit
from shared.contracts.registry import (
    AgencyLevel,
    AgencyRecord,
    IsoProcessRecord,
    IsoStep,
    ProcedureRecord,
    QmsRecord,
    QmsReview,
    QmsState,
    QmsTransition,
    QualityObjective,
    QualityPolicy,
    StatutoryTime,
    StepBudget,
)

PROVINCE = "H13"
CITY = f"000.00.00.{PROVINCE}"
HOURS_PER_DAY = Decimal(8)  # the default office hours; budgets are cut to fit them exactly

# --- procedures (real rows of ../shared/data/tthc_catalog.csv) -----------------------------------

_PROCEDURES: list[tuple[str, str, str, str, str, str, str]] = [
    ("1.004837", "Thủ tục đăng ký giám hộ", "Hộ tịch", "Cấp xã", "3", "working_days", "163/QĐ-BTP"),
    ("1.004845", "Thủ tục đăng ký chấm dứt giám hộ", "Hộ tịch", "Cấp xã", "2", "working_days", "163/QĐ-BTP"),
    (
        "1.003583",
        "Thủ tục đăng ký khai sinh lưu động",
        "Hộ tịch",
        "Cấp xã",
        "5",
        "working_days",
        "163/QĐ-BTP",
    ),
    ("1.000593", "Thủ tục đăng ký kết hôn lưu động", "Hộ tịch", "Cấp xã", "5", "working_days", "163/QĐ-BTP"),
    ("1.000419", "Thủ tục đăng ký khai tử lưu động", "Hộ tịch", "Cấp xã", "5", "working_days", "163/QĐ-BTP"),
    (
        "2.000908",
        "Thủ tục cấp bản sao từ sổ gốc",
        "Chứng thực",
        "Cấp bộ, Cấp tỉnh, Cấp xã, Cơ quan khác",
        "1",
        "working_days",
        "858/QĐ-BTP",
    ),
    (
        "1.002211",
        "Thủ tục công nhận hòa giải viên (cấp xã)",
        "Hòa giải ở cơ sở",
        "Cấp xã",
        "5",
        "working_days",
        "QĐ2338-BTP",
    ),
    (
        "2.000930",
        "Thủ tục thôi làm hòa giải viên (cấp xã)",
        "Hòa giải ở cơ sở",
        "Cấp xã",
        "5",
        "working_days",
        "QĐ2338-BTP",
    ),
    (
        "2.000950",
        "Thủ tục công nhận tổ trưởng tổ hòa giải (cấp xã)",
        "Hòa giải ở cơ sở",
        "Cấp xã",
        "5",
        "working_days",
        "QĐ2338-BTP",
    ),
    (
        "2.001255",
        "Đăng ký lại việc nuôi con nuôi trong nước",
        "Nuôi con nuôi",
        "Cấp xã",
        "5",
        "working_days",
        "1848/QĐ-BTP",
    ),
    ("1.012812", "Hòa giải tranh chấp đất đai", "Đất đai", "Cấp xã", "30", "calendar_days", "2304/QĐ-BNNMT"),
    (
        "1.012796",
        "Đính chính Giấy chứng nhận đã cấp lần đầu có sai sót",
        "Đất đai",
        "Cấp xã",
        "8",
        "working_days",
        "2304/QĐ-BNNMT",
    ),
    (
        "1.013225",
        "Cấp giấy phép xây dựng mới đối với công trình cấp III, cấp IV (Công trình không theo tuyến/Theo "
        "tuyến trong đô thị/Tín ngưỡng, tôn giáo/Tượng đài, tranh hoành tráng/Theo giai đoạn cho công "
        "trình không theo tuyến/Theo giai đoạn cho công trình theo tuyến trong đô thị/Dự án) và nhà ở "
        "riêng lẻ",
        "Hoạt động xây dựng",
        "Cấp xã, Cơ quan khác",
        "20",
        "calendar_days",
        "56/QĐ-BXD",
    ),
    (
        "1.013227",
        "Gia hạn giấy phép xây dựng đối với công trình cấp III, cấp IV (công trình Không theo tuyến/Theo "
        "tuyến trong đô thị/Tín ngưỡng, tôn giáo/Tượng đài, tranh hoành tráng/Sửa chữa, cải tạo/Theo giai "
        "đoạn cho công trình không theo tuyến/Theo giai đoạn cho công trình theo tuyến trong đô thị/Dự án) "
        "và nhà ở riêng lẻ",
        "Hoạt động xây dựng",
        "Cấp xã, Cơ quan khác",
        "5",
        "working_days",
        "56/QĐ-BXD",
    ),
    (
        "1.013228",
        "Cấp lại giấy phép xây dựng đối với công trình cấp III, cấp IV (công trình Không theo tuyến/Theo "
        "tuyến trong đô thị/Tín ngưỡng, tôn giáo/Tượng đài, tranh hoành tráng/Sửa chữa, cải tạo/Theo giai "
        "đoạn cho công trình không theo tuyến/Theo giai đoạn cho công trình theo tuyến trong đô thị/Dự án) "
        "và nhà ở riêng lẻ",
        "Hoạt động xây dựng",
        "Cấp xã, Cơ quan khác",
        "5",
        "working_days",
        "56/QĐ-BXD",
    ),
    (
        "1.013229",
        "Cấp giấy phép xây dựng sửa chữa, cải tạo đối với công trình cấp III, cấp IV (công trình Không theo "
        "tuyến/Theo tuyến trong đô thị/Tín ngưỡng, tôn giáo/Tượng đài, tranh hoành tráng/Theo giai đoạn cho "
        "công trình không theo tuyến/Theo giai đoạn cho công trình theo tuyến trong đô thị/Dự án) và nhà ở "
        "riêng lẻ:",
        "Hoạt động xây dựng",
        "Cấp xã, Cơ quan khác",
        "20",
        "calendar_days",
        "56/QĐ-BXD",
    ),
    (
        "1.001695",
        "Thủ tục đăng ký khai sinh kết hợp đăng ký nhận cha, mẹ, con có yếu tố nước ngoài",
        "Hộ tịch",
        "Cấp xã",
        "10",
        "calendar_days",
        "163/QĐ-BTP",
    ),
    (
        "2.000779",
        "Thủ tục đăng ký nhận cha, mẹ, con có yếu tố nước ngoài",
        "Hộ tịch",
        "Cấp xã",
        "10",
        "calendar_days",
        "163/QĐ-BTP",
    ),
    (
        "2.000756",
        "Thủ tục đăng ký chấm dứt giám hộ có yếu tố nước ngoài",
        "Hộ tịch",
        "Cấp xã",
        "2",
        "working_days",
        "163/QĐ-BTP",
    ),
    (
        "3.000333",
        "Cấp Phiếu Lý lịch tư pháp cho công dân Việt Nam, người nước ngoài đang cư trú tại Việt Nam, "
        "người Việt Nam đang cư trú ở nước ngoài",
        "Lý lịch tư pháp",
        "Cấp tỉnh",
        "10",
        "calendar_days",
        "1025/QĐ-BCA",
    ),
    (
        "1.008907",
        "Cấp Giấy phép thành lập Trung tâm hòa giải thương mại",
        "Hòa giải thương mại",
        "Cấp tỉnh",
        "20",
        "working_days",
        "1940/QĐ-BTP",
    ),
    (
        "1.003179",
        "Đăng ký lại việc nuôi con nuôi có yếu tố nước ngoài",
        "Nuôi con nuôi",
        "Cấp tỉnh",
        "5",
        "working_days",
        "1848/QĐ-BTP",
    ),
    ("1.004756", "Cấp Chứng chỉ hành nghề thú y", "Thú y", "Cấp tỉnh", "5", "working_days", "1649/QĐ-BNNMT"),
    (
        "1.001686",
        "Cấp Giấy chứng nhận đủ điều kiện buôn bán thuốc thú y",
        "Thú y",
        "Cấp tỉnh",
        "7",
        "working_days",
        "1649/QĐ-BNNMT",
    ),
    (
        "1.007927",
        "Cấp Giấy chứng nhận đủ điều kiện sản xuất phân bón",
        "Trồng trọt và Bảo vệ thực vật",
        "Cấp tỉnh",
        "20",
        "working_days",
        "278/QĐ-BNNMT",
    ),
    (
        "1.004122",
        "Cấp giấy phép hành nghề khoan nước dưới đất",
        "Tài nguyên nước",
        "Cấp tỉnh",
        "13",
        "working_days",
        "248/QĐ-BNNMT",
    ),
    (
        "1.005319",
        "Cấp lại Chứng chỉ hành nghề thú y",
        "Thú y",
        "Cấp tỉnh",
        "3",
        "working_days",
        "277/QĐ-BNNMT",
    ),
]

# Who resolves what, in 2021 (before the 2025 reorganisation moved much of it to communes).
COMMUNE_PROCEDURES = (
    "1.004837",
    "1.004845",
    "1.003583",
    "1.000593",
    "1.000419",
    "2.000908",
    "1.002211",
    "2.000930",
    "2.000950",
    "2.001255",
    "1.012812",
)
DISTRICT_PROCEDURES = (
    "1.013225",
    "1.013227",
    "1.013228",
    "1.013229",
    "1.001695",
    "2.000779",
    "2.000756",
    "1.012796",
)
# department index → procedures resolved there (Sở Tư pháp = 2, Sở TN&MT = 9)
DEPARTMENT_PROCEDURES = {2: ("3.000333", "1.008907", "1.003179"), 9: ("1.004122",)}
# unit under a department (its index in UNITS) → procedures
UNIT_PROCEDURES = {1: ("1.004756", "1.005319", "1.001686"), 2: ("1.007927",)}


def procedures() -> list[ProcedureRecord]:
    return [
        ProcedureRecord(
            code=code,
            name=name,
            field=field_,
            level=level,
            statutory_time=StatutoryTime(value=Decimal(value), unit=DurationUnit(unit)),
            legal_basis=basis,
        )
        for code, name, field_, level, value, unit, basis in _PROCEDURES
    ]


# --- agencies ----------------------------------------------------------------------------------

DEPARTMENTS = (
    "Văn phòng Ủy ban nhân dân thành phố",
    "Sở Tư pháp",
    "Sở Nội vụ",
    "Sở Kế hoạch và Đầu tư",
    "Sở Tài chính",
    "Sở Công Thương",
    "Sở Nông nghiệp và Phát triển nông thôn",
    "Sở Giao thông vận tải",
    "Sở Tài nguyên và Môi trường",
    "Sở Xây dựng",
    "Sở Thông tin và Truyền thông",
    "Sở Lao động - Thương binh và Xã hội",
    "Sở Văn hóa, Thể thao và Du lịch",
    "Sở Khoa học và Công nghệ",
    "Sở Giáo dục và Đào tạo",
    "Sở Y tế",
    "Sở Ngoại vụ",
    "Thanh tra thành phố",
    "Ban Dân tộc",
)
# (name, index of the parent department in DEPARTMENTS, counted from 1)
UNITS = (
    ("Chi cục Chăn nuôi và Thú y", 7),
    ("Chi cục Trồng trọt và Bảo vệ thực vật", 7),
    ("Chi cục Thủy sản", 7),
    ("Chi cục Thủy lợi", 7),
    ("Chi cục Quản lý chất lượng Nông lâm sản và Thủy sản", 7),
    ("Văn phòng Đăng ký đất đai", 9),
    ("Chi cục Tiêu chuẩn Đo lường Chất lượng", 14),
    ("Chi cục An toàn vệ sinh thực phẩm", 16),
    ("Chi cục Dân số - Kế hoạch hóa gia đình", 16),
    ("Ban Thi đua - Khen thưởng", 3),
)
# district name → its communes, wards (phường) and townships (thị trấn)
DISTRICTS: dict[str, tuple[str, ...]] = {
    "Quận Ninh Kiều": tuple(
        f"Phường {n}"
        for n in (
            "Cái Khế",
            "An Hòa",
            "Thới Bình",
            "An Nghiệp",
            "An Cư",
            "Tân An",
            "An Phú",
            "Xuân Khánh",
            "Hưng Lợi",
            "An Khánh",
            "An Bình",
        )
    ),
    "Quận Bình Thủy": tuple(
        f"Phường {n}"
        for n in (
            "Bình Thủy",
            "Trà An",
            "Trà Nóc",
            "Thới An Đông",
            "An Thới",
            "Bùi Hữu Nghĩa",
            "Long Hòa",
            "Long Tuyền",
        )
    ),
    "Quận Cái Răng": tuple(
        f"Phường {n}"
        for n in ("Lê Bình", "Hưng Phú", "Hưng Thạnh", "Ba Láng", "Thường Thạnh", "Phú Thứ", "Tân Phú")
    ),
    "Quận Ô Môn": tuple(
        f"Phường {n}"
        for n in (
            "Châu Văn Liêm",
            "Thới Hòa",
            "Thới Long",
            "Long Hưng",
            "Thới An",
            "Phước Thới",
            "Trường Lạc",
        )
    ),
    "Quận Thốt Nốt": tuple(
        f"Phường {n}"
        for n in (
            "Thốt Nốt",
            "Thới Thuận",
            "Thuận An",
            "Tân Lộc",
            "Trung Nhứt",
            "Thạnh Hoà",
            "Trung Kiên",
            "Tân Hưng",
            "Thuận Hưng",
        )
    ),
    "Huyện Phong Điền": (
        "Thị trấn Phong Điền",
        *(f"Xã {n}" for n in ("Nhơn Ái", "Giai Xuân", "Tân Thới", "Trường Long", "Mỹ Khánh", "Nhơn Nghĩa")),
    ),
    "Huyện Cờ Đỏ": (
        "Thị trấn Cờ Đỏ",
        *(
            f"Xã {n}"
            for n in (
                "Thạnh Phú",
                "Trung Hưng",
                "Trung An",
                "Trung Thạnh",
                "Thới Hưng",
                "Đông Hiệp",
                "Đông Thắng",
                "Thới Đông",
                "Thới Xuân",
            )
        ),
    ),
    "Huyện Thới Lai": (
        "Thị trấn Thới Lai",
        *(
            f"Xã {n}"
            for n in (
                "Thới Thạnh",
                "Tân Thạnh",
                "Xuân Thắng",
                "Đông Bình",
                "Đông Thuận",
                "Thới Tân",
                "Trường Thắng",
                "Định Môn",
                "Trường Thành",
                "Trường Xuân",
                "Trường Xuân A",
                "Trường Xuân B",
            )
        ),
    ),
    "Huyện Vĩnh Thạnh": (
        "Thị trấn Vĩnh Thạnh",
        "Thị trấn Thạnh An",
        *(
            f"Xã {n}"
            for n in (
                "Thạnh Thắng",
                "Thạnh Lợi",
                "Thạnh Quới",
                "Thạnh Tiến",
                "Thạnh An",
                "Thạnh Mỹ",
                "Thạnh Lộc",
                "Vĩnh Trinh",
                "Vĩnh Bình",
            )
        ),
    ),
}


def department_code(index: int, province: str = PROVINCE) -> str:
    return f"000.00.{index:02d}.{province}"


def district_code(index: int) -> str:
    return f"000.00.{30 + index:02d}.{PROVINCE}"


def commune_code(district_index: int, index: int) -> str:
    return f"000.{index:02d}.{30 + district_index:02d}.{PROVINCE}"


def unit_code(index: int) -> str:
    _, parent = UNITS[index - 1]
    return f"000.{20 + index:02d}.{parent:02d}.{PROVINCE}"


POLITICAL_SCHOOL = f"000.00.40.{PROVINCE}"


def _agency(code: str, name: str, level: AgencyLevel, parent: str | None, **more: object) -> AgencyRecord:
    return AgencyRecord.model_validate(
        {
            "code": code,
            "name": name,
            "level": level,
            "parent_code": parent,
            "iso_obligation": default_obligation(level),
            **more,
        }
    )


def agencies_2021() -> list[AgencyRecord]:
    """The 123 agencies, parents before children."""
    out = [_agency(CITY, "Ủy ban nhân dân thành phố Cần Thơ", AgencyLevel.PROVINCE, None)]
    out += [
        _agency(department_code(i), n, AgencyLevel.DEPARTMENT, CITY) for i, n in enumerate(DEPARTMENTS, 1)
    ]
    for d, (district, communes) in enumerate(DISTRICTS.items(), 1):
        out.append(_agency(district_code(d), f"Ủy ban nhân dân {district}", AgencyLevel.DISTRICT, CITY))
        out += [
            _agency(commune_code(d, c), f"Ủy ban nhân dân {name}", AgencyLevel.COMMUNE, district_code(d))
            for c, name in enumerate(communes, 1)
        ]
    out.append(
        _agency(POLITICAL_SCHOOL, "Trường Chính trị thành phố Cần Thơ", AgencyLevel.PUBLIC_SERVICE_UNIT, CITY)
    )
    out += [
        _agency(unit_code(i), name, AgencyLevel.PUBLIC_SERVICE_UNIT, department_code(parent))
        for i, (name, parent) in enumerate(UNITS, 1)
    ]
    return out


# --- ISO processes -----------------------------------------------------------------------------

# (code, name, unit role, share of the statutory time); the shares of a process add up to 1
_STEP_PLAN = (
    ("B1", "Tiếp nhận, kiểm tra hồ sơ, chuyển xử lý", "reception", Decimal("0.125")),
    ("B2", "Thẩm định hồ sơ, trình ký kết quả", "specialist", Decimal("0.5")),
    ("B3", "Xem xét, ký duyệt kết quả", "leader", Decimal("0.25")),
    ("B4", "Vào sổ, đóng dấu, chuyển Bộ phận Một cửa trả kết quả", "reception", Decimal("0.125")),
)
_UNITS_BY_LEVEL = {
    AgencyLevel.COMMUNE: {"reception": "BPMC", "leader": "LD-UBND"},
    AgencyLevel.DISTRICT: {"reception": "BPMC", "leader": "LD-UBND"},
    AgencyLevel.DEPARTMENT: {"reception": "TTPVHCC", "leader": "LD-SO"},
    AgencyLevel.PUBLIC_SERVICE_UNIT: {"reception": "BPMC", "leader": "LD-CC"},
}
# the unit of the specialist who appraises, per field
_SPECIALIST = {
    "Hộ tịch": "TP-HT",
    "Chứng thực": "TP-HT",
    "Hòa giải ở cơ sở": "TP-HT",
    "Nuôi con nuôi": "TP-HT",
    "Đất đai": "DC-XD",
    "Hoạt động xây dựng": "P.QLDT",
    "Lý lịch tư pháp": "P.HCTP",
    "Hòa giải thương mại": "P.BTTP",
    "Thú y": "P.TY",
    "Trồng trọt và Bảo vệ thực vật": "P.BVTV",
    "Tài nguyên nước": "P.TNN",
}
_HALF_HOUR = Decimal("0.5")


def _budgets(total_hours: Decimal) -> list[Decimal]:
    """Shares of ``total_hours`` rounded down to half hours; the appraisal takes the rest."""
    budgets = [
        max(
            _HALF_HOUR,
            (total_hours * share / _HALF_HOUR).to_integral_value(rounding=ROUND_FLOOR) * _HALF_HOUR,
        )
        for *_, share in _STEP_PLAN
    ]
    budgets[1] = total_hours - sum(b for i, b in enumerate(budgets) if i != 1)
    return [Decimal(int(b)) if b == b.to_integral_value() else b for b in budgets]


def process_for(
    agency: AgencyRecord, procedure: ProcedureRecord, version: int, effective_from: date
) -> IsoProcessRecord:
    """A realistic one-stop-shop process: receive, appraise, approve, return — budgets that use
    exactly the time the statutory time guarantees."""
    units = {**_UNITS_BY_LEVEL[agency.level], "specialist": _SPECIALIST[procedure.field or ""]}
    total = capacity_hours(procedure.statutory_time, HOURS_PER_DAY)
    steps = [
        IsoStep(
            code=code,
            name=name,
            responsible_unit=units[role],
            budget=StepBudget(value=hours, unit=DurationUnit.WORKING_HOURS),
        )
        for (code, name, role, _), hours in zip(_STEP_PLAN, _budgets(total), strict=True)
    ]
    return IsoProcessRecord(
        agency_code=agency.code,
        procedure_code=procedure.code,
        version=version,
        effective_from=effective_from,
        steps=tuple(steps),
    )


def _assignments(agencies: list[AgencyRecord]) -> dict[str, tuple[str, ...]]:
    """Agency code → procedures it resolves (2021)."""
    out: dict[str, tuple[str, ...]] = {}
    for a in agencies:
        if a.level is AgencyLevel.COMMUNE:
            out[a.code] = COMMUNE_PROCEDURES
        elif a.level is AgencyLevel.DISTRICT:
            out[a.code] = DISTRICT_PROCEDURES
    for index, codes in DEPARTMENT_PROCEDURES.items():
        out[department_code(index)] = codes
    for index, codes in UNIT_PROCEDURES.items():
        out[unit_code(index)] = codes
    return out


# --- QMS -----------------------------------------------------------------------------------------


def _spread(i: int, first: date, days: int) -> date:
    """A fixed date in [first, first + days) chosen by ``i`` (deterministic, looks irregular)."""
    return date.fromordinal(first.toordinal() + (i * 37) % days)


def _qms(
    agency: AgencyRecord, i: int, scope: tuple[str, ...], updating: bool, reannounced: bool
) -> QmsRecord:
    mandatory = agency.iso_obligation.value == "mandatory"
    announced_on = _spread(i, date(2019, 3, 1) if mandatory else date(2019, 9, 1), 400)
    transitions = [
        QmsTransition(state=QmsState.BUILDING, on=_spread(i, date(2018, 1, 2), 120)),
        QmsTransition(state=QmsState.APPLYING, on=_spread(i, date(2018, 7, 2), 150)),
        QmsTransition(state=QmsState.ANNOUNCED, on=announced_on, document=f"{100 + i}/QĐ-UBND"),
    ]
    state = QmsState.ANNOUNCED
    if updating:  # every update starts in the first quarter of 2021 (inside 2021-H1)
        transitions.append(QmsTransition(state=QmsState.UPDATING, on=_spread(i, date(2021, 1, 11), 75)))
        state = QmsState.UPDATING
    if reannounced:  # and the nine re-announcements land in May-June 2021
        transitions.append(
            QmsTransition(
                state=QmsState.REANNOUNCED, on=_spread(i, date(2021, 5, 4), 55), document=f"{500 + i}/QĐ-UBND"
            )
        )
        state = QmsState.REANNOUNCED
    target = Decimal("0.98") if mandatory else Decimal("0.95")
    return QmsRecord(
        agency_code=agency.code,
        state=state,
        transitions=tuple(transitions),
        scope=scope,
        policy=QualityPolicy(
            issued_on=transitions[1].on, posted_at_office=True, posted_on_website=mandatory or i % 3 == 0
        ),
        objectives=(
            QualityObjective(year=2021, metric="on_time_rate", target=target),
            QualityObjective(year=2021, metric="satisfaction_rate", target=Decimal("0.90")),
        ),
        reviews=(
            QmsReview(kind="internal_audit", held_on=_spread(i, date(2020, 10, 1), 45), findings=i % 4),
            QmsReview(kind="management_review", held_on=_spread(i, date(2020, 12, 1), 25), findings=0),
            *(
                (QmsReview(kind="internal_audit", held_on=_spread(i, date(2021, 4, 1), 60), findings=i % 3),)
                if updating
                else ()
            ),
        ),
    )


def updating_units(agencies: list[AgencyRecord]) -> tuple[set[str], set[str]]:
    """(the 45 units updating or expanding in 2021-H1, the 9 of them that re-announced).

    The article does not name them: here they are the city committee, its 19 departments, its 9
    district committees and the first 16 commune committees; the re-announced are 9 departments.
    """
    mandatory = [a.code for a in agencies if a.iso_obligation.value == "mandatory"]
    communes = [a.code for a in agencies if a.level is AgencyLevel.COMMUNE][:16]
    updating = set(mandatory) | set(communes)
    reannounced = {department_code(i) for i in range(1, 10)}
    return updating, reannounced


# --- scenarios ---------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    procedures: list[ProcedureRecord] = field(default_factory=list)
    agencies: list[AgencyRecord] = field(default_factory=list)
    processes: list[IsoProcessRecord] = field(default_factory=list)
    qms: list[QmsRecord] = field(default_factory=list)


PROCESSES_EFFECTIVE = date(2020, 1, 1)


def cantho_2021() -> Scenario:
    procs = procedures()
    by_code = {p.code: p for p in procs}
    agencies = agencies_2021()
    assignments = _assignments(agencies)
    processes = [
        process_for(a, by_code[c], 1, PROCESSES_EFFECTIVE)
        for a in agencies
        for c in assignments.get(a.code, ())
    ]
    updating, reannounced = updating_units(agencies)
    qms = [
        _qms(a, i, assignments.get(a.code, ()), a.code in updating, a.code in reannounced)
        for i, a in enumerate(agencies)
    ]
    return Scenario("cantho-2021", procs, agencies, processes, qms)


# --- 2025: the reorganisation ------------------------------------------------------------------

REORGANISED_ON = date(2025, 7, 1)
LAST_DAY_BEFORE = date(2025, 6, 30)
PROVINCE_MERGE_BASIS = (
    "Nghị quyết 202/2025/QH15 về sắp xếp đơn vị hành chính cấp tỉnh (Cần Thơ, Sóc Trăng, Hậu Giang)"
)
DISTRICT_END_BASIS = "Luật Tổ chức chính quyền địa phương 2025: chấm dứt cấp huyện từ 01/7/2025"
COMMUNE_BASIS = "Nghị quyết của Ủy ban Thường vụ Quốc hội về sắp xếp đơn vị hành chính cấp xã của thành phố Cần Thơ năm 2025"
# the merged provinces (codes illustrative)
MERGED_PROVINCES = {"H51": "tỉnh Sóc Trăng", "H27": "tỉnh Hậu Giang"}
# the commune-level unit that took over each district's seat, from 2025-07-01
DISTRICT_SUCCESSORS = (
    "Phường Ninh Kiều",
    "Phường Bình Thủy",
    "Phường Cái Răng",
    "Phường Ô Môn",
    "Phường Thốt Nốt",
    "Xã Phong Điền",
    "Xã Cờ Đỏ",
    "Xã Thới Lai",
    "Xã Vĩnh Thạnh",
)


def new_commune_code(district_index: int) -> str:
    return f"000.00.{60 + district_index:02d}.{PROVINCE}"


def cantho_2025() -> Scenario:
    """2021 plus the reorganisation of 2025-07-01, with history intact: old agencies keep their codes
    and records, gain a valid-to date and a successor; new ones name their predecessors.

    Simplified: every old commune's successor is the new unit at its district's seat (the real
    arrangement maps 83 communes onto 32 units whose boundaries differ).
    """
    base = cantho_2021()
    by_code = {a.code: a for a in base.agencies}
    procs = {p.code: p for p in base.procedures}
    added: list[AgencyRecord] = []
    for d, communes in enumerate(DISTRICTS.values(), 1):
        successor = new_commune_code(d)
        old_codes = [district_code(d)] + [commune_code(d, c) for c in range(1, len(communes) + 1)]
        for code in old_codes:
            by_code[code] = by_code[code].model_copy(
                update={
                    "valid_to": LAST_DAY_BEFORE,
                    "successor_code": successor,
                    "reorganisation_basis": DISTRICT_END_BASIS if code == district_code(d) else COMMUNE_BASIS,
                }
            )
        added.append(
            _agency(
                successor,
                f"Ủy ban nhân dân {DISTRICT_SUCCESSORS[d - 1]}",
                AgencyLevel.COMMUNE,
                CITY,
                valid_from=REORGANISED_ON,
                predecessor_codes=tuple(old_codes),
                reorganisation_basis=COMMUNE_BASIS,
            )
        )
    merged_codes: list[str] = []
    for province, name in MERGED_PROVINCES.items():
        pc = f"000.00.00.{province}"
        merged_codes.append(pc)
        added.append(
            _agency(
                pc,
                f"Ủy ban nhân dân {name}",
                AgencyLevel.PROVINCE,
                None,
                valid_to=LAST_DAY_BEFORE,
                successor_code=CITY,
                reorganisation_basis=PROVINCE_MERGE_BASIS,
            )
        )
        for i, dept in enumerate(DEPARTMENTS, 1):
            added.append(
                _agency(
                    department_code(i, province),
                    f"{dept} {name}",
                    AgencyLevel.DEPARTMENT,
                    pc,
                    valid_to=LAST_DAY_BEFORE,
                    successor_code=department_code(i),
                    reorganisation_basis=PROVINCE_MERGE_BASIS,
                )
            )
    by_code[CITY] = by_code[CITY].model_copy(
        update={
            "predecessor_codes": tuple(merged_codes),
            "reorganisation_basis": PROVINCE_MERGE_BASIS,
        }
    )
    for i in range(1, len(DEPARTMENTS) + 1):
        by_code[department_code(i)] = by_code[department_code(i)].model_copy(
            update={"predecessor_codes": tuple(department_code(i, p) for p in MERGED_PROVINCES)}
        )
    # parents before children: merged provinces' committees, then their departments, then the rest
    agencies = [by_code[a.code] for a in base.agencies] + sorted(
        added, key=lambda a: a.level is not AgencyLevel.PROVINCE
    )
    # the new communes take over the district procedures with new processes from 2025-07-01
    new_communes = [a for a in added if a.level is AgencyLevel.COMMUNE]
    new_processes = [
        process_for(a, procs[c], 1, REORGANISED_ON)
        for a in new_communes
        for c in COMMUNE_PROCEDURES + DISTRICT_PROCEDURES
    ]
    new_qms = [
        QmsRecord(
            agency_code=a.code,
            state=QmsState.BUILDING,
            transitions=(QmsTransition(state=QmsState.BUILDING, on=date(2025, 7, 15)),),
            scope=COMMUNE_PROCEDURES + DISTRICT_PROCEDURES,
        )
        for a in new_communes
    ]
    merged_qms = [
        QmsRecord(
            agency_code=a.code,
            state=QmsState.ANNOUNCED,
            transitions=(
                QmsTransition(state=QmsState.ANNOUNCED, on=date(2020, 6, 1), document="QĐ công bố HTQLCL"),
            ),
        )
        for a in added
        if a.level is not AgencyLevel.COMMUNE
    ]
    return Scenario(
        "cantho-2025",
        base.procedures,
        agencies,
        base.processes + new_processes,
        base.qms + new_qms + merged_qms,
    )


SCENARIOS: dict[str, Callable[[], Scenario]] = {"cantho-2021": cantho_2021, "cantho-2025": cantho_2025}
