"""Loading the scoring engine fast, for processes whose restart time counts (worker, inference child).

A worker restarted after a crash must score again within 10 s (docs/reliability.md), and the model
load is the longest step of it, longer than the consumer-group join it overlaps. Most of that load is
imports, so this module keeps the ones scoring never uses off the path.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from finsent.model.engine import Engine

__all__ = ["load_scoring_engine", "skip_unused_transformers_imports"]


def skip_unused_transformers_imports() -> None:
    """Keep transformers from importing scikit-learn (and SciPy with it) while it loads its model code.

    transformers imports ``sklearn.metrics`` whenever scikit-learn is installed, for one feature:
    the confidence threshold of assisted generation's candidate generator. finsent never generates
    text; scikit-learn is installed for training metrics. Measured on a 2-core machine, the import
    is 1.4 to 2.4 s of a worker's model load. Effective only before transformers' modeling code is
    first imported; afterwards it changes nothing.
    """
    if "transformers.generation.candidate_generator" in sys.modules:
        return
    import transformers.utils as utils
    import transformers.utils.import_utils as import_utils

    def unavailable() -> bool:
        return False

    utils.is_sklearn_available = unavailable  # type: ignore[assignment]
    import_utils.is_sklearn_available = unavailable  # type: ignore[assignment]


def load_scoring_engine(settings: Any) -> Engine:
    """``load_engine_from_settings(settings)`` without the imports scoring never needs (picklable, for a child)."""
    skip_unused_transformers_imports()
    from finsent.model.engine import load_engine_from_settings

    return load_engine_from_settings(settings)
