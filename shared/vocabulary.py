"""The words a reader sees for the system's codes: dossier statuses, channels, rule codes, units.

One place for every screen and export, in Vietnamese (``vi``, the national portal's and the
decrees' own terms) and English (``en``). A code the vocabulary does not know is shown as
"unknown" in the reader's language with the code, so a new code is visible, not hidden.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from shared.calendar.duration import DurationUnit
from shared.contracts.compliance import NonconformityCode, Outcome
from shared.contracts.events import Channel
from shared.contracts.registry import AgencyLevel
from shared.formatting import decimal, number

Lang = Literal["vi", "en"]
Words = dict[str, tuple[str, str]]  # code → (vi, en)

#: TrangThaiHoSo 1–10 of the National Public Service Portal (DESIGN §3).
DOSSIER_STATUS: dict[int, tuple[str, str]] = {
    1: ("Mới đăng ký", "Newly registered"),
    2: ("Được tiếp nhận", "Accepted"),
    3: ("Không được tiếp nhận", "Not accepted"),
    4: ("Đang xử lý", "Being processed"),
    5: ("Yêu cầu bổ sung", "Supplement requested"),
    6: ("Nghĩa vụ tài chính", "Fees due"),
    7: ("Rút hồ sơ", "Withdrawn"),
    8: ("Dừng xử lý", "Stopped"),
    9: ("Đã xử lý xong", "Resolved"),
    10: ("Đã trả kết quả", "Result returned"),
}

#: KenhThucHien: how the dossier was submitted.
CHANNEL: dict[int, tuple[str, str]] = {
    Channel.IN_PERSON: ("Trực tiếp", "In person"),
    Channel.ONLINE: ("Trực tuyến", "Online"),
    Channel.POSTAL: ("Dịch vụ bưu chính công ích", "Public postal service"),
}

#: Kết quả of a dossier (legal clock); the pending ones while it is still open.
OUTCOME: Words = {
    Outcome.EARLY: ("Trước hạn", "Early"),
    Outcome.ON_TIME: ("Đúng hạn", "On time"),
    Outcome.LATE: ("Quá hạn", "Late"),
    Outcome.PENDING_WITHIN: ("Đang giải quyết, trong hạn", "Pending, within time"),
    Outcome.PENDING_OVERDUE: ("Đang giải quyết, quá hạn", "Pending, overdue"),
    Outcome.NOT_ACCEPTED: ("Không được tiếp nhận", "Not accepted"),
    Outcome.WITHDRAWN: ("Rút hồ sơ", "Withdrawn"),
    Outcome.STOPPED: ("Dừng xử lý", "Stopped"),
    Outcome.OPEN_AT_END: ("Còn mở khi hết nhật ký", "Open at the end of the log"),
}

#: Corrective-action lifecycle of a nonconformity (ISO 9001:2015 clause 10.2).
NC_STATUS: Words = {
    "open": ("Chưa xử lý", "Open"),
    "corrective_action": ("Đang khắc phục", "Corrective action"),
    "closed": ("Đã đóng", "Closed"),
}

#: States of a corrective action (services/processing/domain/corrective_action.py).
CA_STATE: Words = {
    "planned": ("Đang thực hiện", "In progress"),
    "verified": ("Đã kiểm tra hiệu lực", "Verified effective"),
    "closed": ("Đã đóng", "Closed"),
}

#: What an audit entry of a corrective action records.
CA_CHANGE: Words = {
    "planned": ("Lập hành động khắc phục", "Action planned"),
    "grouped": ("Gộp thêm sự không phù hợp", "Nonconformities grouped"),
    "verified": ("Kiểm tra: có hiệu lực", "Verified effective"),
    "ineffective": ("Kiểm tra: chưa có hiệu lực, sửa đổi hành động", "Not effective, action revised"),
    "closed": ("Đóng", "Closed"),
}

#: Every rule code (DESIGN §4): (vi name, vi explanation, en name, en explanation).
RULES: dict[str, tuple[str, str, str, str]] = {
    NonconformityCode.LATE: (
        "Trả kết quả quá hạn",
        "Hồ sơ được giải quyết sau thời hạn theo quy định.",
        "Resolved late",
        "The dossier was resolved after its statutory due time.",
    ),
    NonconformityCode.OVERDUE: (
        "Đang giải quyết quá hạn",
        "Đã quá thời hạn giải quyết mà hồ sơ chưa có kết quả.",
        "Overdue",
        "The due time has passed and the dossier is not resolved yet.",
    ),
    NonconformityCode.STEP_LATE: (
        "Bước xử lý quá hạn",
        "Một bước trong quy trình ISO mất nhiều thời gian hơn mức quy định.",
        "Step late",
        "A step of the ISO process took longer than its time budget.",
    ),
    NonconformityCode.STEP_OVERDUE: (
        "Bước xử lý đang quá hạn",
        "Một bước chưa hoàn thành dù đã quá thời gian quy định cho bước đó.",
        "Step overdue",
        "A step is still open past its time budget.",
    ),
    NonconformityCode.STEP_SKIPPED: (
        "Bỏ qua bước quy trình",
        "Thiếu một bước bắt buộc của quy trình ISO.",
        "Step skipped",
        "A required step of the ISO process is missing.",
    ),
    NonconformityCode.STEP_ORDER: (
        "Sai trình tự xử lý",
        "Các bước được thực hiện không theo thứ tự của quy trình, hoặc không có trong quy trình.",
        "Steps out of order",
        "Steps were done out of the process's order, or are not in the process.",
    ),
    NonconformityCode.WRONG_UNIT: (
        "Sai đơn vị xử lý",
        "Bước xử lý do một đơn vị khác với đơn vị được phân công thực hiện.",
        "Wrong unit",
        "A step was done by a unit other than the responsible one.",
    ),
    NonconformityCode.APPOINTMENT: (
        "Hẹn trả sai thời hạn",
        "Ngày hẹn trả ghi trên phiếu tiếp nhận muộn hơn thời hạn theo quy định.",
        "Appointment beyond the statutory time",
        "The return date on the receipt is later than the statutory due date.",
    ),
    NonconformityCode.APOLOGY_MISSING: (
        "Thiếu văn bản xin lỗi",
        "Hồ sơ sắp quá hạn nhưng không có phiếu xin lỗi và hẹn lại ngày trả kết quả.",
        "Apology missing",
        "The dossier is heading for lateness without an apology and a new return date.",
    ),
    NonconformityCode.APOLOGY_LATE: (
        "Xin lỗi chậm",
        "Phiếu xin lỗi được gửi chậm hơn quy định hoặc hẹn lại ngày trả quá một lần.",
        "Apology late",
        "The apology came too late, or the return date was reset more than once.",
    ),
    NonconformityCode.SUPPLEMENT_LATE: (
        "Yêu cầu bổ sung chậm",
        "Yêu cầu bổ sung hồ sơ được đưa ra sau thời hạn cho phép kể từ khi tiếp nhận.",
        "Supplement request late",
        "The supplement request came after the allowed window from acceptance.",
    ),
    NonconformityCode.SUPPLEMENT_REPEATED: (
        "Yêu cầu bổ sung nhiều lần",
        "Hồ sơ bị yêu cầu bổ sung hơn một lần.",
        "Supplement requested repeatedly",
        "The missing documents were requested more than once.",
    ),
    NonconformityCode.OUT_OF_SCOPE: (
        "Ngoài phạm vi ISO",
        "Thủ tục không thuộc phạm vi HTQLCL đã công bố của cơ quan, hoặc chưa có quy trình ISO.",
        "Outside the ISO scope",
        "The procedure is not in the agency's announced ISO scope, or has no ISO process.",
    ),
    NonconformityCode.IMPOSSIBLE_ORDER: (
        "Dữ liệu sai trình tự thời gian",
        "Các sự kiện của hồ sơ không thể xảy ra theo thứ tự thời gian đã ghi (ví dụ: giải quyết trước khi "
        "tiếp nhận); hồ sơ không được xếp loại trước hạn / đúng hạn / quá hạn cho đến khi phần mềm một cửa "
        "gửi lại thời điểm đúng.",
        "Impossible order of events",
        "The dossier's milestones were recorded in an order that cannot happen (e.g. resolved before "
        "accepted); it is not judged until the data is corrected.",
    ),
}

#: Agency levels of the registry (DESIGN §5).
LEVEL: Words = {
    AgencyLevel.PROVINCE: ("Cấp tỉnh", "Province"),
    AgencyLevel.DEPARTMENT: ("Sở, ban, ngành", "Department"),
    AgencyLevel.DISTRICT: ("Cấp huyện", "District"),
    AgencyLevel.COMMUNE: ("Cấp xã", "Commune"),
    AgencyLevel.PUBLIC_SERVICE_UNIT: ("Đơn vị sự nghiệp", "Public service unit"),
    AgencyLevel.OTHER: ("Khác", "Other"),
}

#: Units of time: (vi, en singular, en plural).
UNIT: dict[str, tuple[str, str, str]] = {
    DurationUnit.WORKING_DAYS: ("ngày làm việc", "working day", "working days"),
    DurationUnit.CALENDAR_DAYS: ("ngày", "day", "days"),
    DurationUnit.WORKING_HOURS: ("giờ làm việc", "working hour", "working hours"),
    DurationUnit.MONTHS: ("tháng", "month", "months"),
}

_UNKNOWN = ("Không xác định", "Unknown")


def _pick(words: tuple[str, str], lang: Lang) -> str:
    return words[0] if lang == "vi" else words[1]


def dossier_status(status: int | None, lang: Lang = "vi") -> str:
    """TrangThaiHoSo ``9`` → "Đã xử lý xong"."""
    if status is None:
        return ""
    return _pick(DOSSIER_STATUS.get(status, _UNKNOWN), lang)


def channel(value: int | None, lang: Lang = "vi") -> str:
    """Kênh ``2`` → "Trực tuyến"."""
    if value is None:
        return ""
    return _pick(CHANNEL.get(value, _UNKNOWN), lang)


def outcome(value: str | None, lang: Lang = "vi") -> str:
    if value is None:
        return ""
    return _pick(OUTCOME.get(value, _UNKNOWN), lang)


def nc_status(value: str | None, lang: Lang = "vi") -> str:
    return _pick(NC_STATUS.get(value or "open", _UNKNOWN), lang)


def ca_state(value: str | None, lang: Lang = "vi") -> str:
    return _pick(CA_STATE.get(value or "", _UNKNOWN), lang)


def ca_change(value: str | None, lang: Lang = "vi") -> str:
    return _pick(CA_CHANGE.get(value or "", _UNKNOWN), lang)


def rule_name(code: str, lang: Lang = "vi") -> str:
    """``OUT_OF_SCOPE`` → "Ngoài phạm vi ISO"."""
    words = RULES.get(code)
    if words is None:
        return _pick(_UNKNOWN, lang)
    return words[0] if lang == "vi" else words[2]


def rule_explanation(code: str, lang: Lang = "vi") -> str:
    words = RULES.get(code)
    if words is None:
        return ""
    return words[1] if lang == "vi" else words[3]


def level(value: str | None, lang: Lang = "vi") -> str:
    return _pick(LEVEL.get(value or "other", LEVEL[AgencyLevel.OTHER]), lang)


def duration(value: Decimal | float | int | str, unit: str, lang: Lang = "vi") -> str:
    """``(1, "working_hours")`` → "1 giờ làm việc"; ``(2.5, "working_days")`` → "2,5 ngày làm việc"."""
    amount = Decimal(str(value))
    exponent = amount.normalize().as_tuple().exponent
    digits = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    shown = number(amount, lang) if digits == 0 else decimal(amount, digits, lang)
    names = UNIT.get(unit)
    if names is None:
        return f"{shown} {unit}"
    if lang == "vi":
        return f"{shown} {names[0]}"
    return f"{shown} {names[1] if amount == 1 else names[2]}"


#: Groups of the Decision 766 index, by the data file's group code: (vi, en). The Vietnamese name
#: of a group is the data file's own; this gives the English one (a code it does not know keeps its
#: data-file name).
INDEX766_GROUP: Words = {
    "cong_khai": ("Công khai, minh bạch", "Disclosure and transparency"),
    "tien_do": ("Tiến độ, kết quả giải quyết", "Progress and results of resolution"),
    "truc_tuyen": ("Cung cấp dịch vụ công trực tuyến", "Online public services"),
    "hai_long": ("Mức độ hài lòng", "Satisfaction"),
    "so_hoa": ("Số hóa hồ sơ", "Digitisation of dossiers"),
}


def index766_group(code: str, name: str, lang: Lang = "vi") -> str:
    """A Decision 766 group: the data file's (Vietnamese) ``name``, or its English name."""
    if lang == "vi":
        return name
    words = INDEX766_GROUP.get(code)
    return words[1] if words else name
