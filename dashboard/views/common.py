"""Pieces more than one page draws."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd
import streamlit as st

from finsent.dashboard import data, desk
from finsent.dashboard.charts import sentiment_specs
from finsent.dashboard.ui import Context
from finsent.messages import SENTIMENT_LABELS
from finsent.model.labels import TOPIC_LABELS

__all__ = ["HEADLINE_COLUMNS", "document_panel", "headline_table", "highlighted", "sentiment_panel"]

HEADLINE_COLUMNS = ["time", "sentiment", "score", "title", "topic", "tickers", "source", "url"]
# A mark per sentiment, to scan the column by eye: a pandas Styler could colour the text, but
# costs about a second per 100 rows. Plain symbols, not emoji: every font has them.
_MARKS = {"negative": "▼ negative", "neutral": "· neutral", "positive": "▲ positive"}


def headline_table(frame: pd.DataFrame, *, key: str, height: int | str = "auto") -> str | None:
    """Headlines as a table: sentiment coloured, the original one click away; returns the selected row's id."""
    if frame.empty:
        st.info("No headlines match.")
        return None
    shown = frame[HEADLINE_COLUMNS].assign(sentiment=frame["sentiment"].map(lambda s: _MARKS.get(s, s)))
    event = st.dataframe(
        shown,
        hide_index=True,
        key=key,
        height=height,
        on_select="rerun",
        selection_mode="single-row",
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
    rows = list(getattr(getattr(event, "selection", None), "rows", []) or [])
    return str(frame["id"].iloc[rows[0]]) if rows and "id" in frame else None


# Attribution colours: towards the label in its colour, against it in blue; opacity by strength.
_LABEL_RGB = {"negative": (214, 39, 40), "neutral": (127, 127, 127), "positive": (44, 160, 44)}
_AGAINST_RGB = (31, 119, 180)


def highlighted(explanation: Any) -> str:
    """The text as HTML, each word's background as strong as its attribution (escaped: text is untrusted)."""
    strongest = max((abs(a.score) for a in explanation.tokens), default=0.0) or 1.0
    towards = _LABEL_RGB.get(explanation.label, (214, 39, 40))
    parts, at = [], 0
    for a in explanation.tokens:
        parts.append(html.escape(explanation.text[at : a.start]))
        rgb = towards if a.score >= 0 else _AGAINST_RGB
        alpha = round(min(1.0, abs(a.score) / strongest) * 0.85, 3)
        parts.append(
            f'<span class="finsent-attr" title="{a.score:+.3f}" data-score="{a.score:.4f}" '
            f'style="background: rgba({rgb[0]}, {rgb[1]}, {rgb[2]}, {alpha}); border-radius: 3px; padding: 0 2px">'
            f"{html.escape(a.token)}</span>"
        )
        at = a.end
    parts.append(html.escape(explanation.text[at:]))
    body = "".join(parts).replace("\n", "<br>")
    return f'<div class="finsent-explanation" style="font-size: 1.1rem; line-height: 2">{body}</div>'


def _label_line(doc: desk.DocumentLabels) -> str:
    line = f"Model: **{doc.sentiment}** ({doc.sentiment_score:.2f})" + (f" · topic **{doc.topic}**" if doc.topic else "")
    for ticker in doc.tickers:
        own = doc.ticker_sentiments.get(ticker)
        if own:
            how = "its own" if own.get("method") == "entity" else "the text's"
            line += f" · {ticker}: **{own['sentiment']}** ({how})"
    return line


def document_panel(ctx: Context, frame: pd.DataFrame, *, key: str, selected: str | None = None) -> None:
    """Under a table of documents: pick one, see why the model labelled it so, and correct a label."""
    if frame.empty or ctx.model_version is None:
        return
    ids = [str(i) for i in frame["id"]]
    titles = {str(r.id): f"{r.time:%m-%d %H:%M} · {str(r.title)[:90]}" for r in frame.itertuples()}
    if selected in ids:
        st.session_state[f"{key}_doc"] = selected
    with st.container(border=True):
        st.markdown("**Why this label · correct it**")
        picked = st.selectbox(
            "Headline", ids, index=None, key=f"{key}_doc", format_func=lambda i: titles.get(i, i),
            placeholder="Select a row in the table, or choose a headline here",
        )  # fmt: skip
        if picked is None:
            return
        engine = data.engine(ctx.url)
        doc = desk.document_labels(engine, picked, ctx.model_version)
        if doc is None:
            st.info("This model version has not scored that document.")
            return
        st.markdown(_label_line(doc))
        for c in desk.corrections(engine, [doc.id]):
            if c.model_version == ctx.model_version:
                what = c.field if c.field != "ticker" else f"ticker {c.ticker}"
                st.markdown(
                    f"Analyst: **{c.label}** for {what} (model said {c.model_label}) · {c.actor}, "
                    f"{c.created_at:%Y-%m-%d %H:%M} UTC" + (f" · “{c.reason}”" if c.reason else "")
                )
        if st.button("Why this label?", key=f"{key}_explain"):
            st.session_state[f"{key}_explained"] = doc.id
        if st.session_state.get(f"{key}_explained") == doc.id:
            model = ctx.settings.model
            result = desk.explanation(model.path, model.max_length, doc.text)
            st.markdown(highlighted(result), unsafe_allow_html=True)
            note = "" if result.model_version == ctx.model_version else f" (this label came from {ctx.model_version})"
            st.caption(
                f"Integrated gradients towards **{result.label}** ({result.probability:.2f}) by the configured model "
                f"{result.model_version}{note}: the stronger the colour, the more the word pushed the model to the label; "
                f"blue pushed against it. Top words: {', '.join(a.token for a in result.top(5))}."
            )
        _correction_form(ctx, doc, key=key)


def _correction_form(ctx: Context, doc: desk.DocumentLabels, *, key: str) -> None:
    fields = ["sentiment", "topic", *(f"ticker {t}" for t in doc.tickers)]
    # Outside the form: the choice of field changes the labels offered, which a form would hold back.
    what = st.selectbox("Correct", fields, key=f"{key}_field")
    options = list(TOPIC_LABELS) if what == "topic" else list(SENTIMENT_LABELS)
    with st.form(f"{key}_correct", clear_on_submit=True, border=False):
        left, right = st.columns([2, 3])
        label = left.selectbox("Right label", options, key=f"{key}_label_{what}")
        actor = right.text_input("Your name", key=f"{key}_actor", placeholder="recorded with the correction")
        reason = st.text_input("Reason", key=f"{key}_reason", placeholder="why the model got it wrong")
        if st.form_submit_button("Save correction"):
            field, _, ticker = what.partition(" ")
            try:
                desk.correct(
                    data.engine(ctx.url), document_id=doc.id, model_version=ctx.model_version, field=field,
                    ticker=ticker or None, label=label, actor=actor, reason=reason, topics=TOPIC_LABELS,
                )  # fmt: skip
            except (ValueError, LookupError) as exc:
                st.warning(str(exc))
            else:
                st.rerun()  # the correction then shows beside the model's label


def sentiment_panel(frame: pd.DataFrame, markers: pd.DataFrame | None) -> None:
    """Net sentiment, negative rate and volume charts, stacked on one time axis."""
    for spec in sentiment_specs(frame, alerts=markers):
        st.vega_lite_chart(frame, spec, width="stretch")
