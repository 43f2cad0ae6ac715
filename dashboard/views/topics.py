"""Topics and tickers: where the negative rate moved against its baseline, and why (the detail below).

Deep link: ``/topics?scope_kind=ticker&scope=XOM`` (or the root with the same parameters,
as alert notifications link) opens straight on that scope's detail.
"""

from __future__ import annotations

import streamlit as st

from finsent.dashboard import charts, data, queries, ui
from finsent.dashboard.ranges import WINDOWS, window_by_label
from finsent.dashboard.views import common
from finsent.messages import SENTIMENT_LABELS

KINDS = {"topic": "Topics", "ticker": "Tickers", "source": "Sources"}
_TABLE_ROWS = 100  # the rest stay reachable through the detail picker

ctx = ui.context()
st.title("Topics and tickers")
if ctx.model_version is None:
    ui.empty_state()
    st.stop()
version = ctx.model_version

# A deep link sets the starting choice once; the widgets own the state afterwards.
link = ui.scope_link()
if link is not None and "movers_kind" not in st.session_state:
    st.session_state["movers_kind"] = link[0]
left, mid, right = st.columns([2, 3, 1])
kind = left.radio("Scope", list(KINDS), format_func=KINDS.get, horizontal=True, key="movers_kind")
window = window_by_label(mid.selectbox("Window", [w.label for w in WINDOWS], key="movers_window"))
min_volume = int(
    right.number_input(
        "Min. documents", min_value=1, max_value=10_000, value=5, key="movers_min_volume",
        help="Scopes with fewer documents in the window are left out: a couple of headlines make no trend.",
    )
)  # fmt: skip

now = ctx.now()
baseline_start, window_start, end = window.bounds(now)
names = tuple(data.scopes(ctx.url, version, kind))
# One scan of the rollups, bucketed for the heatmap, serves the ranking too.
buckets = data.scope_buckets(
    ctx.url, version, kind, baseline_start, end, window.bucket, refreshed=window.refreshed(now)
)
market = data.counts(ctx.url, version, "all", "*", baseline_start, window_start)
ranked = queries.rank_movers(
    buckets,
    baseline_start=baseline_start,
    window_start=window_start,
    end=end,
    market_rate=market.negative_rate,
    min_volume=min_volume,
)

st.subheader(f"Top movers: {KINDS[kind].lower()} by change in negative rate")
if ranked.empty:
    st.info(f"No {KINDS[kind].lower()} with at least {min_volume} documents in this window.")
else:
    table_col, chart_col = st.columns([3, 2])
    with table_col:
        event = st.dataframe(
            ranked.head(_TABLE_ROWS),
            hide_index=True,
            key="movers_table",
            on_select="rerun",
            selection_mode="single-row",
            column_order=["scope", "change", "negative_rate", "baseline_rate", "volume", "volume_ratio"],
            column_config={
                "scope": st.column_config.TextColumn(KINDS[kind][:-1]),
                "change": st.column_config.NumberColumn("Change (pp)", format="%+.1f"),
                "negative_rate": st.column_config.ProgressColumn(
                    "Negative rate", format="percent", min_value=0.0, max_value=1.0
                ),
                "baseline_rate": st.column_config.NumberColumn("Baseline", format="percent"),
                "volume": st.column_config.NumberColumn("Documents", format="localized"),
                "volume_ratio": st.column_config.NumberColumn(
                    "Volume × baseline", format="%.1f×", help="Documents per hour against the baseline's."
                ),
            },
        )
        st.caption("Select a row to see its detail below.")
    top = ranked.head(15)
    chart_col.vega_lite_chart(top, charts.movers_spec(), width="stretch")

    # The table's selection drives the detail; a new selection overrides the detail picker.
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    picked = str(ranked["scope"].iloc[rows[0]]) if rows and rows[0] < len(ranked) else None
    if picked is not None and st.session_state.get("movers_last_pick") != picked:
        st.session_state["movers_last_pick"] = picked
        st.session_state["movers_detail"] = picked

    if kind == "topic" or len(ranked) > 1:
        heat_names = tuple(ranked["scope"].head(20))
        heat = queries.heat_cells(buckets, names=heat_names, start=window_start)
        if not heat.empty:
            st.subheader("Negative rate over the window")
            st.vega_lite_chart(
                heat.assign(end=heat["time"] + window.bucket),
                charts.heatmap_spec(list(heat_names)),
                width="stretch",
            )

# Detail: the time series and the headlines behind one scope.
options = list(ranked["scope"]) + [n for n in names if n not in set(ranked["scope"])]
if options:
    if (
        link is not None
        and link[0] == kind
        and "movers_detail" not in st.session_state
        and link[1] in options
    ):
        st.session_state["movers_detail"] = link[1]
    if st.session_state.get("movers_detail") not in options:
        st.session_state["movers_detail"] = options[0]
    st.divider()
    scope = st.selectbox(f"Detail for {KINDS[kind][:-1].lower()}", options, key="movers_detail")
    # Figures and series from the same bucketed scan as the ranking: no further queries.
    fine = queries.scope_series(buckets, scope=scope, start=baseline_start, end=end, bucket=window.bucket)
    recent = fine["time"] >= window_start
    summary = queries.Counts(*(int(fine.loc[recent, s].sum()) for s in SENTIMENT_LABELS))
    base = queries.Counts(*(int(fine.loc[~recent, s].sum()) for s in SENTIMENT_LABELS))
    # About 120 points for the chart: the scan's buckets merged by a whole factor.
    factor = max(1, -(-(end - baseline_start) // (120 * window.bucket)))
    frame = queries.coarsen(fine, start=baseline_start, bucket=factor * window.bucket)
    markers = data.alert_markers(ctx.url, baseline_start, end, version, kind, scope)
    st.subheader(f"{scope}")
    cols = st.columns(3)
    cols[0].metric("Documents in window", f"{summary.volume:,}")
    cols[1].metric(
        "Negative rate in window",
        ui.fmt_pct(summary.negative_rate),
        delta=(
            f"{(summary.negative_rate - base.negative_rate) * 100:+.1f} pp vs baseline"
            if summary.negative_rate is not None and base.negative_rate is not None
            else None
        ),
        delta_color="inverse",
    )
    cols[2].metric("Baseline negative rate", ui.fmt_pct(base.negative_rate))
    common.sentiment_panel(frame, markers)
    st.caption(
        f"Baseline from {baseline_start:%Y-%m-%d %H:%M}, window from {window_start:%Y-%m-%d %H:%M} UTC."
    )
    st.markdown("**Headlines behind it**: the window's newest first")
    filters = {"topic": {"topics": (scope,)}, "ticker": {"ticker": scope}, "source": {"sources": (scope,)}}[
        kind
    ]
    only_negative = st.toggle("Negative only", value=False, key="movers_detail_negative")
    behind = data.headlines(
        ctx.url,
        version,
        window_start,
        end,
        sentiments=("negative",) if only_negative else (),
        limit=100,
        **filters,
    )
    selected = common.headline_table(behind, key="movers_headlines")
    common.document_panel(ctx, behind, key="movers", selected=selected)
