"""docqa train with tiny random models: targets on the reader's own windows, a loss that falls, a saved
folder that loads and answers, the keep-only-if-better rule, and training on stored corrections."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_models import build_tiny_reader

from docqa.annotations import AnnotationStore
from docqa.cli import main
from docqa.reader import ExtractiveReader
from docqa.reader.windows import answer_targets, encode_windows, shorten_question
from docqa.training.data import Example, load_examples
from docqa.training.features import build_features
from docqa.training.loop import TrainOptions, train_model

FACTS = [
    ("The lighthouse on Gull Point was built by Ada Brennan in 1887.", "Who built the lighthouse?", "Ada Brennan"),
    ("The ferry to Skerry Island leaves from Harbour Road at noon.", "Where does the ferry leave?", "Harbour Road"),
    ("The bakery on Mill Street sells rye bread every Tuesday.", "What does the bakery sell?", "rye bread"),
    ("The museum in Oldtown opened its doors in the spring of 1954.", "When did the museum open?", "spring of 1954"),
    ("The choir of Saint Bride practises in the crypt on Fridays.", "Where does the choir practise?", "in the crypt"),
    ("The orchard behind the school grows twelve kinds of apple.", "How many kinds of apple?", "twelve"),
]


def squad_file(path: Path, facts: list[tuple[str, str, str]] = FACTS, unanswerable: bool = True) -> Path:
    paragraphs = []
    for n, (context, question, answer) in enumerate(facts):
        qas = [{"id": f"q{n}", "question": question,
                "answers": [{"text": answer, "answer_start": context.index(answer)}]}]
        if unanswerable:
            qas.append({"id": f"u{n}", "question": "What colour is the moon's cat?", "answers": [],
                        "is_impossible": True})
        paragraphs.append({"context": context, "qas": qas})
    path.write_text(json.dumps({"version": "v2.0", "data": [{"title": "Notes", "paragraphs": paragraphs}]}))
    return path


@pytest.fixture(scope="module")
def tiny_reader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    texts = [context for context, _, _ in FACTS] + [question for _, question, _ in FACTS]
    return build_tiny_reader(tmp_path_factory.mktemp("reader"), texts)


def test_targets_fall_on_the_answer_in_the_windows_that_hold_it(tiny_reader: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_reader)
    context = " ".join(["Filler words about the harbour and the sea."] * 12) + " It was built by Ada Brennan."
    start = context.index("Ada Brennan")
    question, tokens, _ = shorten_question(tokenizer, "Who built it?", 48)
    encodings = encode_windows(tokenizer, question, tokens, [context], 48, 16)
    starts, ends = answer_targets(encodings, [(start, start + len("Ada Brennan"))])
    assert len(starts) > 2  # windowed as the reader windows a long passage
    offsets = encodings["offset_mapping"]
    spans = [(offsets[w][s][0], offsets[w][e][1]) for w, (s, e) in enumerate(zip(starts, ends, strict=True)) if s]
    assert spans and all(context[a:b] == "Ada Brennan" for a, b in spans)
    assert starts.count(0) >= len(starts) - 2  # the windows without the answer target the null token
    no_answer = answer_targets(encodings, [None])
    assert set(no_answer[0]) == set(no_answer[1]) == {0}


def test_examples_keep_offsets_and_unanswerable_questions(tmp_path: Path) -> None:
    examples = load_examples(squad_file(tmp_path / "train.json"))
    assert len(examples) == 12 and sum(example.answer is None for example in examples) == 6
    first = examples[0]
    assert first.answer is not None and first.context[slice(*first.answer)] == "Ada Brennan"


def mean_loss(model, features, pad_id: int) -> float:
    import torch

    with torch.no_grad():
        batch = {name: torch.from_numpy(array) for name, array in features.batch(range(len(features)), pad_id).items()}
        return float(model(**batch).loss)


def test_a_few_steps_lower_the_loss(tiny_reader: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_reader)
    model = AutoModelForQuestionAnswering.from_pretrained(tiny_reader)
    examples: list[Example] = load_examples(squad_file(tmp_path / "train.json"))
    features = build_features(tokenizer, examples, 64, 16)
    assert len(features) == 12 and features.answered == 6
    model.eval()
    before = mean_loss(model, features, tokenizer.pad_token_id)
    options = TrainOptions(epochs=8, batch_size=4, learning_rate=3e-3, warmup=0.0)
    stats = train_model(model, features, options, tokenizer.pad_token_id, device="cpu", show_progress=False)
    assert stats.steps == 24 and stats.windows == 96 and len(stats.losses) == 24
    assert mean_loss(model, features, tokenizer.pad_token_id) < 0.8 * before
    assert np.isfinite(stats.losses).all()


def test_docqa_train_saves_a_folder_that_answers_through_reader_model(tiny_reader: Path, tmp_path: Path, capsys):
    data = squad_file(tmp_path / "train.json")
    output = tmp_path / "trained"
    code = main(["train", str(data), "--reader-model", str(tiny_reader), "--eval", str(data), "--output", str(output),
                 "--epochs", "2", "--batch-size", "4", "--learning-rate", "1e-3", "--max-length", "64",
                 "--stride", "16", "--keep-anyway", "--index", str(tmp_path / "index")])
    printed = capsys.readouterr().out
    assert code == 0 and f"Saved the reader to {output}" in printed and "examples/s" in printed
    card = (output / "README.md").read_text()
    assert str(tiny_reader) in card and "EM before" in card and str(data) in card
    figures = json.loads((output / "training.json").read_text())
    assert figures["data"]["train_examples"] == 12 and figures["kept"] is True
    assert {"exact_match", "f1", "has_answer", "no_answer"} <= set(figures["before"])
    reader = ExtractiveReader(str(output), max_seq_length=64, stride=16)  # the reader's from_pretrained path
    reader.warm_up()
    assert reader.active_backend == "torch"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "lighthouse.txt").write_text(FACTS[0][0])
    code = main(["ask", "Who built the lighthouse?", "--corpus", str(corpus), "--index", str(tmp_path / "ask-index"),
                 "--embedding-model", "none", "--reader-model", str(output), "--json"])
    answer = json.loads(capsys.readouterr().out)
    # The trained reader answers, or, where it has no confident span, the closest sentence stands in.
    assert code == 0 and answer["passages"]
    assert answer["mode"] == "extractive" or "closest sentence" in answer["message"]
    assert "no reader model is loaded" not in answer["message"]
    calibration = figures["calibration"]
    if calibration is not None:  # fitted on the held-out readings and saved beside the weights
        assert (output / "docqa_calibration.json").is_file() and reader.calibration.calibrated
        assert reader.default_threshold == calibration["threshold"]
    else:
        assert not (output / "docqa_calibration.json").exists() and not reader.calibration.calibrated


def test_a_reader_that_is_not_better_is_not_kept(tiny_reader: Path, tmp_path: Path, capsys) -> None:
    data = squad_file(tmp_path / "train.json")
    output = tmp_path / "unchanged"
    code = main(["train", str(data), "--reader-model", str(tiny_reader), "--eval", str(data), "--output", str(output),
                 "--learning-rate", "0", "--max-length", "64", "--stride", "16", "--index", str(tmp_path / "index")])
    assert code == 1 and "not saved" in capsys.readouterr().out
    assert not output.exists() and not list(tmp_path.glob(".unchanged*"))


def test_docqa_train_learns_from_the_corrections_of_unchanged_documents(tiny_reader: Path, tmp_path: Path, capsys):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    for n, (context, _, _) in enumerate(FACTS):
        (corpus / f"note{n}.txt").write_text(context + "\n")
    folders = ["--corpus", str(corpus), "--index", str(index)]
    assert main(["index", *folders, "--embedding-model", "none", "--reader-model", "none"]) == 0
    from docqa.store import open_store

    store = open_store(index)
    annotations = AnnotationStore(index)
    for n, (_, question, answer) in enumerate(FACTS):
        text = store.document_text(f"note{n}.txt")
        start = text.index(answer)
        annotations.add_answer(question, f"note{n}.txt", text, start, start + len(answer), conversation="c", turn=n)
    store.close()
    (corpus / "note5.txt").write_text("The orchard was cut down.\n")  # its correction goes stale
    assert main(["index", *folders, "--embedding-model", "none", "--reader-model", "none"]) == 0
    capsys.readouterr()
    output = tmp_path / "from-corrections"
    code = main(["train", *folders, "--reader-model", str(tiny_reader), "--held-out", "0.4", "--output", str(output),
                 "--max-length", "64", "--stride", "16", "--keep-anyway"])
    assert code == 0
    figures = json.loads((output / "training.json").read_text())
    assert figures["data"]["train_examples"] + figures["data"]["held_out_examples"] == 5  # the stale one left out
    assert "5 corrections of" in figures["data"]["sources"][0]


def test_the_app_switches_to_a_trained_reader_of_the_index_folder(tiny_reader: Path, tmp_path: Path) -> None:
    import shutil

    from docqa.assistant import Assistant
    from docqa.ui.readers import ReaderChoice

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "lighthouse.txt").write_text(FACTS[0][0])
    trained = shutil.copytree(tiny_reader, tmp_path / "index" / "readers" / "tiny")
    with Assistant(corpus, tmp_path / "index", embedding_model="none", reader_model="none") as assistant:
        assert assistant.ask("Who built the lighthouse?").mode == "sentence"
        readers = ReaderChoice(assistant)
        assert readers.choices() == [
            ("None: lexical mode (best-matching sentences)", "none"),
            ("tiny (trained)", str(trained)),
        ]
        assert readers.switch(str(tmp_path / "elsewhere")).startswith("That reader is not offered")
        assert readers.switch(str(trained)).startswith("Answers now")
        assert assistant.status().reader_loaded and assistant.reader.model_name == str(trained)
        answer = assistant.ask("Who built the lighthouse?")  # the reader's span, or its closest sentence
        assert answer.mode == "extractive" or "closest sentence" in answer.message
        assert readers.switch("none").startswith("Answers now")
        assert assistant.ask("Who built the lighthouse?").mode == "sentence"
