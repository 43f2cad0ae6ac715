"""Stories: one wire story republished by many outlets is one story; its copies and sources, side by side."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from finsent.dashboard import data, desk, ui
from finsent.dashboard.ranges import RANGES, range_by_label
from finsent.dashboard.views import common

_RANGES = [r for r in RANGES if r.span.days <= 7]

ctx = ui.context()
st.title("Stories")
counting = ctx.settings.stories.count
st.caption(
    "Texts found to be copies of one another (reworded, re-headlined, from other outlets) within "
    f"{ctx.settings.stories.window_h:g} hours make one story. Rates and alerts count "
    + ("each story once per scope." if counting == "stories" else "every document (FINSENT_STORIES_COUNT=documents).")
)
top = st.columns([2, 1])
span = range_by_label(top[0].selectbox("Time range", [r.label for r in _RANGES], index=2, key="stories_range"))
min_copies = int(top[1].number_input("At least copies", min_value=2, max_value=50, value=2, key="stories_min"))
start, end = span.bounds(ctx.now(), min_slot=timedelta(seconds=ctx.refresh_s))
engine = data.engine(ctx.url)
frame = desk.stories(engine, start=start, end=end, min_copies=min_copies)
cols = st.columns(3)
cols[0].metric("Stories with copies", f"{len(frame):,}")
cols[1].metric("Copies in them", f"{int(frame['copies'].sum()) if len(frame) else 0:,}")
cols[2].metric("Most outlets for one story", f"{int(frame['outlets'].max()) if len(frame) else 0}")
if frame.empty:
    st.info("No story has more than one copy in this range.")
    st.stop()
event = st.dataframe(
    frame.drop(columns=["story"]),
    hide_index=True,
    key="stories_table",
    on_select="rerun",
    selection_mode="single-row",
    column_config={
        "first_seen": st.column_config.DatetimeColumn("First seen (UTC)", format="YYYY-MM-DD HH:mm"),
        "last_seen": st.column_config.DatetimeColumn("Last copy (UTC)", format="YYYY-MM-DD HH:mm"),
        "copies": st.column_config.NumberColumn("Copies", format="localized"),
        "outlets": st.column_config.NumberColumn("Outlets"),
        "sources": st.column_config.TextColumn("Sources", width="medium"),
        "title": st.column_config.TextColumn("First headline", width="large"),
    },
)
rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
ids = list(frame["story"])
if rows:
    st.session_state["stories_pick"] = ids[rows[0]]
if st.session_state.get("stories_pick") not in ids:
    st.session_state["stories_pick"] = ids[0]
titles = dict(zip(frame["story"], frame["title"], strict=True))
story = st.selectbox("Story", ids, key="stories_pick", format_func=lambda s: titles.get(s, s)[:120])
copies = desk.story_copies(engine, story, model_version=ctx.model_version)
st.subheader(f"{len(copies)} copies from {copies['source'].nunique()} sources")
st.dataframe(
    copies.drop(columns=["id"]),
    hide_index=True,
    key="stories_copies",
    column_config={
        "time": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm"),
        "source": st.column_config.TextColumn("Source"),
        "title": st.column_config.TextColumn("Headline", width="large"),
        "sentiment": st.column_config.TextColumn("Sentiment"),
        "url": st.column_config.LinkColumn("Link", display_text="open ↗"),
    },
)
common.document_panel(ctx, copies.assign(time=copies["time"]), key="stories")
