"""Conventional flags for ``finsent train``'s argparse parser (built by HfArgumentParser from the dataclasses).

Every option is spelled kebab-case first, with the dataclass field's snake_case name kept as an
alias (so existing command lines keep working; JSON args files use the field names anyway), and
switches show no value in the help: ``--freeze-embeddings`` rather than ``--freeze_embeddings
[FREEZE_EMBEDDINGS]``.
"""

from __future__ import annotations

import argparse

__all__ = ["FlagHelpFormatter", "kebab_case_flags"]


def _is_switch(action: argparse.Action) -> bool:
    # HfArgumentParser's bool fields: the value is optional and a bare flag means True.
    return bool(action.option_strings) and action.nargs == "?" and action.const is True


class FlagHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Help with defaults, where a switch is just its names."""

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        return "" if _is_switch(action) else super()._format_args(action, default_metavar)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if _is_switch(action):
            return ", ".join(action.option_strings)
        return super()._format_action_invocation(action)


def kebab_case_flags(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Give every option of ``parser`` a kebab-case spelling and list it first; returns ``parser``."""
    for action in list(parser._actions):
        names = action.option_strings
        if not names or all("_" not in name for name in names):
            continue
        if all("_" in name for name in names):
            # HfArgumentParser spells the negation of a True-by-default switch --no_<field> only.
            parser.add_argument(
                *[name.replace("_", "-") for name in names],
                dest=action.dest,
                action="store_false",
                help=action.help,
            )
            action.help = argparse.SUPPRESS
            continue
        names.sort(key=lambda name: "_" in name)  # usage and help show the first spelling first
    return parser
