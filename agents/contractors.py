"""The contractors: one round of candidates around each node's deficits.

A round asks the contractor model for its share of each kind (briefs.py, one batch per schema)
and takes the rest from the structural generators (structural.py), picking the examples that
state the least-covered facts. A round's candidates are written once; a re-executed round
reuses them.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from agentrun.agents.briefs import Brief, model_examples, model_requests
from agentrun.agents.exercises import structural_exercises
from agentrun.agents.structural import (
    Job,
    megastructure_parts,
    structural_dialogues,
    structural_rephrasings,
    structural_syntheses,
)
from agentrun.agents.text import named
from agentrun.config import AgentrunConfig
from agentrun.models import GenRequest, RoleModel
from agentrun.schemas import UNGENERATED, DatasetMap, Example, ExampleKind, Failure, Node
from agentrun.workspace import (
    CANDIDATES,
    FAILURES,
    USAGE,
    Run,
    Workspace,
    atomic_write_text,
    load_examples,
    load_map,
    read_jsonl,
    save_examples,
)

log = logging.getLogger(__name__)


# ---------------------------------------------------------------- a round of work

MODEL_SHARE = {ExampleKind.rephrasing: 1.0}
"""With the embedded model: it writes what a 135M model can (DESIGN §4), rephrasings; its
dialogues put speakers' names where answers belong (0 of 11 accepted on the bundled example),
so dialogues are structural too."""
STRONG_MODEL_SHARE = MODEL_SHARE | {ExampleKind.dialogue: 1.0, ExampleKind.exercise: 0.5,
                                    ExampleKind.synthesis: 0.5}
EMBEDDED_LANGUAGES = frozenset({"en"})
"""What the embedded model writes: of 28 Russian rephrasings and dialogues it wrote for the
Russian test vault, none was a sentence of its facts whole (tests/fixtures/rewrites.jsonl);
a note in another language gets structural examples only."""


def candidates_for(
    dataset_map: DatasetMap,
    deficits: dict[str, dict[ExampleKind, int]],
    seen: set[str],
    job: Job,
    backend: RoleModel | None,
    retries: int,
    model_share: dict[ExampleKind, float] | None = None,
    coverage: Counter[str] | None = None,
    alternatives: dict[str, int] | None = None,
    languages: frozenset[str] | None = None,
    failures: list[Failure] | None = None,
) -> list[Example]:
    """Produce candidates that fill each node's deficits; model work goes out as one batch.

    `model_share` is the part of each kind's need asked of the model (rounded up); the rest
    comes from the structural generators, and all of it when there is no model. Structural
    examples are chosen for the facts stated least so far (`coverage`: fact id → examples
    of the corpus that state it, updated in place), so a node's facts are covered evenly.
    `alternatives` (node id → n) asks the model n alternatives of a node's first brief per kind.
    `languages` are those the model writes (None: any); a node in another is structural only.
    `failures`, when given, receives a `Failure` for each model request that gave no example.
    """
    share = MODEL_SHARE if model_share is None else model_share
    rng = random.Random(f"{job.seed}-{job.iteration}-{job.round}")
    covered = Counter() if coverage is None else coverage
    out: list[Example] = []
    work: list[tuple[GenRequest, Brief]] = []
    for node_id, kinds in sorted(deficits.items()):
        node = dataset_map.node(node_id)
        for kind, need in sorted(kinds.items()):
            writes = backend is not None and (languages is None or node.language in languages)
            by_model = math.ceil(need * share.get(kind, 0.0)) if writes else 0
            if by_model:
                work += model_requests(node, kind, by_model, job, dataset_map,
                                       (alternatives or {}).get(node_id, 1))
            # one verbatim restatement beside the model's rephrasings keeps the node's facts
            # in the corpus even where the model's outputs are rejected
            keep = 1 if kind == ExampleKind.rephrasing and by_model else 0
            out += _take(node, _structural_pool(node, kind, dataset_map, job), seen,
                         need - by_model + keep, rng, covered)
    if work and backend is not None:
        made, failed = model_examples(backend, work, job, retries)
        out += made
        if failures is not None:
            failures += failed
    return out


def _structural_pool(node: Node, kind: ExampleKind, dataset_map: DatasetMap,
                     job: Job) -> Iterator[Example]:
    """Return the structural generator of a kind."""
    if kind == ExampleKind.exercise:
        return structural_exercises(node, dataset_map, job)
    if kind == ExampleKind.synthesis:
        return structural_syntheses(node, dataset_map, job)
    if kind == ExampleKind.dialogue:
        return structural_dialogues(node, dataset_map, job)
    return structural_rephrasings(node, job)


def _take(node: Node, pool: Iterator[Example], seen: set[str], need: int,
          rng: random.Random, coverage: Counter[str]) -> list[Example]:
    """Pick `need` new examples, each time the one stating the least-covered facts.

    Among equals, one across an anchor first: a fact of the linked node composed with this
    one's teaches what neither note says alone.
    """
    fresh = [e for e in pool if e.id not in seen]
    rng.shuffle(fresh)  # ties go to a seeded random pick
    # a code example counts as a fact of its own: covered like one, never left out
    stated = [facts_stated(node, e) or ([e.id] if e.provenance.generator == "structural:code"
                                        else []) for e in fresh]
    chosen: list[Example] = []
    while fresh and len(chosen) < need:
        # every fact stated before any twice; among those, the most facts at once
        best = max(range(len(fresh)),
                   key=lambda i: (-max((coverage[f] for f in stated[i]), default=0),
                                  sum(1 / (1 + coverage[f]) for f in stated[i]),
                                  bool(fresh[i].anchors_used)))
        coverage.update(stated[best])
        chosen.append(fresh.pop(best))
        stated.pop(best)
    return chosen


def facts_stated(node: Node, example: Example) -> list[str]:
    """Return the ids of the node's facts an example states word for word.

    A fact also counts named: its opening pronoun replaced by the title, as the question
    exercises answer ("Bruno Vale works at …" for "He works at …").
    """
    text = example.text or " ".join(m["content"] for m in example.messages or [])
    return [f.id for f in node.facts
            if f.text in text or named(f.text, node.title, node.language) in text]


def fact_coverage(dataset_map: DatasetMap, corpus: Iterable[Example]) -> Counter[str]:
    """Count, per fact id, the examples of the corpus that state it word for word."""
    ids = dataset_map.node_ids()
    counts: Counter[str] = Counter()
    for example in corpus:
        if example.node_id in ids:
            counts.update(facts_stated(dataset_map.node(example.node_id), example))
    return counts


def deficits_of(dataset_map: DatasetMap, corpus: list[Example],
                budget_left: int) -> dict[str, dict[ExampleKind, int]]:
    """Return what each node still needs per kind, trimmed round-robin to the example budget.

    `corpus` is everything the workspace already has (every run's accepted examples), so a
    new run only generates where quotas are not yet met. A node a person stopped gets nothing.
    """
    have = Counter((e.node_id, ExampleKind(e.kind)) for e in corpus)
    need = {n.id: {k: q - have[(n.id, k)] for k, q in n.quota.items() if q > have[(n.id, k)]
                   and (k != ExampleKind.synthesis or dataset_map.neighbours(n.id))}
            for n in dataset_map.nodes  # not one a person stopped, nor one whose source is gone
            if n.status not in UNGENERATED}
    remaining = budget_left
    granted: dict[str, dict[ExampleKind, int]] = {}
    while remaining > 0 and any(need.values()):
        for node_id, kinds in need.items():
            for kind in list(kinds):
                if remaining <= 0:
                    break
                granted.setdefault(node_id, {}).setdefault(kind, 0)
                granted[node_id][kind] += 1
                remaining -= 1
                kinds[kind] -= 1
                if kinds[kind] == 0:
                    del kinds[kind]
    return granted






def needed(cfg: AgentrunConfig, ws: Workspace, run: Run, accepted: int) -> int:
    """Return how many examples the run's map still needs within the example budget."""
    deficits = deficits_of(load_map(run.map_path), ws.corpus(), cfg.budgets.max_examples - accepted)
    return sum(sum(kinds.values()) for kinds in deficits.values())


def write_round(cfg: AgentrunConfig, ws: Workspace, run: Run, iteration: int, round_: int,
                accepted: int, model: RoleModel | None, student_dir: Path) -> Path:
    """Write a round's candidates (`candidates.jsonl`, once) and its token usage; return it."""
    path = run.round_dir(iteration, round_) / CANDIDATES
    if path.exists():
        return path
    dataset_map = load_map(run.map_path)
    corpus = ws.corpus()
    seen = {e.id for e in corpus} | {e.id for p in run.round_files(CANDIDATES)
                                     for e in load_examples(p)}
    job = Job(run=run.id, iteration=iteration, round=round_, seed=run_seed(cfg, run))
    tokens_before = _fresh_tokens(model)
    budget = cfg.budgets.max_examples - accepted
    deficits = deficits_of(dataset_map, corpus, budget)
    # a node the corpus does not know yet gets alternatives to choose from (a fork)
    known = {e.node_id for e in corpus}
    alternatives = {n.id: cfg.steering.alternatives for n in dataset_map.nodes
                    if n.id not in known}
    failures: list[Failure] = []
    candidates = candidates_for(dataset_map, deficits, seen, job, model,
                                cfg.generation.structured_retries, model_share(cfg),
                                fact_coverage(dataset_map, corpus), alternatives,
                                EMBEDDED_LANGUAGES if cfg.roles.contractor.model == "embedded"
                                else None, failures)
    if cfg.generation.megastructure and round_ == 1:
        parts = [p for p in megastructure_parts(dataset_map, job,
                                                *student_context(cfg, student_dir))
                 if p.id not in seen]
        candidates += parts[: max(budget - len(candidates), 0)]
    tokens = _fresh_tokens(model) - tokens_before
    atomic_write_text(path.parent / USAGE, json.dumps({"contractor_tokens": tokens}))
    save_examples(path.parent / FAILURES, failures)
    # the run's ledger of failures, every round's in order (rewritten whole: idempotent)
    save_examples(run.failures_path, (f for p in run.round_files(FAILURES)
                                      for f in load_failures(p)))
    save_examples(path, candidates)  # last: a round with candidates is written
    log.info("round %d: %d candidates, %d model requests failed (%d tokens generated)",
             round_, len(candidates), len(failures), tokens)
    return path


def load_failures(path: Path) -> list[Failure]:
    """Return the failed model requests recorded in a failures file."""
    return [Failure.model_validate(row) for row in read_jsonl(path)]


def run_seed(cfg: AgentrunConfig, run: Run) -> int:
    """Return the seed a run generates with: `generation.seed`, moved on per earlier run.

    Reproducible: the first run of a workspace always uses `generation.seed`, so the same
    notes and settings make the same corpus. A later run moves on by the runs before it (with
    the same seeds its answers would come back from the response cache), and a resumed run
    keeps its seed.
    """
    earlier = sum(1 for p in run.workspace.runs_dir.iterdir() if p.is_dir() and p.name < run.id)
    return cfg.generation.seed + RUN_SEED_STRIDE * earlier


RUN_SEED_STRIDE = 1_000_003
"""Seeds a run may use (per iteration, round and request) before the next run's begin."""


def _fresh_tokens(model: RoleModel | None) -> int:
    """Tokens the model generated so far (its response cache counts what was not cached)."""
    return getattr(model.backend, "fresh_tokens", 0) if model is not None else 0


def tokens_spent(run: Run) -> int:
    """Return the tokens the contractor model generated for a run, summed over its rounds."""
    return sum(json.loads(p.read_text()).get("contractor_tokens", 0)
               for p in run.round_files(USAGE))


def model_share(cfg: AgentrunConfig) -> dict[ExampleKind, float]:
    """Return the part of each kind the contractor model writes (config, or by its strength)."""
    if cfg.generation.model_share is not None:
        return cfg.generation.model_share
    return MODEL_SHARE if cfg.roles.contractor.model == "embedded" else STRONG_MODEL_SHARE


def student_context(cfg: AgentrunConfig, student_dir: Path) -> tuple[Callable[[str], int], int]:
    """Return the student's token counter and the tokens a megastructure part may use."""
    from transformers import AutoTokenizer  # heavy: only when a megastructure is asked for

    tokenizer = AutoTokenizer.from_pretrained(str(student_dir))
    # the chat template and the part's prompt take the rest of the training sequence
    budget = cfg.recipe().max_seq_len - 64
    return (lambda text: len(tokenizer(text, add_special_tokens=False).input_ids)), budget
