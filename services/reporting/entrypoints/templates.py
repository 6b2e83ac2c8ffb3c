"""Dashboard templates (Jinja2) and their two languages.

Kept in a Python module rather than ``*.html`` files so that they ship with the package
whatever the packaging rules (package data lists only SQL, JSON and TOML).
"""

from __future__ import annotations

from jinja2 import DictLoader, Environment, select_autoescape

TEXT: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Giám sát giải quyết TTHC",
        "overview": "Tổng quan toàn tỉnh",
        "period": "Kỳ",
        "calendar": "Lịch",
        "calendar_calendar": "theo tháng",
        "calendar_statutory": "kỳ báo cáo (15 → 14)",
        "show": "Xem",
        "received": "Hồ sơ tiếp nhận",
        "resolved": "Đã giải quyết",
        "on_time_rate": "Tỷ lệ đúng hạn",
        "on_time_rate_index": "Đúng hạn (Bộ chỉ số)",
        "online_rate": "Tỷ lệ trực tuyến",
        "avg_days": "Thời gian TB (ngày làm việc)",
        "pending_overdue": "Đang giải quyết quá hạn",
        "open_ncs": "Không phù hợp chưa đóng",
        "qms_announced": "Cơ quan đã công bố ISO",
        "trend": "Tỷ lệ đúng hạn theo tháng",
        "late_overdue": "Trễ hạn và quá hạn theo cơ quan",
        "resolved_late": "Giải quyết quá hạn",
        "ncs_by_code": "Sự không phù hợp theo loại",
        "qms_adoption": "Áp dụng HTQLCL ISO 9001:2015",
        "announced": "Đã công bố",
        "not_announced": "Chưa công bố",
        "mandatory": "Bắt buộc",
        "encouraged": "Khuyến khích",
        "agencies": "Cơ quan",
        "agency": "Cơ quan",
        "level": "Cấp",
        "procedures": "Thủ tục",
        "procedure": "Thủ tục",
        "field": "Lĩnh vực",
        "received_total": "Tổng nhận",
        "carried_over": "Kỳ trước chuyển qua",
        "resolved_total": "Đã giải quyết",
        "resolved_early": "Trước hạn",
        "resolved_on_time": "Đúng hạn",
        "pending_total": "Đang giải quyết",
        "pending_within": "Trong hạn",
        "dossiers": "Hồ sơ",
        "dossier": "Hồ sơ",
        "status": "Trạng thái",
        "outcome": "Kết quả",
        "channel": "Kênh",
        "accepted_at": "Tiếp nhận",
        "due_at": "Hạn trả",
        "index_due_at": "Hạn (Bộ chỉ số)",
        "resolved_at": "Giải quyết xong",
        "control_slip": "Phiếu kiểm soát quá trình giải quyết hồ sơ",
        "step": "Bước",
        "unit": "Đơn vị",
        "to_unit": "Chuyển cho",
        "received_step": "Nhận lúc",
        "handed_over": "Giao lúc",
        "budget": "Thời gian quy định",
        "no_steps": "Chưa có bước xử lý nào được ghi nhận.",
        "nonconformities": "Sự không phù hợp",
        "code": "Mã",
        "clause": "Điều khoản",
        "detected_at": "Phát hiện",
        "detail": "Chi tiết",
        "none": "Không có.",
        "back": "Quay lại",
        "exports": "Tải báo cáo",
        "language": "English",
        "page": "Trang",
        "next": "Sau",
        "previous": "Trước",
        "no_data": "Chưa có số liệu trong kỳ.",
        "early": "trước hạn",
        "on_time": "đúng hạn",
        "late": "quá hạn",
        "pending_within_o": "trong hạn",
        "pending_overdue_o": "quá hạn",
        "not_accepted": "không tiếp nhận",
        "withdrawn": "rút hồ sơ",
        "stopped": "dừng xử lý",
        "open": "mở",
        "corrective_action": "đang khắc phục",
        "closed": "đã đóng",
    },
    "en": {
        "title": "TTHC dossier monitoring",
        "overview": "Province overview",
        "period": "Period",
        "calendar": "Calendar",
        "calendar_calendar": "calendar months",
        "calendar_statutory": "statutory (15th → 14th)",
        "show": "Show",
        "received": "Dossiers received",
        "resolved": "Resolved",
        "on_time_rate": "On-time rate",
        "on_time_rate_index": "On time (national index)",
        "online_rate": "Online rate",
        "avg_days": "Average time (working days)",
        "pending_overdue": "Pending overdue",
        "open_ncs": "Open nonconformities",
        "qms_announced": "Agencies with an announced QMS",
        "trend": "On-time rate per month",
        "late_overdue": "Late and overdue by agency",
        "resolved_late": "Resolved late",
        "ncs_by_code": "Nonconformities by code",
        "qms_adoption": "ISO 9001:2015 QMS adoption",
        "announced": "Announced",
        "not_announced": "Not announced",
        "mandatory": "Mandatory",
        "encouraged": "Encouraged",
        "agencies": "Agencies",
        "agency": "Agency",
        "level": "Level",
        "procedures": "Procedures",
        "procedure": "Procedure",
        "field": "Field",
        "received_total": "Received",
        "carried_over": "Carried over",
        "resolved_total": "Resolved",
        "resolved_early": "Early",
        "resolved_on_time": "On time",
        "pending_total": "Pending",
        "pending_within": "Within time",
        "dossiers": "Dossiers",
        "dossier": "Dossier",
        "status": "Status",
        "outcome": "Outcome",
        "channel": "Channel",
        "accepted_at": "Accepted",
        "due_at": "Due",
        "index_due_at": "Due (national index)",
        "resolved_at": "Resolved",
        "control_slip": "Control slip",
        "step": "Step",
        "unit": "Unit",
        "to_unit": "Handed to",
        "received_step": "Received",
        "handed_over": "Handed over",
        "budget": "Budget",
        "no_steps": "No processing step recorded yet.",
        "nonconformities": "Nonconformities",
        "code": "Code",
        "clause": "Clause",
        "detected_at": "Detected",
        "detail": "Detail",
        "none": "None.",
        "back": "Back",
        "exports": "Download",
        "language": "Tiếng Việt",
        "page": "Page",
        "next": "Next",
        "previous": "Previous",
        "no_data": "No data in this period.",
        "early": "early",
        "on_time": "on time",
        "late": "late",
        "pending_within_o": "pending, within time",
        "pending_overdue_o": "pending, overdue",
        "not_accepted": "not accepted",
        "withdrawn": "withdrawn",
        "stopped": "stopped",
        "open": "open",
        "corrective_action": "corrective action",
        "closed": "closed",
    },
}

