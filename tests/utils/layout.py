"""The installed layout of the package, built from the repository without installing anything.

The folders install under ``finsent`` (``[tool.setuptools.package-dir]`` in pyproject.toml), so tools
that read the source tree as packages (import-linter, through grimp) need it arranged as a wheel
would: ``<root>/finsent/model/...``. Only the Python files are copied.
"""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

__all__ = ["REPO", "build_layout", "package_dirs"]

REPO = Path(__file__).resolve().parents[2]


def package_dirs() -> dict[str, Path]:
    """Each package of the distribution and the repository folder it comes from."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping: dict[str, str] = config["package-dir"]
    out: dict[str, Path] = {}
    for package in config["packages"]:
        parent = max((p for p in mapping if package == p or package.startswith(p + ".")), key=len)
        out[package] = REPO / mapping[parent] / Path(*package[len(parent) :].split(".")[1:])
    return out


def build_layout(root: Path) -> Path:
    """Copy every package's Python files to where an installation puts them, under ``root``; returns ``root``."""
    for package, folder in package_dirs().items():
        target = root.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for source in folder.glob("*.py"):
            shutil.copy2(source, target / source.name)
    return root
