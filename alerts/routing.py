"""Alertmanager's routing tree, grouping, inhibition and silencing, as pure functions over label sets."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from finsent.alerts.matchers import Matcher, matches_all
from finsent.alerts.rules import InhibitRule, Route

__all__ = ["RouteNode", "build_tree", "group_key", "group_labels", "inhibited", "match_routes", "silenced"]

Labels = Mapping[str, str]


@dataclass(frozen=True)
class RouteNode:
    """A route with every inherited field filled in; ``path`` ("0", "0.1", ...) names it."""

    path: str
    receiver: str
    matchers: tuple[Matcher, ...]
    group_by: tuple[str, ...]
    group_wait: timedelta
    group_interval: timedelta
    repeat_interval: timedelta
    continue_: bool
    children: tuple[RouteNode, ...]


def build_tree(route: Route, parent: RouteNode | None = None, path: str = "0") -> RouteNode:
    """Resolve inheritance down the tree (the root's unset fields were filled by AlertsConfig)."""

    def pick(name: str):  # type: ignore[no-untyped-def]
        own = getattr(route, name)
        return own if own is not None else getattr(parent, name)

    node = RouteNode(
        path=path,
        receiver=pick("receiver"),
        matchers=tuple(route.matchers),
        group_by=tuple(pick("group_by")),
        group_wait=pick("group_wait"),
        group_interval=pick("group_interval"),
        repeat_interval=pick("repeat_interval"),
        continue_=route.continue_,
        children=(),
    )
    children = tuple(build_tree(child, node, f"{path}.{i}") for i, child in enumerate(route.routes))
    return RouteNode(**{**node.__dict__, "children": children})


def match_routes(node: RouteNode, labels: Labels) -> list[RouteNode]:
    """The routes an alert goes to: the deepest matching ones, first match wins unless ``continue``."""
    if not matches_all(node.matchers, labels):
        return []
    found: list[RouteNode] = []
    for child in node.children:
        hits = match_routes(child, labels)
        found.extend(hits)
        if hits and not child.continue_:
            break
    return found or [node]


def group_labels(node: RouteNode, labels: Labels) -> dict[str, str]:
    """The label values that decide which aggregation group an alert joins (``...`` = all labels)."""
    if "..." in node.group_by:
        return dict(sorted(labels.items()))
    return {name: labels.get(name, "") for name in node.group_by}


def group_key(node: RouteNode, labels: Labels) -> str:
    """A stable id for (route, receiver, group label values)."""
    raw = json.dumps([node.path, node.receiver, group_labels(node, labels)], sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def inhibited(labels: Labels, firing: Iterable[Labels], rules: Sequence[InhibitRule]) -> bool:
    """Whether a firing source alert with equal labels mutes this (target) alert."""
    for rule in rules:
        if not matches_all(rule.target_matchers, labels):
            continue
        for source in firing:
            if source is labels or dict(source) == dict(labels):
                continue  # an alert never inhibits itself
            if matches_all(rule.source_matchers, source) and all(
                source.get(name, "") == labels.get(name, "") for name in rule.equal
            ):
                return True
    return False


def silenced(labels: Labels, silences: Iterable[Sequence[Matcher]]) -> bool:
    """Whether any active silence (a list of matchers, all of which must match) covers the alert."""
    return any(matchers and matches_all(matchers, labels) for matchers in silences)
