"""docker-compose.yml and deploy/ agree with the code they deploy.

These tests read the real compose file, Dockerfile, init SQL and Prometheus config and compare
them with the real settings classes, topic list and project metadata, so a renamed setting, a
new topic, a changed port or a new local dependency fails here instead of at `docker compose up`.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import posixpath
import re
import shlex
import tomllib
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import promql_parser
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"

# compose service name -> the settings class that service's process reads its environment into
SERVICE_SETTINGS = {
    "handoff": "baton_handoff.settings:HandoffSettings",
    "scoring": "baton_scoring.settings:ScoringSettings",
    "sla-monitor": "baton_sla_monitor.settings:SlaMonitorSettings",
}
SERVICES = sorted(SERVICE_SETTINGS)

KAFKA = "kafka"
KAFKA_INIT = "kafka-init"
POSTGRES = "postgres"
PROMETHEUS = "prometheus"
POSTGRES_DEFAULT_PORT = 5432


# ---------------------------------------------------------------------------------------------
# reading the files


def _load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = _load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), "compose file has no services"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _settings_class(service: str) -> type:
    module_name, _, class_name = SERVICE_SETTINGS[service].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


_VAR = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<default>[^}]*))?\}|\$(?P<bare>\w+)")
OPERATOR_SET = {"BATON_ADMIN_API_KEY": "k" * 24, "GRAFANA_ADMIN_PASSWORD": "a-password"}
"""What an operator sets for each `${NAME:?message}` the stack requires: the shortest value its message allows."""


def _interpolate(value: str) -> str:
    """Compose's interpolation as `docker compose` would see it: `${NAME:-default}` with NAME unset, and a
    required `${NAME:?message}` as the operator sets it (`OPERATOR_SET`)."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        if (m.group("op") or "").endswith("?"):
            return OPERATOR_SET[m.group("name")]
        return m.group("default") or ""

    return _VAR.sub(sub, value)


def test_each_required_variable_says_what_it_needs(compose: dict[str, Any]) -> None:
    required = {
        m.group("name"): m.group("default")
        for svc in compose["services"].values()
        for value in (svc.get("environment") or {}).values()
        for m in _VAR.finditer(str(value))
        if (m.group("op") or "").endswith("?")
    }
    assert set(required) == set(OPERATOR_SET)
    assert "24" in required["BATON_ADMIN_API_KEY"]  # HandoffSettings.admin_api_key's minimum length


def _environment(svc: dict[str, Any]) -> dict[str, str | None]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in env)
        env = {k: v for k, v in pairs}
    return {str(k): None if v is None else _interpolate(str(v)) for k, v in env.items()}


def _ports(svc: dict[str, Any]) -> list[tuple[int | None, int]]:
    """(published host port, container port) for each `ports:` entry."""
    out: list[tuple[int | None, int]] = []
    for entry in svc.get("ports") or []:
        if isinstance(entry, dict):
            published = entry.get("published")
            out.append((int(published) if published is not None else None, int(entry["target"])))
            continue
        spec = str(entry).split("/", 1)[0]  # drop /tcp
        parts = spec.rsplit(":", 2)
        container = int(parts[-1])
        host = int(parts[-2]) if len(parts) >= 2 and parts[-2] else None
        out.append((host, container))
    return out


def _words(command: Any) -> list[str]:
    if command is None:
        return []
    if isinstance(command, str):
        return shlex.split(command)
    return [str(c) for c in command]


def _healthcheck_words(svc: dict[str, Any]) -> list[str]:
    test = (svc.get("healthcheck") or {}).get("test")
    assert test, "no healthcheck"
    if isinstance(test, str):
        return shlex.split(test)
    if test[0] == "CMD-SHELL":
        return shlex.split(" ".join(test[1:]))
    assert test[0] == "CMD", f"unexpected healthcheck form {test!r}"
    return list(test[1:])


