"""Q2 fact vault: does agentrun's corpus teach linked facts better than the simplest baselines?

python benchmarks/fact_vault.py
python benchmarks/fact_vault.py --pairs 20 --seeds 0 1 2 --language ru

A vault of short linked fact notes is generated (invented people, towns and institutions,
four relation types, English or Russian): person A's note names A's mentor B (a wikilink)
and A's birth year; B's note says where B lives and works. The benchmark writes its own
held-out questions, for evaluation only: the fact's plain question (absorption), five other
wordings of it (generalization), the relation asked backwards (reversal), and two-hop
questions across the link ("Where does A's mentor live?") with and without "step by step".

The embedded student (SmolLM2-135M-Instruct, LoRA, the cpu-tiny recipe) is trained four
ways at equal training tokens: (a) agentrun's corpus, built from the vault by the full
pipeline with the embedded defaults; (b) the raw notes, repeated; (q) one plain question →
fact-sentence pair per fact, repeated; (c) not at all. Every trained arm gets the same
number of replay rows (`training.replay`, the student's own answers to general prompts),
so the forgetting guard compares like with like. Scored by greedy accuracy (the answer
contains the target), mean ± standard deviation over seeds.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import append_results, build_dataset, repeated, table, trained_tokens  # noqa: E402

from agentrun.agents.evaluator import general_questions  # noqa: E402
from agentrun.agents.trainer import train_adapter  # noqa: E402
from agentrun.config import load_config  # noqa: E402
from agentrun.models.embedded import resolve_local_model  # noqa: E402
from agentrun.schemas import Example, ExampleKind, Provenance  # noqa: E402
from agentrun.training.probes import load_student, score  # noqa: E402

KINDS = ("absorption", "generalization", "reversal", "two_hop_steps", "two_hop_direct")
ARMS = ("c", "b", "q", "a")
ARM_NAMES = {"a": "agentrun corpus", "b": "raw notes, same tokens",
             "q": "one question → fact per fact, same tokens", "c": "no training"}


# ---------------------------------------------------------------- the vault and its questions

SYLLABLES = {
    "en": (["Ad", "Bel", "Cor", "Dar", "El", "Fen", "Gar", "Hal", "Ist", "Jor", "Kel", "Lor",
            "Mar", "Nor", "Or", "Per", "Quel", "Ros", "Sel", "Tor", "Ul", "Var", "Wen", "Yar"],
           ["a", "en", "ic", "ora", "is", "an", "ette", "ion", "wyn", "ard", "ilda", "ius"]),
    # Russian names that do not decline (a first name in -о/-и, a surname in -и/-о/-е), so a
    # generated sentence is grammatical in every case the templates put it in
    "ru": (["Бр", "Мар", "Рен", "Тал", "Нил", "Вер", "Кас", "Лор", "Дар", "Сел", "Фар", "Гал",
            "Тор", "Мир", "Зен", "Кор", "Лен", "Сав", "Фел", "Рам", "Бел", "Дор", "Ор", "Эл"],
           ["уно", "ио", "ато", "ико", "ело", "ини", "алли", "етти", "анно", "оре", "юре", "ори"]),
}
PLACES = {"en": ["Bay", "Ford", "Hollow", "Reach", "Harbour", "Crossing"],
          "ru": ["-Бэй", "-Форд", "-Холл", "-Рич", "-Харбор", "-Кросс"]}
WORKS = {"en": ["Observatory", "Library", "Foundry", "Archive", "Conservatory", "Mint"],
         "ru": ["обсерватории", "библиотеке", "литейной", "архиве", "консерватории", "академии"]}

# Per language: the note sentences, then per relation the questions (the first is the plain
# question arm (q) trains on; the others are held out), the reversal and the two-hop forms.
EN: dict[str, Any] = {
    "mentor": "{a}'s mentor is [[{b}]].",
    "born": "{a} was born in {year}.",
    "lives": "{b} lives in {town}.",
    "works": "{b} works at the {org}.",
    "q_mentor": ["Who is {a}'s mentor?", "Who mentored {a}?", "Name {a}'s mentor.",
                 "{a} was mentored by whom?", "Which person was {a}'s mentor?",
                 "Tell me who {a}'s mentor is."],
    "q_born": ["When was {a} born?", "In what year was {a} born?", "What is {a}'s year of birth?",
               "{a} was born in which year?", "Tell me the year {a} was born.",
               "Which year saw the birth of {a}?"],
    "q_lives": ["Where does {b} live?", "In which town does {b} live?",
                "What town is {b}'s home?", "{b} lives in which town?",
                "Name the town where {b} lives.", "Which town is home to {b}?"],
    "q_works": ["Where does {b} work?", "At which institution does {b} work?",
                "What is {b}'s workplace?", "{b} works at which place?",
                "Name the place where {b} works.", "Which institution employs {b}?"],
    "r_mentor": "Whose mentor is {b}?",
    "r_lives": "Who lives in {town}?",
    "hop_lives": "In which town does {a}'s mentor live?",
    "hop_works": "Where does {a}'s mentor work?",
    "steps": "{question} Answer step by step.",
}
RU: dict[str, Any] = {
    "mentor": "Наставник {a} — [[{b}]].",
    "born": "{a} родился в {year} году.",
    "lives": "{b} живёт в городе {town}.",
    "works": "{b} работает в {org}.",
    "q_mentor": ["Кто наставник {a}?", "Кто был наставником {a}?", "Назовите наставника {a}.",
                 "Как зовут наставника {a}?", "Кто является наставником {a}?",
                 "Чьим учеником был {a}?"],
    "q_born": ["Когда родился {a}?", "В каком году родился {a}?", "Какой год рождения у {a}?",
               "Назовите год рождения {a}.", "{a} родился в каком году?",
               "В каком году появился на свет {a}?"],
    "q_lives": ["Где живёт {b}?", "В каком городе живёт {b}?", "Какой город — дом для {b}?",
                "Назовите город, где живёт {b}.", "{b} живёт в каком городе?",
                "Где находится дом {b}?"],
    "q_works": ["Где работает {b}?", "В каком учреждении работает {b}?",
                "Какое место работы у {b}?", "Назовите место работы {b}.",
                "{b} работает где?", "Где служит {b}?"],
    "r_mentor": "Чей наставник {b}?",
    "r_lives": "Кто живёт в городе {town}?",
    "hop_lives": "В каком городе живёт наставник {a}?",
    "hop_works": "Где работает наставник {a}?",
    "steps": "{question} Ответьте по шагам.",
}
TEMPLATES = {"en": EN, "ru": RU}


@dataclass(frozen=True)
class Item:
    """A held-out question, the answer it is scored on, and what it asks."""

    kind: str
    question: str
    answer: str


@dataclass(frozen=True)
class Fact:
    """A fact of the vault: its sentence as the notes write it and its plain question."""

    sentence: str
    question: str


def invented_names(rng: random.Random, language: str, count: int) -> list[str]:
    """Return `count` distinct invented words of two syllables (names of people or places)."""
    heads, tails = SYLLABLES[language]
    names: list[str] = []
    while len(names) < count:
        name = rng.choice(heads) + rng.choice(tails)
        if name not in names:
            names.append(name)
    return names


def make_vault(pairs: int, language: str, seed: int) -> tuple[dict[str, str], list[Fact],
                                                              list[Item]]:
    """Write the notes (file → text), the facts and the held-out questions of a vault."""
    rng = random.Random(f"fact-vault-{language}-{seed}")
    t = TEMPLATES[language]
    words = invented_names(rng, language, 6 * pairs)
    notes: dict[str, str] = {}
    facts: list[Fact] = []
    items: list[Item] = []
    for i in range(pairs):
        first_a, last_a, first_b, last_b, town, org = words[6 * i:6 * i + 6]
        a, b = f"{first_a} {last_a}", f"{first_b} {last_b}"
        town = town + rng.choice(PLACES[language]) if language == "ru" \
            else f"{town} {rng.choice(PLACES[language])}"
        kind = rng.choice(WORKS[language])
        org = f"{org} {kind}" if language == "en" else f"{kind} «{org}»"
        org_name = org if language == "en" else org.split("«")[1].rstrip("»")
        year = str(rng.randrange(1700, 1900))
        values = {"a": a, "b": b, "town": town, "org": org, "year": year}
        sentences = {rel: t[rel].format(**values) for rel in ("mentor", "born", "lives", "works")}
        notes[f"{a}.md"] = f"# {a}\n\n{sentences['mentor']} {sentences['born']}\n"
        notes[f"{b}.md"] = f"# {b}\n\n{sentences['lives']} {sentences['works']}\n"
        answers = {"mentor": b, "born": year, "lives": town, "works": org_name}
        for rel, answer in answers.items():
            questions = [q.format(**values) for q in t[f"q_{rel}"]]
            facts.append(Fact(plain(sentences[rel]), questions[0]))
            items.append(Item("absorption", questions[0], answer))
            items += [Item("generalization", q, answer) for q in questions[1:]]
        items += [Item("reversal", t["r_mentor"].format(**values), a),
                  Item("reversal", t["r_lives"].format(**values), b)]
        for hop, answer in (("hop_lives", town), ("hop_works", org_name)):
            question = t[hop].format(**values)
            items += [Item("two_hop_direct", question, answer),
                      Item("two_hop_steps", t["steps"].format(question=question), answer)]
    return notes, facts, items


def plain(text: str) -> str:
    """Return a note's text as a person reads it: a wikilink is its target's name."""
    return re.sub(r"\[\[([^\]|]+)(?:\|([^\]]+))?\]\]", lambda m: m.group(2) or m.group(1), text)


# ---------------------------------------------------------------- the arms


def baseline_rows(notes: dict[str, str], facts: list[Fact]) -> dict[str, list[Example]]:
    """Return the rows of arms (b), the raw notes as text, and (q), a question per fact."""
    prov = Provenance(role="benchmark", generator="fact_vault")
    raw = [Example(node_id="raw", kind=ExampleKind.megastructure_part, provenance=prov,
                   text=plain(text)).with_id() for text in notes.values()]
    pairs = [Example(node_id="q", kind=ExampleKind.exercise, provenance=prov,
                     messages=[{"role": "user", "content": f.question},
                               {"role": "assistant", "content": f.sentence}]).with_id()
             for f in facts]
    return {"b": raw, "q": pairs}


def accuracy(model_dir: Path, adapter: Path | None, items: list[Item]) -> dict[str, Any]:
    """Score the held-out questions and the forgetting guard on one model."""
    model, tokenizer = load_student(model_dir, adapter)
    guard = general_questions()
    prompts = [i.question for i in items] + [q.question for q in guard]
    targets = [i.answer for i in items] + [q.answer for q in guard]
    scores = score(model, tokenizer, prompts, targets, batch_size=16, max_new_tokens=32)
    by_kind = {k: statistics.mean(s.correct for i, s in zip(items, scores, strict=False)
                                  if i.kind == k) for k in KINDS}
    answered = [q.answered_by(s.answer) for q, s in zip(guard, scores[len(items):], strict=True)]
    return {"acc": by_kind, "guard": answered}


def run_seed(notes: dict[str, str], facts: list[Fact], items: list[Item],
             corpus: list[Example], model_dir: Path, recipe: Any, tokenizer: Any, seed: int,
             work: Path) -> dict[str, Any]:
    """Train arms (a), (b), (q) at equal tokens with one seed; score every arm."""
    sizes = trained_tokens(tokenizer, corpus, "chat")
    total = sum(sizes)
    rows = {"a": corpus}
    for arm, base in baseline_rows(notes, facts).items():
        fmt = "text" if arm == "b" else "chat"
        rows[arm] = repeated(base, trained_tokens(tokenizer, base, fmt), total, seed)
    replay = round(recipe.replay * len(corpus))  # the same replay rows for every arm
    results = {"c": accuracy(model_dir, None, items)}
    train = {}
    for arm in ("a", "b", "q"):
        r = recipe.model_copy(update={"seed": seed, "report_to": [],
                                      "format": "text" if arm == "b" else "chat",
                                      "replay": replay / len(rows[arm])})
        start = time.time()
        out = train_adapter(rows[arm], model_dir, work / f"seed-{seed}" / arm, r,
                            work / "train.log")
        train[arm] = {"rows": len(rows[arm]), "steps": out.metrics["steps"],
                      "replay_rows": out.metrics.get("replay_rows"),
                      "minutes": round((time.time() - start) / 60, 1)}
        results[arm] = accuracy(model_dir, out.adapter, items)
    return {"seed": seed, "tokens": total, "train": train, "results": results}


# ---------------------------------------------------------------- the report


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, tuple[float, float]]]:
    """Return {arm: {kind or "guard kept": (mean, std)}} over seeds."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for arm in ARMS:
        values: dict[str, list[float]] = {k: [r["results"][arm]["acc"][k] for r in runs]
                                          for k in KINDS}
        values["guard kept"] = [kept(r["results"]["c"]["guard"], r["results"][arm]["guard"])
                                for r in runs]
        out[arm] = {k: (statistics.mean(v), statistics.pstdev(v)) for k, v in values.items()}
    return out


