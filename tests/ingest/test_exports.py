"""Every ingest module declares its public surface: ``__all__`` sorted, naming things that exist."""

from __future__ import annotations

import pytest

from finsent import ingest
from tests.utils.exports import check_exports, modules_of

MODULES = modules_of(ingest)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    check_exports(name)
