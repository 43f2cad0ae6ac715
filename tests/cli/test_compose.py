"""docker-compose.yml stays honest without a Docker engine: every finsent command it runs exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from finsent.cli import app

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _is_group(command: object) -> bool:
    # Typer vendors its own click; duck-type rather than isinstance against the PyPI one.
    return hasattr(command, "resolve_command")


def _resolve(root: Any, args: list[str]) -> Any:
    """Walk the CLI like click would and parse (not run) the final command's options."""
    command, ctx, rest = root, root.make_context("finsent", [], resilient_parsing=True), list(args)
    while _is_group(command):
        if getattr(command, "invoke_without_command", False) and (not rest or rest[0].startswith("-")):
            break  # a group that runs by itself (e.g. `finsent dashboard --port 8501`)
        assert rest, f"{args} stops at a group"
        name, rest = rest[0], rest[1:]
        sub = command.get_command(ctx, name)
        assert sub is not None, f"no command {name!r} in {args}"
        command, ctx = sub, sub.make_context(name, [], parent=ctx, resilient_parsing=True)
    return command.make_context(command.name, rest, parent=ctx.parent)


def finsent_services() -> dict[str, dict]:
    return {name: svc for name, svc in _compose()["services"].items() if svc.get("image", "").startswith("finsent")}


def test_compose_declares_the_production_roles() -> None:
    services = _compose()["services"]
    assert {"kafka", "postgres", "migrate", "worker", "scheduler", "dashboard"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka")
    assert "broker,controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    for name in ("kafka", "postgres", "worker", "dashboard"):
        assert "healthcheck" in services[name], name
    assert "volumes" in services["kafka"] and "volumes" in services["postgres"]
    # A scalable worker: no fixed name or host port that a second replica would collide on.
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]
    assert services["worker"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


@pytest.mark.parametrize("name", sorted(finsent_services()))
def test_every_service_command_exists_in_the_cli(name: str) -> None:
    service = finsent_services()[name]
    args = service["command"]
    root = typer.main.get_command(app)
    ctx = _resolve(root, args)
    assert not _is_group(ctx.command) or ctx.command.invoke_without_command, f"{name}: {args} names a group"


def test_no_secret_values_in_compose() -> None:
    text = COMPOSE.read_text()
    for env in (svc.get("environment", {}) for svc in _compose()["services"].values()):
        for key, value in env.items():
            if any(word in key for word in ("PASSWORD", "TOKEN", "WEBHOOK")):
                assert str(value).startswith("${"), f"{key} must come from the environment"
    assert "hooks.slack.com" not in text


REPO = COMPOSE.parent
SCHEMA = REPO / "tests" / "data" / "compose-spec.json"


def test_compose_file_follows_the_compose_specification() -> None:
    import json

    import jsonschema

    import re

    # Compose substitutes ${VAR:-default} and ${VAR:?error} in the parsed values before it validates.
    def interpolate(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: interpolate(value) for key, value in node.items()}
        if isinstance(node, list):
            return [interpolate(value) for value in node]
        if isinstance(node, str):
            node = re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", node)
            return re.sub(r"\$\{[A-Z0-9_]+(:\?[^}]*)?\}", "value", node)
        return node

    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(interpolate(_compose()), schema)  # raises with the path of the first violation


def test_empty_secrets_from_compose_mean_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from finsent.settings import Settings

    env = _compose()["x-finsent"]["environment"]
    for key in env:
        if key.startswith("FINSENT_"):
            monkeypatch.setenv(key, "")  # what `${VAR:-}` gives when .env leaves it out
    monkeypatch.setenv("FINSENT_DATABASE_URL", "postgresql://finsent:pw@postgres/finsent")
    settings = Settings()
    assert settings.alerts.slack_webhook_url is None and settings.alerts.smtp_password is None
    assert settings.kafka.sasl_password is None and settings.retention.documents_days is None


def test_every_file_compose_mounts_or_names_is_in_the_repository() -> None:
    services = _compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), f"{name} mounts {source}, which is not in the repository"
    sources = services["ingest"]["environment"]["FINSENT_INGEST_SOURCES_FILE"]
    default = sources.replace("/etc/finsent/", "").replace("${FINSENT_SOURCES_FILE:-", "").rstrip("}")
    assert (REPO / "config" / default).is_file()  # the ingest service's default sources file exists


def test_metrics_endpoints_listen_beyond_loopback_in_compose_and_prometheus_scrapes_them() -> None:
    services = _compose()["services"]
    assert services["worker"]["environment"]["FINSENT_STREAM_WEB_BIND"] == "0.0.0.0"
    assert services["scheduler"]["environment"]["FINSENT_ALERTS_METRICS_BIND"] == "0.0.0.0"
    assert services["ingest"]["environment"]["FINSENT_INGEST_METRICS_BIND"] == "0.0.0.0"
    prometheus = yaml.safe_load((REPO / "monitoring" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in prometheus["scrape_configs"]}
    assert jobs == {"finsent-worker", "finsent-scheduler", "finsent-ingest"}


def test_the_grafana_dashboard_only_charts_metrics_finsent_exports() -> None:
    import json
    import re

    from prometheus_client import REGISTRY

    import finsent.alerts.metrics  # noqa: F401 - registers the metrics
    import finsent.ingest.metrics  # noqa: F401
    import finsent.stream.metrics  # noqa: F401

    known = {sample.name for metric in REGISTRY.collect() for sample in metric.samples}
    for metric in REGISTRY.collect():  # labelled metrics have no samples until first used
        known |= {metric.name, f"{metric.name}_total", f"{metric.name}_bucket", f"{metric.name}_sum", f"{metric.name}_count"}
    dashboard = json.loads((REPO / "monitoring" / "grafana" / "dashboards" / "finsent.json").read_text())
    used = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"finsent_[a-z_]+", target["expr"])
    }
    assert used and used <= known, sorted(used - known)


def test_the_image_builds_cpu_torch_by_default_and_the_gpu_profile_cuda() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "ARG TORCH_VARIANT=cpu" in dockerfile and dockerfile.count("FROM ") == 2  # multi-stage
    assert "-c /wheels/constraints.txt" in dockerfile and "[test]" not in dockerfile and "-e " not in dockerfile
    services = _compose()["services"]
    assert services["worker"]["build"]["args"]["TORCH_VARIANT"] == "cpu"
    gpu = services["worker-gpu"]
    assert gpu["profiles"] == ["gpu"] and "cu" in gpu["build"]["args"]["TORCH_VARIANT"]
    assert gpu["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_constraints_pin_every_dependency_within_its_range() -> None:
    import tomllib

    from packaging.requirements import Requirement

    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for spec in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        requirement = Requirement(spec)
        name = requirement.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} vs {spec}"
