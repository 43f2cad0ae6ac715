"""Finding a package's modules for the ``__all__`` tests, so a new module is checked without being listed."""

from __future__ import annotations

import pkgutil
from collections.abc import Collection
from types import ModuleType

__all__ = ["modules_of"]


def modules_of(package: ModuleType, *, recursive: bool = True, skip: Collection[str] = ()) -> list[str]:
    """The dotted names of ``package``'s modules (not its subpackages' ``__init__``), sorted, minus ``skip``."""
    prefix = package.__name__ + "."
    found = (
        pkgutil.walk_packages(package.__path__, prefix) if recursive else pkgutil.iter_modules(package.__path__, prefix)
    )
    return sorted(info.name for info in found if not info.ispkg and info.name not in skip)
