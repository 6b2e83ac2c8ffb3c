"""Static checks of the production deployment files (docker-compose.yml, deploy/Dockerfile).

The monitoring configuration itself (deploy/prometheus/, deploy/grafana/) is checked against the
code's metrics in test_observability.py; here only how compose runs it.

Pure file inspection: no Docker engine is needed. Compose-style ``${VAR:-default}`` interpolation is
resolved with the defaults, as ``docker compose`` would with an empty environment.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"

APP_PORTS = {"registry": 8001, "processing": 8002, "reporting": 8003}
APP_IMAGE_REPO = "tthc-monitor"
ONE_SHOT = {"init"}
#: Monitoring services, the port each listens on in its container, and its official image.
MONITORING = {"prometheus": (9090, "prom/prometheus"), "grafana": (3000, "grafana/grafana")}

_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}")


def _interpolate(value: Any) -> Any:
    """Resolve ``${VAR}`` / ``${VAR:-default}`` with their defaults (empty when there is none)."""
    if isinstance(value, str):
        return _INTERPOLATION.sub(lambda m: m.group("default") or "", value)
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    return value


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file(), f"missing {COMPOSE_FILE}"
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))  # resolves anchors and `<<` merges
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return _interpolate(data)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # `- KEY=value` form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command")
    if cmd is None:
        return []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def _healthcheck_text(service: dict[str, Any]) -> str:
    test = (service.get("healthcheck") or {}).get("test")
    return " ".join(test) if isinstance(test, list) else str(test or "")


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and backslash continuations joined."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    logical: list[str] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        logical.append(buf + line)
        buf = ""
    if buf:
        logical.append(buf)
    out = []
    for line in logical:
        instr, _, args = line.partition(" ")
        out.append((instr.upper(), args.strip()))
    return out


def _image_is_pinned(image: str) -> bool:
    name, _, digest = image.partition("@")
    if digest:
        return digest.startswith("sha256:")
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return False
    tag = last.rsplit(":", 1)[1]
    return bool(tag) and tag != "latest"


# --------------------------------------------------------------------------------------------- images


def test_pinning_helper_rejects_floating_tags() -> None:
    assert _image_is_pinned("apache/kafka:3.9.1")
    assert _image_is_pinned("localhost:5000/x/y:1.2")
    assert not _image_is_pinned("postgres")
    assert not _image_is_pinned("postgres:latest")
    assert not _image_is_pinned("localhost:5000/postgres")


def test_every_image_is_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        image = svc.get("image")
        assert image or svc.get("build"), f"{name}: neither image nor build"
        if image is None:
            continue
        assert _image_is_pinned(image), f"{name}: image {image!r} is not pinned to a version"


def test_infrastructure_images_are_the_official_ones(services: dict[str, dict[str, Any]]) -> None:
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert re.fullmatch(r"postgres:17\.\d+(-\S+)?", services["postgres"]["image"])
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", services["prometheus"]["image"])
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", services["grafana"]["image"])
    for name in ("kafka", "postgres", *MONITORING):
        assert "build" not in services[name], f"{name} must use the upstream image, not a local build"


def test_app_services_share_one_locally_built_image(services: dict[str, dict[str, Any]]) -> None:
    images = set()
    for name in [*APP_PORTS, *ONE_SHOT]:
        svc = services[name]
        build = svc.get("build")
        assert isinstance(build, dict), f"{name}: must build the app image"
        assert (ROOT / build.get("context", ".")).resolve() == ROOT, f"{name}: context must be repo root"
        dockerfile = (ROOT / build.get("context", ".") / build["dockerfile"]).resolve()
        assert dockerfile == DOCKERFILE.resolve(), f"{name}: builds {dockerfile}, expected deploy/Dockerfile"
        images.add(svc["image"])
    assert DOCKERFILE.is_file()
    assert len(images) == 1, f"app services use different images: {images}"
    (image,) = images
    assert image.split(":")[0] == APP_IMAGE_REPO and _image_is_pinned(image)


# --------------------------------------------------------------------------------------------- kafka


def test_kafka_runs_in_kraft_mode(services: dict[str, dict[str, Any]]) -> None:
    assert not any("zookeeper" in name.lower() for name in services), "KRaft needs no ZooKeeper service"
    assert not any("zookeeper" in str(svc.get("image", "")).lower() for svc in services.values())
    env = _env(services["kafka"])
    assert not any(k.startswith("KAFKA_ZOOKEEPER") for k in env)
    roles = {r.strip() for r in env["KAFKA_PROCESS_ROLES"].split(",")}
    assert roles == {"broker", "controller"}
    node_id = env["KAFKA_NODE_ID"]
    controller_names = set(env["KAFKA_CONTROLLER_LISTENER_NAMES"].split(","))
    listeners = _listeners(env["KAFKA_LISTENERS"])
    assert controller_names <= listeners.keys()
    voters = [v.strip() for v in env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")]
    assert any(v.split("@", 1)[0] == node_id for v in voters), "this node must be a quorum voter"
    for voter in voters:
        host, port = voter.split("@", 1)[1].rsplit(":", 1)
        assert host in {"kafka", "localhost", "127.0.0.1"}
        assert int(port) in {listeners[n] for n in controller_names}, "voter must use a controller listener"


def test_kafka_single_node_settings(services: dict[str, dict[str, Any]]) -> None:
    env = _env(services["kafka"])
    for key in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
    ):
        assert env.get(key) == "1", f"{key} must be 1 on a single broker"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"].lower() == "false", "topics come from `tthc topics`"


def test_kafka_data_is_on_a_named_volume(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    log_dirs = _env(kafka)["KAFKA_LOG_DIRS"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in kafka["volumes"]}
    assert log_dirs in mounts, "KAFKA_LOG_DIRS must be the mounted volume"
    assert mounts[log_dirs] in (compose.get("volumes") or {})


def _listeners(spec: str) -> dict[str, int]:
    out = {}
    for item in spec.split(","):
        name, _, addr = item.strip().partition("://")
        out[name] = int(addr.rsplit(":", 1)[1])
    return out


# -------------------------------------------------------------------------------------------- postgres


def test_postgres_database_and_volume(compose: dict[str, Any]) -> None:
    pg = compose["services"]["postgres"]
    env = _env(pg)
    assert env["POSTGRES_USER"] == "tthc" and env["POSTGRES_DB"] == "tthc" and env["POSTGRES_PASSWORD"]
    targets = {m.split(":")[1]: m.split(":")[0] for m in pg["volumes"]}
    assert "/var/lib/postgresql/data" in targets
    assert targets["/var/lib/postgresql/data"] in (compose.get("volumes") or {})
    check = _healthcheck_text(pg)
    assert "pg_isready" in check and "-U tthc" in check and "-d tthc" in check


# --------------------------------------------------------------------------------- app wiring / deps


@pytest.mark.parametrize("name", [*APP_PORTS, *ONE_SHOT])
def test_app_connects_to_compose_postgres_and_kafka(services: dict[str, dict[str, Any]], name: str) -> None:
    env = _env(services[name])
    db = urlsplit(env["DATABASE_URL"])
    pg_env = _env(services["postgres"])
    assert db.scheme in {"postgresql", "postgres"}
    assert db.hostname == "postgres" and "postgres" in services
    assert (db.port or 5432) == 5432
    assert db.username == pg_env["POSTGRES_USER"]
    assert db.password == pg_env["POSTGRES_PASSWORD"]
    assert db.path.lstrip("/") == pg_env["POSTGRES_DB"]

    kafka_env = _env(services["kafka"])
    advertised = {
        item.partition("://")[2].rsplit(":", 1)[0]: int(item.rsplit(":", 1)[1])
        for item in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    }
    listener_ports = set(_listeners(kafka_env["KAFKA_LISTENERS"]).values())
    for server in env["KAFKA_BOOTSTRAP_SERVERS"].split(","):
        host, port = server.strip().rsplit(":", 1)
        assert host == "kafka" and "kafka" in services
        assert int(port) in listener_ports, f"{name}: {server} is not a kafka listener port"
        assert advertised.get("kafka") == int(port), f"{name}: {server} is not the advertised listener"


@pytest.mark.parametrize("name", list(APP_PORTS))
def test_app_service_command_and_port(services: dict[str, dict[str, Any]], name: str) -> None:
    svc = services[name]
    assert _command(svc) == ["python", "-m", f"services.{name}"]
    assert _env(svc)["TTHC_HTTP_HOST"] == "0.0.0.0"
    container_ports = {int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in svc.get("ports", [])}
    assert container_ports == {APP_PORTS[name]}
    assert svc.get("restart") == "unless-stopped"


@pytest.mark.parametrize("name", list(APP_PORTS))
def test_app_healthcheck_targets_own_port(services: dict[str, dict[str, Any]], name: str) -> None:
    check = _healthcheck_text(services[name])
    urls = re.findall(r"https?://[^'\" ]+", check)
    assert urls, f"{name}: healthcheck probes no URL"
    for url in urls:
        parts = urlsplit(url)
        assert parts.port == APP_PORTS[name], f"{name}: healthcheck probes {url}"
        assert parts.hostname in {"127.0.0.1", "localhost"} and parts.path == "/healthz"
    assert "curl" not in check and "wget" not in check, "the slim image has neither curl nor wget"


def test_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    long_running = [n for n in services if n not in ONE_SHOT]
    assert set(long_running) >= {"kafka", "postgres", *APP_PORTS, *MONITORING}
    for name in long_running:
        hc = services[name].get("healthcheck") or {}
        assert not hc.get("disable"), f"{name}: healthcheck disabled"
        test = hc.get("test")
        assert isinstance(test, list) and test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, name
        assert services[name].get("restart") in {"unless-stopped", "always"}, f"{name}: not restarted"


def test_kafka_healthcheck_probes_the_broker(services: dict[str, dict[str, Any]]) -> None:
    check = _healthcheck_text(services["kafka"])
    assert "kafka-broker-api-versions.sh" in check and "--bootstrap-server" in check
    port = int(re.search(r"--bootstrap-server\s+\S+:(\d+)", check).group(1))  # type: ignore[union-attr]
    assert port in _listeners(_env(services["kafka"])["KAFKA_LISTENERS"]).values()


def test_init_job_runs_migrations_then_topics_after_infra_is_healthy(
    services: dict[str, dict[str, Any]],
) -> None:
    init = services["init"]
    cmd = " ".join(_command(init))
    assert "tthc migrate" in cmd and "tthc topics" in cmd
    assert cmd.index("tthc migrate") < cmd.index("tthc topics")
    assert "&&" in cmd, "topics must not be created if migrations fail"
    assert init.get("restart", "no") == "no", "a one-shot job must not be restarted"
    assert "ports" not in init and "healthcheck" not in init
    deps = init["depends_on"]
    assert isinstance(deps, dict)
    assert set(deps) == {"kafka", "postgres"}
    for dep in ("kafka", "postgres"):
        assert deps[dep]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", list(APP_PORTS))
def test_services_start_after_init_completed(services: dict[str, dict[str, Any]], name: str) -> None:
    deps = services[name]["depends_on"]
    assert isinstance(deps, dict)
    assert deps["init"]["condition"] == "service_completed_successfully"


# ------------------------------------------------------------------------------------------ monitoring


@pytest.mark.parametrize("name", list(MONITORING))
def test_monitoring_healthcheck_probes_its_own_port(services: dict[str, dict[str, Any]], name: str) -> None:
    port, _ = MONITORING[name]
    check = _healthcheck_text(services[name])
    urls = re.findall(r"https?://[^'\" ]+", check)
    assert urls, f"{name}: healthcheck probes no URL"
    for url in urls:
        parts = urlsplit(url)
        assert parts.hostname in {"127.0.0.1", "localhost"} and parts.port == port, f"{name}: probes {url}"
    expected = {"prometheus": "/-/ready", "grafana": "/api/health"}[name]
    assert all(urlsplit(u).path == expected for u in urls), f"{name}: probe {expected}"
    # what each image ships: busybox wget in prom/prometheus, curl in grafana/grafana
    tool = {"prometheus": "wget", "grafana": "curl"}[name]
    assert shlex.split(" ".join(services[name]["healthcheck"]["test"][1:]))[0] == tool


@pytest.mark.parametrize("name", list(MONITORING))
def test_monitoring_ports_volumes_and_config_mounts(compose: dict[str, Any], name: str) -> None:
    svc = compose["services"][name]
    port, _ = MONITORING[name]
    assert {int(str(p).rsplit(":", 1)[-1]) for p in svc.get("ports", [])} == {port}
    named, bound = {}, {}
    for m in svc["volumes"]:
        source, target, *mode = m.split(":")
        if source.startswith("."):
            assert (ROOT / source).exists(), f"{name}: mounts missing {source}"
            assert mode == ["ro"], f"{name}: configuration {source} must be mounted read-only"
            assert (ROOT / source).resolve().is_relative_to(ROOT / "deploy"), (
                f"{name}: config lives in deploy/"
            )
            bound[target] = source
        else:
            named[target] = source
    assert bound, f"{name}: no configuration mounted"
    data_dir = {"prometheus": "/prometheus", "grafana": "/var/lib/grafana"}[name]
    assert named.get(data_dir) in (compose.get("volumes") or {}), f"{name}: {data_dir} must be a named volume"


def test_prometheus_ui_is_published_on_loopback_only(services: dict[str, dict[str, Any]]) -> None:
    (mapping,) = services["prometheus"]["ports"]
    assert str(mapping).startswith("127.0.0.1:"), "the Prometheus UI has no login"


def test_prometheus_does_not_wait_for_the_services_it_watches(services: dict[str, dict[str, Any]]) -> None:
    deps = services["prometheus"].get("depends_on") or {}
    assert not set(deps) & {"init", *APP_PORTS}, "Prometheus must run to report the services down"
    grafana_deps = services["grafana"]["depends_on"]
    assert grafana_deps["prometheus"]["condition"] == "service_healthy"


# ------------------------------------------------------------------------------------------ Dockerfile


def test_dockerfile_base_images_are_pinned() -> None:
    instructions = _dockerfile_instructions()
    stages: set[str] = set()
    froms = [args for instr, args in instructions if instr == "FROM"]
    assert froms, "no FROM"
    for args in froms:
        words = [w for w in args.split() if not w.startswith("--")]
        image = words[0]
        if image.lower() not in stages:
            assert _image_is_pinned(image), f"base image {image!r} is not pinned"
            assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?", image), f"unexpected base image {image!r}"
        if len(words) >= 3 and words[1].upper() == "AS":
            stages.add(words[2].lower())


def test_dockerfile_runs_as_non_root_before_cmd() -> None:
    instructions = _dockerfile_instructions()
    last_from = max(i for i, (instr, _) in enumerate(instructions) if instr == "FROM")
    final = instructions[last_from:]
    names = [instr for instr, _ in final]
    assert "CMD" in names and "USER" in names
    users = [(i, args) for i, (instr, args) in enumerate(final) if instr == "USER"]
    cmd_at = max(i for i, n in enumerate(names) if n == "CMD")
    before_cmd = [args for i, args in users if i < cmd_at]
    assert before_cmd, "USER must come before CMD"
    user = before_cmd[-1].split(":")[0]
    assert user not in {"root", "0"}, f"final USER is {user!r}"
    assert users[-1][1].split(":")[0] not in {"root", "0"}


def test_dockerfile_installs_project_without_dev_extras_and_runs_registry() -> None:
    instructions = _dockerfile_instructions()
    runs = " ".join(args for instr, args in instructions if instr == "RUN")
    assert re.search(r"pip install --no-cache-dir \.(\s|$)", runs), "must `pip install --no-cache-dir .`"
    assert "[dev]" not in runs and ".[" not in runs
    cmd = [args for instr, args in instructions if instr == "CMD"][-1]
    assert "services.registry" in cmd
    exposed = {int(p) for instr, args in instructions if instr == "EXPOSE" for p in args.split()}
    assert exposed >= set(APP_PORTS.values())
    copied = " ".join(args for instr, args in instructions if instr == "COPY")
    for needed in ("pyproject.toml", "shared", "services"):
        assert needed in copied, f"Dockerfile does not copy {needed}"
        assert (ROOT / needed).exists()


def test_postgres_lock_table_holds_the_dossier_locks_of_concurrent_batches(
    services: dict[str, dict[str, Any]],
) -> None:
    # processing locks every dossier of a batch until commit (services/processing/adapters/repository.py,
    # lock_dossiers); PostgreSQL's shared lock table has max_locks_per_transaction × max_connections slots
    from services.processing.handlers import CHUNK
    from shared.settings import CommonSettings

    command = services["postgres"]["command"]
    settings = dict(arg.split("=", 1) for arg in command if "=" in arg)
    slots = int(settings["max_locks_per_transaction"]) * int(settings.get("max_connections", 100))
    # two replicas each with a full batch, a timer sweep and a registry re-assessment chunk, twice over
    needed = 2 * (2 * CommonSettings().kafka_max_batch + 2 * CHUNK)
    assert slots >= needed, f"{slots} lock slots for {needed}: raise max_locks_per_transaction"


def test_the_registry_believes_the_forwarded_address_from_the_dashboard_only(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    """The dashboard (reporting, a container of the compose network) forwards the browser's address
    with a login; the registry must believe it from there, or one person's wrong passwords throttle
    every dashboard user (they would all count as the dashboard's address). Not from the network's
    gateway: that is the peer of whatever reaches the published port through Docker's proxy."""
    import ipaddress

    from services.registry.settings import RegistrySettings
    from shared.auth import client_address, trusted_networks

    (pool,) = compose["networks"]["default"]["ipam"]["config"]
    subnet, containers = ipaddress.ip_network(pool["subnet"]), ipaddress.ip_network(pool["ip_range"])
    gateway = ipaddress.ip_address(pool["gateway"])
    assert containers.subnet_of(subnet) and gateway in subnet and gateway not in containers  # type: ignore[arg-type]
    for name, svc in services.items():  # every service is on the default network, none elsewhere
        assert set(svc.get("networks") or ["default"]) == {"default"}, name
    assert urlsplit(_env(services["reporting"])["TTHC_REPORTING_REGISTRY_URL"]).hostname == "registry"

    setting = _env(services["registry"])["TTHC_LOGIN_TRUSTED_PROXIES"]
    trusted = RegistrySettings(database_url="postgresql://unused/x", login_trusted_proxies=setting)
    networks = trusted_networks(trusted.login_trusted_proxies)
    browser = "203.0.113.7"
    for dashboard in (containers[1], containers[-2]):  # any address a container may get
        assert client_address(str(dashboard), browser, networks) == browser
    assert client_address(str(gateway), browser, networks) == str(gateway)
    assert client_address("198.51.100.9", browser, networks) == "198.51.100.9"
