"""Rules files: the shipped defaults, the example, durations and the errors a bad file gets."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from finsent.alerts.errors import RulesError
from finsent.alerts.rules import AlertsConfig, format_duration, load_config, parse_duration

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30s", timedelta(seconds=30)), ("15m", timedelta(minutes=15)), ("1h30m", timedelta(minutes=90)),
     ("7d", timedelta(days=7)), ("2w", timedelta(days=14)), (90, timedelta(seconds=90))],
)
def test_durations_parse(text: object, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "15", "m", "1x", "1h 2q", True, None])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_duration_round_trips() -> None:
    for text in ("30s", "15m", "1h30m", "7d", "1d2h"):
        assert format_duration(parse_duration(text)) == text


def test_shipped_defaults_load_with_alertmanager_timings() -> None:
    config = load_config(None)
    names = [r.name for r in config.rules]
    assert names == ["ticker-negative-spike", "topic-negative-spike", "market-negative-spike"]
    ticker = config.rule("ticker-negative-spike")
    assert ticker is not None and ticker.window == timedelta(minutes=15) and ticker.baseline == timedelta(days=7)
    assert config.route.group_wait == timedelta(seconds=30)
    assert config.route.group_interval == timedelta(minutes=5)
    assert config.route.repeat_interval == timedelta(hours=4)
    receiver = config.receivers[0]
    assert receiver.email_configs[0].send_resolved and receiver.slack_configs[0].send_resolved


def test_the_example_config_loads_and_uses_every_feature() -> None:
    config = load_config(REPO / "config" / "alerts.example.toml")
    assert config.inhibit_rules and config.route.routes
    assert any(r.scopes for r in config.rules) and any(r.pattern for r in config.rules)
    assert any(r.scope_kind == "source" for r in config.rules)


def test_yaml_works_too(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - {name: acme, scope_kind: ticker, scopes: [ACME], window: 10m, baseline: 24h}\n"
        "route: {receiver: desk, group_wait: 0s}\nreceivers: [{name: desk}]\n"
    )
    config = load_config(path)
    assert config.rules[0].scopes == ["ACME"] and config.route.group_wait == timedelta(0)
    assert config.route.repeat_interval == timedelta(hours=4)  # unset root timings get the defaults


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ('[[rules]]\nname = "x"\nscope_kind = "ticker"\nwindow = "90s"\n', "whole minutes"),
        ('[[rules]]\nname = "x"\nscope_kind = "ticker"\nbaseline = "90m"\n', "whole hours"),
        ('[[rules]]\nname = "x"\nscope_kind = "planet"\n', "scope_kind"),
        ('[[rules]]\nname = "x"\nscope_kind = "ticker"\nmin_z = 3\nresolve_z = 4\n', "resolve_z"),
        ('[[rules]]\nname = "x"\nscope_kind = "ticker"\npattern = "("\n', "bad pattern"),
        ('[[rules]]\nname = "x"\nscope_kind = "ticker"\nwindw = "5m"\n', "windw"),
        ('[[rules]]\nname = "x"\nscope_kind = "ticker"\n[[rules]]\nname = "x"\nscope_kind = "topic"\n', "unique"),
        ('[route]\nreceiver = "nobody"\n', "not defined"),
        ('[route]\nreceiver = "default"\nmatchers = [\'a="b"\']\n[[receivers]]\nname = "default"\n', "no matchers"),
        ('[route]\nreceiver = "default"\n[[route.routes]]\nmatchers = ["nonsense"]\n[[receivers]]\nname = "default"\n', "not a matcher"),
        ("rules = [", "does not parse"),
    ],
)
def test_invalid_files_say_what_is_wrong(tmp_path: Path, body: str, complaint: str) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(body)
    with pytest.raises(RulesError, match=complaint):
        load_config(path)


def test_missing_file_is_a_rules_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="cannot read"):
        load_config(tmp_path / "nope.toml")


def test_rule_scope_selection() -> None:
    config = AlertsConfig.model_validate(
        {
            "rules": [
                {"name": "every", "scope_kind": "ticker"},
                {"name": "listed", "scope_kind": "ticker", "scopes": ["AAPL", "MSFT"]},
                {"name": "pattern", "scope_kind": "topic", "pattern": "Fed.*|Macro"},
            ]
        }
    )
    every, listed, pattern = config.rules
    assert every.selects("ANY")
    assert listed.selects("AAPL") and not listed.selects("AAP")
    assert pattern.selects("Fed | Central Banks") and pattern.selects("Macro") and not pattern.selects("Macro news")
