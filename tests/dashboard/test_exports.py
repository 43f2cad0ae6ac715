"""Every dashboard module declares its public surface: ``__all__`` sorted and naming things that exist."""

from __future__ import annotations

import importlib

import pytest

MODULES = [
    "finsent.dashboard.access", "finsent.dashboard.actions", "finsent.dashboard.bench", "finsent.dashboard.charts", "finsent.dashboard.serve",
    "finsent.dashboard.data", "finsent.dashboard.queries", "finsent.dashboard.ranges", "finsent.dashboard.ui", "finsent.dashboard.views.common",
]  # fmt: skip


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported)
    assert all(hasattr(module, n) for n in exported)
