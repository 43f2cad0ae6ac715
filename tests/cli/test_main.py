"""The front door: --version, --config handed down without touching os.environ, conventional help."""

from __future__ import annotations

import os
import re
from pathlib import Path

import typer
from typer.testing import CliRunner

from finsent import __version__
from finsent.cli import app
from finsent.model.train_args import parse_args

runner = CliRunner()


def _commands(command, path: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"finsent {__version__}"


def test_config_reaches_the_subcommand_without_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "from-config.db"
    config = tmp_path / "finsent.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{db}"\n')
    before = dict(os.environ)
    result = runner.invoke(app, ["--config", str(config), "db", "upgrade"], env={"FINSENT_DATABASE_URL": None})
    assert result.exit_code == 0, result.output
    assert db.is_file()
    assert dict(os.environ) == before  # nothing written for the subcommands to read back


def test_switches_show_no_type_and_options_are_kebab_case() -> None:
    root = typer.main.get_command(app)
    for path in _commands(root):
        if path == ("train",):
            continue  # its help is argparse's, below
        result = runner.invoke(app, [*path, "--help"], terminal_width=200)
        assert result.exit_code == 0, path
        assert "<bool>" not in result.output, path
        assert not re.search(r"--[a-z]+_[a-z_]+", result.output), path


def test_train_help_is_kebab_case_with_plain_switches() -> None:
    result = runner.invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    assert "--learning-rate LEARNING_RATE, --learning_rate LEARNING_RATE" in result.output
    assert "[--freeze-embeddings]" in result.output and "[--no-freeze-embeddings]" in result.output
    assert "[FREEZE_EMBEDDINGS]" not in result.output and "<bool>" not in result.output
    usage = result.output.split("\n\n")[0]
    assert not re.search(r"\[--[a-z]+_", usage), usage  # the usage line spells every flag kebab-case


def test_train_keeps_the_snake_case_spellings(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("text,label\nOil rises,Energy | Oil\n")
    kebab = parse_args(["--topic-train", str(data), "--output-dir", "o", "--learning-rate", "3e-5", "--no-freeze-embeddings"])
    snake = parse_args(["--topic_train", str(data), "--output_dir", "o", "--learning_rate", "3e-5", "--no_freeze_embeddings"])
    assert kebab == snake
    assert kebab[2].learning_rate == 3e-5 and kebab[0].freeze_embeddings is False
    explicit = parse_args(["--topic-train", str(data), "--output-dir", "o", "--freeze_embeddings", "false"])
    assert explicit[0].freeze_embeddings is False
