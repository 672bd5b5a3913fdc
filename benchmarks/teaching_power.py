"""Q1 teaching power: does an architected dataset teach the student more than the raw text?

python benchmarks/teaching_power.py --data PATH/fictional_knowledge.json
python benchmarks/teaching_power.py --data PATH/fictional_knowledge.json --paragraphs 8 --seeds 0 1
python benchmarks/teaching_power.py --data PATH/fictional_knowledge.json --kinds exercise

The data is the "Fictional Knowledge" set (kaistAI/factual-knowledge-acquisition, file
`fictional_knowledge/fictional_knowledge.json`; see docs/BENCHMARKS.md). It is read from the
path given, never copied into the project. Entries 0–39 are the dev split (the default; tune
freely), 40–129 the test split (`--split test`: report only).

For the chosen paragraphs the embedded student (SmolLM2-135M-Instruct, LoRA, the workspace
recipe) is trained four ways: (a) on agentrun's dataset, built from the paragraphs by the full
pipeline (map, contractors, checker) with the embedded defaults; (b) on the raw paragraphs, cut
at sentence boundaries into passages as long as (a)'s examples on average and repeated until
they hold as many tokens as (a); (q) one plain question → sentence pair per sentence that has
a question (agents/questions.py, its first role question), repeated to the same tokens;
(c) not at all. The same recipe (epochs, learning rate, batch size, LoRA) trains every arm,
and every trained arm gets the same replay rows. Each model then completes the data's probes
as plain text (no chat template): mem (absorption), gen (generalization) and hard_gen
(transfer), scored by whether the greedy continuation contains the target and by the
target's mean log-probability. Gains are over (c).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    DOCS,
    append_results,
    build_dataset,
    repeated,
    table,
    trained_tokens,
)

from agentrun.agents.evaluator import load_student  # noqa: E402
from agentrun.agents.questions import ask  # noqa: E402
from agentrun.agents.trainer import train_adapter  # noqa: E402
from agentrun.config import Recipe, load_config  # noqa: E402
from agentrun.models.embedded import resolve_local_model  # noqa: E402
from agentrun.schemas import Example, ExampleKind, Provenance  # noqa: E402
from agentrun.training.probes import score  # noqa: E402
from agentrun.workspace import load_examples  # noqa: E402

SPLITS = {"dev": (0, 40), "test": (40, 130)}
KINDS = {"mem": "absorption", "gen": "generalization", "hard_gen": "transfer"}
ARMS = ("c", "b", "q", "a")
ARM_NAMES = {"a": "agentrun dataset", "b": "raw paragraphs, same tokens",
             "q": "one question → sentence per sentence, same tokens", "c": "no training"}


def load_entries(path: Path, split: str, count: int) -> list[dict[str, Any]]:
    """Return the first `count` entries of a split of the data."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        sys.exit(f"{path}: cannot read the benchmark data ({exc})")
    lo, hi = SPLITS[split]
    return data[lo:hi][:count]


def title_of(paragraph: str) -> str:
    """Name a paragraph by the subject of its first sentence (at most 8 words)."""
    first = re.split(r"(?<=[.!?])\s", paragraph.strip(), maxsplit=1)[0]
    subject = re.split(r",| (?:was|is|were|are|has|had|became|began) ", first, maxsplit=1)[0]
    subject = re.sub(r"\s*\([^)]*$", "", subject)  # an aside cut open by the comma
    return " ".join(subject.split()[:8]).strip(" .")


def make_workspace(root: Path, entries: list[dict[str, Any]], recipe: dict[str, Any]) -> Path:
    """Write one source note per paragraph and the workspace settings (a fresh workspace)."""
    ws = root / "workspace"
    shutil.rmtree(ws, ignore_errors=True)
    (ws / "sources").mkdir(parents=True)
    for i, e in enumerate(entries):
        (ws / "sources" / f"p{i:03d}.md").write_text(
            f"# {title_of(e['train_context'])}\n\n{e['train_context'].strip()}\n")
    (ws / "agentrun.yaml").write_text(json.dumps({"training": recipe}))
    return ws