def _depends_on(svc: dict[str, Any]) -> dict[str, str]:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return {d: "service_started" for d in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _volumes(svc: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, dict):
            out.append((str(v.get("source", "")), str(v["target"])))
        else:
            source, target = str(v).split(":")[:2]
            out.append((source, target))
    return out


def _bind_mounts_of(svc: dict[str, Any], repo_file: Path) -> list[str]:
    """Container paths at which `repo_file` is bind-mounted into `svc`."""
    return [
        target
        for source, target in _volumes(svc)
        if source.startswith((".", "/")) and (ROOT / source).resolve() == repo_file.resolve()
    ]


def _service_env(services: dict[str, Any], service: str) -> dict[str, str | None]:
    return _environment(services[service])


def _created_databases() -> set[str]:
    sql = (DEPLOY / "postgres-init.sql").read_text(encoding="utf-8")
    sql = re.sub(r"--[^\n]*", "", sql)
    return {m.lower() for m in re.findall(r'\bCREATE\s+DATABASE\s+"?(\w+)"?', sql, flags=re.IGNORECASE)}


def _kafka_listeners(env: dict[str, str | None], key: str) -> dict[str, tuple[str, int]]:
    """KAFKA_LISTENERS / KAFKA_ADVERTISED_LISTENERS as {listener name: (host, port)}."""
    out = {}
    for item in (env.get(key) or "").split(","):
        if not item.strip():
            continue
        name, _, address = item.strip().partition("://")
        host, _, port = address.rpartition(":")
        out[name] = (host, int(port))
    return out


def _in_network_kafka_addresses(services: dict[str, Any]) -> set[tuple[str, int]]:
    """Advertised addresses other containers can reach: host is the kafka service's name or hostname,
    and the broker really listens on that port."""
    kafka = services[KAFKA]
    env = _environment(kafka)
    names = {KAFKA, kafka.get("hostname") or KAFKA}
    bound_ports = {port for _, port in _kafka_listeners(env, "KAFKA_LISTENERS").values()}
    return {
        (host, port)
        for host, port in _kafka_listeners(env, "KAFKA_ADVERTISED_LISTENERS").values()
        if host in names and port in bound_ports
    }


def _kafka_init_script(services: dict[str, Any]) -> list[str]:
    svc = services[KAFKA_INIT]
    text = " ".join(_words(svc.get("entrypoint")) + _words(svc.get("command")))
    return shlex.split(_interpolate(text), comments=True)


def _flag_values(words: list[str], flag: str) -> list[str]:
    values = []
    for i, w in enumerate(words):
        if w == flag and i + 1 < len(words):
            values.append(words[i + 1])
        elif w.startswith(flag + "="):
            values.append(w.split("=", 1)[1])
    return values


# ---------------------------------------------------------------------------------------------
# the services' environment against their settings classes


@pytest.mark.parametrize("service", SERVICES)
def test_every_env_var_on_a_service_is_a_setting_of_that_service(services: dict[str, Any], service: str) -> None:
    # Settings ignore unknown variables (extra="ignore"), so a typo would silently fall back to a default.
    fields = {name.upper() for name in _settings_class(service).model_fields}
    unknown = sorted(set(_service_env(services, service)) - fields)
    assert not unknown, f"{service}: {unknown} are not settings of {SERVICE_SETTINGS[service]}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_required_setting_is_provided(services: dict[str, Any], service: str) -> None:
    cls = _settings_class(service)
    required = {name.upper() for name, field in cls.model_fields.items() if field.is_required()}
    env = _service_env(services, service)
    missing = sorted(name for name in required if env.get(name) in (None, ""))
    assert not missing, f"{service} would not start: {missing} not set"


@pytest.fixture
def container_settings(monkeypatch: pytest.MonkeyPatch, services: dict[str, Any]):
    """Build a service's settings exactly from its container environment (nothing from the test runner's)."""

    def build(service: str) -> Any:
        cls = _settings_class(service)
        fields = {name.upper() for name in cls.model_fields}
        for key in list(os.environ):
            if key.upper() in fields:
                monkeypatch.delenv(key)
        for key, value in _service_env(services, service).items():
            if value is not None:
                monkeypatch.setenv(key, value)
        return cls(_env_file=None)

    return build


@pytest.mark.parametrize("service", SERVICES)
def test_container_environment_validates_against_settings(container_settings, service: str) -> None:
    container_settings(service)  # raises ValidationError on a bad value (port out of range, bad bool…)


@pytest.mark.parametrize("service", SERVICES)
def test_service_listens_on_all_interfaces_in_its_container(container_settings, service: str) -> None:
    assert container_settings(service).http_host == "0.0.0.0", (
        f"{service}: HTTP_HOST must be 0.0.0.0, else published ports and Prometheus cannot reach it"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_service_runs_its_own_console_script(services: dict[str, Any], service: str) -> None:
    words = _words(services[service].get("command"))
    assert words, f"{service}: no command (the image's default CMD serves only one service)"
    script = posixpath.basename(words[0])
    found = [ep for ep in entry_points(group="console_scripts") if ep.name == script]
    assert found, f"{service}: {script!r} is not an installed console script"
    package = SERVICE_SETTINGS[service].split(".", 1)[0]
    assert found[0].module.split(".", 1)[0] == package, (
        f"{service}: {script!r} runs {found[0].value}, not something in {package}"
    )


# ---------------------------------------------------------------------------------------------
# HTTP: ports, healthchecks, Prometheus


@pytest.mark.parametrize("service", SERVICES)
def test_http_port_is_the_published_container_port(container_settings, services: dict[str, Any], service: str) -> None:
    port = container_settings(service).http_port
    container_ports = [c for _, c in _ports(services[service])]
    assert port in container_ports, f"{service}: listens on {port} but publishes {container_ports}"


def test_published_host_ports_do_not_collide(services: dict[str, Any]) -> None:
    seen: dict[int, str] = {}
    for name, svc in services.items():
        for host, _ in _ports(svc):
            if host is None:
                continue
            assert host not in seen, f"host port {host} published by both {seen[host]} and {name}"
            seen[host] = name


@pytest.mark.parametrize("service", SERVICES)
def test_healthcheck_probes_readyz_on_http_port_with_python(
    container_settings, services: dict[str, Any], service: str
) -> None:
    words = _healthcheck_words(services[service])
    # python:3.11-slim has no curl or wget
    assert posixpath.basename(words[0]).startswith("python"), f"{service}: healthcheck runs {words[0]!r}"
    urls = re.findall(r"https?://[^\s'\"]+", " ".join(words))
    assert len(urls) == 1, f"{service}: expected one URL in healthcheck, found {urls}"
    url = urlsplit(urls[0])
    assert url.path == "/readyz", f"{service}: healthcheck hits {url.path}, not /readyz"
    assert url.hostname in {"127.0.0.1", "localhost", "0.0.0.0"}, f"{service}: healthcheck probes {url.hostname}"
    assert url.port == container_settings(service).http_port, (
        f"{service}: healthcheck probes port {url.port}, service listens on HTTP_PORT"
    )


@pytest.fixture(scope="module")
def prometheus_config() -> dict[str, Any]:
    return _load_yaml(DEPLOY / "prometheus.yml")


@pytest.mark.parametrize("service", SERVICES)
def test_prometheus_scrapes_metrics_of_each_service_on_its_http_port(
    container_settings, prometheus_config: dict[str, Any], service: str
) -> None:
    target = f"{service}:{container_settings(service).http_port}"
    paths = [
        job.get("metrics_path", "/metrics")
        for job in prometheus_config.get("scrape_configs") or []
        for static in job.get("static_configs") or []
        if target in (static.get("targets") or [])
    ]
    assert paths, f"prometheus.yml does not scrape {target}"
    assert "/metrics" in paths, f"{target} is scraped at {paths}, not /metrics"


def test_prometheus_container_reads_deploy_prometheus_yml(services: dict[str, Any]) -> None:
    mounts = _bind_mounts_of(services[PROMETHEUS], DEPLOY / "prometheus.yml")
    assert "/etc/prometheus/prometheus.yml" in mounts, f"prometheus mounts deploy/prometheus.yml at {mounts}"


# ---------------------------------------------------------------------------------------------
# Metrics the alert rules and the Grafana dashboard read

GRAFANA = "grafana"
GRAFANA_DIR = DEPLOY / "grafana"
RULES_FILE = DEPLOY / "prometheus-rules.yml"
_METRIC = re.compile(r"\b(baton_[a-z0-9_]+|baton:[a-z0-9_:]+)\b")
_SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


@pytest.fixture(scope="module")
def exposed_metrics() -> set[str]:
    """The sample names the three services can expose: every metric they register, observed or not."""
    from prometheus_client import REGISTRY

    for package in ("baton_handoff", "baton_scoring", "baton_sla_monitor"):  # no I/O at import: safe to load all
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            if ".migrations" not in module.name and not module.name.endswith("__main__"):
                importlib.import_module(module.name)
    from baton_handoff.crm.delivery import delivery_metrics
    from baton_handoff.routing.service import routing_metrics
    from baton_kit.metrics import kit_metrics

    routing_metrics()  # these two register on first use, as in the services
    delivery_metrics()
    for service in SERVICES:
        kit_metrics(service)
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        if family.name.startswith("baton_")
        for suffix in _SAMPLE_SUFFIXES[family.type]
    }


def _rules() -> list[dict[str, Any]]:
    return [rule for group in _load_yaml(RULES_FILE)["groups"] for rule in group["rules"]]


def _readable(exposed_metrics: set[str]) -> set[str]:
    """What a query may read: the services' metrics and the rules' recorded series."""
    return exposed_metrics | {rule["record"] for rule in _rules() if "record" in rule}


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((GRAFANA_DIR / "baton-handoff.json").read_text(encoding="utf-8"))
    return data


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


def _queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    return [(panel["title"], target["expr"]) for panel in _panels(dashboard) for target in panel["targets"]]


def test_alert_rules_read_only_metrics_the_services_expose(exposed_metrics: set[str]) -> None:
    readable = _readable(exposed_metrics)
    for rule in _rules():
        promql_parser.parse(rule["expr"])  # a syntax error raises, naming it
        for name in _METRIC.findall(rule["expr"]):
            assert name in readable, f"rule {rule.get('alert') or rule.get('record')} reads {name}"


def test_dashboard_reads_only_metrics_the_services_expose_or_the_rules_record(
    exposed_metrics: set[str], dashboard: dict[str, Any]
) -> None:
    readable = _readable(exposed_metrics)
    queries = _queries(dashboard)
    assert len(queries) >= 20
    for title, expr in queries:
        promql_parser.parse(expr)
        names = _METRIC.findall(expr)
        assert names or "up{" in expr, f"panel {title!r} reads no Baton metric: {expr}"
        for name in names:
            assert name in readable, f"panel {title!r} reads {name}, which nothing exposes"
    funnel = {name for _, expr in queries for name in _METRIC.findall(expr)}
    assert {"baton_handoff_lead_transitions_total", "baton_sla_monitor_time_to_accept_seconds_bucket"} <= funnel


_RANGE = re.compile(r"\[(\d+)([smhdw])\]")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _flag(svc: dict[str, Any], name: str) -> str | None:
    values = [word.split("=", 1)[1] for word in _words(svc.get("command")) if word.startswith(f"--{name}=")]
    return values[-1] if values else None


def test_prometheus_keeps_the_longest_window_the_rules_and_dashboard_read(
    services: dict[str, Any], dashboard: dict[str, Any]
) -> None:
    prometheus = services[PROMETHEUS]
    assert _flag(prometheus, "config.file") in _bind_mounts_of(prometheus, DEPLOY / "prometheus.yml")
    retention = _flag(prometheus, "storage.tsdb.retention.time")
    assert retention is not None, "prometheus keeps its default 15 days"
    kept = _RANGE.fullmatch(f"[{retention}]")
    assert kept, retention
    exprs = [rule["expr"] for rule in _rules()] + [expr for _, expr in _queries(dashboard)]
    longest = max(int(n) * _SECONDS[unit] for expr in exprs for n, unit in _RANGE.findall(expr))
    assert longest >= 28 * 86400  # the funnel's 4 weeks
    assert int(kept.group(1)) * _SECONDS[kept.group(2)] > longest


def test_dashboard_panels_have_unique_ids_and_do_not_overlap(dashboard: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, f"{panel['title']!r} is wider than the dashboard"
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[x, y]!r}"
                cells[x, y] = panel["title"]


def test_grafana_provisions_the_dashboard_on_the_stacks_prometheus(
    services: dict[str, Any], dashboard: dict[str, Any]
) -> None:
    grafana = services[GRAFANA]
    datasource = _load_yaml(GRAFANA_DIR / "datasources.yml")["datasources"][0]
    url = urlsplit(datasource["url"])
    assert url.hostname == PROMETHEUS and url.port in {c for _, c in _ports(services[PROMETHEUS])}
    assert {(panel["datasource"]["uid"]) for panel in _panels(dashboard)} == {datasource["uid"]}
    assert all(target["datasource"]["uid"] == datasource["uid"] for p in _panels(dashboard) for target in p["targets"])

    assert any(
        target.startswith("/etc/grafana/provisioning/datasources/")
        for target in _bind_mounts_of(grafana, GRAFANA_DIR / "datasources.yml")
    )
    assert any(
        target.startswith("/etc/grafana/provisioning/dashboards/")
        for target in _bind_mounts_of(grafana, GRAFANA_DIR / "dashboards.yml")
    )
    provider_path = _load_yaml(GRAFANA_DIR / "dashboards.yml")["providers"][0]["options"]["path"]
    mounted = _bind_mounts_of(grafana, GRAFANA_DIR / "baton-handoff.json")
    assert [posixpath.dirname(target) for target in mounted] == [provider_path]
    assert _environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"] in mounted


# ---------------------------------------------------------------------------------------------
# PostgreSQL


@pytest.mark.parametrize("service", SERVICES)
def test_database_url_names_a_database_created_by_postgres_init(
    container_settings, services: dict[str, Any], service: str
) -> None:
    url = urlsplit(container_settings(service).database_url)
    assert url.scheme == "postgresql+asyncpg", f"{service}: {url.scheme} is not the async PostgreSQL driver"
    assert url.hostname == POSTGRES, f"{service}: database host {url.hostname} is not the {POSTGRES} service"
    assert (url.port or POSTGRES_DEFAULT_PORT) == POSTGRES_DEFAULT_PORT
    pg_env = _environment(services[POSTGRES])
    assert url.username == pg_env.get("POSTGRES_USER", "postgres")
    assert url.password == pg_env.get("POSTGRES_PASSWORD")
    database = url.path.lstrip("/")
    created = _created_databases()
    assert database in created, f"{service}: database {database!r} is not created by postgres-init.sql ({created})"


def test_each_service_has_its_own_database(container_settings) -> None:
    databases = {s: urlsplit(container_settings(s).database_url).path.lstrip("/") for s in SERVICES}
    assert len(set(databases.values())) == len(SERVICES), f"services share a database: {databases}"


def test_postgres_runs_the_init_sql_on_first_start(services: dict[str, Any]) -> None:
    mounts = _bind_mounts_of(services[POSTGRES], DEPLOY / "postgres-init.sql")
    assert any(posixpath.dirname(m) == "/docker-entrypoint-initdb.d" for m in mounts), (
        f"deploy/postgres-init.sql is not mounted into /docker-entrypoint-initdb.d ({mounts})"
    )
    assert any(m.endswith(".sql") for m in mounts), "init scripts are run only if named *.sql/*.sh"


# ---------------------------------------------------------------------------------------------
# Kafka


@pytest.mark.parametrize("service", SERVICES)
def test_kafka_bootstrap_servers_point_at_the_in_network_listener(
    container_settings, services: dict[str, Any], service: str
) -> None:
    reachable = _in_network_kafka_addresses(services)
    assert reachable, "kafka advertises no listener reachable as the kafka service"
    for server in container_settings(service).kafka_bootstrap_servers.split(","):
        host, _, port = server.strip().rpartition(":")
        assert (host, int(port)) in reachable, f"{service}: {server} is not one of {sorted(reachable)}"


def test_kafka_init_creates_exactly_the_contract_topics(services: dict[str, Any]) -> None:
    from baton_contracts.topics import ALL_TOPICS

    script = _kafka_init_script(services)
    assert "--create" in script, "kafka-init creates no topics"
    created = _flag_values(script, "--topic")
    assert sorted(set(created)) == sorted(ALL_TOPICS), (
        f"missing: {sorted(set(ALL_TOPICS) - set(created))}; unknown: {sorted(set(created) - set(ALL_TOPICS))}"
    )


def test_kafka_init_creates_topics_the_single_broker_can_host(services: dict[str, Any]) -> None:
    script = _kafka_init_script(services)
    brokers = [
        name
        for name, svc in services.items()
        if "broker" in (_environment(svc).get("KAFKA_PROCESS_ROLES") or "").split(",")
    ]
    factors = [int(v) for v in _flag_values(script, "--replication-factor")]
    partitions = [int(v) for v in _flag_values(script, "--partitions")]
    assert factors and partitions, "kafka-init leaves partitions/replication to broker defaults"
    assert max(factors) <= len(brokers), f"replication factor {max(factors)} > {len(brokers)} broker(s)"
    assert min(partitions) >= 1
    servers = _flag_values(script, "--bootstrap-server")
    reachable = _in_network_kafka_addresses(services)
    for server in servers:
        host, _, port = server.rpartition(":")
        assert (host, int(port)) in reachable, f"kafka-init talks to {server}, not {sorted(reachable)}"


def test_kafka_init_waits_for_a_healthy_broker(services: dict[str, Any]) -> None:
    assert services[KAFKA].get("healthcheck", {}).get("test"), "kafka has no healthcheck to wait on"
    assert _depends_on(services[KAFKA_INIT]).get(KAFKA) == "service_healthy"


@pytest.mark.parametrize("service", SERVICES)
def test_service_starts_after_topics_exist_and_postgres_is_healthy(services: dict[str, Any], service: str) -> None:
    deps = _depends_on(services[service])
    assert deps.get(KAFKA_INIT) == "service_completed_successfully", f"{service}: {deps}"
    assert deps.get(POSTGRES) == "service_healthy", f"{service}: {deps}"
    assert services[POSTGRES].get("healthcheck", {}).get("test"), "postgres has no healthcheck to wait on"


# ---------------------------------------------------------------------------------------------
# the image


def test_services_share_one_image_built_from_the_repo_dockerfile(services: dict[str, Any]) -> None:
    images = set()
    for service in SERVICES:
        svc = services[service]
        build = svc.get("build")
        assert build, f"{service}: no build section"
        if isinstance(build, str):
            build = {"context": build}
        context = (COMPOSE_FILE.parent / build.get("context", ".")).resolve()
        dockerfile = (context / build.get("dockerfile", "Dockerfile")).resolve()
        assert context == ROOT, f"{service}: build context {context} is not the repository root"
        assert dockerfile.is_file(), f"{service}: {dockerfile} does not exist"
        images.add((svc.get("image"), dockerfile))
    assert len(images) == 1, f"services build different images: {images}"


def _dockerfile() -> Path:
    return DEPLOY / "Dockerfile"


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, args = pending.strip().partition(" ")
        out.append((keyword.upper(), args.strip()))
        pending = ""
    return out


def _local_projects() -> dict[str, Path]:
    """Project name -> dir, for every pyproject.toml in the repository (outside virtualenvs)."""
    projects = {}
    for pyproject in ROOT.rglob("pyproject.toml"):
        if any(part.startswith(".") or part in {"build", "node_modules"} for part in pyproject.relative_to(ROOT).parts):
            continue
        name = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {}).get("name")
        if name:
            projects[re.sub(r"[-_.]+", "-", name).lower()] = pyproject.parent
    return projects


