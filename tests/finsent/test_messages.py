"""The wire contract: validation, stable ids, UTC times, dead-letter round trip."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from finsent.messages import DeadLetter, InvalidMessage, NewsMessage, derive_id, parse_raw

LIMITS = {"max_bytes": 10_000, "max_text_chars": 500}


def raw(**fields: object) -> bytes:
    return json.dumps({"source": "wire", "title": "Fed holds rates", "published_at": "2026-11-02T09:30:00+01:00", **fields}).encode()


def test_id_is_derived_stably_from_source_and_url() -> None:
    a = parse_raw(raw(url="https://x/1"), **LIMITS)
    b = parse_raw(raw(url="https://x/1", title="edited headline"), **LIMITS)
    c = parse_raw(raw(url="https://x/1", source="other"), **LIMITS)
    assert a.id == b.id != c.id
    assert a.id == derive_id("wire", "https://x/1", "", "")


def test_id_without_url_ignores_case_and_spacing() -> None:
    a = parse_raw(raw(title="Fed  holds RATES"), **LIMITS)
    b = parse_raw(raw(title="fed holds rates"), **LIMITS)
    assert a.id == b.id


def test_given_id_wins_and_times_are_utc() -> None:
    m = parse_raw(raw(id="abc"), **LIMITS)
    assert m.id == "abc"
    assert m.published_at == datetime(2026, 11, 2, 8, 30, tzinfo=timezone.utc)
    assert m.fetched_at.tzinfo is not None


def test_tickers_are_normalised_and_deduplicated() -> None:
    assert parse_raw(raw(tickers=["$tsla", "TSLA", "brk.b"]), **LIMITS).tickers == ["TSLA", "BRK.B"]


def test_text_joins_title_and_body() -> None:
    assert NewsMessage(source="s", title="T", body="B", published_at=datetime.now(timezone.utc)).text == "T\nB"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (None, "empty"),
        (b"x" * 20_000, "oversize"),
        (b"{not json", "bad_json"),
        (b"\xff\xfe", "bad_json"),
        (b"[]", "not_an_object"),
        (raw(published_at="soon"), "invalid_fields"),
        (raw(kind="tweet"), "invalid_fields"),
        (raw(title="", body=""), "invalid_fields"),
        (raw(tickers=["no way"]), "invalid_fields"),
        (raw(url=["a"]), "invalid_fields"),
        (raw(body="y" * 600), "oversize_text"),
    ],
)
def test_malformed_input_says_why(payload: bytes | None, reason: str) -> None:
    with pytest.raises(InvalidMessage) as info:
        parse_raw(payload, **LIMITS)
    assert info.value.reason == reason
    assert info.value.detail


def test_dead_letter_keeps_the_original_bytes() -> None:
    for payload in (b'{"half": ', b"\xff\x00binary"):
        letter = DeadLetter.of(payload, reason="bad_json", error="x", topic="t", partition=1, offset=7)
        again = DeadLetter.model_validate_json(letter.model_dump_json())
        assert again.original() == payload
