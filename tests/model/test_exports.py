"""Every model module declares its public surface: ``__all__`` sorted and naming things that exist."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "finsent.model.architecture", "finsent.model.batching", "finsent.model.bench", "finsent.model.card", "finsent.model.classifier",
    "finsent.model.classify", "finsent.model.cli", "finsent.model.data", "finsent.model.engine", "finsent.model.evaluate", "finsent.model.export",
    "finsent.model.labels", "finsent.model.metrics", "finsent.model.train", "finsent.model.train_args",
]  # fmt: skip


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported)
    assert all(hasattr(module, n) for n in exported)
