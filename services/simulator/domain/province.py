"""The simulated province (tỉnh mô phỏng): agencies, procedures, QMS records, ISO processes.

Built by code, the same every time, so the simulator needs nothing but the registry's HTTP API.
Codes end in ``.SIM`` so they never collide with a real seed (``tthc seed cantho-2021``).
Procedures are real rows of the national catalogue (code, name, field, level, time); statutory
times are in working days. One unit is still building its QMS (not announced: every dossier it
receives is OUT_OF_SCOPE) and every commune also receives a procedure outside its announced scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from shared.calendar import DurationUnit
from shared.contracts.registry import (
    AgencyLevel,
    AgencyRecord,
    IsoObligation,
    IsoProcessRecord,
    IsoStep,
    ProcedureRecord,
    QmsRecord,
    QmsState,
    QmsTransition,
    StatutoryTime,
    StepBudget,
)

PROVINCE = "SIM"
PROCESS_EFFECTIVE_FROM = date(2020, 1, 1)
ONE_STOP = "BP.MC"  # bộ phận một cửa: receives and returns
LEADER = "LD"  # lãnh đạo: approves

# code, name, field, level, working days, specialist unit
_PROCEDURES: tuple[tuple[str, str, str, str, int, str], ...] = (
    ("2.000908", "Thủ tục cấp bản sao từ sổ gốc", "Chứng thực", "Cấp xã", 1, "TP-HT"),
    ("1.004845", "Thủ tục đăng ký chấm dứt giám hộ", "Hộ tịch", "Cấp xã", 2, "TP-HT"),
    ("1.004837", "Thủ tục đăng ký giám hộ", "Hộ tịch", "Cấp xã", 3, "TP-HT"),
    ("1.003583", "Thủ tục đăng ký khai sinh lưu động", "Hộ tịch", "Cấp xã", 5, "TP-HT"),
    (
        "3.000495",
        "Cấp Giấy chứng nhận kiểm định phương tiện phòng cháy và chữa cháy",
        "Phòng cháy, chữa cháy",
        "Cấp tỉnh",
        5,
        "P.PCCC",
    ),
    (
        "3.000489",
        "Thẩm định thiết kế về phòng cháy chữa cháy",
        "Phòng cháy, chữa cháy",
        "Cấp tỉnh",
        10,
        "P.PCCC",
    ),
    (
        "3.000364",
        "Cấp giấy phép hoạt động đối với cơ sở cai nghiện ma túy tự nguyện",
        "Tổ chức cai nghiện ma túy",
        "Cấp tỉnh",
        15,
        "P.CN",
    ),
    (
        "1.013842",
        "Sáp nhập Văn phòng công chứng theo loại hình công ty hợp danh",
        "Công chứng",
        "Cấp tỉnh",
        15,
        "P.BTTP",
    ),
)
COMMUNE_OUT_OF_SCOPE = "1.003583"  # received by communes, not in their announced ISO scope


@dataclass(frozen=True)
class Offering:
    """A procedure an agency receives dossiers for, and how the registry covers it."""

    agency: str
    procedure: ProcedureRecord
    process: IsoProcessRecord | None  # None: no ISO process
    in_scope: bool  # announced QMS and the procedure in its scope

    @property
    def working_days(self) -> int:
        return int(self.procedure.statutory_time.value)

    @property
    def covered(self) -> bool:
        """The step rules apply: in the announced scope with a process in force."""
        return self.in_scope and self.process is not None


@dataclass(frozen=True)
class Province:
    agencies: tuple[AgencyRecord, ...]
    procedures: tuple[ProcedureRecord, ...]
    qms: tuple[QmsRecord, ...]
    processes: tuple[IsoProcessRecord, ...]
    offerings: tuple[Offering, ...]
    weights: tuple[int, ...]  # relative arrivals per offering (communes busy, departments fewer)


def _agency(code: str, name: str, level: AgencyLevel, parent: str | None, mandatory: bool) -> AgencyRecord:
    return AgencyRecord(
        code=code,
        name=name,
        parent_code=parent,
        level=level,
        iso_obligation=IsoObligation.MANDATORY if mandatory else IsoObligation.ENCOURAGED,
        valid_from=date(2019, 1, 1),
    )


def _half_hours(hours: Decimal) -> Decimal:
    half = Decimal("0.5")
    return max(half, (hours / half).to_integral_value(rounding=ROUND_FLOOR) * half)


def process_for(
    agency: str, procedure: ProcedureRecord, specialist: str, with_verification: bool
) -> IsoProcessRecord:
    """Receive, appraise, (verify on site, optional), approve, return: 75 % of the statutory time
    for the required steps, so a process always fits and a clean dossier has room to spare."""
    total = procedure.statutory_time.value * 8
    plan: list[tuple[str, str, str, Decimal, bool]] = [
        ("B1", "Tiếp nhận và chuyển hồ sơ", ONE_STOP, Decimal("0.05"), False),
        ("B2", "Thẩm định hồ sơ", specialist, Decimal("0.45"), False),
    ]
    if with_verification:
        plan.append(("B2a", "Xác minh thực địa", specialist, Decimal("0.15"), True))
    plan += [
        ("B3", "Phê duyệt kết quả", LEADER, Decimal("0.15"), False),
        ("B4", "Trả kết quả", ONE_STOP, Decimal("0.10"), False),
    ]
    steps = tuple(
        IsoStep(
            code=code,
            name=name,
            responsible_unit=unit,
            budget=StepBudget(value=_half_hours(total * share), unit=DurationUnit.WORKING_HOURS),
            optional=optional,
        )
        for code, name, unit, share, optional in plan
    )
    return IsoProcessRecord(
        agency_code=agency,
        procedure_code=procedure.code,
        version=1,
        effective_from=PROCESS_EFFECTIVE_FROM,
        steps=steps,
    )


def build_province() -> Province:
    """The simulated province: 1 committee, 3 departments, 2 districts, 6 communes, 1 unit."""
    procedures = {
        code: ProcedureRecord(
            code=code,
            name=name,
            field=field,
            level=level,
            statutory_time=StatutoryTime(value=Decimal(days), unit=DurationUnit.WORKING_DAYS),
            legal_basis="simulated",
        )
        for code, name, field, level, days, _ in _PROCEDURES
    }
    specialist = {code: unit for code, *_, unit in _PROCEDURES}
    city = f"000.00.00.{PROVINCE}"
    agencies = [_agency(city, "UBND tỉnh Mô Phỏng", AgencyLevel.PROVINCE, None, True)]
    receives: dict[str, tuple[str, ...]] = {city: ("3.000489", "1.013842")}
    weight: dict[str, int] = {city: 2}
    for i, (name, codes) in enumerate(
        (
            ("Công an tỉnh Mô Phỏng", ("3.000495", "3.000364")),
            ("Sở Tư pháp tỉnh Mô Phỏng", ("1.013842", "2.000908")),
            ("Sở Xây dựng tỉnh Mô Phỏng", ("3.000489",)),
        ),
        start=1,
    ):
        code = f"000.{i:02d}.00.{PROVINCE}"
        agencies.append(_agency(code, name, AgencyLevel.DEPARTMENT, city, True))
        receives[code] = codes
        weight[code] = 3
    for d in (1, 2):
        district = f"000.00.{20 + d}.{PROVINCE}"
        agencies.append(_agency(district, f"UBND huyện Mô Phỏng {d}", AgencyLevel.DISTRICT, city, True))
        receives[district] = ("2.000908", "1.004837", "3.000489")
        weight[district] = 4
        for c in (1, 2, 3):
            commune = f"{100 * d + c:03d}.00.{20 + d}.{PROVINCE}"
            agencies.append(
                _agency(commune, f"UBND xã Mô Phỏng {d}.{c}", AgencyLevel.COMMUNE, district, False)
            )
            receives[commune] = ("2.000908", "1.004845", "1.004837", COMMUNE_OUT_OF_SCOPE)
            weight[commune] = 6
    unit = f"000.09.00.{PROVINCE}"
    agencies.append(
        _agency(
            unit,
            "Trung tâm Dịch vụ Mô Phỏng",
            AgencyLevel.PUBLIC_SERVICE_UNIT,
            "000.01.00." + PROVINCE,
            False,
        )
    )
    receives[unit] = ("2.000908", "3.000495")
    weight[unit] = 2

    qms: list[QmsRecord] = []
    processes: list[IsoProcessRecord] = []
    offerings: list[Offering] = []
    weights: list[int] = []
    for n, agency in enumerate(agencies):
        announced = agency.code != unit
        scope = tuple(c for c in receives[agency.code] if c != COMMUNE_OUT_OF_SCOPE)
        transitions = [
            QmsTransition(state=QmsState.BUILDING, on=date(2019, 2, 1)),
            QmsTransition(state=QmsState.APPLYING, on=date(2019, 6, 1)),
        ]
        if announced:
            transitions.append(
                QmsTransition(state=QmsState.ANNOUNCED, on=date(2019, 10, 1), document=f"{100 + n}/QĐ-UBND")
            )
        qms.append(
            QmsRecord(
                agency_code=agency.code,
                state=QmsState.ANNOUNCED if announced else QmsState.APPLYING,
                transitions=tuple(transitions),
                scope=scope,
            )
        )
        for k, code in enumerate(receives[agency.code]):
            procedure = procedures[code]
            process = None
            if code in scope:
                process = process_for(agency.code, procedure, specialist[code], (n + k) % 2 == 0)
                processes.append(process)
            offerings.append(Offering(agency.code, procedure, process, announced and code in scope))
            weights.append(weight[agency.code])
    return Province(
        agencies=tuple(agencies),
        procedures=tuple(procedures.values()),
        qms=tuple(qms),
        processes=tuple(processes),
        offerings=tuple(offerings),
        weights=tuple(weights),
    )
