"""The wheel is a real installation: one top-level package, the shipped model and the migrations inside it.

It is built from a copy of the repository (so the tree gets no build/ folder), unpacked into a
temporary folder (what ``pip install`` does, less the scripts), and run from there, far from the
source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.utils.layout import REPO, package_dirs

pytestmark = pytest.mark.slow

# Never part of a build: local state, caches, other builds.
_NOT_SOURCES = shutil.ignore_patterns(
    ".git", ".venv", "var", "artifacts", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "runs"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source") / "finsent"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCES)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "--wheel-dir", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    (built,) = out.glob("finsent-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def _run(installed: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Python with only the unpacked wheel for finsent, started outside the repository."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
    env.update(PYTHONPATH=str(installed), FINSENT_DATA_DIR=str(installed.parent / "var"))
    return subprocess.run(
        [sys.executable, *args], cwd=installed.parent, env=env, input=stdin, capture_output=True, text=True, timeout=600
    )


def test_finsent_is_the_only_top_level_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    name, version = wheel.name.split("-")[:2]
    assert {n.split("/")[0] for n in names} == {"finsent", f"{name}-{version}.dist-info"}
    for package in package_dirs():
        if package != "finsent.models":
            assert "/".join(package.split(".")) + "/__init__.py" in names, package
    for name in (
        "finsent/models/finsent-minilm/model.safetensors",
        "finsent/models/finsent-minilm/config.json",
        "finsent/models/finsent-minilm/tokenizer.json",
        "finsent/migrations/env.py",
        "finsent/migrations/script.py.mako",
        "finsent/migrations/versions/0001_initial.py",
        "finsent/alerts/default_rules.toml",
        "finsent/dashboard/app.py",
    ):
        assert name in names, name
    shipped = {n.rsplit("/", 1)[-1] for n in names if n.startswith("finsent/models/finsent-minilm/")}
    assert shipped == {p.name for p in (REPO / "models" / "finsent-minilm").iterdir()}


def test_every_source_folder_is_in_the_wheel() -> None:
    folders = {p.parent for p in REPO.glob("*/**/__init__.py") if not {".venv", "tests"} & set(p.relative_to(REPO).parts)}
    assert folders <= set(package_dirs().values())


def test_the_installed_package_finds_its_model_and_migrations(installed: Path) -> None:
    probe = (
        "import json, finsent, finsent.migrations as m; from finsent.settings import Settings, default_model_path;"
        "print(json.dumps([finsent.__file__, m.__file__, str(default_model_path()), Settings().model.path]))"
    )
    result = _run(installed, "-c", probe)
    assert result.returncode == 0, result.stderr
    package, migrations, model, configured = (Path(p) for p in json.loads(result.stdout))
    assert package.is_relative_to(installed) and migrations.is_relative_to(installed)
    assert model == configured == installed / "finsent" / "models" / "finsent-minilm"


def test_the_installed_cli_migrates_and_classifies_with_the_shipped_model(installed: Path) -> None:
    upgrade = _run(installed, "-m", "finsent.cli", "db", "upgrade")  # the default SQLite file, ./var/finsent.db
    assert upgrade.returncode == 0, upgrade.stderr
    from alembic.script import ScriptDirectory

    from finsent import migrations

    head = ScriptDirectory.from_config(migrations.alembic_config("sqlite://")).get_current_head()
    assert (installed.parent / "var" / "finsent.db").is_file() and f"database at revision {head}" in upgrade.stdout
    classified = _run(
        installed,
        "-m",
        "finsent.cli",
        "classify",
        "--precision",
        "fp32",
        stdin='{"text": "Shares plunge after the company misses estimates and cuts guidance"}\n',
    )
    assert classified.returncode == 0, classified.stderr
    (record,) = [json.loads(line) for line in classified.stdout.splitlines()]
    assert record["sentiment"] == "negative" and record["topic"]
    version = _run(installed, "-m", "finsent.cli", "--version")
    assert version.stdout.strip().startswith("finsent ")
