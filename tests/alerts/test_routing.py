"""Matchers, the routing tree, grouping, inhibition and silences: Alertmanager's semantics, pure."""

from __future__ import annotations

import pytest

from finsent.alerts.matchers import Matcher, matches_all, parse_matcher
from finsent.alerts.routing import build_tree, group_key, group_labels, inhibited, match_routes, silenced
from finsent.alerts.rules import AlertsConfig, InhibitRule

ACME = {"alertname": "ticker-negative-spike", "scope_kind": "ticker", "scope": "ACME", "ticker": "ACME",
        "severity": "warning", "direction": "negative"}


@pytest.mark.parametrize(
    ("text", "name", "op", "value"),
    [('ticker="ACME"', "ticker", "=", "ACME"), ("ticker=ACME", "ticker", "=", "ACME"),
     ('severity != "info"', "severity", "!=", "info"), ('scope=~"A.*"', "scope", "=~", "A.*"),
     ('topic!~"Fed.*"', "topic", "!~", "Fed.*"), ('scope="say \\"hi\\""', "scope", "=", 'say "hi"'),
     ('desk=""', "desk", "=", "")],
)
def test_matcher_syntax(text: str, name: str, op: str, value: str) -> None:
    m = parse_matcher(text)
    assert (m.name, m.op, m.value) == (name, op, value)
    assert parse_matcher(str(m)) == m  # str() is parseable


@pytest.mark.parametrize("bad", ["ticker", "=ACME", 'ticker=="ACME"', '1x="y"', 'scope=~"("'])
def test_malformed_matchers_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_matcher(bad)


def test_matching_semantics() -> None:
    assert parse_matcher('ticker="ACME"').matches(ACME)
    assert not parse_matcher('ticker="AC"').matches(ACME)
    assert not parse_matcher('scope=~"AC"').matches(ACME)  # regexes are anchored
    assert parse_matcher('scope=~"AC.*"').matches(ACME)
    assert parse_matcher('topic=""').matches(ACME)  # a missing label is the empty string
    assert parse_matcher('topic!~".+"').matches(ACME)
    assert matches_all([], ACME)


def _tree(**route: object):  # type: ignore[no-untyped-def]
    config = AlertsConfig.model_validate(
        {"route": route, "receivers": [{"name": n} for n in ("root", "oncall", "tech", "info")]}
    )
    return build_tree(config.route)


def test_first_matching_child_wins_unless_continue() -> None:
    tree = _tree(
        receiver="root",
        routes=[
            {"matchers": ['severity="critical"'], "receiver": "oncall", "continue": True, "group_wait": "10s"},
            {"matchers": ['sector="tech"'], "receiver": "tech"},
            {"matchers": ['ticker=~".+"'], "receiver": "info"},
        ],
    )
    assert [n.receiver for n in match_routes(tree, ACME)] == ["info"]
    tech = {**ACME, "sector": "tech"}
    assert [n.receiver for n in match_routes(tree, tech)] == ["tech"]  # first match stops
    critical = {**tech, "severity": "critical"}
    routes = match_routes(tree, critical)
    assert [n.receiver for n in routes] == ["oncall", "tech"]  # continue = true goes on
    assert routes[0].group_wait.total_seconds() == 10 and routes[1].group_wait.total_seconds() == 30  # inherited
    assert [n.receiver for n in match_routes(tree, {"scope_kind": "all", "scope": "*"})] == ["root"]


def test_grouping_by_labels_and_by_everything() -> None:
    tree = _tree(receiver="root", group_by=["scope_kind", "scope"])
    assert group_labels(tree, ACME) == {"scope_kind": "ticker", "scope": "ACME"}
    other_rule = {**ACME, "alertname": "watchlist"}
    assert group_key(tree, ACME) == group_key(tree, other_rule)  # same scope, same notification
    assert group_key(tree, ACME) != group_key(tree, {**ACME, "scope": "MSFT"})
    everything = _tree(receiver="root", group_by=["..."])
    assert group_labels(everything, ACME) == dict(sorted(ACME.items()))
    assert group_key(everything, ACME) != group_key(everything, other_rule)


def test_inhibition_needs_a_firing_source_with_equal_labels() -> None:
    rule = InhibitRule.model_validate(
        {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'], "equal": ["scope"]}
    )
    critical_acme = {**ACME, "severity": "critical", "alertname": "watchlist"}
    critical_msft = {**critical_acme, "scope": "MSFT"}
    assert inhibited(ACME, [ACME, critical_acme], [rule])
    assert not inhibited(ACME, [ACME, critical_msft], [rule])
    assert not inhibited(critical_acme, [critical_acme], [rule])  # never inhibits itself
    assert not inhibited(ACME, [critical_acme], [])


def test_silences_need_every_matcher() -> None:
    acme = [Matcher("ticker", "=", "ACME")]
    acme_critical = [Matcher("ticker", "=", "ACME"), Matcher("severity", "=", "critical")]
    assert silenced(ACME, [acme])
    assert not silenced(ACME, [acme_critical])
    assert not silenced(ACME, [[]])  # an empty silence silences nothing
    assert not silenced(ACME, [])
