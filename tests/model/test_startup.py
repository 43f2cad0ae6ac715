"""The scoring engine loads without the imports scoring never uses (restart to first score, issue #12)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHECK = """
import json, sys
from finsent.model.startup import load_scoring_engine
from finsent.settings import Settings
engine = load_scoring_engine(Settings(model={{"path": {path!r}, "runtime": "torch", "threads": 1}}))
print(json.dumps({{"sklearn": "sklearn" in sys.modules, "label": engine.predict(["Shares plunge"])[0].sentiment}}))
"""


def test_the_engine_loads_without_scikit_learn_and_still_scores(tiny_model_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK.format(path=str(tiny_model_path))], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["sklearn"] is False  # transformers would import it (and SciPy) otherwise
    assert result["label"] in ("negative", "neutral", "positive")
