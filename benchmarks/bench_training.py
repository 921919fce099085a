"""Teaching docqa a field: fine-tune the trained stand-in reader on SQuAD articles it never saw.

The base is ``../shared/weights/docqa-minilm-squad-reader``; the data ``../shared/eval/reader-split/
dev-v1.1.json`` (7 articles). Two of its articles (drawn with --seed) are held out; the reader is
fine-tuned on 50, 200 and 800 questions of the other five, or on all of them (max length 256,
stride 64, 1 epoch, batch 16, lr 5e-5), each run from the base, and each model is measured on a
seeded sample of the held-out articles' questions as ``docqa train`` measures (each question read
from its own paragraph, SQuAD EM/F1, the reader's default confidence threshold). Results go to
benchmarks/results/training.json after each run, the learning curve to docs/training_curve.png.
``--probe`` only times 32 examples and prints what the whole run would take. Not a test.

    python benchmarks/bench_training.py --probe
    python benchmarks/bench_training.py --sizes 50,200,800 --held-out-questions 250
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS_DIR, ROOT, SHARED_DIR, WORK_DIR, log, write_record

from docqa.config import Settings
from docqa.training.data import Example, load_examples
from docqa.training.features import build_features
from docqa.training.loop import TrainOptions, train_model
from docqa.training.measure import measure

BASE = SHARED_DIR / "weights" / "docqa-minilm-squad-reader"
DATA = SHARED_DIR / "eval" / "reader-split" / "dev-v1.1.json"
RESULTS = RESULTS_DIR / "training.json"
PLOT = ROOT / "docs" / "training_curve.png"
OPTIONS = TrainOptions(epochs=1.0, batch_size=16, learning_rate=5e-5, max_seq_length=256, stride=64)
HELD_OUT_ARTICLES = 2


def split(examples: list[Example], seed: int) -> tuple[list[Example], list[Example], list[str]]:
    titles = sorted({example.title for example in examples})
    held = sorted(random.Random(seed).sample(titles, HELD_OUT_ARTICLES))
    pool = [example for example in examples if example.title not in held]
    random.Random(seed).shuffle(pool)  # each size takes the first n, so the sets are nested
    return pool, [example for example in examples if example.title in held], held


def fine_tune(pool: list[Example], size: int, held_out: list[Example], threshold: float | None) -> dict[str, Any]:
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(BASE)
    model = AutoModelForQuestionAnswering.from_pretrained(BASE)
    examples = pool[:size]
    features = build_features(tokenizer, examples, OPTIONS.max_seq_length, OPTIONS.stride)
    stats = train_model(model, features, OPTIONS, tokenizer.pad_token_id)
    folder = WORK_DIR / f"trained-reader-{size}"
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    after = measure(folder, held_out, threshold, max_seq_length=OPTIONS.max_seq_length, stride=OPTIONS.stride)
    return {
        "examples": len(examples),
        "windows": len(features),
        "steps": stats.steps,
        "train_seconds": round(stats.seconds, 1),
        "examples_per_second": round(len(examples) / stats.seconds, 3),
        "first_loss": stats.losses[0],
        "last_loss": stats.losses[-1],
        "device": stats.device,
        "after": after,
    }


def write_plot(results: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    runs = sorted(results["runs"], key=lambda run: run["examples"])
    sizes = [0] + [run["examples"] for run in runs]
    figures = [results["before"]] + [run["after"] for run in runs]
    figure, axes = plt.subplots(figsize=(6.4, 4))
    axes.plot(sizes, [100 * f["f1"] for f in figures], marker="o", label="F1, as docqa answers")
    axes.plot(sizes, [100 * f["exact_match"] for f in figures], marker="s", label="EM, as docqa answers")
    if all("best_span" in f for f in figures):
        axes.plot(sizes, [100 * f["best_span"]["f1"] for f in figures], marker="^", linestyle="--",
                  label="F1 of the best span, shown or not")
    axes.set_xscale("symlog", linthresh=50)
    axes.set_xticks(sizes, labels=[f"{size:,}" for size in sizes], rotation=45, fontsize=8)
    axes.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axes.set_xlabel("questions fine-tuned on (0: the base reader)")
    axes.set_ylabel(f"held-out score, % ({results['held_out_questions']} questions)")
    axes.set_title("docqa-minilm-squad-reader fine-tuned on SQuAD dev-v1.1 articles")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(PLOT, dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,200,800", help="comma list of question counts, or 'all'")
    parser.add_argument("--seed", type=int, default=0, help="draws the held-out articles and the subsets")
    parser.add_argument("--probe", action="store_true", help="time 32 examples and print the plan")
    parser.add_argument("--plot", action="store_true", help="only draw the plot again from the results file")
    parser.add_argument("--add", action="store_true",
                        help="add these sizes to the results file's runs (same seed and held-out sample)")
    parser.add_argument("--held-out-questions", type=int, default=250,
                        help="a seeded sample of the held-out articles' questions (0: all of them)")
    args = parser.parse_args()
    if args.plot:
        write_plot(json.loads(RESULTS.read_text(encoding="utf-8")))
        return 0
    threshold = Settings().confidence_threshold  # None: the reader's own default
    pool, held_out, held = split(load_examples(DATA), args.seed)
    held_out_articles_questions = len(held_out)
    if 0 < args.held_out_questions < len(held_out):  # each reading of them costs minutes on 2 shared cores
        held_out = random.Random(args.seed).sample(held_out, args.held_out_questions)
    sizes = [len(pool) if part.strip() == "all" else min(int(part), len(pool)) for part in args.sizes.split(",")]
    if args.probe:
        run = fine_tune(pool, 32, held_out[:32], threshold)
        rate = run["examples_per_second"]
        minutes = sum(sizes) / rate / 60
        log(f"{rate:.2f} examples/s on {run['device']}; training {sum(sizes)} examples would take {minutes:.0f} min "
            f"(+ {len(sizes) + 1} readings of {len(held_out)} held-out questions)")
        return 0
    log(f"held out {held} ({len(held_out)} questions); pool {len(pool)}; sizes {sizes}")
    started = time.perf_counter()
    kept = json.loads(RESULTS.read_text(encoding="utf-8")) if args.add and RESULTS.exists() else None
    if kept and (kept["seed"], kept["held_out_questions"]) != (args.seed, len(held_out)):
        parser.error("--add needs the seed and held-out sample of the results file")
    before = kept["before"] if kept else measure(
        BASE, held_out, threshold, max_seq_length=OPTIONS.max_seq_length, stride=OPTIONS.stride
    )
    log(f"before: EM {100 * before['exact_match']:.1f} F1 {100 * before['f1']:.1f}")
    command = (f"python benchmarks/bench_training.py --sizes {args.sizes} --held-out-questions "
               f"{args.held_out_questions} --seed {args.seed}")
    results: dict[str, Any] = kept or {
        "base_model": str(BASE.relative_to(ROOT.parent)),
        "data": str(DATA.relative_to(ROOT.parent)),
        "held_out_articles": held,
        "held_out_questions": len(held_out),
        "held_out_articles_questions": held_out_articles_questions,
        "pool_questions": len(pool),
        "seed": args.seed,
        "settings": {**OPTIONS.__dict__, "threshold": before["threshold"]},
        "commands": [],
        "before": before,
        "runs": [],
    }
    if "command" in results:  # the one command of a file written before --add existed
        results["commands"] = [results.pop("command")]
    results.setdefault("commands", []).append(command + (" --add" if kept else ""))
    results["runs"] = [run for run in results["runs"] if run["examples"] not in sizes]
    earlier = results.get("wall_seconds", 0.0)
    for size in sizes:
        run = fine_tune(pool, size, held_out, threshold)
        results["runs"].append(run)
        results["runs"].sort(key=lambda run: run["examples"])
        results["wall_seconds"] = round(earlier + time.perf_counter() - started, 1)
        log(f"{size} questions: {run['examples_per_second']:.2f} examples/s, EM {100 * run['after']['exact_match']:.1f}"
            f" F1 {100 * run['after']['f1']:.1f}")
        write_record(RESULTS, results)
        write_plot(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
