"""Altair charts built from the query frames; pure functions, no Streamlit."""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["NEGATIVE", "POSITIVE", "heatmap_chart", "movers_chart", "sentiment_charts"]

NEGATIVE = "#d62728"
POSITIVE = "#2ca02c"
_NEUTRAL = "#7f7f7f"
_LINE = "#1f77b4"
_Y_AXIS_WIDTH = 56  # px; the same on stacked charts so their time axes line up


def _time_axis(title: str | None = None) -> alt.X:
    return alt.X("time:T", title=title, axis=alt.Axis(labelOverlap=True))


def _markers(alerts: pd.DataFrame | None) -> alt.Chart | None:
    """Vertical rules at each alert's firing time, with what fired in the tooltip."""
    if alerts is None or alerts.empty:
        return None
    return (
        alt.Chart(alerts)
        .mark_rule(color="#ff7f0e", strokeWidth=2, strokeDash=[4, 3])
        .encode(
            x="time:T",
            tooltip=[
                alt.Tooltip("time:T", title="fired", format="%Y-%m-%d %H:%M"),
                alt.Tooltip("label:N", title="alert"),
            ],
        )
    )


def sentiment_charts(
    frame: pd.DataFrame, *, alerts: pd.DataFrame | None = None
) -> tuple[alt.LayerChart, alt.LayerChart, alt.Chart]:
    """Net sentiment, negative rate and volume over time, alert markers on the first two.

    Three charts rather than one concatenation: Streamlit stretches single charts to the
    page width, not concatenated ones. A fixed y-axis width keeps their time axes aligned.
    ``frame`` is ``queries.series`` output; ``alerts`` has columns time and label.
    """
    data = frame.assign(
        net_sentiment=frame["net_sentiment"].astype("float64"),
        negative_rate=frame["negative_rate"].astype("float64"),
    )
    tooltip = [
        alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"),
        alt.Tooltip("net_sentiment:Q", title="net sentiment", format="+.2f"),
        alt.Tooltip("negative_rate:Q", title="negative rate", format=".0%"),
        alt.Tooltip("volume:Q", format=","),
    ]
    base = alt.Chart(data).encode(x=_time_axis())
    zero = alt.Chart(pd.DataFrame({"y": [0.0]})).mark_rule(color=_NEUTRAL, strokeWidth=1).encode(y="y:Q")
    net = base.mark_line(color=_LINE, point=len(data) <= 100).encode(
        y=alt.Y(
            "net_sentiment:Q",
            title="net sentiment",
            scale=alt.Scale(domain=[-1, 1]),
            axis=alt.Axis(minExtent=_Y_AXIS_WIDTH),
        ),
        tooltip=tooltip,
    )
    neg = base.mark_area(color=NEGATIVE, opacity=0.35, line={"color": NEGATIVE}).encode(
        y=alt.Y(
            "negative_rate:Q",
            title="negative rate",
            axis=alt.Axis(format="%", minExtent=_Y_AXIS_WIDTH),
            scale=alt.Scale(domain=[0, 1]),
        ),
        tooltip=tooltip,
    )
    volume = (
        base.mark_bar(color=_NEUTRAL, opacity=0.7)
        .encode(y=alt.Y("volume:Q", title="volume", axis=alt.Axis(minExtent=_Y_AXIS_WIDTH)), tooltip=tooltip)
        .properties(height=110)
    )
    rules = _markers(alerts)
    net_layers: list[alt.Chart] = [zero, net] + ([rules] if rules is not None else [])
    neg_layers: list[alt.Chart] = [neg] + ([rules] if rules is not None else [])
    return (
        alt.layer(*net_layers).properties(height=200),
        alt.layer(*neg_layers).properties(height=140),
        volume,
    )


def movers_chart(frame: pd.DataFrame, *, top: int = 15) -> alt.Chart:
    """Horizontal bars of negative-rate change (percentage points), rises red, falls green."""
    data = frame.head(top).assign(direction=lambda f: (f["change"] > 0).map({True: "rise", False: "fall"}))
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("scope:N", sort=None, title=None, axis=alt.Axis(labelOverlap=False, labelLimit=160)),
            x=alt.X("change:Q", title="negative rate change (pp)"),
            color=alt.Color(
                "direction:N", scale=alt.Scale(domain=["rise", "fall"], range=[NEGATIVE, POSITIVE]), legend=None
            ),
            tooltip=[
                "scope:N",
                alt.Tooltip("change:Q", format="+.1f", title="change (pp)"),
                alt.Tooltip("negative_rate:Q", format=".0%", title="negative rate"),
                alt.Tooltip("baseline_rate:Q", format=".0%", title="baseline"),
                alt.Tooltip("volume:Q", format=","),
            ],
        )
        .properties(height=max(120, 26 * len(data)))
    )


def heatmap_chart(frame: pd.DataFrame, *, bucket: pd.Timedelta, order: list[str] | None = None) -> alt.Chart:
    """Negative rate per scope (rows) and time bucket (columns); ``bucket`` is the column width."""
    data = frame.assign(end=frame["time"] + bucket)
    return (
        alt.Chart(data)
        .mark_rect()
        .encode(
            x=alt.X("time:T", title=None),
            x2="end:T",
            y=alt.Y("scope:N", sort=order or "ascending", title=None, axis=alt.Axis(labelOverlap=False, labelLimit=160)),
            color=alt.Color(
                "negative_rate:Q",
                title="negative rate",
                scale=alt.Scale(scheme="reds", domain=[0, 1]),
                legend=alt.Legend(format="%"),
            ),
            tooltip=[
                "scope:N",
                alt.Tooltip("time:T", format="%Y-%m-%d %H:%M", title="from"),
                alt.Tooltip("negative_rate:Q", format=".0%", title="negative rate"),
                alt.Tooltip("volume:Q", format=","),
            ],
        )
        .properties(height=max(160, 26 * data["scope"].nunique()))
    )