def _runtime_projects() -> set[Path]:
    """The service projects plus every local project they depend on, transitively."""
    projects = _local_projects()
    todo = [d for d in projects.values() if d.parent == ROOT / "services"]
    assert len(todo) == len(SERVICES), f"expected one project per service under services/, found {todo}"
    needed: set[Path] = set()
    while todo:
        project_dir = todo.pop()
        if project_dir in needed:
            continue
        needed.add(project_dir)
        meta = tomllib.loads((project_dir / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        for requirement in meta.get("dependencies", []):
            name = re.sub(r"[-_.]+", "-", re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0]).lower()
            if name in projects:
                todo.append(projects[name])
    return needed


def _image_to_repo_paths(instructions: list[tuple[str, str]]) -> list[tuple[str, str, Path]]:
    """For each `pip install` argument that is a path: (RUN text, path in the image, repo dir it came from)."""
    workdir = "/"
    copies: list[tuple[str, Path]] = []  # (dir in image, repo dir whose contents are there)
    found: list[tuple[str, str, Path]] = []
    for keyword, args in instructions:
        if keyword == "FROM":
            workdir, copies = "/", []
        elif keyword == "WORKDIR":
            workdir = posixpath.normpath(posixpath.join(workdir, args))
        elif keyword in {"COPY", "ADD"}:
            words = shlex.split(args)
            if any(w.startswith("--from") for w in words):
                continue
            words = [w for w in words if not w.startswith("--")]
            *sources, dest = words
            dest_abs = posixpath.normpath(posixpath.join(workdir, dest))
            for src in sources:
                src_path = (ROOT / src).resolve()
                if not src_path.is_dir():
                    continue
                copies.append((dest_abs, src_path))  # a directory's contents go into dest
        elif keyword == "RUN":
            for segment in re.split(r"&&|;|\|\|", args):
                words = shlex.split(segment)
                if "pip" not in " ".join(words[:3]) or "install" not in words:
                    continue
                for arg in words[words.index("install") + 1 :]:
                    if arg.startswith("-") or not arg.startswith((".", "/")):
                        continue
                    image_path = posixpath.normpath(posixpath.join(workdir, arg))
                    for image_dir, repo_dir in sorted(copies, key=lambda c: -len(c[0])):
                        if image_path == image_dir or image_path.startswith(image_dir.rstrip("/") + "/"):
                            rel = posixpath.relpath(image_path, image_dir)
                            found.append((segment.strip(), image_path, (repo_dir / rel).resolve()))
                            break
    return found


def test_dockerfile_installs_every_runtime_project_dir_non_editable() -> None:
    installs = _image_to_repo_paths(_instructions(_dockerfile()))
    installed = {repo_dir for _, _, repo_dir in installs}
    expected = _runtime_projects()
    missing = sorted(str(p.relative_to(ROOT)) for p in expected - installed)
    assert not missing, f"the image does not pip-install {missing}"
    for segment, _image_path, _ in installs:
        words = shlex.split(segment)
        assert not {"-e", "--editable"} & set(words), f"editable install in the image: {segment}"
        assert "--no-cache-dir" in words, f"pip keeps its cache in the image: {segment}"


def test_image_runs_as_a_non_root_user() -> None:
    users = [args for keyword, args in _instructions(_dockerfile()) if keyword == "USER"]
    assert users, "the image runs as root"
    assert users[-1].split(":")[0] not in {"root", "0"}, f"the image runs as {users[-1]}"


def _final_base_image() -> str:
    bases = [args for keyword, args in _instructions(_dockerfile()) if keyword == "FROM"]
    assert bases, "Dockerfile has no FROM"
    return next(w for w in bases[-1].split() if not w.startswith("--"))


def test_image_python_satisfies_every_runtime_project() -> None:
    from packaging.specifiers import SpecifierSet

    base = _final_base_image()
    match = re.match(r"(?:docker\.io/)?(?:library/)?python:(\d+\.\d+)", base)
    assert match, f"final stage is not an official python image: {base}"
    version = match.group(1)
    for project_dir in _runtime_projects():
        meta = tomllib.loads((project_dir / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        spec = SpecifierSet(meta.get("requires-python", ""))
        assert spec.contains(version + ".0"), f"{project_dir.name} requires Python {spec}, image has {version}"
