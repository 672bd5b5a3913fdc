"""The contractors: generate the corpus around each node, structurally and with a model.

Structural generators need no model (cloze, reversal, question, correction and multi-hop
exercises from facts and anchors; cross-anchor syntheses; restatements of facts); model
generators write rephrasings and dialogues.
Every model request a step needs goes to the backend as one batch.
"""

from __future__ import annotations

import logging
import random
import re
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import BaseModel, Field

from agentrun import progress
from agentrun.agents.architect import question_form, split_fact
from agentrun.graphs.context import Context
from agentrun.graphs.state import State
from agentrun.models.base import Backend, GenRequest
from agentrun.models.structured import generate_structured
from agentrun.prompts import render_chat, template_hash
from agentrun.schemas import DatasetMap, Example, ExampleKind, Level, Node, ProbeKind, Provenance

log = logging.getLogger(__name__)

STYLES = ["plain", "encyclopedic", "storytelling", "concise", "explanatory"]
ASKS = [
    "Tell me about {title}.",
    "What should I know about {title}?",
    "Explain {title} in your own words.",
    "Give me an overview of {title}.",
]


class RephrasingOut(BaseModel):
    """A rephrased passage."""

    text: str = Field(min_length=20, max_length=700)


class Turn(BaseModel):
    """One exchange of a dialogue."""

    student: str = Field(min_length=5, max_length=200)
    tutor: str = Field(min_length=5, max_length=400)


class DialogueOut(BaseModel):
    """A multi-turn study dialogue."""

    turns: list[Turn] = Field(min_length=1, max_length=4)


@dataclass(frozen=True)
class Job:
    """Where contractors stand: the run, iteration and round, and how much each node needs."""

    run: str
    iteration: int
    round: int
    seed: int


def _provenance(job: Job, generator: str, model: str = "", template: str = "",
                params: dict[str, object] | None = None) -> Provenance:
    return Provenance(
        role="contractor", generator=generator, model=model, template=template,
        template_hash=template_hash(template) if template else "", params=params or {},
        run=job.run, iteration=job.iteration,
    )


