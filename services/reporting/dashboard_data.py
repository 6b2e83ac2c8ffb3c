"""What each dashboard page shows, built from the same report functions as the JSON API.

Every figure is a :class:`Figures` entry: a key (``kpi.received``, ``row.<agency>.resolved_late``)
and the text shown, formatted by :mod:`shared.formatting`. The page renders them and the live
endpoint sends them again, so the number on a page and in its refresh are one computation,
and both are the API's: Biểu 06 (:func:`reports.form06`), Decision 766
(:func:`reports.indicators_766`), the QMS status (:func:`reports.qms`) and the nonconformity
register (:func:`reports.nonconformities`), with the same split — early / on time / late;
within time / overdue.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any

from services.reporting import reports
from services.reporting.adapters import dashboard_views, views
from services.reporting.adapters.dashboard_views import Node
from services.reporting.domain.form06 import field_label
from services.reporting.domain.indicators import indicators
from services.reporting.entrypoints.templates import TEXT
from shared import formatting, vocabulary
from shared.contracts.reports import FORM06_KEYS
from shared.db import Conn
from shared.formatting import Lang

#: The Biểu 06 columns a table shows, in the form's order.
TABLE_KEYS = (
    "received_total",
    "carried_over",
    "resolved_total",
    "resolved_early",
    "resolved_on_time",
    "resolved_late",
    "pending_total",
    "pending_within",
    "pending_overdue",
)
#: one colour per meaning on every chart
COLORS = {
    "resolved_early": "#2e7d32",
    "resolved_on_time": "#1565c0",
    "resolved_late": "#c62828",
    "pending_overdue": "#ef6c00",
    "open": "#c62828",
    "corrective_action": "#ef6c00",
    "closed": "#2e7d32",
}
TOP_N = 12  # bars in an agency or procedure chart; the rest are summed as "others"


@dataclass
class Figures:
    """Key → shown text of every number on a page."""

    lang: Lang
    values: dict[str, str] = field(default_factory=dict)

    def count(self, key: str, value: int | None) -> str:
        self.values[key] = formatting.number(value, self.lang)
        return key

    def rate(self, key: str, value: float | None) -> str:
        self.values[key] = formatting.percent(value, 1, self.lang)
        return key

    def days(self, key: str, value: float | None) -> str:
        self.values[key] = formatting.decimal(value, 2, self.lang)
        return key


def _layout(title: str, **more: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "font": {"size": 14}},
        "margin": {"l": 50, "r": 10, "t": 40, "b": 40},
        "legend": {"orientation": "h"},
        "separators": ",." if more.pop("lang", "vi") == "vi" else ".,",
        **more,
    }


def count_axis(largest: float) -> dict[str, Any]:
    """A count axis: whole-number ticks only (no "0,5 hồ sơ"), from 0, about six of them."""
    step = 1
    while largest / step > 6:
        for factor in (2, 2.5, 2):  # 1, 2, 5, 10, 20, 50, …
            step = int(step * factor)
            if largest / step <= 6:
                break
    axis: dict[str, Any] = {"rangemode": "tozero", "tick0": 0, "dtick": step, "tickformat": ",d"}
    if largest <= 0:
        axis["range"] = [0, 1]
    return axis


def _top(
    items: Sequence[tuple[str, dict[str, int]]], weight: str, keys: Iterable[str], others: str
) -> list[tuple[str, dict[str, int]]]:
    """The ``TOP_N`` items with the largest ``weight``, and one "others" item summing the rest."""
    ranked = sorted(items, key=lambda i: -i[1][weight])
    head, tail = ranked[:TOP_N], ranked[TOP_N:]
    if tail:
        rest = {k: sum(i[1][k] for i in tail) for k in keys}
        rest[weight] = sum(i[1][weight] for i in tail)
        head.append((f"{others} ({len(tail)})", rest))
    return head[::-1]  # plotly draws horizontal bars bottom-up: the largest on top


def _hbar(
    title: str, rows: list[tuple[str, dict[str, int]]], series: list[tuple[str, str]], lang: Lang
) -> dict[str, Any]:
    labels = [r[0] for r in rows]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": name,
                "y": labels,
                "x": [r[1][k] for r in rows],
                "marker": {"color": COLORS.get(k, "#607d8b")},
            }
            for k, name in series
        ],
        "layout": _layout(
            title,
            lang=lang,
            barmode="stack",
            yaxis={"type": "category", "automargin": True},
            xaxis=count_axis(max((sum(r[1][k] for k, _ in series) for r in rows), default=0)),
            height=max(320, 28 * len(rows) + 120),
        ),
    }


@dataclass(frozen=True)
class TreeRow:
    code: str
    name: str
    level: str
    depth: int
    children: int


def tree(nodes: Mapping[str, Node], visible: Sequence[str] | None, root: str | None) -> list[TreeRow]:
    """The agencies in depth-first order (the province, then its departments and districts …)."""
    shown = set(visible) if visible is not None else set(nodes)
    kids: dict[str | None, list[str]] = {}
    for code in sorted(shown):
        parent = nodes[code].parent if code in nodes else None
        kids.setdefault(parent if parent in shown else None, []).append(code)
    out: list[TreeRow] = []

    def walk(code: str, depth: int) -> None:
        n = nodes.get(code)
        out.append(
            TreeRow(code, n.name if n else code, n.level if n else "other", depth, len(kids.get(code, [])))
        )
        for c in kids.get(code, []):
            walk(c, depth + 1)

    for top in [root] if root is not None else kids.get(None, []):
        walk(top, 0)
    return out


def subtree_sums(rows: Sequence[TreeRow], own: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """Biểu 06 numbers of each node's subtree: the sum of its own and its descendants' rows."""
    sums: dict[str, dict[str, int]] = {}
    stack: list[TreeRow] = []
    for r in [*rows, TreeRow("", "", "", -1, 0)]:  # a sentinel at depth -1 closes every open node
        while stack and stack[-1].depth >= r.depth:
            done = stack.pop()
            if stack:
                parent = sums[stack[-1].code]
                for k, v in sums[done.code].items():
                    parent[k] += v
        if r.depth >= 0:
            sums[r.code] = {k: int(own.get(r.code, {}).get(k, 0)) for k in (*FORM06_KEYS, "received_new")}
            stack.append(r)
    return sums


def _row_numbers(own_row: Mapping[str, int]) -> dict[str, int]:
    return {
        **{k: int(own_row[k]) for k in FORM06_KEYS},
        "received_new": own_row["received_total"] - own_row["carried_over"],
    }


async def _kpis(
    conn: Conn, b: reports.Bounds, agency: str | None, agencies: Sequence[str] | None, f: Figures
) -> dict[str, Any]:
    """The headline numbers of a scope: Biểu 06 totals, Decision 766 totals, QMS, open findings."""
    form = await reports.form06(conn, b, agency, agencies)
    ind = await reports.indicators_766(conn, b, agency, agencies)
    qms = await reports.qms(conn, b, agency, agencies)
    ncs = await reports.nonconformities(
        conn, b, agencies, procedure=None, code=None, status=None, limit=1, offset=0
    )
    tot, it = form["totals"], ind["totals"]
    f.count("kpi.received", it["received"])
    f.count("kpi.received_total", tot["received_total"])
    f.count("kpi.resolved", it["resolved"])
    f.rate("kpi.on_time_rate", it["on_time_rate"])
    f.rate("kpi.on_time_rate_index", it["on_time_rate_index"])
    f.rate("kpi.online_rate", it["online_rate"])
    f.days("kpi.avg_days", it["average_processing_working_days"])
    f.count("kpi.pending_total", tot["pending_total"])
    f.count("kpi.pending_overdue", tot["pending_overdue"])
    open_ncs = sum(n for s, n in ncs["by_status"].items() if s != "closed")
    f.count("kpi.open_ncs", open_ncs)
    f.count("kpi.qms_announced", qms["announced"])
    f.count("kpi.qms_total", qms["agencies_total"])
    return {"form": form, "ind": ind, "qms": qms, "ncs": ncs}


KPI_KEYS = (
    "received",
    "received_total",
    "resolved",
    "on_time_rate",
    "on_time_rate_index",
    "online_rate",
    "avg_days",
    "pending_total",
    "pending_overdue",
    "open_ncs",
)


def _tree_figures(rows: Sequence[TreeRow], sums: Mapping[str, Mapping[str, int]], f: Figures) -> None:
    for r in rows:
        s = sums[r.code]
        for k in TABLE_KEYS:
            f.count(f"row.{r.code}.{k}", s[k])
        f.rate(f"row.{r.code}.on_time_rate", indicators(s)["on_time_rate"])


def _words(lang: Lang) -> dict[str, str]:
    return TEXT[lang]


async def overview(
    conn: Conn, b: reports.Bounds, agencies: Sequence[str] | None, lang: Lang
) -> tuple[Figures, dict[str, Any]]:
    """The province (or the officer's subtree) overview."""
    t = _words(lang)
    f = Figures(lang)
    k = await _kpis(conn, b, None, agencies, f)
    form, qms, ncs = k["form"], k["qms"], k["ncs"]
    nodes = await dashboard_views.agency_nodes(conn)
    rows = tree(nodes, agencies, None)
    own = {r["agency_code"]: _row_numbers(r) for r in form["rows"]}
    sums = subtree_sums(rows, own)
    _tree_figures(rows, sums, f)

    first_month, after = reports.month_starts(b.period.last, 12)
    trend = await views.monthly_flows(conn, first_month, after, agencies)
    late = _top(
        [
            (nodes[a].name if a in nodes else a, {**v, "bad": v["resolved_late"] + v["pending_overdue"]})
            for a, v in own.items()
            if v["resolved_late"] + v["pending_overdue"]
        ],
        "bad",
        ("resolved_late", "pending_overdue"),
        t["others"],
    )
    by_code: dict[str, dict[str, int]] = {}
    for c in ncs["by_code_and_status"]:
        by_code.setdefault(c["code"], {"open": 0, "corrective_action": 0, "closed": 0, "all": 0})
        by_code[c["code"]][c["status"]] = by_code[c["code"]].get(c["status"], 0) + c["n"]
        by_code[c["code"]]["all"] += c["n"]
    nc_rows = _top(
        [(vocabulary.rule_name(code, lang), v) for code, v in by_code.items()],
        "all",
        ("open", "corrective_action", "closed"),
        t["others"],
    )
    charts = {
        "chart-trend": {
            "data": [
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": name,
                    "x": [m["month"].strftime("%m/%Y") for m in trend],
                    "y": [indicators(m)[key] for m in trend],
                }
                for key, name in (
                    ("on_time_rate", t["on_time_rate"]),
                    ("on_time_rate_index", t["on_time_rate_index"]),
                )
            ],
            "layout": _layout(
                t["trend"],
                lang=lang,
                xaxis={"type": "category"},
                yaxis={"tickformat": ".0%", "range": [0, 1.05]},
            ),
        },
        "chart-late": _hbar(
            t["late_overdue"],
            late,
            [("resolved_late", t["resolved_late"]), ("pending_overdue", t["pending_overdue"])],
            lang,
        ),
        "chart-ncs": _hbar(
            t["ncs_by_code"],
            nc_rows,
            [(s, vocabulary.nc_status(s, lang)) for s in ("open", "corrective_action", "closed")],
            lang,
        ),
        "chart-qms": {
            "data": [
                {
                    "type": "bar",
                    "name": t["announced"],
                    "marker": {"color": "#2e7d32"},
                    "x": [t["mandatory"], t["encouraged"]],
                    "y": [qms["mandatory_announced"], qms["encouraged_announced"]],
                },
                {
                    "type": "bar",
                    "name": t["not_announced"],
                    "marker": {"color": "#9e9e9e"},
                    "x": [t["mandatory"], t["encouraged"]],
                    "y": [
                        qms["mandatory"] - qms["mandatory_announced"],
                        qms["encouraged"] - qms["encouraged_announced"],
                    ],
                },
            ],
            "layout": _layout(
                t["qms_adoption"],
                lang=lang,
                barmode="stack",
                xaxis={"type": "category"},
                yaxis=count_axis(max(qms["mandatory"], qms["encouraged"])),
            ),
        },
    }
    return f, {"rows": rows, "charts": charts, "sums": sums}