_BASE = """<!doctype html>
<html lang="{{ lang }}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t.title }} — {% block title %}{% endblock %}</title>
<script src="/dashboard/static/plotly.min.js"></script>
<style>
 body { font-family: "Segoe UI", Roboto, Arial, sans-serif; margin: 0; color: #1d2733; background: #f4f6f9; }
 header { background: #a3161a; color: #fff; padding: .7rem 1.2rem; display: flex; align-items: center; gap: 1rem; }
 header a { color: #fff; }
 header h1 { font-size: 1.15rem; margin: 0; flex: 1; }
 main { padding: 1rem 1.2rem; }
 .kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: .6rem; }
 .kpi { background: #fff; border-radius: 6px; padding: .6rem .8rem; box-shadow: 0 1px 2px #0002; }
 .kpi b { display: block; font-size: 1.5rem; }
 .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: .8rem; margin-top: .8rem; }
 .card { background: #fff; border-radius: 6px; padding: .6rem; box-shadow: 0 1px 2px #0002; }
 .chart { height: 320px; }
 table { border-collapse: collapse; width: 100%; background: #fff; font-size: .9rem; }
 th, td { border: 1px solid #d5dbe3; padding: .3rem .45rem; text-align: right; }
 th { background: #e9edf2; text-align: center; }
 td.l { text-align: left; }
 form.period { display: flex; gap: .5rem; align-items: center; margin-bottom: .8rem; }
 .muted { color: #5b6775; }
 .late { color: #a3161a; font-weight: 600; }
</style>
</head>
<body>
<header>
 <h1><a href="/dashboard?{{ q }}">{{ t.title }}</a></h1>
 <a id="lang-switch" href="?{{ switch_q }}">{{ t.language }}</a>
</header>
<main>
{% block body %}{% endblock %}
</main>
</body>
</html>
"""

