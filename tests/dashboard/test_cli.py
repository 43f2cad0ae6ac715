"""``finsent dashboard`` refuses unsafe listening and starts Streamlit with the right flags."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from finsent.cli import app
from finsent.dashboard.serve import APP_PATH, streamlit_command
from finsent.settings import get_settings


@pytest.fixture(autouse=True)
def _fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _flags(command: list[str]) -> dict[str, str]:
    args = command[command.index(str(APP_PATH)) + 1 :]
    return dict(zip(args[::2], args[1::2], strict=True))


def test_streamlit_flags() -> None:
    command = streamlit_command("127.0.0.1", 8765)
    assert command[1:4] == ["-m", "streamlit", "run"]
    flags = _flags(command)
    assert flags["--server.address"] == "127.0.0.1" and flags["--server.port"] == "8765"
    assert flags["--server.headless"] == "true"
    assert flags["--browser.gatherUsageStats"] == "false"
    assert flags["--server.fileWatcherType"] == "none"
    assert flags["--client.showErrorDetails"] == "full"
    assert _flags(streamlit_command("0.0.0.0", 80))["--client.showErrorDetails"] == "type"


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--host", "0.0.0.0"], {}, "without a token"),
        ([], {"FINSENT_DASHBOARD_HOST": "10.1.2.3"}, "without a token"),
        (["--host", "0.0.0.0"], {"FINSENT_DASHBOARD_TOKEN": "changeme"}, "too weak"),
    ],
)
def test_refuses_public_address_without_a_good_token(
    args: list[str], env: dict[str, str], message: str
) -> None:
    result = CliRunner().invoke(app, ["dashboard", *args], env={"FINSENT_DASHBOARD_TOKEN": "", **env})
    assert result.exit_code == 2
    assert message in result.output


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(app, ["dashboard", "--help"])
    assert result.exit_code == 0
    for word in ("--host", "--port", "seed-bench", "bench", "FINSENT_DASHBOARD_TOKEN"):
        assert word in result.output