async def agency(
    conn: Conn, b: reports.Bounds, code: str, agencies: Sequence[str], lang: Lang
) -> tuple[Figures, dict[str, Any]]:
    """One agency: its subtree's headline numbers, its subtree as a tree, its own procedures."""
    t = _words(lang)
    f = Figures(lang)
    k = await _kpis(conn, b, code, agencies, f)
    nodes = await dashboard_views.agency_nodes(conn)
    rows = tree(nodes, agencies, code)
    own = {r["agency_code"]: _row_numbers(r) for r in k["form"]["rows"]}
    sums = subtree_sums(rows, own)
    _tree_figures(rows, sums, f)
    procedures = await procedure_rows(conn, b, code, lang)
    for p in procedures:
        pc = p["procedure_code"]
        for key in PROCEDURE_KEYS:
            f.count(f"proc.{pc}.{key}", p[key])
        f.rate(f"proc.{pc}.on_time_rate", p["on_time_rate"])
    chart_rows = _top(
        [
            (f"{p['procedure_code']} {p['name'] or ''}".strip()[:90], p)
            for p in procedures
            if p["resolved_total"]
        ],
        "resolved_total",
        ("resolved_early", "resolved_on_time", "resolved_late"),
        t["others"],
    )
    chart = _hbar(
        t["procedures"],
        chart_rows,
        [
            ("resolved_early", t["resolved_early"]),
            ("resolved_on_time", t["resolved_on_time"]),
            ("resolved_late", t["late"]),
        ],
        lang,
    )
    return f, {"rows": rows, "sums": sums, "procedures": procedures, "charts": {"chart-procedures": chart}}


