"""Answer and retrieval metrics.

Answers are compared as in the official SQuAD 2.0 evaluation: normalised (lower case, no
punctuation, no articles, single spaces), best over the gold answers, and the empty string is
the right answer to an unanswerable question.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

RANK_DEPTH = 10  # passages retrieved per question for the retrieval metrics
RECALL_CUTOFFS = (1, 5, 10)

_PUNCTUATION = str.maketrans("", "", string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lower case, punctuation and the articles a/an/the removed, white space collapsed."""
    without_punctuation = text.lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", without_punctuation).split())


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1_score(prediction: str, truth: str) -> float:
    """Harmonic mean of token precision and recall; 1.0 when both are empty, 0.0 when one is."""
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(truth).split()
    if not predicted or not expected:
        return float(predicted == expected)
    shared = sum((Counter(predicted) & Counter(expected)).values())
    if shared == 0:
        return 0.0
    precision = shared / len(predicted)
    recall = shared / len(expected)
    return 2 * precision * recall / (precision + recall)


def answer_scores(prediction: str, gold_answers: Sequence[str]) -> tuple[float, float]:
    """(exact match, F1), each the best over the gold answers; no gold answer means "" is right."""
    truths = [truth for truth in gold_answers if normalize_answer(truth)] or [""]
    return (
        max(exact_match(prediction, truth) for truth in truths),
        max(f1_score(prediction, truth) for truth in truths),
    )


def retrieval_metrics(ranks: Sequence[int | None], ks: Sequence[int] = RECALL_CUTOFFS) -> dict[str, float]:
    """Recall@k for each k and the mean reciprocal rank; a rank is 1-based, None when not retrieved."""
    if not ranks:
        raise ValueError("retrieval metrics need at least one rank")
    metrics = {f"recall@{k}": sum(rank is not None and rank <= k for rank in ranks) / len(ranks) for k in ks}
    metrics["mrr"] = sum(1.0 / rank for rank in ranks if rank is not None) / len(ranks)
    return metrics
