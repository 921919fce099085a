"""What the closest-sentence fallback adds, and what it costs in abstention, end to end through
``Assistant.ask`` on a SQuAD 2.0 file (half of whose questions have no answer in the text).

The paragraphs of the file are indexed as documents; a sample of its questions is asked twice, with
the fallback (the default) and without it (``closest=False``: abstain where the model reader has no
confident span). For each: the answerable questions answered, those whose shown answer holds a gold
answer, and the unanswerable questions abstained on. The lexical mode has no fallback to measure.

    python benchmarks/bench_closest.py --embedding-model ../shared/weights/all-MiniLM-L6-v2 \
        --reader-model ./reader          # the calibrated copy of the README's "Confidence and abstaining"
    python benchmarks/bench_closest.py ... --limit 400 --file ../shared/eval/reader-split/dev-v2.0.json

Results: benchmarks/results/closest.json.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, SHARED_DIR, log, write_record

from docqa.assistant import Assistant
from docqa.evaluation.metrics import normalize_answer
from docqa.evaluation.squad import load_squad, sample_questions

DEFAULT_FILE = SHARED_DIR / "eval" / "reader-split" / "dev-v2.0.json"


def holds_gold(shown: str, answers: tuple[str, ...]) -> bool:
    text = normalize_answer(shown)
    return bool(text) and any(normalize_answer(answer) and normalize_answer(answer) in text for answer in answers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE, help="a SQuAD 2.0 file")
    parser.add_argument("--embedding-model", required=True)
    parser.add_argument("--reader-model", required=True)
    parser.add_argument("--limit", type=int, default=400, help="questions drawn from the file (seed 0)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "closest.json")
    args = parser.parse_args()

    squad = load_squad(args.file)
    questions = sample_questions(squad.questions, args.limit, seed=0)
    counts: dict[str, dict[str, int]] = {name: {"answered": 0, "holds_gold": 0, "abstained_unanswerable": 0}
                                         for name in ("with_closest", "without_closest")}  # fmt: skip
    closest_shown = 0
    with tempfile.TemporaryDirectory() as work, Assistant(
        corpus_dir=Path(work) / "corpus", index_dir=Path(work) / "index",
        embedding_model=args.embedding_model, reader_model=args.reader_model,
    ) as assistant:  # fmt: skip
        assistant.index(documents=squad.documents)
        log(f"indexed {len(squad.documents)} paragraphs; asking {len(questions)} questions twice")
        for question in questions:
            for name, closest in (("with_closest", True), ("without_closest", False)):
                answer = assistant.ask(question.question, closest=closest)
                tally = counts[name]
                if question.is_impossible:
                    tally["abstained_unanswerable"] += answer.abstained
                else:
                    tally["answered"] += not answer.abstained
                    tally["holds_gold"] += not answer.abstained and holds_gold(answer.text, question.answers)
                closest_shown += closest and answer.closest
    answerable = sum(not q.is_impossible for q in questions)
    unanswerable = len(questions) - answerable
    record: dict[str, Any] = {
        "file": str(args.file),
        "embedding_model": args.embedding_model,
        "reader_model": args.reader_model,
        "questions": len(questions),
        "answerable": answerable,
        "unanswerable": unanswerable,
        "closest_sentences_shown": closest_shown,
    }
    for name, tally in counts.items():
        record[name] = {
            "answered": tally["answered"] / max(answerable, 1),
            "holds_gold": tally["holds_gold"] / max(answerable, 1),
            "abstained_unanswerable": tally["abstained_unanswerable"] / max(unanswerable, 1),
        }
        log(f"{name}: {record[name]}")
    write_record(args.out, record)
    log(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
