"""The desk's pages in AppTest: stories with their copies, why a label, an analyst's correction, the disagreement rate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from streamlit.testing.v1 import AppTest

from finsent.db import make_engine, make_sessionmaker, session_scope
from finsent.messages import ScoredMessage
from finsent.stories import StoryOptions
from finsent.store import write_scored
from tests.utils.dashboard_seed import MAIN_VERSION, T0

MakeApp = Callable[..., AppTest]
WIRE = [
    ("reuters-wire", "Globex shares plunge 9% after quarterly loss widens on weak demand"),
    ("pti-feed", "Globex stock plunges 9% after quarterly loss widens on weak demand (PTI)"),
    ("moneycontrol", "UPDATE 1-Globex shares plunge 9 per cent after quarterly loss widens on weak demand"),
]
NEGATIVE = "Initech stock plunges after surprise loss"


def _seed(url: str) -> None:
    at = T0 - timedelta(minutes=3)
    items = [
        ScoredMessage(id=f"wire-{i}", source=s, title=t, published_at=at + timedelta(seconds=i), tickers=["GLBX"],
                      model_version=MAIN_VERSION, sentiment="negative", sentiment_score=0.9, topic="Earnings")
        for i, (s, t) in enumerate(WIRE)
    ] + [
        ScoredMessage(id="initech-1", source="reuters-wire", title=NEGATIVE, published_at=T0 - timedelta(seconds=30),
                      tickers=["INTC", "GLBX"], model_version=MAIN_VERSION, sentiment="negative", sentiment_score=0.93,
                      topic="Earnings")
    ]  # fmt: skip
    engine = make_engine(url)
    with session_scope(make_sessionmaker(engine)) as s:
        write_scored(s, items, stories=StoryOptions())
    engine.dispose()


def _no_errors(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_stories_page_shows_each_story_with_its_copies_and_sources(make_app: MakeApp, sqlite_copy: str) -> None:
    _seed(sqlite_copy)
    at = make_app(sqlite_copy, page="views/stories.py")
    _no_errors(at)
    stories = at.dataframe(key="stories_table").value
    wire = stories[stories["title"] == WIRE[0][1]].iloc[0]
    assert (wire["copies"], wire["outlets"]) == (3, 3)
    assert wire["sources"] == "reuters-wire, pti-feed, moneycontrol"
    at.selectbox(key="stories_pick").set_value("wire-0").run()  # a story is named by its first copy's id
    copies = at.dataframe[1].value
    assert list(copies["source"]) == [s for s, _ in WIRE]


def test_a_headline_is_explained_corrected_and_counted_on_the_model_page(make_app: MakeApp, sqlite_copy: str) -> None:
    _seed(sqlite_copy)
    at = make_app(sqlite_copy, page="views/headlines.py")
    at.selectbox(key="headlines_doc").set_value("initech-1").run()
    _no_errors(at)
    assert any("Model: **negative** (0.93)" in m.value for m in at.markdown)
    at.button(key="headlines_explain").click().run()
    _no_errors(at)
    shown = next(m.value for m in at.markdown if "finsent-explanation" in m.value)
    assert 'title="+' in shown and ">plunges</span>" in shown
    caption = next(c.value for c in at.caption if "Integrated gradients" in c.value)
    top = caption.split("Top words: ", 1)[1]
    assert "plunges" in top.split(", ")[:3] or "loss" in top.split(", ")[:3]

    at.selectbox(key="headlines_field").set_value("ticker GLBX").run()
    at.selectbox(key="headlines_label_ticker GLBX").set_value("neutral")
    at.text_input(key="headlines_actor").input("asha")
    at.text_input(key="headlines_reason").input("Globex is only mentioned")
    next(b for b in at.button if b.label == "Save correction").click().run()
    _no_errors(at)
    assert any("Analyst: **neutral** for ticker GLBX (model said negative) · asha" in m.value for m in at.markdown)

    at.switch_page("views/model.py").run()
    _no_errors(at)
    # AppTest keys only selectable tables: this one is found by its columns.
    feedback = next(d.value for d in at.dataframe if "reviewed" in d.value.columns)
    assert feedback.to_dict("records") == [{"version": MAIN_VERSION, "reviewed": 1, "corrected": 1, "rate": 1.0}]


def test_stories_page_before_anything_is_stored(make_app: MakeApp, sqlite_url: str) -> None:
    at = make_app(sqlite_url, page="views/stories.py")
    _no_errors(at)
    assert any("No story has more than one copy" in i.value for i in at.info)
