"""The teacher loader: assembles all-mpnet-base-v2 from its wheels, or says exactly what to install."""

from __future__ import annotations

from pathlib import Path

import pytest

from finsent.model.teacher import TeacherUnavailable, teacher_path
from finsent.model.train import resolve_base


def test_missing_wheels_give_a_clear_error_naming_the_package(tmp_path: Path) -> None:
    with pytest.raises(TeacherUnavailable) as info:
        teacher_path(tmp_path, distributions=("finsent-no-such-teacher-part-001",))
    message = str(info.value)
    assert "finsent-no-such-teacher-part-001" in message and "pip install" in message and "[teacher]" in message


def test_the_teacher_assembles_when_its_wheels_are_installed(tmp_path: Path) -> None:
    try:
        path = teacher_path(tmp_path)
    except TeacherUnavailable as exc:
        pytest.skip(f"teacher wheels not installed here (a build-time extra): {exc}")
    assert (path / "config.json").is_file() and (path / "model.safetensors").stat().st_size > 400_000_000
    assert not list(path.rglob("desktop.ini"))
    assert teacher_path(tmp_path) == path  # cached: the second call does not unpack again


def test_a_base_name_that_is_neither_a_directory_nor_the_teacher_passes_through() -> None:
    assert resolve_base("ProsusAI/finbert") == "ProsusAI/finbert"
    assert resolve_base(None).endswith("model")