def kept(before: list[bool], after: list[bool]) -> float:
    """Share of the general questions answered before training that still are."""
    known = [a for b, a in zip(before, after, strict=True) if b]
    return sum(known) / len(known) if known else 1.0


def goals(s: dict[str, dict[str, tuple[float, float]]]) -> list[list[str]]:
    """Check Q2's goals on the means; rows of the goal table."""
    a, q = s["a"], s["q"]

    def row(goal: str, value: str, met: bool) -> list[str]:
        return [goal, value, "yes" if met else "no"]

    return [
        row("absorption: (a) ≥ (q)", f"{a['absorption'][0]:.2f} vs {q['absorption'][0]:.2f}",
            a["absorption"][0] >= q["absorption"][0]),
        row("generalization: (a) ≥ (q)",
            f"{a['generalization'][0]:.2f} vs {q['generalization'][0]:.2f}",
            a["generalization"][0] >= q["generalization"][0]),
        row("two-hop step by step ≥ 0.5", f"{a['two_hop_steps'][0]:.2f}",
            a["two_hop_steps"][0] >= 0.5),
        row("two-hop direct: (a) > (q)",
            f"{a['two_hop_direct'][0]:.2f} vs {q['two_hop_direct'][0]:.2f}",
            a["two_hop_direct"][0] > q["two_hop_direct"][0]),
        row("forgetting: (a) keeps ≥ 90%", f"{a['guard kept'][0]:.0%}", a["guard kept"][0] >= 0.9),
    ]


