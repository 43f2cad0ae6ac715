"""Finding a package's modules for the ``__all__`` tests, so a new module is checked without being listed."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Collection
from types import ModuleType

__all__ = ["check_exports", "modules_of"]


def modules_of(package: ModuleType, *, recursive: bool = True, skip: Collection[str] = ()) -> list[str]:
    """The dotted names of ``package``'s modules (not its subpackages' ``__init__``), sorted, minus ``skip``."""
    prefix = package.__name__ + "."
    found = (
        pkgutil.walk_packages(package.__path__, prefix) if recursive else pkgutil.iter_modules(package.__path__, prefix)
    )
    return sorted(info.name for info in found if not info.ispkg and info.name not in skip)


def check_exports(name: str) -> None:
    """Module ``name``'s ``__all__`` is sorted and names only things the module has."""
    module = importlib.import_module(name)
    exported = module.__all__
    assert exported == sorted(exported), name
    assert all(hasattr(module, n) for n in exported), name