def raw_passages(tokenizer: Any, entries: list[dict[str, Any]], target_len: int,
                 total: int, seed: int) -> list[Example]:
    """Cut the paragraphs into passages of about `target_len` tokens; repeat to `total`."""
    passages = []
    for e in entries:
        chunk: list[str] = []
        for sentence in re.split(r"(?<=[.!?])\s+", e["train_context"].strip()):
            chunk.append(sentence)
            if len(tokenizer(" ".join(chunk)).input_ids) >= target_len:
                passages.append(" ".join(chunk))
                chunk = []
        if chunk:
            passages.append(" ".join(chunk))
    rng, out, tokens = random.Random(seed), [], 0
    while tokens < total:
        rng.shuffle(passages)
        for p in passages:
            out.append(p)
            tokens += len(tokenizer(p).input_ids) + 1  # + EOS
            if tokens >= total:
                break
    prov = Provenance(role="benchmark", generator="raw_paragraph")
    return [Example(node_id="raw", kind=ExampleKind.megastructure_part, provenance=prov,
                    text=p).with_id() for p in out]


def question_rows(entries: list[dict[str, Any]]) -> list[Example]:
    """Arm (q): each sentence with a plain question, asked once and answered with itself."""
    prov = Provenance(role="benchmark", generator="plain_question")
    rows = []
    for e in entries:
        title = title_of(e["train_context"])
        for sentence in re.split(r"(?<=[.!?])\s+", e["train_context"].strip()):
            question = next((q.text for q in ask(sentence, title) if q.role != "subject"), None)
            if question:
                rows.append(Example(node_id="q", kind=ExampleKind.exercise, provenance=prov,
                                    messages=[{"role": "user", "content": question},
                                              {"role": "assistant", "content": sentence}]
                                    ).with_id())
    return rows


def probe_scores(model_dir: Path, adapter: Path | None, entries: list[dict[str, Any]]
                 ) -> dict[str, dict[str, float]]:
    """Score the data's probes as plain-text continuations; mean per probe kind."""
    model, tokenizer = load_student(model_dir, adapter)
    out = {}
    for key, kind in KINDS.items():
        prompts = [p for e in entries for p in e[f"{key}_input"]]
        targets = [t for e in entries for t in e[f"{key}_target"]]
        scores = score(model, tokenizer, prompts, targets, chat=False, batch_size=16,
                       max_new_tokens=12)
        out[kind] = {"acc": statistics.mean(s.correct for s in scores),
                     "logprob": statistics.mean(s.logprob for s in scores), "n": len(scores)}
    return out


def run_seed(entries: list[dict[str, Any]], corpus: list[Example],
             tokenizer: Any, model_dir: Path, recipe: Recipe, seed: int,
             work: Path, fmt: str) -> dict[str, Any]:
    """Train (a) and (b) with one seed and score all three arms."""
    sizes = trained_tokens(tokenizer, corpus, fmt)
    total, mean_len = sum(sizes), round(statistics.mean(sizes))
    raw = raw_passages(tokenizer, entries, mean_len, total, seed)
    plain = question_rows(entries)
    plain = repeated(plain, trained_tokens(tokenizer, plain, "chat"), total, seed)
    replay = round(recipe.replay * len(corpus))  # the same replay rows for every arm
    r = recipe.model_copy(update={"seed": seed, "report_to": []})
    runs = {}
    # a folder per variant (seed, format, recipe, examples): a finished adapter is reused
    digest = hashlib.sha256((r.model_dump_json() + " ".join(sorted(e.id for e in corpus)))
                            .encode()).hexdigest()[:8]
    tag = f"seed-{seed}-{fmt}-{digest}"
    for arm, examples, arm_fmt in (("a", corpus, fmt), ("b", raw, "text"), ("q", plain, "chat")):
        if not examples:
            continue  # (q) where no sentence has a question
        start = time.time()
        result = train_adapter(examples, model_dir, work / tag / arm,
                               r.model_copy(update={"format": arm_fmt,
                                                    "replay": replay / len(examples)}),
                               work / "train.log")
        runs[arm] = {"adapter": result.adapter, "steps": result.metrics["steps"],
                     "tokens": result.metrics.get("tokens"), "rows": len(examples),
                     "minutes": round((time.time() - start) / 60, 1)}
    scores = {"c": probe_scores(model_dir, None, entries)}
    for arm in runs:
        scores[arm] = probe_scores(model_dir, runs[arm]["adapter"], entries)
    return {"seed": seed, "scores": scores, "train": {k: {x: str(y) if x == "adapter" else y
                                                          for x, y in v.items()}
                                                      for k, v in runs.items()},
            "corpus_tokens": total, "passage_tokens": mean_len}


