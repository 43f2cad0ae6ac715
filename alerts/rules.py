"""The alert configuration: rules, the routing tree, receivers and inhibit rules, loaded from TOML/YAML.

The vocabulary is Alertmanager's (rule, route, receiver, inhibit rule, silence). Every field has
a default documented here and in docs/alerts.md; the shipped defaults live in
``alerts/default_rules.toml``. Durations are written ``30s``, ``15m``, ``4h``, ``7d``, ``1h30m``.
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from finsent.alerts.errors import RulesError
from finsent.alerts.matchers import Matcher, parse_matcher

__all__ = [
    "AlertmanagerConfig",
    "AlertsConfig",
    "Duration",
    "EmailConfig",
    "InhibitRule",
    "Receiver",
    "Route",
    "Rule",
    "SlackConfig",
    "WebhookConfig",
    "default_rules_path",
    "format_duration",
    "load_config",
    "parse_duration",
]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """``"90s"``, ``"15m"``, ``"1h30m"``, ``"7d"`` or a number of seconds, as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if not isinstance(value, str):
        raise ValueError(f"not a duration: {value!r}")
    text = value.strip().replace(" ", "")
    parts = _DURATION.findall(text)
    if not text or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 15m, 4h, 7d, 1h30m)")
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def format_duration(value: timedelta) -> str:
    """The shortest ``1h30m``-style spelling of a duration."""
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration)]
MatcherField = Annotated[Matcher, BeforeValidator(lambda v: v if isinstance(v, Matcher) else parse_matcher(v)), PlainSerializer(str)]
Severity = Literal["info", "warning", "critical"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True, populate_by_name=True)


class Rule(_Model):
    """A spike test run every cycle on every scope it selects."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.:-]+$", description="Unique; becomes the alertname label.")
    description: str = ""
    scope_kind: Literal["all", "topic", "ticker", "source"] = Field(description="What the rule watches.")
    scopes: list[str] = Field(default_factory=list, description="These scopes only; empty = every one seen.")
    pattern: str | None = Field(default=None, description="Regular expression a scope must match in full.")
    direction: Literal["negative", "positive"] = Field(
        default="negative", description="Whose rate is tested: a spike of negative (or positive) news."
    )
    window: Duration = Field(default=timedelta(minutes=15), description="The recent period tested.")
    baseline: Duration = Field(
        default=timedelta(days=7), description="Whole hours of history before the window's hour: the normal rate."
    )
    min_volume: int = Field(default=10, ge=1, description="Documents needed in the window to test at all.")
    min_rate: float = Field(default=0.4, ge=0, le=1, description="Absolute floor on the window's rate.")
    min_z: float = Field(default=4.0, gt=0, description="Binomial z-score of the window against the baseline.")
    min_lift: float = Field(
        default=1.5, ge=1, description="The window rate's 95% Wilson lower bound over the baseline rate."
    )
    resolve_z: float = Field(default=2.0, description="A firing alert resolves once z drops below this.")
    prior_weight: float = Field(
        default=20.0, ge=0, description="Pseudo-documents pulling a thin baseline toward the overall rate."
    )
    cooldown: Duration = Field(default=timedelta(minutes=30), description="No new alert this soon after a resolve.")
    severity: Severity = "warning"
    labels: dict[str, str] = Field(default_factory=dict, description="Extra labels, e.g. sector, for routing.")

    @model_validator(mode="after")
    def _check(self) -> Rule:
        if self.window < timedelta(minutes=1) or self.window % timedelta(minutes=1):
            raise ValueError(f"rule {self.name}: window must be whole minutes, at least 1m")
        if self.baseline < timedelta(hours=1) or self.baseline % timedelta(hours=1):
            raise ValueError(f"rule {self.name}: baseline must be whole hours, at least 1h")
        if self.resolve_z > self.min_z:
            raise ValueError(f"rule {self.name}: resolve_z must not exceed min_z")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"rule {self.name}: bad pattern: {exc}") from None
        if self.scope_kind == "all" and (self.scopes or self.pattern):
            raise ValueError(f"rule {self.name}: scope_kind 'all' takes no scopes or pattern")
        reserved = {"alertname", "scope_kind", "scope", "severity", "direction", self.scope_kind}
        if reserved & set(self.labels):
            raise ValueError(f"rule {self.name}: labels may not set {sorted(reserved & set(self.labels))}")
        return self

    def selects(self, scope: str) -> bool:
        """Whether this rule watches the given scope (of its kind)."""
        if self.scopes and scope not in self.scopes:
            return False
        return self.pattern is None or re.fullmatch(self.pattern, scope) is not None


class EmailConfig(_Model):
    """Send to these addresses over the SMTP server in settings (FINSENT_ALERTS_SMTP_*)."""

    to: list[str] = Field(default_factory=list, description="Recipients; empty = FINSENT_ALERTS_EMAIL_TO.")
    send_resolved: bool = True


_ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class SlackConfig(_Model):
    """Post to an incoming webhook: the one named by ``webhook_url_env``, else FINSENT_ALERTS_SLACK_WEBHOOK_URL.

    Webhook URLs are secrets, so the rules file names the environment variable, never the URL.
    """

    send_resolved: bool = True
    webhook_url_env: str | None = Field(default=None, pattern=_ENV_NAME, description="Variable holding the URL.")


class WebhookConfig(_Model):
    """POST Alertmanager's webhook_config JSON to a URL, optionally signed (HMAC-SHA256 of the body)."""

    url_env: str = Field(pattern=_ENV_NAME, description="Variable holding the URL (it may carry a token).")
    hmac_secret_env: str | None = Field(
        default=None, pattern=_ENV_NAME, description="Variable holding the signing secret; unset = unsigned."
    )
    send_resolved: bool = True
    max_alerts: int = Field(default=0, ge=0, description="At most this many alerts per message; 0 = all.")