PROCEDURE_KEYS = (
    "received",
    "resolved_total",
    "resolved_early",
    "resolved_on_time",
    "resolved_late",
    "pending_total",
    "pending_within",
    "pending_overdue",
)


async def procedure_rows(conn: Conn, b: reports.Bounds, code: str, lang: Lang) -> list[dict[str, Any]]:
    """The agency's own dossiers per procedure: new in the period, resolved (early / on time / late),
    pending (within / overdue) — the Biểu 06 split, so the rows sum to the agency's Biểu 06 row."""
    flows = await views.procedure_flows(conn, code, b.period.first, b.period.end_exclusive)
    pending = await views.pending_by_procedure(conn, code, b.as_of)
    names = await dashboard_views.procedure_names(conn)
    by_code: dict[str, dict[str, Any]] = {}
    for p in flows:
        by_code[p["procedure_code"]] = {
            "procedure_code": p["procedure_code"],
            "name": p["name"],
            "field_label": field_label(p["field"], lang),
            "received": p["received"],
            "resolved_early": p["resolved_early"],
            "resolved_on_time": p["resolved_on_time"],
            "resolved_late": p["resolved_late"],
        }
    for pc in pending:
        by_code.setdefault(
            pc,
            {
                "procedure_code": pc,
                "name": names.get(pc),
                "field_label": "",
                "received": 0,
                "resolved_early": 0,
                "resolved_on_time": 0,
                "resolved_late": 0,
            },
        )
    out = []
    for pc, p in sorted(by_code.items()):
        n_pending, overdue = pending.get(pc, (0, 0))
        p["resolved_total"] = p["resolved_early"] + p["resolved_on_time"] + p["resolved_late"]
        p["pending_total"], p["pending_overdue"] = n_pending, overdue
        p["pending_within"] = n_pending - overdue
        p["on_time_rate"] = indicators(p)["on_time_rate"]
        if any(p[k] for k in PROCEDURE_KEYS):
            out.append(p)
    return out


