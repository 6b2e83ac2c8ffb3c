"""Static checks of the monitoring stack: Prometheus scrape config and alert rules, Grafana provisioning
and dashboards (deploy/prometheus/, deploy/grafana/), against the code's declared metrics.

Every metric name an alert or a dashboard uses must be declared in ``shared/metrics.py``, with the
labels the expression selects or groups by; a renamed metric or label breaks this test instead of a
dashboard panel that silently shows "No data". Pure file inspection, except that ``promtool`` (Debian
package ``prometheus``) checks the config and the rules, and runs ``alerts.test.yml``, when installed.
"""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics import MetricWrapperBase
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

import shared.metrics
from shared.settings import CommonSettings, Topics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
PROMETHEUS_CONFIG = PROMETHEUS_DIR / "prometheus.yml"
ALERTS_FILE = PROMETHEUS_DIR / "alerts.yml"
ALERTS_TEST_FILE = PROMETHEUS_DIR / "alerts.test.yml"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DATASOURCES_DIR = GRAFANA_DIR / "provisioning" / "datasources"
DASHBOARD_PROVIDERS_DIR = GRAFANA_DIR / "provisioning" / "dashboards"
DASHBOARDS_DIR = GRAFANA_DIR / "dashboards"
SCALE_OVERRIDE = ROOT / "deploy" / "compose.scale.yml"
RUNBOOK = ROOT / "docs" / "operations.md"

APP_SERVICES = ("registry", "processing", "reporting")
#: Labels Prometheus attaches to every scraped series (the job is the service name, see prometheus.yml).
TARGET_LABELS = frozenset({"job", "instance"})
#: Series Prometheus makes itself, with the labels they carry beyond the target labels.
SYNTHETIC = {"up": frozenset()}

# ---------------------------------------------------------------------------------- declared metrics


@dataclass(frozen=True)
class Exposed:
    """One series name as scraped from /metrics, and the declared metric it belongs to."""

    family: str
    kind: str
    labels: frozenset[str]


def _declared_collectors() -> list[MetricWrapperBase]:
    return [v for v in vars(shared.metrics).values() if isinstance(v, MetricWrapperBase)]


def _exposed_names() -> dict[str, Exposed]:
    """Series name → declared metric, with prometheus_client's suffixes.

    ``Counter("tthc_x_total")`` is exposed as ``tthc_x_total`` (and ``tthc_x_created``);
    ``Histogram("tthc_y")`` as ``tthc_y_bucket`` (with ``le``), ``tthc_y_sum``, ``tthc_y_count``.
    """
    out: dict[str, Exposed] = {}
    for collector in _declared_collectors():
        (desc,) = collector.describe()
        labels = frozenset(collector._labelnames)  # no public accessor in prometheus_client
        suffixes: dict[str, frozenset[str]] = {
            "counter": {"_total": labels, "_created": labels},
            "gauge": {"": labels},
            "histogram": {"_bucket": labels | {"le"}, "_sum": labels, "_count": labels, "_created": labels},
            "summary": {"": labels | {"quantile"}, "_sum": labels, "_count": labels, "_created": labels},
            "info": {"_info": labels},
        }.get(desc.type, {"": labels})
        for suffix, series_labels in suffixes.items():
            out[desc.name + suffix] = Exposed(desc.name, desc.type, series_labels)
    return out


DECLARED = _exposed_names()


def test_declared_metrics_are_registered_and_named_tthc() -> None:
    registered = {family.name for family in REGISTRY.collect()}
    families = {e.family for e in DECLARED.values()}
    assert families, "shared/metrics.py declares no metric"
    assert families <= registered, f"declared but not in the default registry: {families - registered}"
    for family in families:
        assert re.fullmatch(r"tthc_[a-z0-9_]+", family), f"{family}: every metric is named tthc_…"


