"""One typed settings tree for every finsent package.

Values come from, highest priority first: keyword arguments, environment variables
(``FINSENT_<SECTION>_<FIELD>``, e.g. ``FINSENT_KAFKA_BOOTSTRAP``, ``FINSENT_DATABASE_URL``),
an optional TOML file (``load_settings(config_file)``, which ``finsent --config`` uses, else
``FINSENT_CONFIG``; sections match the classes below),
then the defaults, which run on a fresh machine with no configuration at all:
embedded broker, a SQLite file under ``./var``, the shipped model.

Build it once at the entry point (``load_settings`` in the CLI, ``get_settings`` in the
dashboard's script) and pass it down; logic never reads the environment itself.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = [
    "AlertSettings",
    "DashboardSettings",
    "DatabaseSettings",
    "IngestSettings",
    "KafkaSettings",
    "ModelSettings",
    "RetentionSettings",
    "Settings",
    "StorySettings",
    "StreamSettings",
    "TickerSettings",
    "check_watchlist",
    "default_model_path",
    "get_settings",
    "load_settings",
]

_PACKAGE = Path(__file__).resolve().parent
# The TOML file ``load_settings`` was given, for the sources hook below (pydantic-settings builds the
# sources before it sees any argument); unset means FINSENT_CONFIG, if that is set.
_config_file: ContextVar[str | None] = ContextVar("finsent_config_file", default=None)


def default_model_path() -> Path:
    """The shipped model: ``finsent/models/finsent-minilm`` in the installed package.

    In a source checkout (an editable install) the package's files stay in their folders, so the
    model is the repository's ``models/finsent-minilm``, beside ``finsent/``. A path that does not
    exist is still returned: loading it fails with a message naming the path and FINSENT_MODEL_PATH.
    """
    installed = _PACKAGE / "models" / "finsent-minilm"
    return installed if installed.is_dir() else _PACKAGE.parent / "models" / "finsent-minilm"


def _drop_empty(values: Any) -> Any:
    """Leave out empty values, so their defaults apply: an empty variable means "not configured".

    Compose files pass ``${SECRET:-}``, which sets the variable to ''; a webhook URL, a password or
    a host of '' would otherwise be taken as configured (and posted to, or logged in with).
    """
    if not isinstance(values, dict):
        return values

    def empty(value: Any) -> bool:
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        return isinstance(raw, str) and not raw.strip()

    return {key: value for key, value in values.items() if not empty(value)}


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    _empty_is_unset = model_validator(mode="before")(_drop_empty)


class KafkaSettings(_Section):
    """Where messages come from and go to."""

    bootstrap: str | None = Field(
        default=None,
        description="Comma-separated bootstrap servers. Unset: start the embedded Tansu broker on loopback.",
    )
    raw_topic: str = Field(default="finsent.raw", description="Input: news and comments to score.")
    scored_topic: str = Field(default="finsent.scored", description="Output: scored documents.")
    dead_letter_topic: str = Field(default="finsent.dead-letter", description="Malformed input, with the reason.")
    backfill_topic: str = Field(
        default="finsent.backfill",
        description="History to score (`finsent backfill --via-kafka`), read by the workers below live news.",
    )
    partitions: int = Field(default=4, ge=1, description="Partitions for topics finsent creates.")
    replication_factor: int = Field(default=1, ge=1)
    consumer_group: str = Field(default="finsent-worker", description="Faust app id / consumer group.")
    embedded_port: int = Field(default=19092, description="Port of the embedded broker (0 = any free port).")
    # Tansu holds every JoinGroup for session_timeout/2; short timeouts keep joins fast
    # (see docs/broker.md). Real Kafka is happy with them too.
    # 6 s: Apache Kafka's lowest accepted session (group.min.session.timeout.ms); with 10 s a restart
    # after a SIGKILL took 13-17 s to its first score on Tansu, with 6 s 8.5-9.8 s (docs/reliability.md).
    session_timeout_s: float = Field(default=6.0, gt=0)
    heartbeat_interval_s: float = Field(default=1.0, gt=0)
    group_instance_id: str | None = Field(
        default=None,
        description="Static group membership (KIP-345): a worker restarted with the same id takes its "
        "partitions back without waiting for its old session to expire. One distinct id per worker "
        "(e.g. the container's host name); unset = dynamic membership. Apache Kafka only: on the embedded "
        "broker a dead static member blocks the group's rebalance (docs/reliability.md).",
    )
    fetch_max_wait_ms: int = Field(
        default=100,
        ge=1,
        le=1500,
        description="Longest a consumer fetch waits for data. Kafka answers as soon as data arrives; "
        "Tansu only at this deadline, so it bounds the worker's pickup latency.",
    )
    # Security: applied identically to the worker (aiokafka under Faust) and every kafka-python client
    # (finsent/kafka_security.py). Names follow the Kafka client properties they stand for.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL (SASL over TLS)."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        default="PLAIN", description="SASL mechanism for the SASL_* protocols."
    )
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(default=None, description="SASL password (a secret).")
    ssl_cafile: str | None = Field(
        default=None, description="PEM file of the CA(s) that sign the brokers' certificates; unset = system CAs."
    )
    ssl_certfile: str | None = Field(default=None, description="Client certificate (PEM) for brokers that require one.")
    ssl_keyfile: str | None = Field(default=None, description="Private key (PEM) of the client certificate.")
    ssl_key_password: SecretStr | None = Field(default=None, description="Password of an encrypted client key.")
    ssl_check_hostname: bool = Field(
        default=True, description="Check that the broker's certificate names the host connected to."
    )
    connect_timeout_s: float = Field(
        default=15.0, gt=0, description="How long the start-up check waits for the broker before it gives up."
    )

    @model_validator(mode="after")
    def _check_security(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL_") and (self.sasl_username is None or self.sasl_password is None):
            raise ValueError(
                f"security_protocol {self.security_protocol} needs FINSENT_KAFKA_SASL_USERNAME and "
                "FINSENT_KAFKA_SASL_PASSWORD"
            )
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ValueError("FINSENT_KAFKA_SSL_KEYFILE is set without FINSENT_KAFKA_SSL_CERTFILE")
        return self

    @property
    def uses_tls(self) -> bool:
        """Whether connections are TLS (SSL or SASL_SSL)."""
        return self.security_protocol in ("SSL", "SASL_SSL")


class DatabaseSettings(_Section):
    """The system of record."""

    url: SecretStr = Field(
        default=SecretStr("sqlite:///var/finsent.db"),
        description="SQLAlchemy URL. PostgreSQL in production; a SQLite file is the zero-setup default.",
    )
    pool_size: int = Field(default=5, ge=1)
    echo: bool = False

    @field_validator("url", mode="before")
    @classmethod
    def _normalise_driver(cls, value: Any) -> Any:
        # Operators paste libpq-style URLs; SQLAlchemy wants the driver spelled out.
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(raw, str) and raw.startswith("postgres://"):
            raw = "postgresql+psycopg2://" + raw[len("postgres://") :]
        elif isinstance(raw, str) and raw.startswith("postgresql://"):
            raw = "postgresql+psycopg2://" + raw[len("postgresql://") :]
        return raw


class ModelSettings(_Section):
    """Which classifier scores the text, and how."""

    path: str = Field(
        default_factory=lambda: str(default_model_path()),
        description="Checkpoint directory or Hugging Face hub name.",
    )
    device: str = Field(default="auto", description="auto | cpu | cuda | cuda:N")
    max_length: int = Field(default=128, ge=8, le=512, description="Tokens per text; longer text is truncated.")
    inference_batch_size: int = Field(default=64, ge=1, description="Texts per forward pass at most.")
    threads: int | None = Field(default=None, ge=1, description="torch intra-op threads; unset = all cores.")
    precision: Literal["auto", "fp32", "int8", "bf16", "fp16"] = Field(
        default="auto",
        description="Inference precision: auto = bf16 on GPUs and AMX/AVX512-BF16 CPUs, else fp32 (the "
        "reference); int8 = dynamic quantization, faster on CPU but below 99% label agreement.",
    )
    runtime: Literal["auto", "torch", "onnx", "openvino"] = Field(
        default="auto",
        description="Inference backend: auto = OpenVINO for bf16 on the CPU (two inference streams, about "
        "1.5x PyTorch bf16 on AMX), ONNX Runtime for fp32/int8 on the CPU (about 2x PyTorch fp32 on AVX2), "
        "PyTorch otherwise (GPUs, and the reference).",
    )
    inference_process: bool = Field(
        default=False,
        description="Worker: run the model in a child process of its own, so inference does not share the "
        "event loop's and the writer's interpreter lock; if the child dies, the worker exits without acking.",
    )


class StreamSettings(_Section):
    """The worker's micro-batching and input limits."""

    max_batch: int = Field(
        default=1024, ge=1, description="Messages per micro-batch at most (larger batches pad less when length-sorted)."
    )
    max_wait_s: float = Field(
        default=0.05,
        gt=0,
        description=(
            "Longest wait for more messages before an idle model gets what has arrived; while the model is busy,"
            " arrivals gather into its next batch (up to max_batch) whatever this says."
        ),
    )
    max_text_chars: int = Field(default=20_000, ge=1, description="Title+body longer than this is a dead letter.")
    max_payload_bytes: int = Field(default=256_000, ge=1, description="Raw message size limit.")
    write_retry_max_s: float = Field(
        default=1.0,
        gt=0,
        description="Backoff cap while the database is down: writes resume at most this long after it returns.",
    )
    web_port: int = Field(default=6066, description="Faust web/metrics port of the worker (/metrics, /healthz, /readyz).")
    web_bind: str = Field(
        default="127.0.0.1",
        description="Address the worker's web server listens on; 0.0.0.0 lets a Prometheus elsewhere scrape it.",
    )
    publish_scored: bool = Field(default=True, description="Publish scored records to the scored topic.")
    backfill_max_batch: int = Field(
        default=64,
        ge=1,
        description="Messages per backfill batch at most: small, so a live batch waits for at most one of them.",
    )


