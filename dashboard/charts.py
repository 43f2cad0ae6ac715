"""Vega-Lite chart specs for the query frames; pure functions, no Streamlit.

Plain spec dicts rather than Altair objects: building and schema-validating five Altair
charts costs about half a second a render on this machine, and a spec dict costs nothing
(the tests validate the specs against the Vega-Lite schema instead). Time axes use UTC, as
every table does. Render a spec with ``st.vega_lite_chart(frame, spec, width="stretch")``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["NEGATIVE", "POSITIVE", "heatmap_spec", "movers_spec", "sentiment_specs", "versions_spec"]

Spec = dict[str, Any]

NEGATIVE = "#d62728"
POSITIVE = "#2ca02c"
_NEUTRAL = "#7f7f7f"
_LINE = "#1f77b4"
_ALERT = "#ff7f0e"
_Y_AXIS_WIDTH = 56  # px; the same on stacked charts so their time axes line up
_TIME_FORMAT = "%Y-%m-%d %H:%M"


def _time_x(field: str = "time") -> Spec:
    return {
        "field": field,
        "type": "temporal",
        "title": None,
        "scale": {"type": "utc"},
        "axis": {"labelOverlap": True},
    }


def _time_tooltip(field: str = "time", title: str = "time (UTC)") -> Spec:
    return {"field": field, "type": "temporal", "title": title, "format": _TIME_FORMAT, "formatType": "utc"}


def _markers(alerts: pd.DataFrame | None) -> list[Spec]:
    """A layer of dashed vertical rules at each alert's firing time, what fired in the tooltip."""
    if alerts is None or alerts.empty:
        return []
    values = [
        {"time": pd.Timestamp(t).tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%SZ"), "label": str(label)}
        for t, label in zip(alerts["time"], alerts["label"], strict=True)
    ]
    return [
        {
            "data": {"values": values},
            "mark": {"type": "rule", "color": _ALERT, "strokeWidth": 2, "strokeDash": [4, 3]},
            "encoding": {
                "x": _time_x(),
                "tooltip": [
                    _time_tooltip(title="fired (UTC)"),
                    {"field": "label", "type": "nominal", "title": "alert"},
                ],
            },
        }
    ]


def sentiment_specs(frame: pd.DataFrame, *, alerts: pd.DataFrame | None = None) -> tuple[Spec, Spec, Spec]:
    """Net sentiment, negative rate and volume over ``queries.series`` frames; alert markers on the first two.

    Three charts rather than one concatenation: Streamlit stretches single charts to the
    page width, not concatenated ones. A fixed y-axis width keeps their time axes aligned.
    ``alerts`` has columns time and label.
    """
    tooltip = [
        _time_tooltip(),
        {"field": "net_sentiment", "type": "quantitative", "title": "net sentiment", "format": "+.2f"},
        {"field": "negative_rate", "type": "quantitative", "title": "negative rate", "format": ".0%"},
        {"field": "volume", "type": "quantitative", "format": ","},
    ]
    markers = _markers(alerts)
    net: Spec = {
        "height": 200,
        "layer": [
            {
                "data": {"values": [{}]},
                "mark": {"type": "rule", "color": _NEUTRAL, "strokeWidth": 1},
                "encoding": {"y": {"datum": 0}},
            },
            {
                "mark": {"type": "line", "color": _LINE, "point": len(frame) <= 100},
                "encoding": {
                    "x": _time_x(),
                    "y": {
                        "field": "net_sentiment",
                        "type": "quantitative",
                        "title": "net sentiment",
                        "scale": {"domain": [-1, 1]},
                        "axis": {"minExtent": _Y_AXIS_WIDTH},
                    },
                    "tooltip": tooltip,
                },
            },
            *markers,
        ],
    }
    negative: Spec = {
        "height": 140,
        "layer": [
            {
                "mark": {"type": "area", "color": NEGATIVE, "opacity": 0.35, "line": {"color": NEGATIVE}},
                "encoding": {
                    "x": _time_x(),
                    "y": {
                        "field": "negative_rate",
                        "type": "quantitative",
                        "title": "negative rate",
                        "scale": {"domain": [0, 1]},
                        "axis": {"format": "%", "minExtent": _Y_AXIS_WIDTH},
                    },
                    "tooltip": tooltip,
                },
            },
            *markers,
        ],
    }
    volume: Spec = {
        "height": 110,
        "mark": {"type": "bar", "color": _NEUTRAL, "opacity": 0.7},
        "encoding": {
            "x": _time_x(),
            "y": {
                "field": "volume",
                "type": "quantitative",
                "title": "volume",
                "axis": {"minExtent": _Y_AXIS_WIDTH},
            },
            "tooltip": tooltip,
        },
    }
    return net, negative, volume


def movers_spec() -> Spec:
    """Horizontal bars of negative-rate change (percentage points); rises red, falls green."""
    return {
        "height": {"step": 24},
        "mark": {"type": "bar"},
        "encoding": {
            "y": {"field": "scope", "type": "nominal", "sort": None, "title": None,
                  "axis": {"labelOverlap": False, "labelLimit": 160}},
            "x": {"field": "change", "type": "quantitative", "title": "negative rate change (pp)"},
            "color": {"condition": {"test": "datum.change > 0", "value": NEGATIVE}, "value": POSITIVE},
            "tooltip": [
                {"field": "scope", "type": "nominal"},
                {"field": "change", "type": "quantitative", "format": "+.1f", "title": "change (pp)"},
                {"field": "negative_rate", "type": "quantitative", "format": ".0%", "title": "negative rate"},
                {"field": "baseline_rate", "type": "quantitative", "format": ".0%", "title": "baseline"},
                {"field": "volume", "type": "quantitative", "format": ","},
            ],
        },
    }  # fmt: skip


def heatmap_spec(order: list[str]) -> Spec:
    """Negative rate per scope (rows, in ``order``, 24 px each) and time bucket (``time`` to ``end``)."""
    return {
        "height": {"step": 24},
        "mark": {"type": "rect"},
        "encoding": {
            "x": _time_x(),
            "x2": {"field": "end"},
            "y": {"field": "scope", "type": "nominal", "sort": order, "title": None,
                  "axis": {"labelOverlap": False, "labelLimit": 160}},
            "color": {
                "field": "negative_rate", "type": "quantitative", "title": "negative rate",
                "scale": {"scheme": "reds", "domain": [0, 1]}, "legend": {"format": "%"},
            },
            "tooltip": [
                {"field": "scope", "type": "nominal"},
                _time_tooltip(title="from (UTC)"),
                {"field": "negative_rate", "type": "quantitative", "format": ".0%", "title": "negative rate"},
                {"field": "volume", "type": "quantitative", "format": ","},
            ],
        },
    }  # fmt: skip


def versions_spec() -> Spec:
    """Documents scored per bucket, one area per model version (columns time, volume, version)."""
    return {
        "height": 220,
        "mark": {"type": "area", "opacity": 0.7},
        "encoding": {
            "x": _time_x(),
            "y": {"field": "volume", "type": "quantitative", "title": "documents", "stack": None},
            "color": {"field": "version", "type": "nominal", "legend": {"orient": "bottom"}},
            "tooltip": [
                {"field": "version", "type": "nominal"},
                _time_tooltip(),
                {"field": "volume", "type": "quantitative", "format": ","},
            ],
        },
    }
