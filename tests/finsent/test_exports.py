"""The shared contracts and the stream package declare their public surface: ``__all__`` sorted and real."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import finsent
from finsent import stream

MODULES = sorted(
    f"{package.__name__}.{info.name}"
    for package in (finsent, stream)
    for info in pkgutil.iter_modules(package.__path__)
    if not info.ispkg and info.name not in ("cli", "__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported), name
    assert all(hasattr(module, n) for n in exported), name