_PERIOD_FORM = """
<form class="period" method="get">
 <label>{{ t.period }} <input name="period" value="{{ period }}" size="8"></label>
 <label>{{ t.calendar }} <select name="calendar">
  {% for c in ("calendar", "statutory") %}<option value="{{ c }}" {{ "selected" if c == calendar }}>{{ t["calendar_" ~ c] }}</option>{% endfor %}
 </select></label>
 <input type="hidden" name="lang" value="{{ lang }}">
 <button type="submit">{{ t.show }}</button>
 <span class="muted">{{ bounds.first }} → {{ bounds.last }}</span>
</form>
"""

_FORM06_HEAD = """
<tr><th rowspan="2">{{ first_heading }}</th><th colspan="2">{{ t.received_total }}</th>
<th colspan="4">{{ t.resolved_total }}</th><th colspan="3">{{ t.pending_total }}</th></tr>
<tr><th>{{ t.received_total }}</th><th>{{ t.carried_over }}</th><th>{{ t.resolved_total }}</th>
<th>{{ t.resolved_early }}</th><th>{{ t.resolved_on_time }}</th><th>{{ t.late }}</th>
<th>{{ t.pending_total }}</th><th>{{ t.pending_within }}</th><th>{{ t.pending_overdue }}</th></tr>
"""

_FORM06_CELLS = """<td>{{ r.received_total }}</td><td>{{ r.carried_over }}</td><td>{{ r.resolved_total }}</td>
<td>{{ r.resolved_early }}</td><td>{{ r.resolved_on_time }}</td><td class="{{ 'late' if r.resolved_late }}">{{ r.resolved_late }}</td>
<td>{{ r.pending_total }}</td><td>{{ r.pending_within }}</td><td class="{{ 'late' if r.pending_overdue }}">{{ r.pending_overdue }}</td>"""

_OVERVIEW = (
    """{% extends "base.html" %}
{% block title %}{{ t.overview }}{% endblock %}
{% block body %}
<h2>{{ t.overview }}</h2>
"""
    + _PERIOD_FORM
    + """
<div class="kpis">
 <div class="kpi">{{ t.received }}<b id="kpi-received">{{ ind.received }}</b></div>
 <div class="kpi">{{ t.resolved }}<b>{{ ind.resolved }}</b></div>
 <div class="kpi">{{ t.on_time_rate }}<b id="kpi-on-time">{{ pct(ind.on_time_rate) }}</b></div>
 <div class="kpi">{{ t.on_time_rate_index }}<b>{{ pct(ind.on_time_rate_index) }}</b></div>
 <div class="kpi">{{ t.online_rate }}<b>{{ pct(ind.online_rate) }}</b></div>
 <div class="kpi">{{ t.avg_days }}<b>{{ ind.average_processing_working_days if ind.average_processing_working_days is not none else "—" }}</b></div>
 <div class="kpi">{{ t.pending_overdue }}<b>{{ form.totals.pending_overdue }}</b></div>
 <div class="kpi">{{ t.open_ncs }}<b>{{ open_ncs }}</b></div>
 <div class="kpi">{{ t.qms_announced }}<b>{{ qms.announced }} / {{ qms.agencies_total }}</b></div>
</div>
<div class="grid">
 <div class="card"><div id="chart-trend" class="chart"></div></div>
 <div class="card"><div id="chart-late" class="chart"></div></div>
 <div class="card"><div id="chart-ncs" class="chart"></div></div>
 <div class="card"><div id="chart-qms" class="chart"></div></div>
</div>
<h3>{{ t.agencies }}</h3>
<p>{{ t.exports }}: Biểu 06
 <a href="/api/v1/reports/form06?{{ q }}&format=xlsx">XLSX</a> · <a href="/api/v1/reports/form06?{{ q }}&format=csv">CSV</a> ·
 <a href="/api/v1/reports/form06?{{ q }}">JSON</a></p>
{% if form.rows %}
<table id="agencies">
"""
    + _FORM06_HEAD.replace("{{ first_heading }}", "{{ t.agency }}")
    + """
{% for r in form.rows %}
<tr><td class="l"><a class="agency-link" href="/dashboard/agency/{{ r.agency_code }}?{{ q }}">{{ form.agencies[r.agency_code].name or r.agency_code }}</a>
 <span class="muted">{{ r.agency_code }}</span></td>"""
    + _FORM06_CELLS
    + """</tr>
{% endfor %}
<tr><th class="l">∑</th>"""
    + _FORM06_CELLS.replace("r.", "form.totals.").replace("<td", "<th").replace("</td>", "</th>")
    + """</tr>
</table>
{% else %}<p>{{ t.no_data }}</p>{% endif %}
<script>
 const charts = {{ charts | tojson }};
 const cfg = {displaylogo: false, responsive: true, staticPlot: false};
 for (const [id, fig] of Object.entries(charts)) {
   Plotly.newPlot(id, fig.data, fig.layout, cfg).then(gd => { gd.dataset.rendered = "1"; });
 }
</script>
{% endblock %}
"""
)

