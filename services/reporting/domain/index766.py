"""The Decision 766 scored index: rules as versioned data, points from measures, ranking.

The groups, indicators, formulas and points live in ``services/reporting/data/decision766_<version>.toml``
(with the decision's legal source and every assumption in words); this module only reads them and
applies the one formula kind they use: ``points × numerator / denominator``, rounded to 2 decimals.
Pure: the measures come from the read side (``adapters/index766.py``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib.resources import files
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.reporting.domain.form06 import LEVELS, level_label
from services.reporting.domain.forms import Column, Form, Frame, Line, Sheet, roman
from shared import formatting

#: the measures a formula may name: from the assessments' flows, and from the dossier events
FLOW_MEASURES = ("received", "received_online", "resolved", "resolved_on_time", "resolved_index_on_time")
EVENT_MEASURES = (
    "accepted",
    "accepted_digitized",
    "resolved_events",
    "results_digitized",
    "fees_paid",
    "fees_paid_online",
    "rated",
    "rated_satisfied",
)
#: imported per agency and month (``PUT /api/v1/reports/index766/external``)
EXTERNAL_MEASURES = ("procedures_published_on_time", "procedures_to_publish")
MEASURES = FLOW_MEASURES + EVENT_MEASURES + EXTERNAL_MEASURES
ExternalMeasure = Literal["procedures_published_on_time", "procedures_to_publish"]
Measure = Literal[
    "received",
    "received_online",
    "resolved",
    "resolved_on_time",
    "resolved_index_on_time",
    "accepted",
    "accepted_digitized",
    "resolved_events",
    "results_digitized",
    "fees_paid",
    "fees_paid_online",
    "rated",
    "rated_satisfied",
    "procedures_published_on_time",
    "procedures_to_publish",
]
_CENT = Decimal("0.01")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Indicator(_Strict):
    code: str
    name: str
    points: Decimal = Field(gt=0)
    source: Literal["events", "external"] = "events"
    numerator: Measure | None = None
    denominator: Measure | None = None

    @model_validator(mode="after")
    def _formula(self) -> Indicator:
        if self.numerator is None or self.denominator is None:
            raise ValueError(f"indicator {self.code!r}: a formula needs numerator and denominator")
        external = self.numerator in EXTERNAL_MEASURES and self.denominator in EXTERNAL_MEASURES
        if external != (self.source == "external"):
            raise ValueError(
                f"indicator {self.code!r}: source 'external' goes with imported measures "
                f"({', '.join(EXTERNAL_MEASURES)}), 'events' with the others"
            )
        return self


class Group(_Strict):
    code: str
    name: str
    points: Decimal = Field(gt=0)
    indicators: list[Indicator] = Field(min_length=1)

    @model_validator(mode="after")
    def _sum(self) -> Group:
        if sum(i.points for i in self.indicators) != self.points:
            raise ValueError(f"group {self.code!r}: its indicators' points do not add up to {self.points}")
        return self


class Rules(_Strict):
    """One version of Decision 766's index (a data file)."""

    version: str
    decision: str
    title: str
    source: str
    effective: date
    max_points: Decimal
    assumptions: list[str]
    satisfied_at_least: int = Field(ge=1, le=5)
    groups: list[Group] = Field(min_length=1)

    @model_validator(mode="after")
    def _total(self) -> Rules:
        if sum(g.points for g in self.groups) != self.max_points:
            raise ValueError(f"the groups' points do not add up to max_points {self.max_points}")
        return self

    def describe(self) -> dict[str, Any]:
        """The rules as the API shows them (points as numbers)."""
        return {
            "version": self.version,
            "decision": self.decision,
            "source": self.source,
            "effective": self.effective.isoformat(),
            "max_points": float(self.max_points),
            "satisfied_at_least": self.satisfied_at_least,
            "assumptions": self.assumptions,
            "groups": [
                {
                    "code": g.code,
                    "name": g.name,
                    "points": float(g.points),
                    "indicators": [
                        {
                            "code": i.code,
                            "name": i.name,
                            "points": float(i.points),
                            "source": i.source,
                            "numerator": i.numerator,
                            "denominator": i.denominator,
                        }
                        for i in g.indicators
                    ],
                }
                for g in self.groups
            ],
        }


def parse_rules(text: str) -> Rules:
    """Rules from the TOML text of a data file (raises ``ValueError`` naming what is wrong)."""
    return Rules.model_validate(tomllib.loads(text))


@cache
def rules(version: str = "2022") -> Rules:
    """The shipped rules of a version (``data/decision766_<version>.toml``)."""
    resource = files("services.reporting.data") / f"decision766_{version}.toml"
    if not resource.is_file():
        raise ValueError(f"no Decision 766 data for version {version!r}; shipped: {', '.join(versions())}")
    return parse_rules(resource.read_text(encoding="utf-8"))


def versions() -> list[str]:
    return sorted(
        p.name.removeprefix("decision766_").removesuffix(".toml")
        for p in files("services.reporting.data").iterdir()
        if p.name.startswith("decision766_") and p.name.endswith(".toml")
    )