# --- Decision 766 scored index -------------------------------------------------------------------

#: the words of the "Điểm Bộ chỉ số QĐ 766" page (the shared ``TEXT`` stays as it is)
INDEX766_WORDS: dict[Lang, dict[str, str]] = {
    "vi": {
        "nav": "Điểm QĐ 766",
        "heading": "Điểm Bộ chỉ số QĐ 766",
        "scope_rows": "Toàn tỉnh và theo cấp",
        "agencies_rows": "Điểm của từng cơ quan",
        "province": "Toàn tỉnh",
        "total": "Tổng điểm",
        "rank": "Xếp hạng trong cấp",
        "agencies_count": "Số cơ quan",
        "max": "tối đa",
        "not_measured": "chưa có số liệu",
        "not_measured_note": (
            "“chưa có số liệu”: nhóm không có chỉ số nào tính được trong kỳ (không có hồ sơ, sự kiện "
            "hoặc số liệu nhập ngoài, ví dụ công khai TTHC chưa nhập); nhóm được 0 điểm, không phải đã "
            "chấm 0 điểm."
        ),
        "pooled_note": "Cấp và toàn tỉnh được chấm trên số liệu cộng dồn của các cơ quan, không lấy trung bình điểm.",
        "rules": "Cách tính",
        "formula": (
            "Điểm mỗi chỉ số = điểm tối đa × tử số / mẫu số, làm tròn 2 chữ số; điểm nhóm và tổng điểm là tổng "
            "các điểm đó; xếp hạng theo tổng điểm trong từng cấp, bằng điểm thì cùng hạng. Các giả định đầy đủ: "
            "báo cáo JSON, mục “rules”."
        ),
        "version": "phiên bản dữ liệu",
        "exports": "Xuất báo cáo điểm",
    },
    "en": {
        "nav": "Decision 766 score",
        "heading": "Decision 766 index score",
        "scope_rows": "Province and levels",
        "agencies_rows": "Score of each agency",
        "province": "Province",
        "total": "Total points",
        "rank": "Rank within level",
        "agencies_count": "Agencies",
        "max": "max",
        "not_measured": "no data yet",
        "not_measured_note": (
            "“no data yet”: none of the group's indicators could be computed in the period (no dossiers, "
            "events, or imported figures — e.g. procedure disclosure not imported); the group counts 0 "
            "points, which is not a measured 0."
        ),
        "pooled_note": "Levels and the province are scored on the agencies' pooled figures, not averaged points.",
        "rules": "How it is computed",
        "formula": (
            "Each indicator's points = its maximum × numerator / denominator, rounded to 2 decimals; a group's "
            "and the total points are their sums; agencies are ranked by total points within their level, "
            "ties sharing a rank. Every assumption: the JSON report, its “rules”."
        ),
        "version": "data version",
        "exports": "Export the scores",
    },
}


