"""The wire contract: validation, stable ids, UTC times, dead-letter round trip."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

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


# --- hostile input: each of these once crash-looped the worker -----------------------------------


def test_nul_control_characters_and_lone_surrogates_are_stored_as_spaces() -> None:
    payload = b'{"source": "wire\\u0000", "title": "Profit\\u0000 rose\\u0007 \\ud800 12%", "body": "a\\tb\\nc",' \
        b' "published_at": "2026-11-02T09:30:00Z"}'
    message = parse_raw(payload, **LIMITS)
    assert message.title == "Profit  rose    12%"
    assert message.source == "wire "
    assert message.body == "a\tb\nc"  # tab and newline are text, not garbage
    assert "\x00" not in message.id


@pytest.mark.parametrize(
    "published_at",
    ["9999-12-31T23:59:00", "9999-12-31T23:59:00-05:00", "0001-01-01T00:00:00+05:00", -1, "1969-12-31T23:59:59Z", 1e18],
)
def test_implausible_timestamps_are_rejected_with_a_reason(published_at: object) -> None:
    with pytest.raises(InvalidMessage) as info:
        parse_raw(raw(published_at=published_at), **LIMITS)
    assert info.value.reason == "invalid_fields"
    assert "published_at" in info.value.detail


def test_a_timestamp_a_little_in_the_future_is_accepted() -> None:
    soon = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    assert parse_raw(raw(published_at=soon), **LIMITS).published_at > datetime.now(timezone.utc)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"source": "s", "title": "t", "published_at": "2026-01-01T00:00:00Z", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"source": "s", "title": "t", "published_at": "2026-01-01T00:00:00Z", "n": ' + b"7" * 5000 + b"}",
        b"[" * 100_000,
    ],
)
def test_deep_nesting_and_huge_integers_are_bad_json(payload: bytes) -> None:
    with pytest.raises(InvalidMessage) as info:
        parse_raw(payload, max_bytes=1_000_000, max_text_chars=500)
    assert info.value.reason == "bad_json"


def test_a_dead_letter_of_a_huge_payload_keeps_a_truncated_copy_its_size_and_hash() -> None:
    import hashlib

    payload = ("é" * 2_500_000).encode()  # 5 MB of two-byte characters
    letter = DeadLetter.of(payload, reason="oversize", error="x")
    assert 800_000 < len(letter.model_dump_json().encode()) <= 900_000
    assert letter.truncated and letter.payload_encoding == "utf-8"
    assert letter.original_size == len(payload)
    assert letter.original_sha256 == hashlib.sha256(payload).hexdigest()
    assert payload.startswith(letter.original())  # cut at a character boundary, still text


def test_a_dead_letter_of_escaped_bytes_still_fits() -> None:
    letter = DeadLetter.of(b"\x01" * 1_000_000, reason="oversize", error="x")  # each byte escapes to six
    assert len(letter.model_dump_json()) <= 900_000 and letter.truncated
    assert letter.original() == b"\x01" * len(letter.original())


def test_a_small_dead_letter_is_whole() -> None:
    letter = DeadLetter.of(b"\x00\xff", reason="bad_json", error="e" * 10_000)
    assert not letter.truncated and letter.original() == b"\x00\xff"
    assert len(letter.error) <= 2_000