def result_table(s: dict[str, dict[str, tuple[float, float]]]) -> str:
    """Return the markdown table: accuracy per kind and arm, mean ± std over seeds."""
    head = ["arm", *KINDS, "guard kept"]
    rows = [[f"({arm}) {ARM_NAMES[arm]}",
             *(f"{s[arm][k][0]:.2f} ± {s[arm][k][1]:.2f}" for k in (*KINDS, "guard kept"))]
            for arm in ARMS]
    return table(head, rows)


def main() -> None:
    """Generate the vault, build and train every arm, print the table and append it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4,
                        help="pairs of linked notes (two notes, four facts each pair)")
    parser.add_argument("--language", choices=sorted(TEMPLATES), default="en")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--vault-seed", type=int, default=0, help="which vault is generated")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--no-append", action="store_true", help="print only")
    args = parser.parse_args()

    started = time.time()
    notes, facts, items = make_vault(args.pairs, args.language, args.vault_seed)
    work = args.work or Path(tempfile.mkdtemp(prefix="agentrun-q2-"))
    ws = work / "workspace"
    (ws / "sources").mkdir(parents=True, exist_ok=True)
    for name, text in notes.items():
        (ws / "sources" / name).write_text(text, encoding="utf-8")
    (ws / "agentrun.yaml").write_text(json.dumps({"training": {"epochs": args.epochs}}))
    (work / "questions.json").write_text(json.dumps([asdict(i) for i in items],
                                                    ensure_ascii=False, indent=1))
    corpus = build_dataset(ws)
    cfg = load_config(ws)
    model_dir = resolve_local_model(cfg.roles.student.model, "roles.student.model")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    runs = []
    for seed in args.seeds:  # each seed's scores are kept as soon as they are known
        runs.append(run_seed(notes, facts, items, corpus, model_dir, cfg.recipe(), tokenizer,
                             seed, work))
        (work / "q2.json").write_text(json.dumps({"runs": runs}, indent=1))
        print(f"seed {seed}: " + json.dumps({arm: r["acc"] for arm, r in
                                              runs[-1]["results"].items()}), flush=True)
    summary = summarize(runs)
    kinds: dict[str, int] = {}
    for e in corpus:
        kinds[str(e.kind)] = kinds.get(str(e.kind), 0) + 1
    counts = {k: sum(i.kind == k for i in items) for k in KINDS}
    settings = (f"`python benchmarks/fact_vault.py --pairs {args.pairs} --language "
                f"{args.language} --seeds {' '.join(map(str, args.seeds))} --epochs "
                f"{args.epochs:g}`; {len(notes)} notes, {len(facts)} facts; questions "
                + ", ".join(f"{k} {n}" for k, n in counts.items())
                + f"; (a) {len(corpus)} examples ("
                + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
                + f"), {runs[0]['tokens']} tokens per epoch for every arm; replay rows "
                f"{runs[0]['train']['a']['replay_rows']} per arm; recipe cpu-tiny; greedy 32 "
                f"tokens; {(time.time() - started) / 60:.0f} min in all")
    body = result_table(summary) + "\n\n" + table(["goal", "measured", "met"], goals(summary))
    print(settings + "\n\n" + body)
    (work / "q2.json").write_text(json.dumps({"runs": runs, "summary": summary}, indent=1))
    if not args.no_append:
        append_results(f"Q2 fact vault ({args.language})", settings, body)
    print(f"work folder: {work}")


if __name__ == "__main__":
    main()
