"""One log format and no secrets in it: finsent.logs with real library loggers at DEBUG."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import httpx
import pytest

from finsent.logs import MASK, configure_logging, redact, register_secrets, settings_secrets
from finsent.settings import Settings
from tests.utils.http_server import LoopbackServer, Response

SMTP_PASSWORD = "smtp-pass-Zq81x!"
SLACK_PATH = "/services/T0FAKE/B0FAKE/xoxbSecretPath42"
KAFKA_PASSWORD = "kafka-pass-Wd77y#"


@pytest.fixture()
def restore_logging():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield
    root.handlers[:], level = saved
    root.setLevel(level)


def _lines(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_secrets_never_reach_the_log_at_debug(capfd, restore_logging) -> None:  # type: ignore[no-untyped-def]
    server = LoopbackServer().__enter__()
    server.routes[SLACK_PATH] = lambda request: Response(200, b"ok")
    slack_url = server.url(SLACK_PATH)
    settings = Settings(
        alerts={"smtp_password": SMTP_PASSWORD, "slack_webhook_url": slack_url},
        kafka={"security_protocol": "SASL_PLAINTEXT", "sasl_username": "u", "sasl_password": KAFKA_PASSWORD},
    )
    configure_logging("DEBUG", "json", secrets=settings_secrets(settings))
    try:
        # httpx logs the request URL at INFO and httpcore the connection at DEBUG: the URL is the secret.
        with httpx.Client() as client:
            client.get(slack_url)
        logging.getLogger("finsent.test").debug("login %s", KAFKA_PASSWORD, extra={"pw": SMTP_PASSWORD})
        try:
            raise RuntimeError(f"smtp refused {SMTP_PASSWORD}")
        except RuntimeError:
            logging.getLogger("finsent.test").exception("send failed")
    finally:
        server.__exit__(None, None, None)
    err = capfd.readouterr().err
    assert "HTTP Request" in err, err  # the httpx line is there, masked
    for secret in (SMTP_PASSWORD, KAFKA_PASSWORD, "xoxbSecretPath42", SLACK_PATH):
        assert secret not in err
    lines = _lines(err)  # every line is JSON
    assert {"ts", "level", "logger", "msg"} <= set(lines[0])
    assert any(line["logger"].startswith("httpcore") for line in lines)


def test_url_passwords_query_tokens_and_slack_paths_are_masked() -> None:
    assert redact("postgresql://finsent:hunter2@db:5432/x") == f"postgresql://finsent:{MASK}@db:5432/x"
    assert redact("GET https://api.example/v1?q=AAPL&apiKey=abc123&x=1") == f"GET https://api.example/v1?q=AAPL&apiKey={MASK}&x=1"
    assert redact("POST https://hooks.slack.com/services/T1/B2/c3") == f"POST https://hooks.slack.com/services/{MASK}"
    register_secrets(['quote"d\\secret'])
    assert 'quote"d' not in redact(json.dumps({"v": 'quote"d\\secret'}))
    assert redact("no secrets here, ok?") == "no secrets here, ok?"


def test_a_library_with_its_own_handler_goes_through_the_json_formatter(capfd, restore_logging) -> None:  # type: ignore[no-untyped-def]
    own = logging.getLogger("somelib.printer")
    own.addHandler(logging.StreamHandler(sys.stderr))
    own.propagate = False
    configure_logging("INFO", "json")
    own.warning("hello from a library")
    lines = _lines(capfd.readouterr().err)
    assert [line["msg"] for line in lines] == ["hello from a library"]
    assert lines[0]["logger"] == "somelib.printer" and lines[0]["level"] == "warning"


def test_the_worker_and_faust_log_json_lines_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # mode's Worker replaces the root handler with a colour one unless told not to (cli/stream.py).
    code = (
        "import logging, faust\n"
        "from finsent.logs import configure_logging\n"
        "configure_logging('INFO', 'json')\n"
        "app = faust.App('t', broker='kafka://127.0.0.1:1', store='memory://', datadir=%r, web_enabled=False)\n"
        "w = faust.Worker(app, loglevel='info', quiet=True, override_logging=False)\n"
        "w.log.info('from mode')\n"
        "logging.getLogger('faust.app').warning('from faust')\n"
        "logging.getLogger('aiokafka').warning('from aiokafka')\n"
    ) % str(tmp_path)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = _lines(done.stderr + done.stdout)
    assert {line["msg"] for line in lines} >= {"from faust", "from aiokafka"}
    assert all({"level", "logger", "msg"} <= set(line) for line in lines)
