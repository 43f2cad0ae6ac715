"""Every dashboard module declares its public surface: ``__all__`` sorted and naming things that exist."""

from __future__ import annotations

import re

import pytest

from finsent import dashboard
from finsent.dashboard.serve import APP_PATH
from tests.utils.exports import check_exports, modules_of

# Streamlit scripts run when imported: the entry script and the pages it navigates to.
PAGES = {"finsent.dashboard.app"} | {
    "finsent.dashboard." + page.replace("/", ".")
    for page in re.findall(r'st\.Page\(\s*"([\w/]+)\.py"', APP_PATH.read_text())
}
MODULES = modules_of(dashboard, skip=PAGES)


def test_the_pages_are_found() -> None:
    assert "finsent.dashboard.views.overview" in PAGES and "finsent.dashboard.views.common" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_complete(name: str) -> None:
    check_exports(name)
