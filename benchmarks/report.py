"""``RESULTS.md`` and ``latency_vs_corpus_size.png`` from the result files of a results folder."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

RESULTS_FILE = "RESULTS.md"
PLOT_FILE = "latency_vs_corpus_size.png"
MODES = ("bm25", "dense", "hybrid")
MODE_COLOURS = {"bm25": "tab:blue", "dense": "tab:orange", "hybrid": "tab:green"}
TARGET_MS = 5.0

Section = Callable[[dict[str, Any]], list[str]]


def write(folder: Path) -> list[Path]:
    """Write the results file and, when the scale results are there, the plot; returns what was written."""
    paths = (folder / f"{name}.json" for name in SECTIONS)  # other tools may keep their files here too
    records = {path.stem: json.loads(path.read_text()) for path in paths if path.exists()}
    if not records:
        return []
    lines = _header(records)
    for name, section in SECTIONS.items():
        if name in records:
            lines += [*section(records[name]), ""]
    (folder / RESULTS_FILE).write_text("\n".join(lines).rstrip() + "\n")
    written = [folder / RESULTS_FILE]
    if "scale" not in records:
        return written
    if importlib.util.find_spec("matplotlib") is None:
        # The plot is the one part that needs matplotlib; the measurements stand without it.
        note = f"matplotlib is not installed, so {PLOT_FILE} was not written (pip install -e '.[bench]')"
        print(note, file=sys.stderr)
        return written
    plot_scale(records["scale"]["results"], folder / PLOT_FILE)
    return [*written, folder / PLOT_FILE]


# ----- formatting -------------------------------------------------------------------------


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def ms(stats: dict[str, Any] | None, key: str = "p50_ms") -> str:
    if not stats or key not in stats:
        return "-"
    value = stats[key]
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def p50_p95(stats: dict[str, Any] | None) -> str:
    return f"{ms(stats)} / {ms(stats, 'p95_ms')}"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _header(records: dict[str, Any]) -> list[str]:
    any_record = next(iter(records.values()))
    host, plan = any_record["machine"], any_record["plan"]
    packages = ", ".join(f"{name} {version}" for name, version in host["packages"].items() if version)
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python benchmarks/run.py{' --quick' if plan['quick'] else ''}`. Machine: {host['cpu']}, "
        f"{host['logical_cores']} logical cores, {host['ram_gib']} GiB RAM; Python {host['python']}, "
        f"SQLite {host['sqlite']}, {packages}.",
        "",
        "Models have the real default architectures and tokenizers with random weights, which cost the same "
        "time and memory as trained ones; answers are meaningless, so no quality is measured here.",
        "",
        "Load average (1, 5, 15 min) before and after each benchmark: above the number of cores, other work "
        "shared the CPU, and timings are slower and noisier than on an idle machine. CPU s: the CPU time the "
        "benchmark's processes used. docqa: the commit measured, and a digest of uncommitted changes to src/.",
        "",
    ]
    rows = [
        [name, record["finished"], f"{record['seconds']:.0f} s", f"{record['cpu_seconds']:.0f} s",
         " / ".join(map(str, record["load_average_before"])), " / ".join(map(str, record["load_average_after"])),
         _source(record["docqa_source"])]
        for name, record in records.items()
    ]  # fmt: skip
    header = ["benchmark", "finished", "took", "CPU s", "load before", "load after", "docqa"]
    return [*lines, *table(header, rows), ""]


def _source(source: dict[str, Any]) -> str:
    if not source["changed_files"]:
        return source["commit"]
    return f"{source['commit']} + changes {source['changes_digest']} ({len(source['changed_files'])} files)"


# ----- sections ---------------------------------------------------------------------------


def indexing_section(record: dict[str, Any]) -> list[str]:
    result = record["results"]
    baseline = result["baseline_sentence_transformers"]
    runs = [(name, result[key]) for name, key in (("fp32", "docqa"), ("int8", "docqa_int8")) if key in result]
    docqa = result["docqa"]
    rows = [
        *([f"docqa `Assistant.index`, {name} ({run['embedder_backend']} embedder, batch {run['embedder_batch_size']}; "
           "chunking, SQLite + FTS5, FAISS)",
           run["documents"], run["passages"], f"{run['index_seconds']:.1f}", run["documents_per_second"],
           run["passages_per_second"], run["peak_rss_mib"]] for name, run in runs),
        [f"baseline `SentenceTransformer.encode` (fp32, batch {baseline['batch_size']})", "", baseline["passages"],
         f"{baseline['seconds']:.1f}", "", baseline["passages_per_second"], baseline["peak_rss_mib"]],
    ]  # fmt: skip
    header = ["", "documents", "passages", "seconds", "documents/s", "passages/s", "peak RSS MiB"]
    return [
        "## Indexing",
        "",
        f"Corpus: {result['corpus']}, every paragraph a document; docqa's default settings, embedder loaded "
        f"beforehand ({docqa['model_load_seconds']:.1f} s, with any one-time copy its backend makes). Each side in "
        "its own process; peak RSS is the process's.",
        "",
        *table(header, rows),
        "",
        f"docqa's whole indexing against the baseline's encoding alone, in passages per second: "
        f"**{ratio(result['speedup_index_vs_baseline_encode'])}** at fp32"
        + (f", **{ratio(result['speedup_int8_index_vs_baseline_encode'])}** with int8"
           if "speedup_int8_index_vs_baseline_encode" in result else "")
        + " (target 3x).",
        "",
        *(f"The embedder's own calls took {run['embedding_seconds']:.1f} s of the {run['index_seconds']:.1f} s at "
          f"{name} ({run['embedding_passages_per_second']} passages/s, "
          f"{ratio(run['embedding_passages_per_second'] / baseline['passages_per_second'])} the baseline)."
          for name, run in runs if "embedding_seconds" in run),
    ]  # fmt: skip


def latency_section(record: dict[str, Any]) -> list[str]:
    result = record["results"]
    lines = [
        "## Question latency",
        "",
        "`Assistant.ask` timings in ms, p50 / p95, every question asked once (distinct questions, "
        "`reader_cache=0`). docqa: as it is (the first passage read first, the others only when it holds no "
        "confident span: with random weights it nearly always does); all passages: docqa with `read_first=0`. "
        f"The naive reader (padded 384-token windows, stride 128, fp32 PyTorch, one forward pass per passage) "
        f"reads the passages of every {result.get('naive_every', 1)}th question right after docqa; the ratio "
        "compares it with docqa's all-passages reading of the same questions. GFLOP: the reader's arithmetic per "
        "question over every passage (`bench_gemm.py`); GFLOP/s: what docqa's all-passages reading achieved.",
    ]
    for corpus, measured in result["corpora"].items():
        runs = measured["runs"]
        fp32 = runs["fp32"]
        environment = fp32.get("environment_before", {})
        load = environment.get("load_average")
        lines += ["", f"### {corpus} corpus: {fp32['passages_in_index']} passages, {measured['questions']} questions",
                  "", f"Backends: embedder {fp32['embedder_backend']}, reader {fp32['reader_backend']}; load average "
                  f"before: {load}.", ""]
        rows = []
        for precision, run in runs.items():
            for top_k, stages in run["top_k"].items():
                counted = stages.get("per_question", {})
                rows.append([
                    precision, top_k, p50_p95(stages.get("total")), p50_p95(stages.get("reading")),
                    counted.get("passages_read", "-"), p50_p95(stages.get("all_passages_total")),
                    p50_p95(stages.get("all_passages_reading")), counted.get("tokens_all", "-"),
                    counted.get("gflop_all", "-"), stages.get("all_passages_reading_gflops", "-"),
                    p50_p95(stages.get("naive_reading")), ratio(stages.get("naive_over_docqa_reading_p50")),
                ])  # fmt: skip
        header = ["precision", "top-k", "docqa total", "docqa reading", "passages read", "all passages: total",
                  "reading", "tokens", "GFLOP", "GFLOP/s", "naive reading", "naive / docqa reading p50"]
        lines += table(header, rows)
    return lines


def scale_section(record: dict[str, Any]) -> list[str]:
    result = record["results"]
    corpus = result["corpus"]
    rows = []
    for size in result["sizes"]:
        search, build = size["search"], size["build"]
        rows.append([
            f"{size['passages']:,}", search["faiss_index"],
            *(p50_p95(search["latency"][mode]) for mode in MODES),
            search["dense_recall_at_10"], search["rss_delta_after_queries_mib"], search["total_files_mib"],
            f"{build['insert_seconds']:.0f} + {build['vectors_seconds']:.0f}",
        ])  # fmt: skip
    header = ["passages", "FAISS index", "BM25", "dense", "hybrid", "dense recall@10", "RSS delta MiB",
              "files MiB", "build s (rows + vectors)"]  # fmt: skip
    embedding = result["query_embedding"]
    return [
        "## Scale",
        "",
        f"`Retriever.retrieve` at top-k {corpus['top_k']}, ms p50 / p95, on synthetic passages "
        f"({corpus['words_per_passage'][0]}-{corpus['words_per_passage'][1]} Zipf-distributed words from a "
        f"{corpus['vocabulary']:,}-word vocabulary) "
        f"and random unit vectors of {corpus['dimension']} dimensions; query embedding excluded. docqa searches "
        "FAISS with one thread per query. RSS delta: after loading and "
        "searching, against before opening the index, in a fresh process (docqa builds every index; see "
        "`bench_scale.py`).",
        "",
        *table(header, rows),
        "",
        f"Target: {result['target']}. Query embedding with the real-architecture embedder as an assistant loads it "
        f"({embedding['embedder_backend']}, cache emptied): {p50_p95(embedding)} ms, to add to dense and hybrid "
        "search.",
    ]


def cold_start_section(record: dict[str, Any]) -> list[str]:
    result = record["results"]
    rows = [
        [label, measured["runs"], f"{measured['median_seconds_to_answer']:.1f}",
         f"{measured['max_seconds_to_answer']:.1f}", f"{measured['median_ask_total_seconds']:.1f}"]
        for label, measured in (("index exists", result["with_index"]), ("no index yet", result["without_index"]))
    ]  # fmt: skip
    return [
        "## Cold start",
        "",
        f"`docqa ask` in a fresh process on the shipped corpus, launch to printed answer, in seconds. For scale: "
        f"a bare Python start takes {result['python_start_seconds']:.2f} s, `import docqa.cli` "
        f"{result['import_docqa_cli_seconds']:.2f} s. `ask` time: the answer's own total, which includes loading "
        "the models (and, without an index, building it and anything else kept in the index folder).",
        "",
        *table(["case", "runs", "median", "max", "of which in `ask`"], rows),
    ]


def memory_section(record: dict[str, Any]) -> list[str]:
    result = record["results"]
    rows = [
        [precision, f"{measured['embedder_backend']} / {measured['reader_backend']}", measured["passages"],
         measured["rss_after_imports_mib"], measured["rss_after_warm_up_mib"], measured["rss_after_questions_mib"],
         measured["peak_rss_mib"], "yes" if measured["meets_target"] else "no", measured["first_start_peak_rss_mib"]]
        for precision, measured in result.items() if isinstance(measured, dict)
    ]  # fmt: skip
    header = ["reader", "backends (embedder / reader)", "passages", "after imports", "after warm-up",
              "after questions", "peak", "meets target", "first start's peak"]  # fmt: skip
    return [
        "## Serving memory",
        "",
        f"An `Assistant` with the embedder, the reader and the index of the {result['corpus']} loaded, answering "
        f"questions at the default top-k; RSS in MiB, in a restarted process. Target: peak <= {result['target_mib']} "
        "MiB. The first start, before it, also makes what is kept between runs (such as exported model copies).",
        "",
        *table(header, rows),
    ]


def gemm_section(record: dict[str, Any]) -> list[str]:
    result = record["results"]
    names = list(result["reader_mix_gflops"])
    rows = [[" x ".join(map(str, shape["shape"])), *(shape["gflops"].get(name, "-") for name in names)]
            for shape in result["shapes"]]
    rows.append(["the reader's mix", *(result["reader_mix_gflops"][name] for name in names)])
    return [
        "## Matrix-multiply rate",
        "",
        "GFLOP/s (int8: giga-operations) of one matrix product, tokens x inputs x outputs, best of 5 timed runs; "
        "ONNX Runtime's int8 includes quantizing the activations, as docqa's int8 models do. The reader's mix "
        "weights the shapes as a transformer layer holds them.",
        "",
        *table(["shape", *names], rows),
    ]


def http_section(record: dict[str, Any]) -> list[str]:
    result = record["results"]
    single = result["single_questions"]
    turns = result["conversation"]
    return [
        "## Through HTTP",
        "",
        "The running app's `/ask`, through `gradio_client`, one request at a time, no readings kept. Single "
        f"questions ({single['round_trip']['n']}): round trip {p50_p95(single['round_trip'])} ms, of which the "
        f"assistant {p50_p95(single['assistant'])} ms. A conversation of {len(turns)} turns, each sent with the "
        f"history so far: median of turns 1-5 {result['turns_1_to_5_median_ms']} ms, of the last 5 "
        f"{result['last_5_turns_median_ms']} ms ({ratio(result['last_over_first'])}); turn 1 "
        f"{turns[0]['round_trip_ms']} ms, turn {len(turns)} {turns[-1]['round_trip_ms']} ms.",
    ]


def updates_section(record: dict[str, Any]) -> list[str]:
    result = record.get("results", record)  # files written before run.py ran it keep the sizes at the top
    rows = []
    for size in result["sizes"]:
        fold = size["fold"]
        rows.append([
            f"{size['passages']:,}", p50_p95(size["update_10_passages"]), ms(size["pickup_by_serving_handle"]),
            f"{fold['commit_seconds']:.2f} s / {1000 * fold['pickup_seconds']:.0f} ms",
            size["dense_recall_at_10_after_updates"], ms(size["dense_search"]),
        ])  # fmt: skip
    header = ["passages", "10-passage update ms p50 / p95", "pickup ms p50", "fold commit / pickup",
              "recall@10 after updates", "dense search ms p50"]  # fmt: skip
    return [
        "## Updates",
        "",
        "Small updates through the store's public writer on an index of synthetic passages and random unit vectors "
        "(`bench_updates.py`): each timed from opening the write session to its commit; pickup: a second handle's "
        "first dense search after it; fold: one commit of 1,000 passages more than the 2,000 or 5% of the index "
        "kept beside its vector file, which writes a new one.",
        "",
        *table(header, rows),
        "",
        f"Targets: {result['targets']}.",
    ]


SECTIONS: dict[str, Section] = {
    "indexing": indexing_section,
    "latency": latency_section,
    "scale": scale_section,
    "cold_start": cold_start_section,
    "memory": memory_section,
    "gemm": gemm_section,
    "http": http_section,
    "updates": updates_section,
}


# ----- plot -------------------------------------------------------------------------------


def plot_scale(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    measured = result["sizes"]
    sizes = [size["passages"] for size in measured]
    figure, axes = plt.subplots(1, 3, figsize=(16, 5.6))
    lines = [("search", mode, "-o", mode) for mode in MODES]
    for axis, key, title in ((axes[0], "p50_ms", "median"), (axes[1], "p95_ms", "95th percentile")):
        for variant, mode, style, label in lines:
            values = [size[variant]["latency"][mode][key] for size in measured]
            axis.plot(sizes, values, style, color=MODE_COLOURS[mode], label=label)
        axis.axhline(TARGET_MS, color="grey", linestyle=":", linewidth=1.2, label="5 ms target (dense, hybrid at 100k)")
        axis.set_title(f"Retrieval latency, {title} (query embedding excluded)", fontsize=10)
        axis.set_ylabel("ms per query, log scale")
        axis.set_yscale("log")
        for size in measured:
            axis.annotate(
                size["search"]["faiss_index"].replace("Index", ""),
                (size["passages"], 0),
                xycoords=("data", "axes fraction"),
                xytext=(0, 4),
                textcoords="offset points",
                ha="center",
                fontsize=8,
                color="dimgrey",
            )
    memory = axes[2]
    memory.plot(
        sizes,
        [size["search"]["total_files_mib"] for size in measured],
        "-o",
        color="tab:purple",
        label="index files on disk",
    )
    grown = [(size["passages"], size["search"]["rss_delta_after_queries_mib"]) for size in measured]
    grown = [(passages, delta) for passages, delta in grown if delta > 0]  # a log axis shows no zero
    memory.plot(
        [p for p, _ in grown],
        [d for _, d in grown],
        "-s",
        color="tab:brown",
        label="RSS growth from opening and searching",
    )
    memory.set_title("Index memory", fontsize=10)
    memory.set_ylabel("MiB, log scale")
    memory.set_yscale("log")
    memory.legend(fontsize=9, loc="upper left")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    for axis in axes:
        axis.set_xscale("log")
        axis.set_xticks(sizes, [f"{size:,}" for size in sizes])
        axis.xaxis.set_minor_locator(NullLocator())
        axis.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.yaxis.set_minor_locator(NullLocator())
        axis.yaxis.set_major_formatter(plain)
        axis.set_xlabel("passages in the index")
        axis.grid(True, which="major", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=6, fontsize=9, frameon=False)
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