_AGENCY = (
    """{% extends "base.html" %}
{% block title %}{{ name }}{% endblock %}
{% block body %}
<p><a href="/dashboard?{{ q }}">← {{ t.overview }}</a></p>
<h2>{{ name }} <span class="muted">{{ code }}</span></h2>
"""
    + _PERIOD_FORM
    + """
<div class="card"><div id="chart-procedures" class="chart"></div></div>
<h3>{{ t.procedures }}</h3>
{% if procedures %}
<table id="procedures">
<tr><th>{{ t.procedure }}</th><th>{{ t.field }}</th><th>{{ t.received }}</th><th>{{ t.resolved_early }}</th>
<th>{{ t.resolved_on_time }}</th><th>{{ t.late }}</th><th>{{ t.on_time_rate }}</th><th>{{ t.pending_total }}</th><th>{{ t.pending_overdue }}</th></tr>
{% for p in procedures %}
<tr><td class="l"><a class="procedure-link" href="/dashboard/agency/{{ code }}/procedure/{{ p.procedure_code }}?{{ q }}">{{ p.procedure_code }}</a>
 {{ p.name or "" }}</td><td class="l">{{ p.field_label }}</td><td>{{ p.received }}</td><td>{{ p.resolved_early }}</td>
 <td>{{ p.resolved_on_time }}</td><td class="{{ 'late' if p.resolved_late }}">{{ p.resolved_late }}</td>
 <td>{{ pct(p.on_time_rate) }}</td><td>{{ p.pending }}</td><td class="{{ 'late' if p.overdue }}">{{ p.overdue }}</td></tr>
{% endfor %}
</table>
{% else %}<p>{{ t.no_data }}</p>{% endif %}
<script>
 const fig = {{ chart | tojson }};
 Plotly.newPlot("chart-procedures", fig.data, fig.layout, {displaylogo: false, responsive: true})
   .then(gd => { gd.dataset.rendered = "1"; });
</script>
{% endblock %}
"""
)

_PROCEDURE = (
    """{% extends "base.html" %}
{% block title %}{{ procedure_code }}{% endblock %}
{% block body %}
<p><a href="/dashboard/agency/{{ code }}?{{ q }}">← {{ name }}</a></p>
<h2>{{ procedure_code }} {{ procedure_name or "" }}</h2>
<p class="muted">{{ name }} ({{ code }})</p>
"""
    + _PERIOD_FORM
    + """
{% if dossiers %}
<table id="dossiers">
<tr><th>{{ t.dossier }}</th><th>{{ t.channel }}</th><th>{{ t.accepted_at }}</th><th>{{ t.due_at }}</th>
<th>{{ t.resolved_at }}</th><th>{{ t.outcome }}</th><th>{{ t.nonconformities }}</th></tr>
{% for d in dossiers %}
<tr><td class="l"><a class="dossier-link" href="/dashboard/dossier/{{ d.dossier_code }}?{{ q }}">{{ d.dossier_code }}</a></td>
<td>{{ d.channel or "" }}</td><td>{{ when(d.accepted_at) }}</td><td>{{ when(d.due_at) }}</td><td>{{ when(d.resolved_at) }}</td>
<td class="{{ 'late' if d.outcome in ('late', 'pending_overdue') }}">{{ outcome(d.outcome) }}</td><td>{{ d.nonconformities }}</td></tr>
{% endfor %}
</table>
<p>{{ t.page }} {{ page }} / {{ pages }}
{% if page > 1 %}<a href="?{{ q }}&page={{ page - 1 }}">{{ t.previous }}</a>{% endif %}
{% if page < pages %}<a href="?{{ q }}&page={{ page + 1 }}">{{ t.next }}</a>{% endif %}</p>
{% else %}<p>{{ t.no_data }}</p>{% endif %}
{% endblock %}
"""
)