def _points(points: Decimal, num: int, den: int) -> Decimal:
    return (points * num / den).quantize(_CENT, ROUND_HALF_UP)


def score(r: Rules, measures: Mapping[str, int]) -> dict[str, Any]:
    """Points of one agency (or of a level, or the province) from its measures over the period."""
    groups = []
    total = Decimal(0)
    for g in r.groups:
        items = []
        earned = Decimal(0)
        for i in g.indicators:
            assert i.numerator is not None and i.denominator is not None  # validated
            num, den = measures.get(i.numerator, 0), measures.get(i.denominator, 0)
            p = _points(i.points, num, den) if den else Decimal(0)
            earned += p
            items.append(
                {
                    "code": i.code,
                    "numerator": num,
                    "denominator": den,
                    "rate": round(num / den, 4) if den else None,
                    "points": float(p),
                    "measured": bool(den),
                }
            )
        total += earned
        groups.append({"code": g.code, "points": float(earned), "indicators": items})
    return {"total_points": float(total), "groups": groups}


def rank(rows: Sequence[dict[str, Any]]) -> None:
    """Set ``rank`` on each row among the rows of its level, by total points (ties share a rank)."""
    by_level: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_level.setdefault(row["level"], []).append(row)
    for members in by_level.values():
        members.sort(key=lambda x: (-x["total_points"], x.get("name") or x["agency_code"]))
        for pos, row in enumerate(members, start=1):
            prev = members[pos - 2] if pos > 1 else None
            row["rank"] = prev["rank"] if prev and prev["total_points"] == row["total_points"] else pos
            row["ranked_among"] = len(members)


# --- the printed form ---------------------------------------------------------------------------

INDEX766_TITLE = (
    "KẾT QUẢ ĐÁNH GIÁ, CHẤM ĐIỂM BỘ CHỈ SỐ PHỤC VỤ NGƯỜI DÂN, DOANH NGHIỆP (QUYẾT ĐỊNH 766/QĐ-TTg)"
)


def _num(v: float) -> str:
    return formatting.number(int(v)) if v == int(v) else formatting.decimal(v, 2)


def index766_form(doc: Mapping[str, Any], frame: Frame) -> Form:
    """Sheet "Điểm QĐ 766": rank, total and group points; sheet "Điểm chỉ số thành phần": each
    indicator's points. TỔNG CỘNG, then each level (I, II …) and its agencies by rank, by name."""
    rules_doc = doc["rules"]
    groups = rules_doc["groups"]
    group_cols = [
        Column(f"g_{g['code']}", f"{g['name']} (tối đa {_num(g['points'])})", "decimal", 13) for g in groups
    ]
    ind_cols = [
        Column(f"i_{i['code']}", f"{i['name']} (tối đa {_num(i['points'])})", "decimal", 15)
        for g in groups
        for i in g["indicators"]
    ]
    summary_cols = [
        Column("rank_text", "Xếp hạng trong cấp", "text", 10),
        Column("total_points", f"Tổng điểm (tối đa {_num(rules_doc['max_points'])})", "decimal", 11),
        *group_cols,
    ]

    def values(item: Mapping[str, Any], ranked: bool) -> dict[str, Any]:
        v: dict[str, Any] = {"total_points": item["total_points"]}
        v["rank_text"] = f"{item['rank']}/{item['ranked_among']}" if ranked else ""
        for g in item["groups"]:
            v[f"g_{g['code']}"] = g["points"]
            for i in g["indicators"]:
                v[f"i_{i['code']}"] = i["points"] if i["measured"] else None
        return v

    order = list(LEVELS)
    levels = {lv["level"]: lv for lv in doc["levels"]}
    lines = [Line("", "TỔNG CỘNG", values(doc["totals"], False), bold=True)]
    for gi, level in enumerate(sorted(levels, key=lambda lv: order.index(lv) if lv in order else len(order))):
        lines.append(Line(roman(gi), level_label(level), values(levels[level], False), bold=True))
        members = sorted((r for r in doc["rows"] if r["level"] == level), key=lambda r: r["rank"])
        for i, r in enumerate(members, start=1):
            lines.append(Line(str(i), r.get("name") or r["agency_code"], values(r, True)))
    note = (
        f"Cách tính theo {rules_doc['decision']} (dữ liệu phiên bản {rules_doc['version']}): điểm chỉ số = điểm tối đa × "
        "tử số / mẫu số; cấp và toàn tỉnh tính trên số liệu cộng dồn; “–”: không có hồ sơ để tính (0 điểm); "
        "chỉ số nhập từ nguồn ngoài (công khai, minh bạch): 0 điểm khi chưa nhập."
    )
    return Form(
        frame,
        [
            Sheet("Điểm QĐ 766", summary_cols, "Cơ quan, đơn vị", lines, label_width=36, note=note),
            Sheet("Điểm chỉ số thành phần", ind_cols, "Cơ quan, đơn vị", lines, label_width=36, note=note),
        ],
    )
