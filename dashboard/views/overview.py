"""Overview: the market sentiment index over time, the last hour against the day before, alert markers."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from finsent.dashboard import data, ui
from finsent.dashboard.ranges import RANGES, range_by_label
from finsent.dashboard.views import common

ctx = ui.context()
st.title("Market sentiment")
if ctx.model_version is None:
    ui.empty_state()
    st.stop()
version = ctx.model_version

choice = st.radio(
    "Time range",
    [r.label for r in RANGES],
    index=2,
    horizontal=True,
    key="overview_range",
    label_visibility="collapsed",
)
span = range_by_label(choice)


@st.fragment(run_every=ctx.refresh_s if ctx.auto_refresh else None)
def live() -> None:
    """Re-runs on its own every refresh_s seconds when auto-refresh is on."""
    now = ctx.now()
    # The headline figures: the last hour against the 24 hours before it, per hour.
    refresh = timedelta(seconds=ctx.refresh_s)
    hour_start, hour_end = RANGES[0].bounds(now, min_slot=refresh)
    current = data.counts(ctx.url, version, "all", "*", hour_start, hour_end)
    baseline = data.counts(ctx.url, version, "all", "*", hour_start - timedelta(hours=24), hour_start)
    start, end = span.bounds(now, min_slot=refresh)
    active = data.firing_alerts(ctx.url)

    cols = st.columns(4)
    cols[0].metric(
        "Documents, last hour",
        f"{current.volume:,}",
        delta=f"{current.volume - baseline.volume / 24:+,.0f} vs hourly avg (24 h)"
        if baseline.volume
        else None,
        delta_color="off",
    )
    neg_delta = (
        (current.negative_rate - baseline.negative_rate) * 100
        if current.negative_rate is not None and baseline.negative_rate is not None
        else None
    )
    cols[1].metric(
        "Negative rate, last hour",
        ui.fmt_pct(current.negative_rate),
        delta=f"{neg_delta:+.1f} pp vs 24 h" if neg_delta is not None else None,
        delta_color="inverse",
    )
    net_delta = (
        current.net_sentiment - baseline.net_sentiment
        if current.net_sentiment is not None and baseline.net_sentiment is not None
        else None
    )
    cols[2].metric(
        "Net sentiment, last hour",
        ui.fmt_signed(current.net_sentiment),
        delta=f"{net_delta:+.2f} vs 24 h" if net_delta is not None else None,
    )
    cols[3].metric("Firing alerts", "–" if active is None else f"{active}")

    frame = data.series(ctx.url, version, "all", "*", start, end, span.bucket)
    markers = data.alert_markers(ctx.url, start, end, version)
    common.sentiment_panel(frame, markers)
    total = int(frame["volume"].sum())
    st.caption(
        f"{total:,} documents from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC in "
        f"{_bucket_label(span.bucket)} buckets · net sentiment = (positive − negative) / volume · "
        f"orange lines mark alerts · model {version}"
        + ("" if not ctx.auto_refresh else f" · refreshes every {ctx.refresh_s} s")
    )


def _bucket_label(bucket: timedelta) -> str:
    minutes = int(bucket.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes}-minute"
    if minutes < 1440:
        return f"{minutes // 60}-hour"
    return f"{minutes // 1440}-day"


live()
