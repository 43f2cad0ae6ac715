"""Score a classifier on a labeled file: the per-class report of one task."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from finsent.model.classifier import Classifier
from finsent.model.data import Example, dedup_against, read_examples, read_records
from finsent.model.metrics import Report, classification_report

__all__ = ["evaluate_examples", "evaluate_file"]


def evaluate_examples(classifier: Classifier, examples: Sequence[Example], task: str) -> Report:
    """Report of ``classifier``'s ``task`` head on examples labeled with that head's label indices."""
    if task not in classifier.tasks:
        raise ValueError(f"the model has no {task!r} head (it has {sorted(classifier.tasks)})")
    labels = classifier.tasks[task]
    # Logits rather than predict(): every head, the entity head too, and argmax is all a report needs.
    predicted = classifier.logits([e.text for e in examples])[task].argmax(-1).tolist() if examples else []
    return classification_report([e.label for e in examples], predicted, labels, task=task)


def evaluate_file(
    classifier: Classifier,
    path: str | Path,
    task: str,
    *,
    dedup_against_files: Sequence[str | Path] = (),
    text_field: str = "text",
    label_field: str = "label",
) -> tuple[Report, int]:
    """Report on a labeled file minus rows seen in the given training files, and how many were dropped."""
    if task not in classifier.tasks:
        raise ValueError(f"the model has no {task!r} head (it has {sorted(classifier.tasks)})")
    labels = classifier.tasks[task]
    examples = read_examples(path, task, labels, text_field=text_field, label_field=label_field)
    before = len(examples)
    for train_file in dedup_against_files:
        # The training file's labels do not matter here, only its texts.
        examples = dedup_against(examples, [str(r.get(text_field, "")) for r in read_records(train_file)])
    return evaluate_examples(classifier, examples, task), before - len(examples)
