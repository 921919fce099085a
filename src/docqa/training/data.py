"""Training examples: SQuAD 1.1/2.0 files and the corrections kept in an index folder.

The files are read and checked by ``docqa.evaluation.squad``, as ``docqa eval`` reads them; only the
character offset of each question's first answer, which training needs and evaluation does not, is
taken from the JSON beside it.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docqa.annotations import AnnotationStore, to_squad
from docqa.errors import DocqaError
from docqa.evaluation.squad import SquadQuestion, load_squad, parse_squad


@dataclass(frozen=True)
class Example:
    """One question about one context, with the character span of its answer (None: no answer)."""

    question: SquadQuestion
    context: str
    title: str  # the article's, so that held-out data can be whole articles
    answer: tuple[int, int] | None


def examples_of(raw: dict[str, Any]) -> list[Example]:
    """The examples of decoded SQuAD JSON, in file order; a question whose first answer's offset
    does not match its text in the context is left out, since its target would be wrong."""
    squad = parse_squad(raw)
    contexts = {document.source: document.text for document in squad.documents}
    titles = {document.source: document.title for document in squad.documents}
    firsts = [
        (qa.get("answers") or [{}])[0]
        for article in raw["data"]
        for paragraph in article["paragraphs"]
        for qa in paragraph["qas"]
    ]
    examples = []
    for question, first in zip(squad.questions, firsts, strict=True):
        context = contexts[question.source]
        span = None
        if not question.is_impossible and question.answers:
            start = first.get("answer_start")
            text = question.answers[0]
            if not isinstance(start, int) or context[start:start + len(text)] != text or not text.strip():
                continue
            span = (start, start + len(text))
        examples.append(Example(question, context, titles[question.source], span))
    return examples


def load_examples(path: str | Path) -> list[Example]:
    """The examples of a SQuAD file; raises ``DocqaError`` when it is not one."""
    load_squad(path)  # checks the format, with the messages docqa eval gives
    return examples_of(json.loads(Path(path).read_text(encoding="utf-8")))


def correction_examples(index_dir: str | Path, text_of: Callable[[str], str | None]) -> list[Example]:
    """The corrections of ``index_dir`` whose documents have not changed since (see
    ``AnnotationStore.current``), as examples."""
    valid, _ = AnnotationStore(index_dir).current(text_of)
    return examples_of(to_squad(valid)) if valid else []


def split_held_out(
    examples: Sequence[Example], fraction: float, seed: int
) -> tuple[list[Example], list[Example]]:
    """(training, held out): whole articles held out where there are several, so no held-out
    question shares a context with training; otherwise a ``fraction`` of the questions."""
    if not 0.0 < fraction < 1.0:
        raise DocqaError(f"the held-out fraction must be between 0 and 1, not {fraction}")
    titles = sorted({example.title for example in examples})
    generator = random.Random(seed)
    if len(titles) >= 3:
        held = set(generator.sample(titles, max(1, round(fraction * len(titles)))))
        chosen = [example.title in held for example in examples]
    else:
        picked = set(generator.sample(range(len(examples)), max(1, round(fraction * len(examples)))))
        chosen = [n in picked for n in range(len(examples))]
    training = [e for e, held_out in zip(examples, chosen, strict=True) if not held_out]
    held_out = [e for e, held_out in zip(examples, chosen, strict=True) if held_out]
    if not training or not held_out:
        raise DocqaError(f"{len(examples)} examples are too few to hold some out: give --eval FILE")
    return training, held_out
