"""Fixtures for ingest tests: settings bound to the session broker and a unique raw topic."""

from __future__ import annotations

from pathlib import Path

import pytest

from finsent.settings import IngestSettings, KafkaSettings, Settings
from finsent.stream.broker import EmbeddedBroker


@pytest.fixture()
def raw_topic(unique: str) -> str:
    return f"ingest-raw-{unique}"


@pytest.fixture()
def settings(broker: EmbeddedBroker, raw_topic: str, tmp_path: Path) -> Settings:
    return Settings(
        kafka=KafkaSettings(bootstrap=broker.bootstrap, raw_topic=raw_topic, partitions=3),
        ingest=IngestSettings(state_path=str(tmp_path / "state.db"), user_agent="finsent-test/1.0"),
        data_dir=str(tmp_path / "var"),
    )
