"""Every model module declares its public surface: ``__all__`` sorted and naming things that exist."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "model.architecture", "model.batching", "model.bench", "model.card", "model.classifier",
    "model.classify", "model.cli", "model.data", "model.engine", "model.evaluate", "model.export",
    "model.labels", "model.metrics", "model.train", "model.train_args",
]  # fmt: skip


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported)
    assert all(hasattr(module, n) for n in exported)
