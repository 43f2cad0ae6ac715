"""What the graph backends (ONNX Runtime, OpenVINO) share: the module in the form converters take, and their probe."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["TupleOutputs", "installed"]


def installed(package: str) -> bool:
    """Whether ``package`` can be imported (without importing it: both runtimes are heavy)."""
    return importlib.util.find_spec(package) is not None


class TupleOutputs(nn.Module):
    """The multi-task module with positional inputs and a tuple of outputs, as graph converters want."""

    def __init__(self, module: nn.Module, tasks: Sequence[str]) -> None:
        super().__init__()
        self.module = module
        self.tasks = list(tasks)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.module(input_ids=input_ids, attention_mask=attention_mask)
        return tuple(out[t] for t in self.tasks)