def _group_measured(group: Mapping[str, Any]) -> bool:
    return any(i["measured"] for i in group["indicators"])


def _score_figures(prefix: str, item: Mapping[str, Any], f: Figures, missing: str) -> None:
    """``<prefix>.total_points`` and ``<prefix>.g.<group>`` (points, 2 decimals; a group with no
    measured indicator is ``missing``, not a silent 0)."""
    f.values[f"{prefix}.total_points"] = formatting.decimal(item["total_points"], 2, f.lang)
    for g in item["groups"]:
        key = f"{prefix}.g.{g['code']}"
        f.values[key] = formatting.decimal(g["points"], 2, f.lang) if _group_measured(g) else missing


async def index766(
    conn: Conn, b: reports.Bounds, agencies: Sequence[str] | None, lang: Lang
) -> tuple[Figures, dict[str, Any]]:
    """The Decision 766 points of the caller's scope: :func:`reports.index766_report`, as the API."""
    w = INDEX766_WORDS[lang]
    f = Figures(lang)
    doc = await reports.index766_report(conn, b, None, agencies)
    rules = doc["rules"]
    groups = [
        {
            "code": g["code"],
            "name": vocabulary.index766_group(g["code"], g["name"], lang),
            "max": formatting.decimal(g["points"], 0, lang),
        }
        for g in rules["groups"]
    ]
    _score_figures("i766.total", doc["totals"], f, w["not_measured"])
    order = list(vocabulary.LEVEL)
    levels = sorted(
        doc["levels"], key=lambda lv: order.index(lv["level"]) if lv["level"] in order else len(order)
    )
    for lv in levels:
        _score_figures(f"i766.level.{lv['level']}", lv, f, w["not_measured"])
        f.count(f"i766.level.{lv['level']}.agencies", lv["agencies"])
    rows = sorted(
        doc["rows"],
        key=lambda r: (order.index(r["level"]) if r["level"] in order else len(order), r["rank"]),
    )
    for r in rows:
        code = r["agency_code"]
        _score_figures(f"i766.row.{code}", r, f, w["not_measured"])
        f.count(f"i766.row.{code}.rank", r["rank"])
        f.count(f"i766.row.{code}.ranked_among", r["ranked_among"])
    return f, {
        "groups": groups,
        "levels": [lv["level"] for lv in levels],
        "rows": [
            {
                "code": r["agency_code"],
                "name": r["name"] or r["agency_code"],
                "level": r["level"],
                "rank": r["rank"],
            }
            for r in rows
        ],
        "rules": {
            "decision": rules["decision"],
            "version": rules["version"],
            "source": rules["source"],
            "max": formatting.decimal(rules["max_points"], 0, lang),
        },
    }


# --- names of the control slip's units -------------------------------------------------------------


@functools.cache
def _unit_names() -> dict[str, dict[str, str]]:
    text = (files("services.reporting.data") / "units.toml").read_text(encoding="utf-8")
    return {lang: dict(names) for lang, names in tomllib.loads(text).items()}


def unit_name(code: str | None, lang: Lang) -> str:
    """A unit's name (``data/units.toml``); an unknown code as it is."""
    if not code:
        return ""
    return _unit_names().get(lang, {}).get(code, code)
