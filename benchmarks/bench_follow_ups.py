"""Follow-ups against their standalone versions: is a follow-up answered from the right file as
often as the same question written to stand alone?

For each pair of benchmarks/data/follow_ups.json the first question is asked, then the follow-up
with that turn as history (as the chat passes it: ``docqa.conversation.follow_up_turn``, or with
``--history text`` the answer's text whatever its confidence, as a client that always sends it),
then the standalone version without history. The cited file of each is compared with the pair's.

    python benchmarks/bench_follow_ups.py                      # lexical mode
    python benchmarks/bench_follow_ups.py --trained            # the weights in ../shared/weights
    python benchmarks/bench_follow_ups.py --reader-model DIR   # another reader (an --embedding-model too)

Results: benchmarks/results/follow_ups_<mode>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CORPUS_DIR, RESULTS_DIR, SHARED_DIR, log, write_record

from docqa.assistant import Assistant
from docqa.schema import Answer

PAIRS_PATH = Path(__file__).resolve().parent / "data" / "follow_ups.json"
CORPORA = {"shipped": CORPUS_DIR, "realdocs": SHARED_DIR / "eval" / "realdocs-dev" / "documents"}
WEIGHTS = SHARED_DIR / "weights"


def cited_file(answer: Answer) -> str | None:
    return answer.citations[0].source if answer.citations else None


def history_turn(answer: Answer, how: str) -> tuple[str, str]:
    if how == "text":
        return answer.question, answer.text
    from docqa.conversation import follow_up_turn

    return follow_up_turn(answer)


def run(embedding_model: str, reader_model: str, how: str) -> dict[str, Any]:
    pairs = json.loads(PAIRS_PATH.read_text(encoding="utf-8"))["pairs"]
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name, folder in CORPORA.items():
            chosen = [pair for pair in pairs if pair["corpus"] == name]
            if not chosen or not folder.is_dir():
                log(f"skipped {name}: {folder} is missing" if chosen else f"no pairs for {name}")
                continue
            index = Path(scratch) / name
            with Assistant(folder, index, embedding_model=embedding_model, reader_model=reader_model) as assistant:
                assistant.warm_up()
                for pair in chosen:
                    first = assistant.ask(pair["previous"])
                    turn = history_turn(first, how)
                    follow_up = assistant.ask(pair["follow_up"], history=[turn])
                    standalone = assistant.ask(pair["standalone"])
                    rows.append(
                        {
                            "corpus": name,
                            "follow_up": pair["follow_up"],
                            "file": pair["file"],
                            "previous_answer": first.text,
                            "previous_confidence": "abstained" if first.abstained else first.confidence,
                            "history_answer": turn[1],
                            "query": follow_up.query,
                            "follow_up_answer": follow_up.text,
                            "follow_up_file": cited_file(follow_up),
                            "standalone_answer": standalone.text,
                            "standalone_file": cited_file(standalone),
                        }
                    )
                    log(f"{pair['follow_up']!r}: {cited_file(follow_up)} / standalone {cited_file(standalone)}")
    right_follow = sum(row["follow_up_file"] == row["file"] for row in rows)
    right_alone = sum(row["standalone_file"] == row["file"] for row in rows)
    return {
        "embedding_model": embedding_model,
        "reader_model": reader_model,
        "history": how,
        "pairs": len(rows),
        "follow_up_right_file": right_follow,
        "standalone_right_file": right_alone,
        "by_corpus": {
            name: {
                "pairs": sum(row["corpus"] == name for row in rows),
                "follow_up_right_file": sum(
                    row["corpus"] == name and row["follow_up_file"] == row["file"] for row in rows
                ),
                "standalone_right_file": sum(
                    row["corpus"] == name and row["standalone_file"] == row["file"] for row in rows
                ),
            }
            for name in CORPORA
        },
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trained", action="store_true", help="the embedding and reader models of ../shared/weights")
    parser.add_argument("--embedding-model", default=None)
    parser.add_argument("--reader-model", default=None)
    parser.add_argument("--history", choices=("confident", "text"), default="confident")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    embedding = args.embedding_model or (str(WEIGHTS / "all-MiniLM-L6-v2") if args.trained else "none")
    reader = args.reader_model or (str(WEIGHTS / "docqa-minilm-squad-reader") if args.trained else "none")
    mode = "lexical" if reader == "none" else "trained"
    record = run(embedding, reader, args.history)
    suffix = "" if args.history == "confident" else "_text_history"
    out = args.out or RESULTS_DIR / f"follow_ups_{mode}{suffix}.json"
    write_record(out, record)
    log(
        f"{mode}: follow-up from the right file {record['follow_up_right_file']}/{record['pairs']}, "
        f"standalone {record['standalone_right_file']}/{record['pairs']} -> {out}"
    )


if __name__ == "__main__":
    main()
