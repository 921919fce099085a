"""Fit the lexical mode's score: the chance that the sentence it shows holds the answer.

Indexes the paragraphs of a SQuAD 2.0 file in the lexical mode, retrieves each question's passages
as ``docqa ask`` does, and takes the sentence reader's best sentence with its features
(``SentenceFeatures``). The label is whether that sentence holds a gold answer (never, for an
unanswerable question). A logistic regression of the label on the features (Newton's method, a
little L2) gives the weights that ``docqa/reader/sentence.py`` keeps as ``CHANCE_WEIGHTS`` and
``CHANCE_BIAS``; the table of thresholds shows what each would answer and abstain on.

    python benchmarks/fit_sentence_chance.py ../shared/eval/reader-split/train-v2.0.json

The result goes to benchmarks/results/sentence_chance-TARGET.json. Fit on questions other than those you
measure on: the reader-split train file, then measure with ``docqa eval`` on the dev file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from common import RESULTS_DIR, write_record

from docqa import Assistant
from docqa.evaluation import load_squad, normalize_answer
from docqa.reader import SentenceReader

TOP_K = 3  # the lexical mode's default: passages the sentence reader reads
L2 = 1e-3


def collect(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of the best sentence of each question, whether it holds a gold answer, and whether
    the question is answerable."""
    squad = load_squad(path)
    rows, labels, answerable = [], [], []
    with tempfile.TemporaryDirectory() as folder:
        corpus, index = Path(folder, "corpus"), Path(folder, "index")
        assistant = Assistant(corpus_dir=corpus, index_dir=index, embedding_model="none", reader_model="none")
        corpus.mkdir()
        assistant.index(documents=squad.documents)
        reader = SentenceReader()
        for question in squad.questions:
            passages = assistant.retrieve(question.question, top_k=TOP_K)
            found = reader.candidates(question.question, passages)
            if not found:
                continue  # nothing to show: the lexical mode abstains whatever the weights
            sentence, features = found[0]
            text = normalize_answer(sentence.text)
            holds = any(normalize_answer(gold) and normalize_answer(gold) in text for gold in question.answers)
            rows.append(features.vector())
            labels.append(float(holds))
            answerable.append(bool(question.answers))
        assistant.close()
    return np.array(rows), np.array(labels), np.array(answerable)


def fit(features: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, float]:
    """Logistic regression by Newton's method: (weights, bias)."""
    design = np.hstack([features, np.ones((len(features), 1))])
    theta = np.zeros(design.shape[1])
    for _ in range(50):
        chance = 1.0 / (1.0 + np.exp(-design @ theta))
        gradient = design.T @ (chance - labels) + L2 * theta
        hessian = design.T @ (design * (chance * (1 - chance))[:, None]) + L2 * np.eye(len(theta))
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return theta[:-1], float(theta[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path, help="a SQuAD 2.0 file (with unanswerable questions)")
    parser.add_argument(
        "--target",
        choices=("holds", "answerable"),
        default="holds",
        help="fit whether the sentence holds a gold answer (default), or whether the question is answerable",
    )
    args = parser.parse_args()
    features, labels, answerable = collect(args.file)
    weights, bias = fit(features, labels if args.target == "holds" else answerable.astype(float))
    chance = 1.0 / (1.0 + np.exp(-(features @ weights + bias)))
    table = []
    for threshold in np.arange(0.0, 0.61, 0.05):
        answered = chance >= threshold
        table.append(
            {
                "threshold": round(float(threshold), 2),
                "answerable_answered": float(answered[answerable].mean()),
                "unanswerable_abstained": float((~answered[~answerable]).mean()),
                "answered_holding_gold": float(labels[answered].mean()) if answered.any() else None,
            }
        )
    record = {
        "file": str(args.file),
        "target": args.target,
        "questions_with_a_sentence": len(labels),
        "weights": [round(float(w), 3) for w in weights],
        "bias": round(bias, 3),
        "thresholds": table,
    }
    write_record(RESULTS_DIR / f"sentence_chance-{args.target}.json", record)
    print(f"CHANCE_WEIGHTS = {tuple(record['weights'])}\nCHANCE_BIAS = {record['bias']}")
    for row in table:
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
