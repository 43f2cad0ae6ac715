"""Conventional help for on/off switches: Typer's rich help prints a type (``<bool>``) beside them; this does not.

Every command of the CLI is built with :class:`App`, which gives its commands and groups the classes below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import typer
from typer.core import TyperCommand, TyperGroup

__all__ = ["App", "SwitchHelpCommand", "SwitchHelpGroup"]

_P = TypeVar("_P")


def _quiet_switches(params: Sequence[_P]) -> list[_P]:
    # A switch takes no value, so its help shows none (an explicit metavar wins over Typer's type label).
    for param in params:
        if getattr(param, "is_flag", False) and getattr(param, "metavar", "") is None:
            param.metavar = ""  # type: ignore[attr-defined]
    return list(params)


class SwitchHelpCommand(TyperCommand):
    """A Typer command whose switches (``--help`` included) show no value in the help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _quiet_switches(super().get_params(ctx))


class SwitchHelpGroup(TyperGroup):
    """A Typer group whose switches (``--help`` included) show no value in the help."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _quiet_switches(super().get_params(ctx))


class App(typer.Typer):
    """``typer.Typer`` with :class:`SwitchHelpCommand` and :class:`SwitchHelpGroup` as the defaults."""

    def __init__(self, **options: Any) -> None:
        super().__init__(cls=options.pop("cls", SwitchHelpGroup), **options)

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **options: Any) -> Callable:  # type: ignore[override]
        return super().command(name, cls=cls or SwitchHelpCommand, **options)

    def callback(self, *, cls: type[TyperGroup] | None = None, **options: Any) -> Callable:  # type: ignore[override]
        return super().callback(cls=cls or SwitchHelpGroup, **options)
