"""Every ingest module declares its public surface: ``__all__`` sorted, naming things that exist."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

from finsent import ingest
from finsent.ingest import sources

MODULES = sorted(
    f"{package.__name__}.{info.name}"
    for package in (ingest, sources)
    for info in pkgutil.iter_modules(package.__path__)
    if not info.ispkg
)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported)
    assert all(hasattr(module, n) for n in exported)