class IngestSettings(_Section):
    """Producers that feed the raw topic."""

    sources_file: str | None = Field(default=None, description="TOML/YAML file declaring the sources to poll.")
    state_path: str = Field(default="var/ingest-state.db", description="Persisted dedup state.")
    simulator_rate: float = Field(default=5.0, gt=0, description="Simulated messages per second in the demo.")
    user_agent: str = Field(default="finsent/0.1 (+https://github.com/finsent/finsent)")
    dedup_retention_days: float = Field(default=30.0, gt=0, description="How long sent items are remembered for dedup.")
    metrics_port: int | None = Field(default=None, description="Prometheus metrics port of `finsent ingest run`.")
    metrics_bind: str = Field(default="127.0.0.1", description="Address the ingest metrics server listens on.")
    publish_retry_max_s: float = Field(
        default=30.0, gt=0, description="Backoff cap while the broker is unreachable: producers retry, never exit."
    )


_TICKER_SYMBOL = re.compile(r"^\$?[A-Za-z][A-Za-z0-9.\-]{0,9}$")


def check_watchlist(value: dict[str, list[str]]) -> dict[str, list[str]]:
    """A watchlist's keys must be ticker symbols (settings and sources files alike)."""
    bad = [t for t in value if not _TICKER_SYMBOL.match(t)]
    if bad:
        raise ValueError(f"not ticker symbols: {bad}")
    return value


