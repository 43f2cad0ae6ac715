"""Headlines: the scored documents themselves, searchable and filterable, newest first."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from finsent.dashboard import data, ui
from finsent.dashboard.ranges import RANGES, range_by_label
from finsent.dashboard.views import common
from finsent.messages import SENTIMENT_LABELS

# Raw rows are read newest first through the (model_version, published_at) index; a search
# that matches little must walk the whole range, so the longest ranges are left to the charts.
_RANGES = [r for r in RANGES if r.span.days <= 7]
_LIMITS = (100, 200, 500)

ctx = ui.context()
st.title("Headlines")
if ctx.model_version is None:
    ui.empty_state()
    st.stop()
version = ctx.model_version

top = st.columns([3, 2, 1])
search = top[0].text_input(
    "Search headlines", key="headlines_search", max_chars=200, placeholder="e.g. guidance, oil, downgrade"
)
span = range_by_label(
    top[1].selectbox("Time range", [r.label for r in _RANGES], index=2, key="headlines_range")
)
limit = int(top[2].selectbox("Rows", _LIMITS, index=1, key="headlines_limit"))

row = st.columns([2, 3, 3, 1, 2])
sentiments = row[0].multiselect("Sentiment", SENTIMENT_LABELS, key="headlines_sentiment", placeholder="any")
topics = row[1].multiselect(
    "Topic", data.scopes(ctx.url, version, "topic"), key="headlines_topic", placeholder="any"
)
sources = row[2].multiselect(
    "Source", data.scopes(ctx.url, version, "source"), key="headlines_source", placeholder="any"
)
ticker = row[3].text_input("Ticker", key="headlines_ticker", max_chars=12, placeholder="XOM")
min_score = row[4].slider("Min. score", 0.0, 1.0, 0.0, 0.05, key="headlines_min_score")

start, end = span.bounds(ctx.now(), min_slot=timedelta(seconds=ctx.refresh_s))
frame = data.headlines(
    ctx.url,
    version,
    start,
    end,
    search=search,
    sentiments=tuple(sentiments),
    topics=tuple(topics),
    sources=tuple(sources),
    ticker=ticker,
    min_score=min_score,
    limit=limit,
)
shown = len(frame)
st.caption(
    f"{shown:,} newest {'(the limit) ' if shown == limit else ''}matching headlines "
    f"between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC · model {version}"
)
selected = common.headline_table(frame, key="headlines_table", height=620)
common.document_panel(ctx, frame, key="headlines", selected=selected)
if shown:
    st.download_button(
        "Download CSV",
        frame[common.HEADLINE_COLUMNS].to_csv(index=False).encode(),
        file_name="finsent-headlines.csv",
        mime="text/csv",
        key="headlines_csv",
    )
