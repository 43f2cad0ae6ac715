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