def summarize(results: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Average the scores over seeds: {kind: {arm: {acc, logprob}}}."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for kind in KINDS.values():
        out[kind] = {arm: {m: statistics.mean(r["scores"][arm][kind][m] for r in results)
                           for m in ("acc", "logprob")}
                     for arm in ARMS if all(arm in r["scores"] for r in results)}
    return out


def goals(summary: dict[str, dict[str, dict[str, float]]]) -> list[list[str]]:
    """Check Q1's goals on accuracy, and report the share of the log-prob room each closes.

    A target's log-prob is at most 0, so no arm can gain more than (c) leaves: the room is
    −(c)'s log-prob; "room closed" is an arm's log-prob gain over (c) as a share of it.
    """
    def acc(kind: str, arm: str) -> float:
        return summary[kind][arm]["acc"]

    def closed(kind: str, arm: str) -> str:
        room = -summary[kind]["c"]["logprob"]
        gain = summary[kind][arm]["logprob"] - summary[kind]["c"]["logprob"]
        return f"{gain / room:.0%}" if room > 0 else "—"

    def row(goal: str, kind: str, factor: float) -> list[str]:
        a, b = acc(kind, "a"), acc(kind, "b")
        q = f"{acc(kind, 'q'):.3f}" if "q" in summary[kind] else "—"
        return [goal, f"{a:.3f} vs {b:.3f} (q {q})",
                f"{closed(kind, 'a')} vs {closed(kind, 'b')}", "yes" if a >= factor * b else "no"]

    return [row("absorption: (a) ≥ (b)", "absorption", 1.0),
            row("generalization: (a) ≥ (b)", "generalization", 1.0),
            row("transfer: (a) ≥ 1.5× (b)", "transfer", 1.5)]


def result_table(summary: dict[str, dict[str, dict[str, float]]]) -> str:
    """Return the markdown table of accuracies, log-probs and gains per kind and arm."""
    rows = []
    for kind, arms in summary.items():
        for arm in (a for a in ARMS if a in arms):
            s, c = arms[arm], arms["c"]
            rows.append([kind, f"({arm}) {ARM_NAMES[arm]}", f"{s['acc']:.3f}",
                         f"{s['acc'] - c['acc']:+.3f}", f"{s['logprob']:.3f}",
                         f"{s['logprob'] - c['logprob']:+.3f}"])
    return table(["probe kind", "arm", "accuracy", "Δ acc vs (c)", "target log-prob",
                  "Δ log-prob vs (c)"], rows)


def plot(summary: dict[str, dict[str, dict[str, float]]], path: Path, title: str) -> None:
    """Draw the log-prob gains over (c) per probe kind, (a) beside (b)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(summary)
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
    arms = [(a, c) for a, c in (("b", "#8d99ae"), ("q", "#219ebc"), ("a", "#fb8500"))
            if a in summary[kinds[0]]]
    width = 0.8 / len(arms)
    for i, (arm, colour) in enumerate(arms):
        gains = [summary[k][arm]["logprob"] - summary[k]["c"]["logprob"] for k in kinds]
        ax.bar([j + (i - (len(arms) - 1) / 2) * width for j in range(len(kinds))], gains,
               width=width,
               color=colour, label=f"({arm}) {ARM_NAMES[arm]}")
    ax.set_xticks(range(len(kinds)))
    ax.set_xticklabels(kinds)
    ax.axhline(0, color="black", lw=0.6)
    ax.set_ylabel("target log-prob gain over (c) (nats)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    """Build, train, score, print the table and append it to docs/BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="fictional_knowledge.json")
    parser.add_argument("--split", choices=SPLITS, default="dev")
    parser.add_argument("--paragraphs", type=int, default=4,
                        help="paragraphs of the split, from its start (4 take ~16 min on 2 cores)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--kinds", help="comma-separated example kinds to keep in (a) "
                        "(an ablation; default: all)")
    parser.add_argument("--format", choices=["chat", "text"], default="chat",
                        help="how (a) trains: chat (loss on the answers, the default recipe) "
                        "or text (every token)")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="reuse the dataset already built "
                        "in --work (ablations: only training and scoring run)")
    parser.add_argument("--no-append", action="store_true", help="print only")
    args = parser.parse_args()

    started = time.time()
    entries = load_entries(args.data, args.split, args.paragraphs)
    work = args.work or Path(tempfile.mkdtemp(prefix="agentrun-q1-"))
    recipe = {"preset": "cpu-tiny", "epochs": args.epochs}
    built = sorted((work / "workspace" / "runs").glob("*/summary.json"))
    inputs = {"data": str(args.data.resolve()), "split": args.split,
              "paragraphs": args.paragraphs}
    if args.reuse and built:
        if json.loads((work / "inputs.json").read_text()) != inputs:
            sys.exit(f"{work}: built from other paragraphs; drop --reuse or change --work")
        ws, corpus = work / "workspace", load_examples(built[-1].parent / "data" / "accepted.jsonl")
    else:
        ws = make_workspace(work, entries, recipe)
        corpus = build_dataset(ws)
        (work / "inputs.json").write_text(json.dumps(inputs))
    if args.kinds:
        keep = set(args.kinds.split(","))
        corpus = [e for e in corpus if str(e.kind) in keep]
    cfg = load_config(ws)
    model_dir = resolve_local_model(cfg.roles.student.model, "roles.student.model")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    full_recipe = cfg.recipe().model_copy(update={"epochs": args.epochs})
    results = [run_seed(entries, corpus, tokenizer, model_dir, full_recipe, seed, work,
                        args.format) for seed in args.seeds]
    summary = summarize(results)
    kinds = Counter(str(e.kind) for e in corpus)
    mix = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    verdicts = goals(summary)
    body = (result_table(summary) + "\n\n"
            + table(["goal", "accuracy (a) vs (b)", "log-prob room closed (a) vs (b)", "met"],
                    verdicts))
    train = results[0]["train"]
    settings = (f"`python benchmarks/teaching_power.py --data fictional_knowledge.json --split "
                f"{args.split} --paragraphs {args.paragraphs} --seeds "
                f"{' '.join(map(str, args.seeds))} --epochs {args.epochs}"
                + (f" --kinds {args.kinds}" if args.kinds else "")
                + (f" --format {args.format}" if args.format != "chat" else "") + "`; "
                f"{len(entries)} paragraphs, {sum(len(e['mem_input']) for e in entries) * 3} "
                f"probes; (a) {len(corpus)} examples ({mix}), "
                f"{results[0]['corpus_tokens']} tokens, {train['a']['steps']} steps; "
                f"(b) {train['b']['rows']} passages of ~{results[0]['passage_tokens']} tokens, "
                f"{train['b']['steps']} steps; (q) {train.get('q', {}).get('rows', 0)} rows; "
                f"replay rows {round(full_recipe.replay * len(corpus))} per arm; "
                "recipe cpu-tiny (LoRA r16, lr 1e-3, batch 8, "
                f"{args.epochs:g} epochs); greedy 12 tokens; {(time.time() - started) / 60:.0f} "
                "min in all")
    print(settings + "\n\n" + body)
    (work / "q1.json").write_text(json.dumps({"results": results, "summary": summary}, indent=2))
    if not args.no_append:
        name = f"teaching_power-{args.split}-{len(entries)}p-{time.strftime('%Y%m%d-%H%M')}.png"
        chart = DOCS.parent / "img" / name
        chart.parent.mkdir(exist_ok=True)
        plot(summary, chart, f"Q1, {args.split} split, {len(entries)} paragraphs, seeds "
                             f"{args.seeds}")
        append_results("Q1 teaching power", settings,
                       body + f"\n\n![Q1 gains](img/{name})")
    print(f"work folder: {work}")


if __name__ == "__main__":
    main()
