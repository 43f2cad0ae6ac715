"""Model: which model version scored what, and the evaluation card of the configured model."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from finsent.dashboard import charts, data, desk, queries, ui
from finsent.dashboard.ranges import RANGES
from finsent.messages import SENTIMENT_LABELS

ctx = ui.context()
st.title("Model")


@st.cache_data(ttl=300, show_spinner=False)
def _card(path: str) -> tuple[dict[str, Any], str]:
    """The checkpoint's ``finsent`` config block and its README model card."""
    # Read directly: model.classifier.read_card would import torch, seconds on a page that needs none of it.
    folder = Path(path)
    config = folder / "config.json"
    block: dict[str, Any] = {}
    if config.is_file():
        block = json.loads(config.read_text()).get("finsent", {}) or {}
    readme = folder / "README.md"
    return block, readme.read_text() if readme.is_file() else ""


def _metric_rows(block: dict[str, Any]) -> list[dict[str, Any]]:
    """Every evaluation report in the card (any dict with accuracy / F1 figures), one row each."""
    rows: list[dict[str, Any]] = []

    def walk(node: Any, trail: list[str]) -> None:
        if isinstance(node, dict):
            if any(k in node for k in ("accuracy", "macro_f1", "weighted_f1")):
                rows.append(
                    {
                        "evaluation": " / ".join(trail) or "evaluation",
                        "examples": node.get("n"),
                        "accuracy": node.get("accuracy"),
                        "macro F1": node.get("macro_f1"),
                        "weighted F1": node.get("weighted_f1"),
                    }
                )
                return
            for key, value in node.items():
                walk(value, [*trail, str(key)])

    walk(block, [])
    return rows


def _bucket_words(bucket: timedelta) -> str:
    minutes = int(bucket.total_seconds() // 60)
    return f"{minutes} minutes" if minutes < 60 else f"{minutes // 60} hours" if minutes < 1440 else "day"


# Which version scored what.
if not ctx.versions:
    ui.empty_state()
else:
    now = ctx.now()
    spans = {v: data.version_span(ctx.url, v) for v in ctx.versions}
    # The shortest range that covers every version's history, so a switch-over is visible.
    firsts = [first for first, _ in spans.values() if first is not None]
    needed = now - min(firsts) if firsts else RANGES[0].span
    span = next((r for r in RANGES if r.span >= needed), RANGES[-1])
    start, end = span.bounds(now)
    series = {v: data.series(ctx.url, v, "all", "*", start, end, span.bucket) for v in ctx.versions}

    def _counts(version: str) -> queries.Counts:
        # The chart's series already hold the counts when they cover the version's history;
        # only a version older than the longest range needs its own (full) sum.
        first = spans[version][0]
        if first is None or first >= start:
            frame = series[version]
            return queries.Counts(*(int(frame[s].sum()) for s in SENTIMENT_LABELS))
        return data.version_summary(ctx.url, version).counts

    rows = []
    for v in ctx.versions:
        c = _counts(v)
        rows.append(
            {
                "version": v,
                "documents": c.volume,
                "negative": c.negative_rate,
                "neutral": c.neutral / c.volume if c.volume else None,
                "positive": c.positive / c.volume if c.volume else None,
                "first": spans[v][0],
                "last": spans[v][1],
                "showing": v == ctx.model_version,
            }
        )
    st.subheader("Model versions in the database")
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        key="model_versions_table",
        column_config={
            "version": st.column_config.TextColumn(
                "Version", help="name@weights-digest: a retrained model is a new version."
            ),
            "documents": st.column_config.NumberColumn("Documents scored", format="localized"),
            "negative": st.column_config.NumberColumn("Negative", format="percent"),
            "neutral": st.column_config.NumberColumn("Neutral", format="percent"),
            "positive": st.column_config.NumberColumn("Positive", format="percent"),
            "first": st.column_config.DatetimeColumn("First event (UTC)", format="YYYY-MM-DD HH:mm"),
            "last": st.column_config.DatetimeColumn("Last event (UTC)", format="YYYY-MM-DD HH:mm"),
            "showing": st.column_config.CheckboxColumn("Shown in dashboard"),
        },
    )
    per_version = pd.concat([frame.assign(version=v) for v, frame in series.items()], ignore_index=True)
    st.subheader(f"Documents scored per version, {span.label.lower()}")
    st.caption(f"Per {_bucket_words(span.bucket)}, by event time.")
    st.vega_lite_chart(per_version, charts.versions_spec(), width="stretch")


# What analysts made of the labels (corrections on the Headlines and Stories pages).
st.subheader("Analyst feedback")
reviews = desk.disagreements(data.engine(ctx.url))
if not reviews:
    st.caption("No label reviewed yet: correct one under a table of headlines.")
else:
    st.dataframe(
        pd.DataFrame(
            [{"version": r.model_version, "reviewed": r.reviewed, "corrected": r.corrected, "rate": r.rate} for r in reviews]
        ),
        hide_index=True,
        key="model_feedback_table",
        column_config={
            "version": st.column_config.TextColumn("Version"),
            "reviewed": st.column_config.NumberColumn("Labels reviewed", format="localized"),
            "corrected": st.column_config.NumberColumn("Changed by the analyst", format="localized"),
            "rate": st.column_config.NumberColumn("Disagreement rate", format="percent"),
        },
    )
    st.caption("`finsent feedback export FOLDER` writes them as training files; `finsent train --feedback FOLDER` uses them.")


# The configured model's card.
path = ctx.settings.model.path
block, readme = _card(path)
st.subheader("Configured model")
name = block.get("version")
if not block and not readme:
    st.warning(f"No model card at `{path}` (no config.json `finsent` block, no README.md).")
else:
    scored = [v for v in ctx.versions if name and v.split("@", 1)[0] == name]
    st.markdown(
        f"`{path}` · version **{name or 'unknown'}**"
        + (
            f" · scores in the database: {', '.join(f'`{v}`' for v in scored)}"
            if scored
            else " · no scores from it yet"
        )
    )
    rows = _metric_rows({k: v for k, v in block.items() if k not in ("tasks",)})
    if rows:
        st.dataframe(
            pd.DataFrame(rows),
            hide_index=True,
            key="model_eval_table",
            column_config={
                "examples": st.column_config.NumberColumn(format="localized"),
                "accuracy": st.column_config.NumberColumn(format="%.3f"),
                "macro F1": st.column_config.NumberColumn(format="%.3f"),
                "weighted F1": st.column_config.NumberColumn(format="%.3f"),
            },
        )
    for task, report in (block.get("evaluation") or {}).items():
        per_class = report.get("per_class") if isinstance(report, dict) else None
        if per_class:
            with st.expander(f"Per-class scores: {task}"):
                st.dataframe(
                    pd.DataFrame(per_class),
                    hide_index=True,
                    column_config={
                        "precision": st.column_config.NumberColumn(format="%.3f"),
                        "recall": st.column_config.NumberColumn(format="%.3f"),
                        "f1": st.column_config.NumberColumn("F1", format="%.3f"),
                        "support": st.column_config.NumberColumn(format="localized"),
                    },
                )
    tasks = block.get("tasks") or {}
    if tasks:
        st.caption(" · ".join(f"{task}: {len(labels)} labels" for task, labels in tasks.items()))
    if readme:
        with st.expander("Model card (README.md)", expanded=not rows):
            st.markdown(readme)
    with st.expander("Card metadata (config.json `finsent` block)"):
        st.json(block, expanded=False)
