"""Fixtures for the model tests: a tiny plain base encoder and small, learnable labeled files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.utils.model_data import sentiment_rows, topic_rows, write_csv
from tests.utils.tiny_model import build_tiny_base


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models gain nothing from a second thread, and the CI machine's cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random plain BertModel with the real MiniLM tokenizer, as a fine-tuning base."""
    return build_tiny_base(tmp_path_factory.mktemp("base") / "tiny-base")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Sentiment and topic train/validation CSVs whose labels follow keywords (learnable in seconds)."""
    d = tmp_path_factory.mktemp("data")
    write_csv(d / "sent_train.csv", sentiment_rows(90, 1))
    write_csv(
        d / "sent_val.csv", sentiment_rows(30, 2) + sentiment_rows(3, 1)
    )  # 3 leaked train rows
    write_csv(d / "topic_train.csv", topic_rows(90, 3))
    write_csv(d / "topic_val.csv", topic_rows(30, 4))
    return d