class AlertmanagerConfig(_Model):
    """Hand alerts to an existing Prometheus Alertmanager (POST /api/v2/alerts); resolved ones carry endsAt."""

    url: str | None = Field(default=None, description="Alertmanager's base URL, e.g. http://alertmanager:9093.")
    url_env: str | None = Field(default=None, pattern=_ENV_NAME, description="Or a variable holding it.")
    send_resolved: bool = True

    @model_validator(mode="after")
    def _one_url(self) -> AlertmanagerConfig:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("alertmanager_configs need exactly one of url and url_env")
        return self


class Receiver(_Model):
    """A named bundle of integrations a route notifies."""

    name: str
    email_configs: list[EmailConfig] = Field(default_factory=list)
    slack_configs: list[SlackConfig] = Field(default_factory=list)
    webhook_configs: list[WebhookConfig] = Field(default_factory=list)
    alertmanager_configs: list[AlertmanagerConfig] = Field(default_factory=list)


class Route(_Model):
    """A node of the routing tree: alerts matching ``matchers`` go to ``receiver``, grouped by ``group_by``.

    Unset fields inherit from the parent; the root's defaults are Alertmanager's.
    """

    receiver: str | None = None
    matchers: list[MatcherField] = Field(default_factory=list)
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    continue_: bool = Field(default=False, alias="continue")
    routes: list[Route] = Field(default_factory=list)


class InhibitRule(_Model):
    """Mute alerts matching ``target_matchers`` while one matching ``source_matchers`` fires with ``equal`` labels."""

    source_matchers: list[MatcherField] = Field(default_factory=list)
    target_matchers: list[MatcherField] = Field(default_factory=list)
    equal: list[str] = Field(default_factory=list)


_ROOT_DEFAULTS: dict[str, Any] = {
    "group_by": ["scope_kind", "scope"],
    "group_wait": timedelta(seconds=30),
    "group_interval": timedelta(minutes=5),
    "repeat_interval": timedelta(hours=4),
}


class AlertsConfig(_Model):
    """The whole rules file."""

    rules: list[Rule] = Field(default_factory=list)
    route: Route = Field(default_factory=lambda: Route(receiver="default"))
    receivers: list[Receiver] = Field(default_factory=lambda: [Receiver(name="default")])
    inhibit_rules: list[InhibitRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check(self) -> AlertsConfig:
        names = [r.name for r in self.rules]
        if len(names) != len(set(names)):
            raise ValueError(f"rule names must be unique: {sorted(n for n in set(names) if names.count(n) > 1)}")
        receivers = [r.name for r in self.receivers]
        if len(receivers) != len(set(receivers)):
            raise ValueError("receiver names must be unique")
        if self.route.receiver is None:
            raise ValueError("the root route needs a receiver")
        if self.route.matchers:
            raise ValueError("the root route matches every alert; it takes no matchers")
        for route in _walk(self.route):
            if route.receiver is not None and route.receiver not in receivers:
                raise ValueError(f"route names receiver {route.receiver!r}, which is not defined")
        # Fill the root's unset timings so every child can inherit something.
        filled = {k: v for k, v in _ROOT_DEFAULTS.items() if getattr(self.route, k) is None}
        if filled:
            object.__setattr__(self, "route", self.route.model_copy(update=filled))
        return self

    def rule(self, name: str) -> Rule | None:
        """The rule of that name, if configured."""
        return next((r for r in self.rules if r.name == name), None)


def _walk(route: Route) -> list[Route]:
    out = [route]
    for child in route.routes:
        out.extend(_walk(child))
    return out


def default_rules_path() -> Path:
    """The rules file shipped with finsent, used when FINSENT_ALERTS_RULES_FILE is unset."""
    return Path(str(resources.files("finsent.alerts").joinpath("default_rules.toml")))


def load_config(path: str | Path | None = None) -> AlertsConfig:
    """Read and validate a rules file (TOML, YAML or JSON by extension); RulesError says what is wrong."""
    file = Path(path) if path else default_rules_path()
    try:
        raw = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"cannot read rules file {file}: {exc}") from None
    try:
        if file.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(raw) or {}
        elif file.suffix == ".json":
            data = json.loads(raw)
        else:
            data = tomllib.loads(raw)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise RulesError(f"rules file {file} does not parse: {exc}") from None
    try:
        return AlertsConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}" for err in exc.errors()
        )
        raise RulesError(f"rules file {file} is invalid: {problems}") from None
