"""The import rules: the layer contracts in pyproject.toml hold, and nothing imports a private name from elsewhere."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.utils.layout import REPO, build_layout, package_dirs

TESTS = REPO / "tests"


def _package_files() -> Iterator[Path]:
    for folder in package_dirs().values():
        yield from sorted(folder.glob("*.py"))


def _imports(path: Path) -> Iterator[tuple[int, str, str]]:
    """(line, module, name) of every ``from module import name`` in the file."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.lineno, node.module, alias.name


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_the_layer_contracts_hold(tmp_path: Path) -> None:
    # import-linter reads packages from disk, so it gets the layout an installation has.
    layout = build_layout(tmp_path / "layout")
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), str(REPO / "pyproject.toml"), "--no-cache"],
        cwd=layout,
        env={"PYTHONPATH": str(layout), "PATH": str(lint.parent)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("path", list(_package_files()), ids=lambda p: str(p.relative_to(REPO)))
def test_no_private_names_from_other_modules(path: Path) -> None:
    found = [f"{path.name}:{line} {module}.{name}" for line, module, name in _imports(path) if _private(name)]
    assert found == []


def test_tests_take_helpers_from_tests_utils_by_public_name() -> None:
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        for line, module, name in _imports(path):
            if module.startswith("tests.") and (module.split(".")[-1] == "conftest" or _private(name)):
                found.append(f"{path.relative_to(REPO)}:{line} {module}.{name}")
            elif module.startswith("tests.") and not module.startswith("tests.utils"):
                found.append(f"{path.relative_to(REPO)}:{line} {module} (helpers live in tests/utils)")
    assert found == []
