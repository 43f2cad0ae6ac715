"""The shared contracts, the stream package, the CLI and the benchmarks declare their public surface: ``__all__`` sorted and real."""

from __future__ import annotations

import importlib

import pytest

import finsent
from finsent import bench, cli, stream
from tests.utils.exports import modules_of

MODULES = sorted(
    modules_of(finsent, recursive=False)  # its own files: the other folders are tested on their own
    + modules_of(stream)
    + modules_of(cli, skip={"finsent.cli.__main__"})
    + modules_of(bench)
)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported), name
    assert all(hasattr(module, n) for n in exported), name