def test_exposed_names_follow_prometheus_client_suffixes() -> None:
    assert DECLARED["tthc_dlq_messages_total"].family == "tthc_dlq_messages"
    assert DECLARED["tthc_dlq_messages_total"].kind == "counter"
    assert "tthc_dlq_messages" not in DECLARED
    assert DECLARED["tthc_http_request_seconds_bucket"].labels == {"service", "route", "le"}
    assert DECLARED["tthc_http_request_seconds_count"].labels == {"service", "route"}
    assert DECLARED["tthc_consumer_lag_messages"].kind == "gauge"


# ------------------------------------------------------------------------------------- PromQL parsing

_TOKEN = re.compile(
    r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`"  # string literals: never metric names
    r"|(?P<grouping>\b(?:by|without|on|ignoring|group_left|group_right)\s*\((?P<glabels>[^)]*)\))"
    r"|(?P<name>\b[a-zA-Z_:][a-zA-Z0-9_:]*)(?P<call>\s*\()?(?P<matchers>\s*\{[^}]*\})?"
)
_MATCHER = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*\"((?:[^\"\\]|\\.)*)\"\s*,?")


@dataclass
class Selector:
    name: str
    matchers: list[tuple[str, str, str]]


@dataclass
class Parsed:
    selectors: list[Selector] = field(default_factory=list)
    grouping: list[str] = field(default_factory=list)


def parse_promql(expr: str) -> Parsed:
    """The metric selectors (``tthc_*`` and Prometheus's own ``up``) and the grouping labels of ``expr``.

    Not a PromQL parser: enough to find names, label matchers and by/without/on/ignoring lists.
    """
    parsed = Parsed()
    for m in _TOKEN.finditer(expr):
        if m.group("grouping"):
            parsed.grouping += [g.strip() for g in m.group("glabels").split(",") if g.strip()]
            continue
        name = m.group("name")
        if not name or m.group("call"):
            continue  # a string literal or a function call
        if not (name.startswith("tthc_") or name in SYNTHETIC):
            continue
        body = (m.group("matchers") or "").strip()[1:-1]
        matchers = [(lm.group(1), lm.group(2), lm.group(3)) for lm in _MATCHER.finditer(body)]
        consumed = "".join(lm.group(0) for lm in _MATCHER.finditer(body))
        assert consumed.strip() == body.strip(), f"cannot read the label matchers {{{body}}} in {expr!r}"
        parsed.selectors.append(Selector(name, matchers))
    return parsed


def test_promql_reader() -> None:
    p = parse_promql(
        'sum by (service, le) (rate(tthc_x_bucket{route!~"/metrics|/healthz", a="tthc_not_a_metric"}[5m]))'
        ' / on (service) group_left up{job="registry"} and tthc_y_total offset 1h'
    )
    assert [(s.name, s.matchers) for s in p.selectors] == [
        ("tthc_x_bucket", [("route", "!~", "/metrics|/healthz"), ("a", "=", "tthc_not_a_metric")]),
        ("up", [("job", "=", "registry")]),
        ("tthc_y_total", []),
    ]
    assert p.grouping == ["service", "le", "service"]
    assert parse_promql("histogram_quantile(0.99, rate(x[$__rate_interval]))").selectors == []


# ------------------------------------------------------------------------------------ where PromQL is


@dataclass(frozen=True)
class Query:
    where: str
    expr: str
    legend: str = ""


def _alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS_FILE.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _dashboards() -> dict[Path, dict[str, Any]]:
    return {p: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS_DIR.glob("*.json"))}


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])  # collapsed rows nest their panels


def _queries() -> list[Query]:
    queries = [
        Query(f"alerts.yml: {r.get('alert') or r.get('record')}", str(r["expr"])) for r in _alert_rules()
    ]
    for path, board in _dashboards().items():
        for panel in _panels(board["panels"]):
            for target in panel.get("targets") or []:
                where = f"{path.name}: panel {panel['id']} {panel.get('title')!r} {target.get('refId')}"
                queries.append(Query(where, target["expr"], target.get("legendFormat") or ""))
        for var in board.get("templating", {}).get("list", []):
            if var.get("type") == "query":
                q = var.get("query")
                queries.append(
                    Query(f"{path.name}: variable {var['name']}", q if isinstance(q, str) else q["query"])
                )
    return queries


QUERIES = _queries()


def _labels_of(name: str) -> frozenset[str]:
    if name in SYNTHETIC:
        return SYNTHETIC[name] | TARGET_LABELS
    return DECLARED[name].labels | TARGET_LABELS


def test_there_are_queries_to_check() -> None:
    assert sum(q.where.startswith("alerts.yml") for q in QUERIES) >= 4
    assert sum(".json" in q.where for q in QUERIES) >= 10


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.where)
def test_every_metric_used_is_declared(query: Query) -> None:
    selectors = parse_promql(query.expr).selectors
    assert selectors, f"{query.where}: no tthc_ metric or up in {query.expr!r}"
    for s in selectors:
        if s.name in SYNTHETIC:
            continue
        assert s.name in DECLARED, (
            f"{query.where}: {s.name} is not a series of any metric declared in shared/metrics.py "
            f"(known: {sorted(n for n in DECLARED if not n.endswith('_created'))})"
        )


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.where)
def test_every_label_used_exists_on_its_metric(query: Query) -> None:
    parsed = parse_promql(query.expr)
    known = [s for s in parsed.selectors if s.name in DECLARED or s.name in SYNTHETIC]
    for s in known:
        for label, _, _ in s.matchers:
            assert label in _labels_of(s.name), (
                f"{query.where}: {s.name} has no label {label!r} (it has {sorted(_labels_of(s.name))})"
            )
    available = frozenset().union(*(_labels_of(s.name) for s in known)) if known else TARGET_LABELS
    for label in parsed.grouping:
        assert label in available, f"{query.where}: groups by {label!r}, which none of its metrics has"
    legend_labels = set(re.findall(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}", query.legend))
    # An aggregation keeps only its grouping labels: a legend may name those (or, without any
    # aggregation, the metric's own labels).
    shown = set(parsed.grouping) if parsed.grouping else available
    assert legend_labels <= shown, f"{query.where}: legend {query.legend!r} names labels the result lacks"


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: q.where)
def test_up_selectors_name_scrape_jobs(query: Query) -> None:
    jobs = {j["job_name"] for j in _prometheus()["scrape_configs"]}
    for s in parse_promql(query.expr).selectors:
        if s.name != "up":
            continue
        for label, op, value in s.matchers:
            if label != "job":
                continue
            names = value.split("|") if op in {"=~", "!~"} else [value]
            assert set(names) <= jobs, f"{query.where}: job {value!r} is not scraped (jobs: {sorted(jobs)})"


# ------------------------------------------------------------------------------------------- alerts


def _metrics_of_rule(name: str) -> set[str]:
    (rule,) = [r for r in _alert_rules() if r.get("alert") == name]
    return {s.name for s in parse_promql(str(rule["expr"])).selectors}


def test_the_alerts_the_issue_asks_for_exist() -> None:
    names = {r.get("alert") for r in _alert_rules()}
    assert {"TthcConsumerLagHigh", "TthcDeadLetters", "TthcPendingOverdueSpike", "TthcServiceDown"} <= names
    assert "tthc_consumer_lag_messages" in _metrics_of_rule("TthcConsumerLagHigh")
    assert "tthc_dlq_messages_total" in _metrics_of_rule("TthcDeadLetters")
    assert "tthc_pending_overdue" in _metrics_of_rule("TthcPendingOverdueSpike")
    (down,) = [r for r in _alert_rules() if r.get("alert") == "TthcServiceDown"]
    assert re.fullmatch(r"up(\{[^}]*\})?\s*==\s*0", str(down["expr"]).strip())


def test_every_alert_has_severity_summary_and_a_runbook_section() -> None:
    runbook = RUNBOOK.read_text(encoding="utf-8")
    headings = {h.strip() for h in re.findall(r"^#+\s+(.+)$", runbook, flags=re.MULTILINE)}
    names = [r["alert"] for r in _alert_rules() if "alert" in r]
    assert len(names) == len(set(names)), "duplicate alert names"
    for rule in _alert_rules():
        name = rule.get("alert")
        if name is None:
            continue
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        assert rule["annotations"].get("summary"), f"{name}: no summary"
        assert rule["annotations"].get("runbook") == f"docs/operations.md#{name.lower()}", name
        assert name in headings, f"{name}: docs/operations.md has no section titled {name}"


def test_prometheus_loads_the_alert_rules_and_its_unit_tests_cover_every_alert() -> None:
    config = _prometheus()
    assert [(PROMETHEUS_DIR / f).resolve() for f in config["rule_files"]] == [ALERTS_FILE.resolve()]
    tests = yaml.safe_load(ALERTS_TEST_FILE.read_text(encoding="utf-8"))
    assert [(PROMETHEUS_DIR / f).resolve() for f in tests["rule_files"]] == [ALERTS_FILE.resolve()]
    expected = " ".join(
        s["labels"] for t in tests["tests"] for e in t.get("promql_expr_test", []) for s in e["exp_samples"]
    )
    for name in (r["alert"] for r in _alert_rules() if "alert" in r):
        assert f'alertname="{name}"' in expected, f"alerts.test.yml never expects {name} to fire"


# ------------------------------------------------------------------------------------ scrape config


def _prometheus() -> dict[str, Any]:
    data = yaml.safe_load(PROMETHEUS_CONFIG.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in service.get("ports", [])}


def _targets(job: dict[str, Any]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for sd in job.get("dns_sd_configs", []):
        assert sd.get("type", "SRV") == "A", f"{job['job_name']}: A records carry no port; SRV is not used"
        out += [(name, int(sd["port"])) for name in sd["names"]]
    for sc in job.get("static_configs", []):
        out += [(t.rsplit(":", 1)[0], int(t.rsplit(":", 1)[1])) for t in sc["targets"]]
    return out


@pytest.mark.parametrize("service", APP_SERVICES)
def test_prometheus_scrapes_each_service_at_the_port_it_listens_on(service: str) -> None:
    compose_services = _compose()["services"]
    jobs = {j["job_name"]: j for j in _prometheus()["scrape_configs"]}
    assert service in jobs, f"no scrape job {service!r} (the job name is the service name)"
    job = jobs[service]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert job.get("scheme", "http") == "http"
    port = CommonSettings.model_fields[f"{service}_port"].default
    env = compose_services[service].get("environment") or {}
    assert f"TTHC_{service.upper()}_PORT" not in env, "compose keeps the default port of the settings"
    assert _targets(job) == [(service, port)], f"{service} listens on {port} (shared/settings.py)"
    assert port in _container_ports(compose_services[service]), (
        f"compose does not expose {port} for {service}"
    )


def test_scrape_jobs_are_only_the_services_and_prometheus_itself() -> None:
    config = _prometheus()
    assert {j["job_name"] for j in config["scrape_configs"]} == {*APP_SERVICES, "prometheus"}
    assert "service" not in json.dumps(config.get("global", {}).get("external_labels", {}))
    for job in config["scrape_configs"]:
        for sc in job.get("static_configs", []):
            assert "service" not in (sc.get("labels") or {}), "the metrics carry their own service label"


def test_compose_mounts_the_prometheus_config_where_the_command_reads_it() -> None:
    prom = _compose()["services"]["prometheus"]
    flags = dict(
        a.split("=", 1) for a in prom["command"] if isinstance(a, str) and a.startswith("--") and "=" in a
    )
    config_path = flags["--config.file"]
    mounts = {m.split(":")[1]: m.split(":") for m in prom["volumes"]}
    config_dir = config_path.rsplit("/", 1)[0]
    assert config_dir in mounts, f"nothing is mounted at {config_dir}"
    source, _, *mode = mounts[config_dir]
    assert (ROOT / source).resolve() == PROMETHEUS_DIR.resolve() and mode == ["ro"]
    assert config_path.rsplit("/", 1)[1] == PROMETHEUS_CONFIG.name
    assert flags["--storage.tsdb.path"] in mounts, "the TSDB must be on a volume"
    assert "--web.enable-lifecycle" not in prom["command"], "would expose POST /-/quit"


# ---------------------------------------------------------------------------------------- promtool

# `make test` puts it in the venv (`make promtool`); one on the PATH does as well
_VENV_PROMTOOL = Path(sys.executable).parent / "promtool"
_PROMTOOL = str(_VENV_PROMTOOL) if _VENV_PROMTOOL.exists() else shutil.which("promtool")


@pytest.mark.parametrize(
    "args",
    [
        ["check", "config", PROMETHEUS_CONFIG.name],
        ["check", "rules", ALERTS_FILE.name],
        ["test", "rules", ALERTS_TEST_FILE.name],
    ],
    ids=["check-config", "check-rules", "test-rules"],
)
def test_promtool(args: list[str]) -> None:
    if _PROMTOOL is None:
        pytest.skip("promtool not installed: run `make promtool` (Debian package prometheus)")
    done = subprocess.run(
        [_PROMTOOL, *args], cwd=PROMETHEUS_DIR, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"


# ----------------------------------------------------------------------------------------- Grafana


def _provisioned_datasources() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(DATASOURCES_DIR.glob("*.y*ml")):
        out += yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    return out


def _grafana_mounts() -> dict[str, Path]:
    grafana = _compose()["services"]["grafana"]
    out: dict[str, Path] = {}
    for m in grafana["volumes"]:
        source, target, *_ = m.split(":")
        if source.startswith("."):
            out[target] = (ROOT / source).resolve()
    return out


def test_one_prometheus_datasource_points_at_the_compose_service() -> None:
    (ds,) = _provisioned_datasources()
    assert ds["type"] == "prometheus" and ds["uid"] and ds.get("isDefault") is True
    url = re.fullmatch(r"http://([a-z0-9-]+):(\d+)/?", ds["url"])
    assert url, ds["url"]
    prom = _compose()["services"]
    assert url.group(1) == "prometheus" and url.group(1) in prom
    assert int(url.group(2)) in _container_ports(prom["prometheus"])
    scrape = _prometheus()["global"]["scrape_interval"]
    assert ds.get("jsonData", {}).get("timeInterval") == scrape, "timeInterval = the scrape interval"


def test_grafana_provisioning_is_mounted_and_reads_the_dashboards_folder() -> None:
    mounts = _grafana_mounts()
    assert mounts.get("/etc/grafana/provisioning/datasources") == DATASOURCES_DIR.resolve()
    assert mounts.get("/etc/grafana/provisioning/dashboards") == DASHBOARD_PROVIDERS_DIR.resolve()
    providers = [
        p
        for path in sorted(DASHBOARD_PROVIDERS_DIR.glob("*.y*ml"))
        for p in yaml.safe_load(path.read_text(encoding="utf-8"))["providers"]
    ]
    assert providers
    for provider in providers:
        assert provider["type"] == "file"
        assert mounts.get(provider["options"]["path"]) == DASHBOARDS_DIR.resolve(), provider
    home = _compose()["services"]["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    folder, _, name = home.rpartition("/")
    assert mounts.get(folder) == DASHBOARDS_DIR.resolve() and (DASHBOARDS_DIR / name).is_file()


def test_dashboards_are_the_two_expected_ones_with_unique_uids() -> None:
    boards = _dashboards()
    titles = {b["title"] for b in boards.values()}
    assert {"TTHC Monitor — operations", "TTHC Monitor — compliance"} <= titles
    uids = [b["uid"] for b in boards.values()]
    assert len(uids) == len(set(uids)) and all(uids)
    for path, board in boards.items():
        assert board.get("id") is None, f"{path.name}: provisioned dashboards carry no numeric id"


@pytest.mark.parametrize("path", sorted(DASHBOARDS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_dashboard_panels_are_well_formed(path: Path) -> None:
    board = json.loads(path.read_text(encoding="utf-8"))
    (ds,) = _provisioned_datasources()
    panels = list(_panels(board["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), (
        f"{path.name}: duplicate panel ids {sorted(i for i in ids if ids.count(i) > 1)}"
    )
    for panel in panels:
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24 and pos["h"] > 0, f"panel {panel['id']}: {pos}"
        targets = panel.get("targets") or []
        if panel["type"] in {"row", "text"}:
            assert not targets
            continue
        assert targets, f"panel {panel['id']} {panel['title']!r} has no query"
        refs = [t["refId"] for t in targets]
        assert len(refs) == len(set(refs)), f"panel {panel['id']}: duplicate refIds"
        for holder in (panel, *targets):
            assert holder.get("datasource") == {"type": ds["type"], "uid": ds["uid"]}, (
                f"{path.name}: panel {panel['id']} {panel['title']!r} does not use the provisioned datasource"
            )


def _dashboard_metrics(title: str) -> set[str]:
    (board,) = [b for b in _dashboards().values() if b["title"] == title]
    return {
        DECLARED[s.name].family
        for p in _panels(board["panels"])
        for t in p.get("targets") or []
        for s in parse_promql(t["expr"]).selectors
        if s.name in DECLARED
    }


def test_operations_dashboard_shows_the_pipeline() -> None:
    used = _dashboard_metrics("TTHC Monitor — operations")
    assert {
        "tthc_events_processed",
        "tthc_consumer_batch_seconds",
        "tthc_consumer_lag_messages",
        "tthc_dlq_messages",
        "tthc_http_requests",
        "tthc_http_request_seconds",
        "tthc_nonconformities_raised",
    } <= used


def test_compliance_dashboard_shows_the_reporting_gauges() -> None:
    used = _dashboard_metrics("TTHC Monitor — compliance")
    gauges = {"tthc_on_time_rate", "tthc_pending_overdue", "tthc_open_nonconformities"}
    assert gauges & {e.family for e in DECLARED.values()} <= used


# ------------------------------------------------------------------------------------------ scaling


class _ComposeLoader(yaml.SafeLoader):
    """Reads compose override files: `!reset` / `!override` are compose tags, not YAML errors."""


_ComposeLoader.add_constructor("!reset", lambda loader, node: ("!reset", loader.construct_sequence(node)))


def test_scale_override_only_frees_the_processing_host_port() -> None:
    data = yaml.load(SCALE_OVERRIDE.read_text(encoding="utf-8"), Loader=_ComposeLoader)
    assert data == {"services": {"processing": {"ports": ("!reset", [])}}}
    assert "processing" in _compose()["services"]


# ------------------------------------------------------------------------------------------ runbook


def _settings_classes() -> list[type[BaseSettings]]:
    classes: list[type[BaseSettings]] = [CommonSettings, Topics]
    for path in sorted((ROOT / "services").glob("*/settings.py")):
        module = importlib.import_module(f"services.{path.parent.name}.settings")
        classes += [
            c
            for c in vars(module).values()
            if isinstance(c, type) and issubclass(c, BaseSettings) and c.__module__ == module.__name__
        ]
    return classes


def _env_names(cls: type[BaseSettings]) -> list[str]:
    prefix = cls.model_config.get("env_prefix", "")
    names = []
    for name, f in cls.model_fields.items():
        if isinstance(f.default_factory, type) and issubclass(f.default_factory, BaseSettings):
            continue  # a nested settings class (Topics), listed on its own
        alias = f.validation_alias
        names.append(str(alias.choices[0]) if isinstance(alias, AliasChoices) else f"{prefix}{name}".upper())
    return names


def test_the_runbook_lists_every_setting() -> None:
    runbook = RUNBOOK.read_text(encoding="utf-8")
    classes = _settings_classes()
    assert len(classes) >= 3  # at least CommonSettings, Topics and one service class
    missing = sorted({n for c in classes for n in _env_names(c) if f"`{n}`" not in runbook})
    assert not missing, f"docs/operations.md, 'Settings reference', lacks: {', '.join(missing)}"
