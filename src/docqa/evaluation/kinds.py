"""Scores for the question kinds that one span cannot answer: ``list`` and ``conflict``.

- A ``list`` question's gold answer names several items ("fire safety, manual handling and data
  protection"). The shown answer is split into items the same way (commas, "and", "or", one item per
  line); a shown item is right when it holds a gold item, a gold item found when a shown item holds it.
  Precision is the right fraction of the shown items, recall the found fraction of the gold items;
  the gold variant scoring best counts.
- A ``conflict`` question has the current value (``answers``) and the value of an older document
  (``stale_answers``). It is right when the answer's conflicts show both, the current one first
  (the newest document first).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from docqa.evaluation.metrics import normalize_answer
from docqa.schema import Answer

_ITEM_SEPARATORS = re.compile(r"\s*(?:[,;\n\u2022\u00b7]|\band\b|\bor\b)\s*", re.IGNORECASE)


def list_items(text: str) -> list[str]:
    """The items a list answer names, normalised (SQuAD-style), empty items dropped."""
    return [item for item in (normalize_answer(part) for part in _ITEM_SEPARATORS.split(text)) if item]


def list_scores(shown: str, answers: Sequence[str]) -> tuple[float, float]:
    """(precision, recall) of the items of ``shown`` against the best gold variant; (0, 0) when nothing is shown."""
    items = list_items(shown)
    if not items:
        return 0.0, 0.0
    best = (0.0, 0.0)
    for answer in answers:
        gold = list_items(answer)
        if not gold:
            continue
        right = sum(any(item_gold in item for item_gold in gold) for item in items)
        found = sum(any(item_gold in item for item in items) for item_gold in gold)
        best = max(best, (right / len(items), found / len(gold)), key=lambda pair: (pair[1], pair[0]))
    return best


def conflict_shown(answer: Answer, answers: Sequence[str], stale_answers: Sequence[str]) -> bool:
    """Whether ``answer``'s conflicts show a current and a stale value, the current one first."""
    current = _first_holding(answer, answers)
    stale = _first_holding(answer, stale_answers)
    return current is not None and stale is not None and current < stale


def _first_holding(answer: Answer, values: Sequence[str]) -> int | None:
    golds = [normalize_answer(value) for value in values if normalize_answer(value)]
    for position, conflict in enumerate(answer.conflicts):
        shown = normalize_answer(conflict.text)
        if any(_holds(shown, gold) for gold in golds):
            return position
    return None


def _holds(shown: str, gold: str) -> bool:
    """``gold`` stands in ``shown`` as whole words ("30 days" is not in "130 days")."""
    return re.search(rf"(?<!\S){re.escape(gold)}(?!\S)", shown) is not None
