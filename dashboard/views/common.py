"""Pieces more than one page draws."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from finsent.dashboard.charts import sentiment_specs

__all__ = ["HEADLINE_COLUMNS", "headline_table", "sentiment_panel"]

HEADLINE_COLUMNS = ["time", "sentiment", "score", "title", "topic", "tickers", "source", "url"]
# A mark per sentiment, to scan the column by eye: a pandas Styler could colour the text, but
# costs about a second per 100 rows. Plain symbols, not emoji: every font has them.
_MARKS = {"negative": "▼ negative", "neutral": "· neutral", "positive": "▲ positive"}


def headline_table(frame: pd.DataFrame, *, key: str, height: int | str = "auto") -> None:
    """Headlines as a table: sentiment coloured, the original one click away."""
    if frame.empty:
        st.info("No headlines match.")
        return
    shown = frame[HEADLINE_COLUMNS].assign(sentiment=frame["sentiment"].map(lambda s: _MARKS.get(s, s)))
    st.dataframe(
        shown,
        hide_index=True,
        key=key,
        height=height,
        column_config={
            "time": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm"),
            "sentiment": st.column_config.TextColumn("Sentiment"),
            "score": st.column_config.NumberColumn("Score", format="%.2f", help="The model's confidence."),
            "title": st.column_config.TextColumn("Headline", width="large"),
            "topic": st.column_config.TextColumn("Topic"),
            "tickers": st.column_config.TextColumn("Tickers"),
            "source": st.column_config.TextColumn("Source"),
            "url": st.column_config.LinkColumn("Link", display_text="open ↗"),
        },
    )


def sentiment_panel(frame: pd.DataFrame, markers: pd.DataFrame | None) -> None:
    """Net sentiment, negative rate and volume charts, stacked on one time axis."""
    for spec in sentiment_specs(frame, alerts=markers):
        st.vega_lite_chart(frame, spec, width="stretch")