class TickerSettings(_Section):
    """Which tickers a text is about: cashtags, plus a watchlist of names, on every path a text takes in."""

    watchlist: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Ticker -> company names and aliases, e.g. {\"TATAMOTORS\": [\"Tata Motors\"]}. Used by the "
        "worker, replay, backfill and ingest run (a sources file's own watchlist is added to it).",
    )
    match_symbols: bool = Field(default=True, description="Also match bare watchlist symbols (AAPL) in text.")

    @field_validator("watchlist")
    @classmethod
    def _symbols(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return check_watchlist(value)


class StorySettings(_Section):
    """Near-duplicate stories: one wire story republished by many outlets counts once."""

    count: Literal["stories", "documents"] = Field(
        default="stories",
        description="What rollups and so alert rates count: each story once per scope, or every document. "
        "Applies to what is written from now on; `finsent db rebuild-rollups` recounts history.",
    )
    window_h: float = Field(default=48.0, gt=0, description="Copies published further apart are other stories.")
    threshold: float = Field(
        default=0.4, gt=0, lt=1, description="Least estimated Jaccard similarity of word shingles for a copy."
    )
    num_perm: int = Field(default=64, ge=16, le=512, description="MinHash permutations (signature length).")


class AlertSettings(_Section):
    """Spike detection and notification."""

    rules_file: str | None = Field(default=None, description="TOML/YAML file of alert rules and receivers.")
    interval_s: float = Field(default=60.0, gt=0, description="Evaluation cycle.")
    dashboard_url: str = Field(default="http://127.0.0.1:8501")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    email_from: str = "finsent@localhost"
    email_to: list[str] = Field(default_factory=list)
    slack_webhook_url: SecretStr | None = None
    model_version: str | None = Field(
        default=None, description="Evaluate this model version's rollups; unset = the one that scored last."
    )
    dispatch_interval_s: float = Field(
        default=5.0, gt=0, description="How often group timers and the outbox are checked between cycles."
    )
    send_timeout_s: float = Field(default=10.0, gt=0, description="SMTP/Slack connect and response timeout.")
    retry_initial_s: float = Field(default=10.0, gt=0, description="First retry delay; doubles each attempt.")
    retry_max_s: float = Field(default=600.0, gt=0, description="Longest delay between retries.")
    give_up_after_s: float = Field(
        default=86_400.0, gt=0, description="A notification still unsent this long after it was recorded fails."
    )
    metrics_port: int | None = Field(
        default=None, description="Port of the scheduler's /metrics, /healthz and /readyz; unset = none."
    )
    metrics_bind: str = Field(default="127.0.0.1", description="Address the scheduler's metrics server listens on.")


class RetentionSettings(_Section):
    """How long each kind of data is kept; unset keeps it for ever. The scheduler purges in small batches."""

    documents_days: float | None = Field(
        default=None, gt=0, description="Documents and their scores, by publication time."
    )
    minute_rollups_days: float | None = Field(default=None, gt=0, description="Per-minute rollups.")
    hourly_rollups_days: float | None = Field(default=None, gt=0, description="Hourly rollups.")
    alerts_days: float | None = Field(
        default=None, gt=0, description="Resolved alerts with their history, and sent or failed notifications."
    )
    batch_size: int = Field(default=5000, ge=1, description="Rows deleted per transaction (short locks).")
    interval_s: float = Field(default=3600.0, gt=0, description="How often the scheduler purges.")
    partitions_ahead: int = Field(
        default=3, ge=1, description="PostgreSQL: monthly partitions kept created ahead of the current month."
    )


class DashboardSettings(_Section):
    """The Streamlit dashboard."""

    host: str = Field(default="127.0.0.1", description="Listen address. Anything but loopback needs a token.")
    port: int = 8501
    token: SecretStr | None = Field(default=None, description="Password required when not on loopback.")
    refresh_s: int = Field(default=15, ge=1)


class Settings(BaseSettings):
    """All of finsent's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="FINSENT_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        frozen=True,
        extra="ignore",
    )

    data_dir: str = Field(default="var", description="Where local state (SQLite, logs) lives.")
    log_level: str = Field(default="WARNING", description="Quiet by default; INFO or DEBUG when looking.")
    log_format: str = Field(default="json", description="json | text")
    kafka: KafkaSettings = KafkaSettings()
    database: DatabaseSettings = DatabaseSettings()
    model: ModelSettings = ModelSettings()
    stream: StreamSettings = StreamSettings()
    ingest: IngestSettings = IngestSettings()
    alerts: AlertSettings = AlertSettings()
    tickers: TickerSettings = TickerSettings()
    stories: StorySettings = StorySettings()
    retention: RetentionSettings = RetentionSettings()
    dashboard: DashboardSettings = DashboardSettings()

    _empty_is_unset = model_validator(mode="before")(_drop_empty)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file.get() or os.environ.get("FINSENT_CONFIG")
        if config_file:
            if not Path(config_file).is_file():
                raise FileNotFoundError(f"the settings file {config_file!r} (FINSENT_CONFIG or --config) is not a file")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    def redacted(self) -> dict[str, Any]:
        """The effective configuration with secrets masked, for logs."""
        return self.model_dump(mode="json")  # SecretStr dumps as '**********'


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Settings from ``overrides``, the environment, then ``config_file`` (default: FINSENT_CONFIG), then defaults."""
    token = _config_file.set(str(config_file) if config_file is not None else None)
    try:
        return Settings(**overrides)
    finally:
        _config_file.reset(token)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings from the environment, read once (for entry scripts without arguments)."""
    return Settings()
