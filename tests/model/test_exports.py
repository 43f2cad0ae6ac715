"""Every model module declares its public surface: ``__all__`` sorted and naming things that exist."""

from __future__ import annotations

import importlib

import pytest

from finsent import model
from tests.utils.exports import modules_of

MODULES = modules_of(model)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported)
    assert all(hasattr(module, n) for n in exported)