_DOSSIER = """{% extends "base.html" %}
{% block title %}{{ d.dossier_code }}{% endblock %}
{% block body %}
<p><a href="/dashboard/agency/{{ d.agency_code }}/procedure/{{ d.procedure_code }}?{{ q }}">← {{ d.procedure_code }}</a></p>
<h2>{{ t.dossier }} {{ d.dossier_code }}</h2>
<table id="summary" style="max-width: 760px">
<tr><th>{{ t.agency }}</th><td class="l">{{ d.agency_code }}</td></tr>
<tr><th>{{ t.procedure }}</th><td class="l">{{ d.procedure_code }}</td></tr>
<tr><th>{{ t.status }}</th><td class="l">{{ d.status }}</td></tr>
<tr><th>{{ t.outcome }}</th><td class="l">{{ outcome(d.outcome) }}</td></tr>
<tr><th>{{ t.channel }}</th><td class="l">{{ d.channel or "" }}</td></tr>
<tr><th>{{ t.accepted_at }}</th><td class="l">{{ when(d.accepted_at) }}</td></tr>
<tr><th>{{ t.due_at }}</th><td class="l">{{ when(d.due_at) }}</td></tr>
<tr><th>{{ t.index_due_at }}</th><td class="l">{{ when(d.index_due_at) }}</td></tr>
<tr><th>{{ t.resolved_at }}</th><td class="l">{{ when(d.resolved_at) }}</td></tr>
</table>
<h3>{{ t.control_slip }}</h3>
{% if d.steps %}
<table id="control-slip">
<tr><th>#</th><th>{{ t.step }}</th><th>{{ t.unit }}</th><th>{{ t.to_unit }}</th><th>{{ t.received_step }}</th>
<th>{{ t.handed_over }}</th><th>{{ t.budget }}</th><th>{{ t.due_at }}</th><th>{{ t.outcome }}</th></tr>
{% for s in d.steps %}
<tr><td>{{ loop.index }}</td><td class="l">{{ s.step_code }}</td><td class="l">{{ s.unit }}</td><td class="l">{{ s.to_unit or "" }}</td>
<td>{{ when(s.received_at) }}</td><td>{{ when(s.handed_over_at) }}</td>
<td>{% if s.budget %}{{ s.budget.value }} {{ s.budget.unit }}{% endif %}</td><td>{{ when(s.due_at) }}</td>
<td class="{{ 'late' if s.status == 'late' }}">{{ outcome(s.status) if s.status else "" }}</td></tr>
{% endfor %}
</table>
{% else %}<p id="no-steps">{{ t.no_steps }}</p>{% endif %}
<h3>{{ t.nonconformities }}</h3>
{% if d.nonconformities %}
<table id="nonconformities">
<tr><th>{{ t.code }}</th><th>{{ t.clause }}</th><th>{{ t.status }}</th><th>{{ t.detected_at }}</th><th>{{ t.detail }}</th></tr>
{% for n in d.nonconformities %}
<tr><td class="l">{{ n.code }}</td><td>{{ n.clause }}</td><td>{{ t[n.status or "open"] }}</td><td>{{ when(n.detected_at) }}</td><td class="l">{{ n.detail }}</td></tr>
{% endfor %}
</table>
{% else %}<p>{{ t.none }}</p>{% endif %}
{% endblock %}
"""

ENV = Environment(
    loader=DictLoader(
        {
            "base.html": _BASE,
            "overview.html": _OVERVIEW,
            "agency.html": _AGENCY,
            "procedure.html": _PROCEDURE,
            "dossier.html": _DOSSIER,
        }
    ),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
