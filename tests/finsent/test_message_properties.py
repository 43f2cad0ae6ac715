"""Property tests of the wire-message parser and the worker's triage (hypothesis).

The contract: ``parse_raw`` returns a sane ``NewsMessage`` or raises ``InvalidMessage`` (its one
documented error) for any bytes; ``triage`` never raises, accounts for every record exactly once,
and every dead letter carries a reason and the original bytes (or their size and hash).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from finsent.messages import EARLIEST_PUBLISHED, MAX_FUTURE_SKEW, DeadLetter, InvalidMessage, NewsMessage, parse_raw, utcnow
from finsent.stream.pipeline import RawRecord, triage

MAX_BYTES, MAX_CHARS = 20_000, 5_000
PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=20)
timestamps = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(["9999-12-31T23:59:00", "-1", "0001-01-01T00:00:00", "2026-11-02", "yesterday", "", "2026-02-30T00:00:00"]),
    st.integers(),
    values,
)
# Messages that look nearly right: the fields the schema knows, each with any value or a plausible one.
near_messages = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=80) | values,
        "source": st.text(max_size=30) | values,
        "kind": st.sampled_from(["news", "comment", "tweet"]) | values,
        "title": st.text(max_size=200) | values,
        "body": st.text(max_size=300) | values,
        "url": st.text(max_size=50) | values,
        "published_at": timestamps,
        "fetched_at": timestamps,
        "tickers": st.lists(st.text(max_size=8), max_size=4) | values,
        "lang": st.text(max_size=20) | values,
    },
)


def _sane(message: NewsMessage) -> None:
    for text in (message.id, message.source, message.title, message.body, message.lang, message.url or ""):
        assert "\x00" not in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    assert message.text.strip() and len(message.text) <= MAX_CHARS
    assert EARLIEST_PUBLISHED <= message.published_at <= utcnow() + MAX_FUTURE_SKEW + timedelta(seconds=5)
    assert message.published_at.utcoffset() == timedelta(0)


def _parse(raw: bytes) -> NewsMessage | None:
    try:
        message = parse_raw(raw, max_bytes=MAX_BYTES, max_text_chars=MAX_CHARS)
    except InvalidMessage as exc:
        assert exc.reason and exc.detail is not None
        return None
    _sane(message)
    return message


@PROPS
@given(st.binary(max_size=3000))
def test_any_bytes_parse_or_raise_invalid_message(raw: bytes) -> None:
    _parse(raw)


@PROPS
@given(near_messages)
def test_any_field_values_parse_or_raise_invalid_message(data: dict) -> None:
    _parse(json.dumps(data, allow_nan=True).encode())


@PROPS
@given(near_messages, st.integers(min_value=0, max_value=40))
def test_json_damaged_by_truncation_or_a_byte_is_invalid_or_sane(data: dict, cut: int) -> None:
    raw = json.dumps(data).encode()
    _parse(raw[: max(0, len(raw) - cut)])
    _parse(raw.replace(b'"', b"\xff", 1))


@PROPS
@given(st.lists(st.binary(max_size=500) | near_messages.map(lambda d: json.dumps(d).encode()) | st.none(), max_size=30))
def test_triage_accounts_for_every_record_and_never_raises(payloads: list[bytes | None]) -> None:
    records = [RawRecord(value=p, topic="raw", partition=i % 4, offset=i) for i, p in enumerate(payloads)]
    out = triage(records, max_bytes=MAX_BYTES, max_text_chars=MAX_CHARS)
    assert len(out.valid) + len(out.dead) == len(records)
    seen = sorted([r.offset for r, _ in out.valid] + [d.offset for d in out.dead])
    assert seen == list(range(len(records)))
    for letter in out.dead:
        assert letter.reason and letter.error
        original = records[letter.offset].value or b""
        assert letter.original_size == len(original)
        assert letter.original_sha256 == hashlib.sha256(original).hexdigest()
        if not letter.truncated:
            assert DeadLetter.model_validate_json(letter.model_dump_json()).original() == original
    for _, message in out.valid:
        _sane(message)


@settings(max_examples=25, deadline=None)
@given(st.binary(min_size=1, max_size=64), st.integers(min_value=800_000, max_value=1_200_000))
def test_a_letter_never_exceeds_its_limit_and_describes_the_whole_original(pattern: bytes, size: int) -> None:
    raw = (pattern * (size // len(pattern) + 1))[:size]  # text, binary, or escapes that double in JSON
    letter = DeadLetter.of(raw, reason="oversize", error="big")
    assert len(letter.model_dump_json().encode()) <= 1_000_000
    assert letter.original_size == len(raw) and letter.original_sha256 == hashlib.sha256(raw).hexdigest()
    assert raw.startswith(letter.original())
