"""Each page, run with Streamlit's AppTest on the seeded SQLite database, shows the seeded story."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from streamlit.testing.v1 import AppTest

from finsent.alerts import operations
from finsent.alerts.render import NoticeAlert, dashboard_link
from finsent.dashboard.ranges import RANGES
from finsent.db import make_engine, make_sessionmaker
from finsent.messages import utcnow
from tests.utils.dashboard_seed import (
    MAIN_VERSION,
    OLD_VERSION,
    SPIKE_TICKER,
    SPIKE_TITLE,
    SPIKE_TOPIC,
    T0,
    build,
)

MakeApp = Callable[..., AppTest]


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


# Note: AppTest exposes a key only on selectable dataframes (widgets); plain tables are found by position.


def _no_errors(at: AppTest) -> None:
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_overview_shows_the_last_hour_and_the_index(make_app: MakeApp, seeded_url: str) -> None:
    at = make_app(seeded_url)
    _no_errors(at)
    assert at.title[0].value == "Market sentiment"
    start, end = RANGES[0].bounds(T0)
    last_hour = [m for m in build(T0) if m.model_version == MAIN_VERSION and start <= m.published_at < end]
    negative = sum(m.sentiment == "negative" for m in last_hour)
    metrics = _metrics(at)
    assert metrics["Documents, last hour"] == f"{len(last_hour):,}"
    assert metrics["Negative rate, last hour"] == f"{100 * negative / len(last_hour):.1f}%"
    assert metrics["Firing alerts"] == "3"
    # Three charts (net sentiment, negative rate, volume) and a caption with the true total.
    assert len(at.get("vega_lite_chart")) == 3
    caption = at.caption[0].value
    assert "15-minute buckets" in caption and MAIN_VERSION in caption
    assert at.sidebar.selectbox(key="model_version").value == MAIN_VERSION


def test_overview_range_picks_its_bucket(make_app: MakeApp, seeded_url: str) -> None:
    at = make_app(seeded_url)
    at.radio(key="overview_range").set_value("Last 7 days").run()
    _no_errors(at)
    assert "1-hour buckets" in at.caption[0].value
    at.radio(key="overview_range").set_value("Last year").run()
    _no_errors(at)
    assert "1-day buckets" in at.caption[0].value


def test_other_model_version_is_selectable(make_app: MakeApp, seeded_url: str) -> None:
    at = make_app(seeded_url)
    at.sidebar.selectbox(key="model_version").set_value(OLD_VERSION).run()
    _no_errors(at)
    assert _metrics(at)["Documents, last hour"] == "0"


def test_topics_rank_the_spike_and_show_its_detail(make_app: MakeApp, seeded_url: str) -> None:
    at = make_app(seeded_url, page="views/topics.py")
    _no_errors(at)
    table = at.dataframe(key="movers_table").value
    assert table["scope"].iloc[0] == SPIKE_TOPIC and table["change"].iloc[0] > 30
    assert at.selectbox(key="movers_detail").value == SPIKE_TOPIC
    metrics = _metrics(at)
    assert metrics["Negative rate in window"].endswith("%")
    headlines = at.dataframe[-1].value
    assert len(headlines) > 0 and (headlines["topic"] == SPIKE_TOPIC).all()

    at.radio(key="movers_kind").set_value("ticker").run()
    _no_errors(at)
    assert at.dataframe(key="movers_table").value["scope"].iloc[0] == SPIKE_TICKER
    assert at.selectbox(key="movers_detail").value == SPIKE_TICKER
    at.toggle(key="movers_detail_negative").set_value(True).run()
    behind = at.dataframe[-1].value
    assert len(behind) > 0 and behind["sentiment"].str.endswith("negative").all()
    assert behind["title"].str.contains(SPIKE_TITLE, regex=False).all()


def test_alert_links_open_the_scope_detail(seeded_url: str, app_env) -> None:
    # The link alert notifications carry: the dashboard's root with the alert's scope.
    alert = NoticeAlert(
        id=7, rule="ticker-negative-spike", scope_kind="ticker", scope="KO", severity="warning",
        direction="negative", state="firing", started_at=T0, resolved_at=None, value={}, peak={},
    )  # fmt: skip
    link = urlsplit(dashboard_link("http://127.0.0.1:8501", alert))
    assert link.path == "/"
    app_env(seeded_url)
    at = AppTest.from_file(
        str(Path(__file__).resolve().parents[2] / "dashboard" / "app.py"), default_timeout=60
    )
    at.query_params.update({"asof": T0.isoformat(), **dict(parse_qsl(link.query))})
    at.run()
    _no_errors(at)
    assert at.title[0].value == "Topics and tickers"
    assert at.radio(key="movers_kind").value == "ticker"
    assert at.selectbox(key="movers_detail").value == "KO"
    assert (at.dataframe[-1].value["tickers"].str.contains("KO")).all()


def test_headlines_search_and_filter(make_app: MakeApp, seeded_url: str) -> None:
    at = make_app(seeded_url, page="views/headlines.py")
    _no_errors(at)
    table = at.dataframe[0].value
    assert len(table) == 200 and table["time"].is_monotonic_decreasing
    at.text_input(key="headlines_search").input("refinery").run()
    found = at.dataframe[0].value
    assert len(found) > 0 and found["title"].str.contains("refinery").all()
    at.multiselect(key="headlines_sentiment").set_value(["positive"]).run()
    _no_errors(at)
    assert any("No headlines match" in i.value for i in at.info)
    at.multiselect(key="headlines_sentiment").set_value([]).run()
    at.text_input(key="headlines_search").input("").run()
    at.text_input(key="headlines_ticker").input("ko").run()
    by_ticker = at.dataframe[0].value
    assert len(by_ticker) > 0 and (by_ticker["tickers"] == "KO").all()
    assert by_ticker["url"].str.startswith("https://").all()


def test_model_page_lists_versions_and_the_card(make_app: MakeApp, seeded_url: str, tmp_path: Path) -> None:
    card = tmp_path / "model"
    card.mkdir()
    block = {
        "version": "finsent-minilm",
        "tasks": {"sentiment": ["negative", "neutral", "positive"]},
        # The shape model/train.py writes: {task: model.metrics.Report.to_dict()}.
        "evaluation": {
            "sentiment": {
                "task": "sentiment",
                "n": 2349,
                "accuracy": 0.871,
                "macro_f1": 0.842,
                "weighted_f1": 0.869,
                "per_class": [
                    {"label": "negative", "precision": 0.8, "recall": 0.78, "f1": 0.79, "support": 340},
                    {"label": "neutral", "precision": 0.9, "recall": 0.92, "f1": 0.91, "support": 1540},
                    {"label": "positive", "precision": 0.83, "recall": 0.81, "f1": 0.82, "support": 469},
                ],
                "confusion": [[265, 60, 15], [50, 1417, 73], [12, 77, 380]],
                "labels": ["negative", "neutral", "positive"],
            }
        },
    }
    (card / "config.json").write_text(json.dumps({"model_type": "bert", "finsent": block}))
    (card / "README.md").write_text("# finsent-minilm\n\nTrained on the Twitter financial news corpora.\n")
    at = make_app(seeded_url, page="views/model.py", FINSENT_MODEL_PATH=str(card))
    _no_errors(at)
    versions = at.dataframe[0].value
    assert list(versions["version"]) == [MAIN_VERSION, OLD_VERSION]
    assert versions["documents"].tolist() == [
        sum(m.model_version == v for m in build(T0)) for v in (MAIN_VERSION, OLD_VERSION)
    ]
    assert versions["showing"].tolist() == [True, False]
    evaluation = at.dataframe[1].value
    assert evaluation["accuracy"].iloc[0] == pytest.approx(0.871) and evaluation["examples"].iloc[0] == 2349
    per_class = at.dataframe[2].value
    assert list(per_class["label"]) == ["negative", "neutral", "positive"]
    assert any(MAIN_VERSION in m.value for m in at.markdown)  # the card is tied to the versions it scored
    assert any("Twitter financial news" in m.value for m in at.markdown)


def test_model_page_without_a_card_says_so(make_app: MakeApp, seeded_url: str, tmp_path: Path) -> None:
    at = make_app(seeded_url, page="views/model.py", FINSENT_MODEL_PATH=str(tmp_path))
    _no_errors(at)
    assert any("No model card" in w.value for w in at.warning)


def test_alerts_page_acks_and_silences_through_the_alerts_package(
    make_app: MakeApp, sqlite_copy: str
) -> None:
    at = make_app(sqlite_copy, page="views/alerts.py")
    _no_errors(at)
    assert _metrics(at) == {"Firing": "3", "Unacknowledged": "3", "Silenced": "0", "Active silences": "0"}
    firing = at.dataframe(key="alerts_firing_table").value
    assert set(firing["rule"]) == {"market-negative-spike", "topic-negative-spike", "ticker-negative-spike"}
    target = int(firing.loc[firing["rule"] == "ticker-negative-spike", "id"].iloc[0])

    # Acting needs a name, as the CLI's --by records one.
    at.selectbox(key="alerts_target").set_value(target).run()
    at.button(key="alerts_ack").click().run()
    assert any("Acting as" in w.value for w in at.warning)
    at.sidebar.text_input(key="alerts_actor").input("ana").run()
    at.text_input(key="alerts_comment").input("looking into XOM").run()
    at.button(key="alerts_ack").click().run()
    _no_errors(at)
    assert any("acknowledged by ana" in s.value for s in at.success)
    assert _metrics(at)["Unacknowledged"] == "2"

    at.selectbox(key="alerts_silence_for").set_value("4h").run()
    at.button(key="alerts_silence").click().run()
    _no_errors(at)
    assert _metrics(at)["Silenced"] == "1" and _metrics(at)["Active silences"] == "1"

    # The same rows the CLI reads.
    engine = make_engine(sqlite_copy)
    with make_sessionmaker(engine)() as session:
        events = operations.alert_history(session, alert_id=target)
        silences = operations.list_silences(session, now=utcnow())
    kinds = [(e.kind, e.actor) for e in events]
    assert ("acked", "ana") in kinds and ("silenced", "ana") in kinds
    assert any(e.detail.get("comment") == "looking into XOM" for e in events if e.kind == "acked")
    engine.dispose()
    assert len(silences) == 1 and silences[0].active and 'scope="XOM"' in " ".join(silences[0].matchers)
    assert silences[0].ends_at - silences[0].starts_at == timedelta(hours=4)

    at.button(key="alerts_expire").click().run()
    _no_errors(at)
    assert _metrics(at)["Active silences"] == "0"

    listing = subprocess.run(
        [str(Path(sys.executable).parent / "finsent"), "alerts", "list", "--json"],
        env={"FINSENT_DATABASE_URL": sqlite_copy, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listing.returncode == 0, listing.stderr
    acked = [json.loads(line) for line in listing.stdout.splitlines() if line.startswith("{")]
    assert [a["acked_by"] for a in acked if a["id"] == target] == ["ana"]


def test_pages_before_anything_is_scored(make_app: MakeApp, sqlite_url: str) -> None:
    for page in (
        "views/overview.py",
        "views/topics.py",
        "views/headlines.py",
        "views/model.py",
        "views/alerts.py",
    ):
        at = make_app(sqlite_url, page=page)
        _no_errors(at)
        if page != "views/alerts.py":
            assert any("No scored documents yet" in i.value for i in at.info), page
        else:
            assert any("Nothing is firing" in s.value for s in at.success)


def test_token_gate(make_app: MakeApp, seeded_url: str) -> None:
    at = make_app(seeded_url, FINSENT_DASHBOARD_TOKEN="correct-horse-battery")
    _no_errors(at)
    assert not at.metric and at.text_input(key="login_token")  # nothing but the login form
    # Form values travel with the submit click, in the same run.
    at.text_input(key="login_token").input("wrong")
    at.button[0].click().run()
    assert any("not right" in e.value for e in at.error) and not at.metric
    at.text_input(key="login_token").input("correct-horse-battery")
    at.button[0].click().run()
    assert not at.exception
    assert at.title[0].value == "Market sentiment" and _metrics(at)["Firing alerts"] == "3"


def test_public_address_without_token_shows_nothing(make_app: MakeApp, seeded_url: str) -> None:
    at = make_app(seeded_url, address="0.0.0.0")
    assert any("not configured safely" in e.value for e in at.error)
    assert not at.metric and not at.title
    # Streamlit binds every interface when no address is set: that is public too.
    at = make_app(seeded_url, address=None)
    assert any("not configured safely" in e.value for e in at.error)
