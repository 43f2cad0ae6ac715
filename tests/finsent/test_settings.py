"""Settings: defaults need no configuration; env and a TOML file override them; secrets stay hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from finsent.settings import Settings, default_model_path


def test_defaults_run_without_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(__import__("os").environ):
        if key.startswith("FINSENT_"):
            monkeypatch.delenv(key)
    s = Settings()
    assert s.kafka.bootstrap is None  # embedded broker
    assert s.database.url.get_secret_value().startswith("sqlite:///")
    assert Path(s.model.path) == default_model_path()
    assert s.log_level == "WARNING"


def test_env_overrides_nested_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("FINSENT_DATABASE_URL", "postgresql://u:secret@db/finsent")
    monkeypatch.setenv("FINSENT_STREAM_MAX_BATCH", "128")
    monkeypatch.setenv("FINSENT_KAFKA_RAW_TOPIC", "news.in")
    s = Settings()
    assert s.kafka.bootstrap == "k1:9092,k2:9092"
    assert s.kafka.raw_topic == "news.in"
    assert s.stream.max_batch == 128
    assert s.database.url.get_secret_value() == "postgresql+psycopg2://u:secret@db/finsent"
    assert "secret" not in str(s.redacted())


def test_toml_file_is_read_and_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "finsent.toml"
    config.write_text('[stream]\nmax_batch = 16\nmax_wait_s = 2.0\n[kafka]\nraw_topic = "from-file"\n')
    monkeypatch.setenv("FINSENT_CONFIG", str(config))
    monkeypatch.setenv("FINSENT_STREAM_MAX_BATCH", "32")
    s = Settings()
    assert (s.stream.max_batch, s.stream.max_wait_s, s.kafka.raw_topic) == (32, 2.0, "from-file")


def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINSENT_STREAM_MAX_BATCH", "0")
    with pytest.raises(ValueError):
        Settings()
    monkeypatch.delenv("FINSENT_STREAM_MAX_BATCH")
    monkeypatch.setenv("FINSENT_CONFIG", "/nonexistent/finsent.toml")
    with pytest.raises(FileNotFoundError):
        Settings()


def test_an_empty_variable_means_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    # What a compose file's ${VAR:-} gives: set, but empty. Secrets and plain fields alike take their defaults.
    for key in ("FINSENT_ALERTS_SLACK_WEBHOOK_URL", "FINSENT_ALERTS_SMTP_PASSWORD", "FINSENT_ALERTS_SMTP_HOST",
                "FINSENT_KAFKA_BOOTSTRAP", "FINSENT_DASHBOARD_TOKEN", "FINSENT_RETENTION_DOCUMENTS_DAYS", "FINSENT_LOG_LEVEL"):
        monkeypatch.setenv(key, "")  # fmt: skip
    monkeypatch.setenv("FINSENT_KAFKA_SASL_PASSWORD", "   ")
    s = Settings()
    assert s.alerts.slack_webhook_url is None and s.alerts.smtp_password is None and s.dashboard.token is None
    assert s.alerts.smtp_host == "127.0.0.1" and s.kafka.bootstrap is None and s.log_level == "WARNING"
    assert s.kafka.sasl_password is None and s.retention.documents_days is None
