"""The chart specs are valid Vega-Lite (checked against the schema Altair ships) and carry the markers."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import jsonschema
import pandas as pd
import pytest
from altair.vegalite.schema import core  # the Vega-Lite schema of the installed Altair

from finsent.dashboard import charts
from finsent.dashboard.queries import with_rates

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = core.load_schema()
    return jsonschema.validators.validator_for(schema)(schema)


def _check(validator, spec: dict) -> None:  # type: ignore[no-untyped-def]
    # Streamlit supplies the data (the frame passed beside the spec); the schema wants some.
    validator.validate({"data": {"name": "frame"}, **spec})


def _series(n: int = 24) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "time": [T0 + timedelta(hours=i) for i in range(n)],
            "negative": [i % 5 for i in range(n)],
            "neutral": [3] * n,
            "positive": [(i * 2) % 4 for i in range(n)],
        }
    )
    return with_rates(frame)


def test_sentiment_specs_validate_and_mark_alerts(validator) -> None:  # type: ignore[no-untyped-def]
    alerts = pd.DataFrame({"time": [pd.Timestamp(T0 + timedelta(hours=3))], "label": ["warning · spike"]})
    specs = charts.sentiment_specs(_series(), alerts=alerts)
    assert len(specs) == 3
    for spec in specs:
        _check(validator, spec)
    net, negative, volume = specs
    marker = net["layer"][-1]
    assert marker["data"]["values"] == [{"time": "2026-03-02T15:00:00Z", "label": "warning · spike"}]
    assert negative["layer"][-1] == marker
    without = charts.sentiment_specs(_series(), alerts=None)
    assert len(without[0]["layer"]) == 2 and len(without[1]["layer"]) == 1
    assert volume["encoding"]["x"]["scale"] == {"type": "utc"}  # axes in UTC, like the tables


def test_other_specs_validate(validator) -> None:  # type: ignore[no-untyped-def]
    for spec in (charts.movers_spec(), charts.heatmap_spec(["A", "B"]), charts.versions_spec()):
        _check(validator, spec)
    assert charts.heatmap_spec(["Energy | Oil", "Macro"])["encoding"]["y"]["sort"] == [
        "Energy | Oil",
        "Macro",
    ]


def test_a_broken_spec_is_caught(validator) -> None:  # type: ignore[no-untyped-def]
    spec = charts.movers_spec()
    spec["mark"] = {"type": "no-such-mark"}
    with pytest.raises(jsonschema.ValidationError):
        _check(validator, spec)
