"""Placeholder."""

from dataclasses import dataclass

FULL = REDUCED = None


def run(stack, size, rng):  # type: ignore[no-untyped-def]
    raise NotImplementedError