def _chat(user: str, assistant: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


# ---------------------------------------------------------------- structural generators


def structural_exercises(node: Node, dataset_map: DatasetMap, job: Job) -> Iterator[Example]:
    """Yield cloze, reversal, question and multi-hop exercises for a node (no model)."""
    # Facts behind generalization probes are never asked in the probe's question form.
    probed = {fid for p in node.probes if p.kind != ProbeKind.absorption for fid in p.fact_ids}
    for fact in node.facts:
        split = split_fact(fact.text)
        if split is None:
            continue
        prefix, fw, answer = split
        yield _exercise(node, job, "cloze",
                        " ".join(f"Fill in the blank about {node.title}: {prefix} {fw} ____."
                                 .split()),
                        f"{answer}. The full statement: {fact.text}")
        yield _exercise(node, job, "reversal",
                        f"In the notes on {node.title}, which statement mentions {answer}?",
                        fact.text)
        if fact.id not in probed:
            yield _exercise(node, job, "question", question_form(prefix, fw), fact.text)
        wrong = _wrong_number(fact.text)
        if wrong is not None:
            ex = _exercise(node, job, "correction",
                           f'A student wrote about {node.title}: "{wrong}" Is that right?',
                           f"No, that step is wrong. {fact.text}")
            ex.markers = ["[ERROR]"]
            yield ex.with_id()
    yield from _multi_hop(node, dataset_map, job)


def _wrong_number(text: str) -> str | None:
    """Return the sentence with its first number changed (a plausible wrong step), if any."""
    from agentrun.agents.checker import NUMBER_WORDS

    for m in re.finditer(r"\b(\d+|[a-z]+)\b", text):
        word = m.group(1)
        value = int(word) if word.isdigit() else int(NUMBER_WORDS.get(word.lower(), "-1"))
        if value >= 0 and (word.isdigit() or word.lower() in NUMBER_WORDS):
            return f"{text[:m.start()]}{value + 2}{text[m.end():]}"
    return None


def _multi_hop(node: Node, dataset_map: DatasetMap, job: Job) -> Iterator[Example]:
    for anchor in dataset_map.neighbours(node.id):
        dst = dataset_map.node(anchor.dst)
        link = anchor.evidence.split(": ", 1)[-1]
        detail = " ".join(f.text for f in dst.facts[:2])
        ex = _exercise(node, job, "multi_hop",
                       f"How is {node.title} connected to {dst.title}?",
                       f"{link} About {dst.title}: {detail}")
        ex.anchors_used = [dst.id]
        ex.markers = ["[ANCHOR]"]
        yield ex


def _exercise(node: Node, job: Job, generator: str, user: str, assistant: str) -> Example:
    return Example(
        node_id=node.id, kind=ExampleKind.exercise, level=Level.micro,
        messages=_chat(user, assistant),
        provenance=_provenance(job, f"structural:{generator}"),
    ).with_id()


SYNTHESIS_ASKS = [
    "How do {a} and {b} fit together?",
    "Bring together what the notes say about {a} and {b}.",
    "What links {a} to {b}, and what follows from it?",
]


def structural_syntheses(node: Node, dataset_map: DatasetMap, job: Job) -> Iterator[Example]:
    """Yield cross-anchor syntheses: the linking sentence with facts of both ends (no model)."""
    mine = {f.text for f in node.facts}
    for anchor in dataset_map.neighbours(node.id):
        dst = dataset_map.node(anchor.dst)
        link = anchor.evidence.split(": ", 1)[-1]
        opening = link if link in mine else f"{node.title} and {dst.title} are linked."
        for i, theirs in enumerate(dst.facts[:4]):
            own = node.facts[i % len(node.facts)].text if node.facts else ""
            body = " ".join(dict.fromkeys(t for t in (opening, theirs.text, own) if t))
            ask = SYNTHESIS_ASKS[i % len(SYNTHESIS_ASKS)].format(a=node.title, b=dst.title)
            ex = Example(node_id=node.id, kind=ExampleKind.synthesis, level=Level.macro,
                         markers=["[SYNTHESIS]", "[ANCHOR]"], anchors_used=[dst.id],
                         messages=_chat(ask, body),
                         provenance=_provenance(job, "structural:synthesis")).with_id()
            yield ex


def structural_rephrasings(node: Node, job: Job) -> Iterator[Example]:
    """Yield restatements of groups of facts (the fallback when no model writes them)."""
    facts = [f.text for f in node.facts]
    for size in (3, 2, 4):
        for start in range(0, len(facts), size):
            group = facts[start : start + size]
            ask = ASKS[(start // size) % len(ASKS)].format(title=node.title)
            yield Example(
                node_id=node.id, kind=ExampleKind.rephrasing, level=node.level,
                messages=_chat(ask, " ".join(group)),
                provenance=_provenance(job, "structural:restatement"),
            ).with_id()


# ---------------------------------------------------------------- model generators


def model_requests(node: Node, kind: ExampleKind, count: int, job: Job) -> list[GenRequest]:
    """Build `count` model requests of one kind for a node (varied facts, styles and seeds)."""
    facts = [f.text for f in node.facts]
    requests = []
    for i in range(count):
        k = job.round * 7 + i
        group = facts[(3 * k) % max(len(facts), 1) :][:4] or facts[:4]
        seed = job.seed + 1000 * job.iteration + 100 * job.round + i
        if kind == ExampleKind.dialogue:
            msgs = render_chat("contractors.dialogue.md", title=node.title, facts=group, turns=2)
            template = "contractors.dialogue.md"
        else:
            msgs = render_chat("contractors.rephrasing.md", title=node.title, facts=group,
                               style=STYLES[k % len(STYLES)])
            template = "contractors.rephrasing.md"
        requests.append(GenRequest(messages=msgs, max_new_tokens=220, temperature=0.7,
                                   seed=seed, tags={"node": node.id, "kind": kind,
                                                    "template": template, "k": k}))
    return requests


def model_examples(
    backend: Backend, requests: list[GenRequest], job: Job, retries: int,
    dataset_map: DatasetMap,
) -> list[Example]:
    """Run all model requests as one batch per output schema and turn outputs into examples."""
    examples: list[Example] = []
    for kind, schema in ((ExampleKind.rephrasing, RephrasingOut),
                         (ExampleKind.dialogue, DialogueOut)):
        reqs = [r for r in requests if r.tags["kind"] == kind]
        if not reqs:
            continue
        with progress.task(f"generate {kind}s", total=len(reqs)) as advance:
            outputs = generate_structured(backend, reqs, schema, retries=retries,
                                          on_result=lambda i, t: advance())
        for req, out in zip(reqs, outputs, strict=True):
            if out is None:
                continue
            node = dataset_map.node(req.tags["node"])
            prov = _provenance(job, f"model:{kind}", backend.model_id, req.tags["template"],
                               req.params())
            examples.append(_from_output(node, kind, out, prov, req.tags["k"]))
    return examples


def _from_output(node: Node, kind: ExampleKind, out: BaseModel, prov: Provenance,
                 k: int) -> Example:
    if isinstance(out, DialogueOut):
        messages: list[dict[str, str]] = []
        for turn in out.turns:
            messages += _chat(turn.student, turn.tutor)
        return Example(node_id=node.id, kind=kind, level=Level.meso, messages=messages,
                       provenance=prov).with_id()
    assert isinstance(out, RephrasingOut)
    ask = ASKS[k % len(ASKS)].format(title=node.title)
    return Example(node_id=node.id, kind=kind, level=node.level,
                   messages=_chat(ask, out.text), provenance=prov).with_id()


# ---------------------------------------------------------------- a round of work


def candidates_for(
    dataset_map: DatasetMap,
    deficits: dict[str, dict[ExampleKind, int]],
    seen: set[str],
    job: Job,
    backend: Backend | None,
    retries: int,
) -> list[Example]:
    """Produce candidates that fill each node's deficits; model work goes out as one batch."""
    rng = random.Random(f"{job.seed}-{job.iteration}-{job.round}")
    out: list[Example] = []
    requests: list[GenRequest] = []
    for node_id, kinds in sorted(deficits.items()):
        node = dataset_map.node(node_id)
        for kind, need in sorted(kinds.items()):
            if need <= 0:
                continue
            if kind in (ExampleKind.rephrasing, ExampleKind.dialogue) and backend is not None:
                requests += model_requests(node, kind, need, job)
                if kind == ExampleKind.rephrasing:
                    out += _take(structural_rephrasings(node, job), seen, 1, rng)
                continue
            out += _take(_structural_pool(node, kind, dataset_map, job), seen, need, rng)
    if requests and backend is not None:
        out += model_examples(backend, requests, job, retries, dataset_map)
    return out


def _structural_pool(node: Node, kind: ExampleKind, dataset_map: DatasetMap,
                     job: Job) -> Iterator[Example]:
    """Return the structural generator for a kind (restatements stand in for model kinds)."""
    if kind == ExampleKind.exercise:
        return structural_exercises(node, dataset_map, job)
    if kind == ExampleKind.synthesis:
        return structural_syntheses(node, dataset_map, job)
    return structural_rephrasings(node, job)


def _take(pool: Iterator[Example], seen: set[str], need: int, rng: random.Random) -> list[Example]:
    fresh = [e for e in pool if e.id not in seen]
    rng.shuffle(fresh)
    return fresh[:need]


# ---------------------------------------------------------------- graph nodes


def deficits_of(dataset_map: DatasetMap, corpus: list[Example],
                budget_left: int) -> dict[str, dict[ExampleKind, int]]:
    """Return what each node still needs per kind, trimmed round-robin to the example budget.

    `corpus` is everything the workspace already has (every run's accepted examples), so a
    new run only generates where quotas are not yet met.
    """
    have = Counter((e.node_id, ExampleKind(e.kind)) for e in corpus)
    need = {n.id: {k: q - have[(n.id, k)] for k, q in n.quota.items() if q > have[(n.id, k)]}
            for n in dataset_map.nodes}
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


def dispatch_node(state: State, runtime: Runtime[Context]) -> Command[
        Literal["contractors", "train"]]:
    """Send contractors after the nodes' deficits, or go to training when quotas are met."""
    from agentrun.services import resolve
    from agentrun.workspace import load_map

    cfg, ws, run = resolve(runtime.context, state)
    deficits = deficits_of(load_map(run.map_path), ws.corpus(),
                           cfg.budgets.max_examples - state["accepted"])
    if deficits and state["round"] < cfg.budgets.max_rounds:
        return Command(goto="contractors")
    log.info("quotas met or rounds spent (round %d); training", state["round"])
    return Command(goto="train")


def contractors_node(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """Generate one round of candidates; a re-executed round reuses its saved candidates."""
    from agentrun.services import backend, resolve
    from agentrun.workspace import load_examples, load_map, save_examples

    cfg, ws, run = resolve(runtime.context, state)
    round_ = state["round"] + 1
    path = run.round_dir(state["iteration"], round_) / "candidates.jsonl"
    if not path.exists():
        dataset_map = load_map(run.map_path)
        corpus = ws.corpus()
        seen = {e.id for e in corpus} | {e.id for p in run.data_dir.glob(
            "rounds/*/candidates.jsonl") for e in load_examples(p)}
        # Seeds differ per run (cached answers would repeat) and stay fixed on resume.
        job = Job(run=run.id, iteration=state["iteration"], round=round_,
                  seed=cfg.generation.seed + zlib.crc32(run.id.encode()) % 1_000_000)
        model = backend(cfg, ws, "contractor") if cfg.generation.model_generators else None
        deficits = deficits_of(dataset_map, corpus, cfg.budgets.max_examples - state["accepted"])
        candidates = candidates_for(dataset_map, deficits, seen, job, model,
                                    cfg.generation.structured_retries)
        save_examples(path, candidates)
        log.info("round %d: %d candidates", round_, len(candidates))
    return {"round": round_}
