"""The sources file: which feeds, APIs, comment streams, folders and simulators to poll, and how.

TOML or YAML. Header and query-parameter values may name environment variables as
``${NAME}``; they are resolved when the file is loaded (from the environment the entry point
passes in) and kept as secrets, never logged. See docs/ingest.md for the reference.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from finsent.ingest.errors import ConfigError
from finsent.settings import check_watchlist

__all__ = [
    "FileSource",
    "HttpSource",
    "JsonApiSource",
    "RedditSource",
    "RssSource",
    "SimulatorSource",
    "SourceConfig",
    "SourcesConfig",
    "StocktwitsSource",
    "load_sources",
    "read_config_file",
]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _SourceBase(_Frozen):
    name: str = Field(pattern=_NAME, description="Unique; also the 'source' of every message it produces.")
    interval_s: float = Field(default=300.0, gt=0, description="Seconds between polls.")
    jitter_s: float | None = Field(
        default=None,
        ge=0,
        description="Random shift of each poll; default a tenth of the interval, at most 30 s.",
    )
    enabled: bool = True
    dedup: bool = Field(
        default=True, description="Skip items already sent (same canonical URL or same text)."
    )
    tickers: list[str] = Field(
        default_factory=list, description="Tickers added to every item (e.g. a per-symbol stream)."
    )
    lang: str = "en"

    @property
    def jitter(self) -> float:
        return self.jitter_s if self.jitter_s is not None else min(self.interval_s / 10, 30.0)


class HttpSource(_SourceBase):
    """Settings shared by every source fetched over HTTP."""

    url: str = Field(pattern=r"^https?://")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="Extra headers; '${ENV}' for secrets."
    )
    params: dict[str, SecretStr] = Field(
        default_factory=dict, description="Query parameters; '${ENV}' for secrets."
    )
    timeout_s: float = Field(default=15.0, gt=0, description="Connect/read timeout of one request.")
    retries: int = Field(
        default=3, ge=0, description="Retries of one poll on network errors, 5xx/429 and broken bodies."
    )
    backoff_s: float = Field(
        default=1.0, gt=0, description="First retry delay; doubles each retry, with jitter."
    )
    backoff_max_s: float = Field(default=60.0, gt=0)
    conditional: bool = Field(default=True, description="Send If-None-Match / If-Modified-Since.")
    respect_robots: bool = Field(default=True, description="Check the host's robots.txt first.")


class RssSource(HttpSource):
    """An RSS or Atom feed."""

    kind: Literal["rss"]
    item_kind: Literal["news", "comment"] = "news"


class JsonApiSource(HttpSource):
    """A JSON HTTP API: ``items`` is the path of the item list, ``mapping`` says where each field is."""

    kind: Literal["json_api"]
    items: str = Field(
        default="", description="Dotted path to the list of items ('' = the document is the list)."
    )
    mapping: dict[str, str] = Field(
        default_factory=lambda: {
            "title": "title",
            "body": "description",
            "url": "url",
            "published_at": "published_at",
        },
        description="Message field -> path in one item (title, body, url, published_at, tickers, lang).",
    )
    url_prefix: str | None = Field(default=None, description="Prepended to relative item URLs.")
    item_kind: Literal["news", "comment"] = "news"

    @field_validator("mapping")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - {"title", "body", "url", "published_at", "tickers", "lang"}
        if unknown:
            raise ValueError(f"unknown mapping fields: {sorted(unknown)}")
        if not (value.get("title") or value.get("body")):
            raise ValueError("the mapping needs a title or a body path")
        return value


class RedditSource(HttpSource):
    """A subreddit's (or a thread's) public ``.json`` listing."""

    kind: Literal["reddit"]
    permalink_base: str = "https://www.reddit.com"


class StocktwitsSource(HttpSource):
    """A StockTwits-style message stream (``messages[]`` with body, created_at, user, symbols)."""

    kind: Literal["stocktwits"]
    message_base: str = "https://stocktwits.com"


class FileSource(_SourceBase):
    """A folder (or file) of JSONL/CSV/Parquet; each new or changed file is sent once."""

    kind: Literal["file"]
    path: str
    fields: dict[str, str] = Field(default_factory=dict, description="Message field -> column name.")
    interval_s: float = Field(default=60.0, gt=0)


class SimulatorSource(_SourceBase):
    """The built-in market-news simulator, drained on every poll up to the current time."""

    kind: Literal["simulator"]
    scenario: str = Field(default="calm", description="'calm', 'demo' or a scenario TOML/YAML file.")
    rate: float | None = Field(
        default=None, gt=0, description="Messages per second; default IngestSettings.simulator_rate."
    )
    seed: int | None = None
    interval_s: float = Field(default=1.0, gt=0)
    dedup: bool = False  # templated text repeats by design; ids are unique anyway


SourceConfig = Annotated[
    RssSource | JsonApiSource | RedditSource | StocktwitsSource | FileSource | SimulatorSource,
    Field(discriminator="kind"),
]


class SourcesConfig(_Frozen):
    """The whole sources file."""

    user_agent: str | None = Field(default=None, description="Overrides IngestSettings.user_agent.")
    per_host_interval_s: float = Field(
        default=1.0, ge=0, description="Least time between two requests to one host."
    )
    host_intervals: dict[str, float] = Field(
        default_factory=dict, description="Per-host overrides of the above."
    )
    max_workers: int = Field(default=8, ge=1, description="Sources polled at the same time at most.")
    match_symbols: bool = Field(default=True, description="Also match bare watchlist symbols (AAPL) in text.")
    watchlist: dict[str, list[str]] = Field(
        default_factory=dict, description="Ticker -> company names and aliases."
    )
    sources: list[SourceConfig] = Field(default_factory=list)

    @field_validator("watchlist")
    @classmethod
    def _tickers(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        return check_watchlist(value)

    @model_validator(mode="after")
    def _unique_names(self) -> SourcesConfig:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {dupes}")
        return self

    @property
    def enabled(self) -> list[Any]:
        return [s for s in self.sources if s.enabled]


def read_config_file(path: Path) -> dict[str, Any]:
    """A TOML or YAML file as a dict (by extension)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a table/mapping at the top level")
    return data


def _expand(value: Any, env: Mapping[str, str], where: str) -> Any:
    if not isinstance(value, str):
        return value

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise ConfigError(f"{where} needs environment variable {name}, which is not set")
        return env[name]

    return _ENV_REF.sub(sub, value)


def load_sources(data: Path | Mapping[str, Any], *, env: Mapping[str, str] | None = None) -> SourcesConfig:
    """Validate a sources file (or an already-read mapping), resolving ``${ENV}`` in headers and params."""
    raw = read_config_file(data) if isinstance(data, Path) else dict(data)
    env = env or {}
    sources = []
    for i, source in enumerate(raw.get("sources") or []):
        if isinstance(source, Mapping):
            source = dict(source)
            label = source.get("name") or f"#{i + 1}"
            for key in ("headers", "params"):
                if isinstance(source.get(key), Mapping):
                    source[key] = {
                        k: _expand(v, env, f"source {label} {key[:-1]} {k!r}") for k, v in source[key].items()
                    }
        sources.append(source)
    raw["sources"] = sources
    try:
        return SourcesConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid sources config: {problems}") from None
