"""The shared contracts, the stream package, the CLI and the benchmarks declare their public surface: ``__all__`` sorted and real."""

from __future__ import annotations

import pytest

import finsent
from finsent import bench, cli, stream
from tests.utils.exports import check_exports, modules_of

MODULES = sorted(
    modules_of(finsent, recursive=False)  # its own files: the other folders are tested on their own
    + modules_of(stream)
    + modules_of(cli, skip={"finsent.cli.__main__"})
    + modules_of(bench)
)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    check_exports(name)
