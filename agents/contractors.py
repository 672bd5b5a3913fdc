"""The contractors: generate the corpus around each node, structurally and with a model.

Structural generators need no model (cloze, reversal, question, correction and multi-hop
exercises from facts and anchors; cross-anchor syntheses; dialogues; restatements of facts;
the megastructure, the whole map as one linked text in parts); model generators write every
kind but megastructure parts from its own prompt file and schema, at the node's level.
Every model request a step needs goes to the backend as one batch.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

import networkx as nx
from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import BaseModel, Field

from agentrun import progress
from agentrun.agents.architect import UNGENERATED, question_form, split_fact
from agentrun.config import AgentrunConfig
from agentrun.graphs.context import Context
from agentrun.graphs.state import State
from agentrun.models.base import Backend, GenRequest
from agentrun.models.structured import generate_structured
from agentrun.prompts import render_chat, template_hash
from agentrun.schemas import (
    Anchor,
    DatasetMap,
    Example,
    ExampleKind,
    Level,
    Node,
    ProbeKind,
    Provenance,
)
from agentrun.workspace import Run

log = logging.getLogger(__name__)

STYLES = ["plain", "encyclopedic", "storytelling", "concise", "explanatory"]
ASKS = [
    "Tell me about {title}.",
    "What should I know about {title}?",
    "Explain {title} in your own words.",
    "Give me an overview of {title}.",
]


class RephrasingOut(BaseModel):
    """A rephrased statement or passage."""

    text: str = Field(min_length=20, max_length=1500)


class Turn(BaseModel):
    """One exchange of a dialogue."""

    student: str = Field(min_length=5, max_length=200)
    tutor: str = Field(min_length=5, max_length=500)


class DialogueOut(BaseModel):
    """A multi-turn study dialogue: a question, then follow-ups."""

    turns: list[Turn] = Field(min_length=2, max_length=4)


class ExerciseOut(BaseModel):
    """A question with its worked answer."""

    question: str = Field(min_length=10, max_length=300)
    answer: str = Field(min_length=2, max_length=900)


class SynthesisOut(BaseModel):
    """A macro example that ties two nodes together along their anchor."""

    theme: str = Field(min_length=3, max_length=120)
    """What the example ties together ([THEME])."""
    steps: list[str] = Field(min_length=2, max_length=4)
    """Reasoning steps, each crossing the anchor ([ANCHOR])."""
    conclusion: str = Field(min_length=10, max_length=500)
    """What follows from both ends together ([SYNTHESIS])."""


class SynthesisWithErrorOut(SynthesisOut):
    """A synthesis with a deliberate wrong step that the example then corrects ([ERROR])."""

    wrong_step: str = Field(min_length=10, max_length=300)
    correction: str = Field(min_length=10, max_length=300)


@dataclass(frozen=True)
class Size:
    """How long an example of a level is: what the prompt asks for and the token cap."""

    words: str
    tokens: int
    turns: int


SIZES = {
    Level.micro: Size("one or two sentences", 120, 2),
    Level.meso: Size("a short chain of reasoning: three to five connected sentences", 240, 3),
    Level.macro: Size("a structured text of two or three short paragraphs", 420, 4),
}
LEVELS = list(Level)


def at_least(level: Level, floor: Level) -> Level:
    """Return the larger of two levels (micro < meso < macro)."""
    return max(level, floor, key=LEVELS.index)


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
            lines = [f"[THEME] {node.title} and {dst.title}.", f"[ANCHOR] {opening}"]
            lines += [f"[SYNTHESIS] {t}" for t in dict.fromkeys((theirs.text, own))
                      if t and t != opening]
            ask = SYNTHESIS_ASKS[i % len(SYNTHESIS_ASKS)].format(a=node.title, b=dst.title)
            yield Example(node_id=node.id, kind=ExampleKind.synthesis, level=Level.macro,
                          markers=["[THEME]", "[ANCHOR]", "[SYNTHESIS]"], anchors_used=[dst.id],
                          messages=_chat(ask, "\n".join(lines)),
                          provenance=_provenance(job, "structural:synthesis")).with_id()


FOLLOW_UPS = ["What else do the notes say?", "Can you tell me more?", "And what follows from that?"]


def structural_dialogues(node: Node, dataset_map: DatasetMap, job: Job) -> Iterator[Example]:
    """Yield multi-turn dialogues that walk through a node's facts, then cross an anchor."""
    facts = [f.text for f in node.facts]
    links = dataset_map.neighbours(node.id)
    turns = SIZES[node.level].turns
    for start in range(0, max(len(facts) - 1, 1)):
        chunk = (facts + facts)[start : start + 2 * turns][: len(facts)]
        answers = [" ".join(chunk[i : i + 2]) for i in range(0, len(chunk), 2)]
        messages = _chat(ASKS[start % len(ASKS)].format(title=node.title), answers[0])
        for i, answer in enumerate(answers[1:turns]):
            messages += _chat(FOLLOW_UPS[(start + i) % len(FOLLOW_UPS)], answer)
        used: list[str] = []
        if links:
            anchor = links[start % len(links)]
            dst = dataset_map.node(anchor.dst)
            link = anchor.evidence.split(": ", 1)[-1]
            bridge = [t for t in (link, *(f.text for f in dst.facts[:1])) if t not in chunk]
            if dst.facts and bridge:
                messages += _chat(f"How does that connect to {dst.title}?", " ".join(bridge))
                used = [dst.id]
        if len(messages) >= 4:
            yield Example(node_id=node.id, kind=ExampleKind.dialogue, level=node.level,
                          messages=messages, anchors_used=used,
                          provenance=_provenance(job, "structural:dialogue")).with_id()


def structural_rephrasings(node: Node, job: Job) -> Iterator[Example]:
    """Yield restatements of groups of facts (the fallback when no model writes them).

    Groups of 3, 2 and 4 facts in the note's order, then groups of 3 in a shuffled order,
    so that each fact is also learned after other facts than the one it follows in the note.
    """
    facts = [f.text for f in node.facts]
    shuffled = facts[:]
    random.Random(f"{node.id}-{job.seed}").shuffle(shuffled)
    for size, order in ((3, facts), (2, facts), (4, facts), (3, shuffled)):
        for start in range(0, len(order), size):
            group = order[start : start + size]
            ask = ASKS[(start // size) % len(ASKS)].format(title=node.title)
            yield Example(  # the level by size: a fact or two is micro, more a meso passage
                node_id=node.id, kind=ExampleKind.rephrasing,
                level=Level.micro if len(group) <= 2 else Level.meso,
                messages=_chat(ask, " ".join(group)),
                provenance=_provenance(job, "structural:restatement"),
            ).with_id()


def megastructure_parts(dataset_map: DatasetMap, job: Job, count_tokens: Callable[[str], int],
                        budget: int) -> list[Example]:
    """Lay the whole map out as one linked text and split it into parts of ≤ `budget` tokens.

    Nodes follow their anchors (a depth-first walk, so linked nodes sit side by side); a node
    that follows one it is anchored to opens with an [ANCHOR] line naming the link (its ends
    and relation, not the evidence sentence, which is one of the facts already). Parts
    break between facts; each part's prompt gives its place in the whole and the node the
    previous part ended on, so the parts train as one system (DESIGN §6).
    """
    graph = nx.Graph()
    graph.add_nodes_from(n.id for n in dataset_map.nodes if n.facts)
    graph.add_edges_from((a.src, a.dst) for a in dataset_map.anchors
                         if a.src in graph and a.dst in graph)
    if not graph:
        return []
    hub = dataset_map.node(max(graph, key=lambda n: (graph.degree(n), -list(graph).index(n))))
    theme = f"{hub.title} and the notes linked to it"
    pieces: list[tuple[str, str]] = []  # (node id, line) in reading order
    previous: str | None = None
    for node_id in nx.dfs_preorder_nodes(graph):
        node = dataset_map.node(node_id)
        pieces.append((node_id, f"## {node.title}"))
        link = _anchor_between(dataset_map, node_id, previous) if previous else None
        if link is not None:
            src, dst = dataset_map.node(link.src), dataset_map.node(link.dst)
            relation = link.relation.value.replace("_", " ")
            pieces.append((node_id, f"[ANCHOR] {src.title} → {dst.title} ({relation})."))
        pieces += [(node_id, f.text) for f in node.facts]
        previous = node_id
    parts = _pack(pieces, count_tokens, budget)
    return [_part(dataset_map, job, theme, i, parts) for i in range(len(parts))]


def _anchor_between(dataset_map: DatasetMap, a: str, b: str) -> Anchor | None:
    """Return an anchor joining two nodes, either way round, if there is one."""
    return next((x for x in dataset_map.neighbours(a) if x.dst == b), None) or next(
        (x for x in dataset_map.neighbours(b) if x.dst == a), None)


def _pack(pieces: list[tuple[str, str]], count_tokens: Callable[[str], int],
          budget: int) -> list[list[tuple[str, str]]]:
    """Group lines into consecutive parts of at most `budget` tokens (a line is never cut)."""
    parts: list[list[tuple[str, str]]] = [[]]
    used = 0
    for node_id, line in pieces:
        size = count_tokens(line) + 1
        # a heading or link line never ends a part: it moves on with the fact it introduces
        if parts[-1] and used + size > budget:
            carry: list[tuple[str, str]] = []
            while parts[-1] and parts[-1][-1][1].startswith(("## ", "[ANCHOR] ")):
                carry.insert(0, parts[-1].pop())
            parts.append(carry)
            used = sum(count_tokens(t) + 1 for _, t in carry)
        parts[-1].append((node_id, line))
        used += size
    return [p for p in parts if p]


def _part(dataset_map: DatasetMap, job: Job, theme: str, i: int,
          parts: list[list[tuple[str, str]]]) -> Example:
    lines = parts[i]
    owners = Counter(node_id for node_id, _ in lines)
    owner = owners.most_common(1)[0][0]
    ask = f"[THEME] {theme}: part {i + 1} of {len(parts)} of the linked text."
    if i:
        ask += f" It continues from {dataset_map.node(parts[i - 1][-1][0]).title}."
    return Example(node_id=owner, kind=ExampleKind.megastructure_part, level=Level.macro,
                   markers=["[THEME]"] + (["[ANCHOR]"] if len(owners) > 1 else []),
                   anchors_used=[n for n in owners if n != owner],
                   messages=_chat(ask, "\n".join(t for _, t in lines)),
                   provenance=_provenance(job, "structural:megastructure")).with_id()


# ---------------------------------------------------------------- model generators


@dataclass(frozen=True)
class Brief:
    """What one model request asks for, and how its output becomes an example."""

    template: str
    output: type[BaseModel]
    level: Level
    variables: dict[str, object]
    ask: str = ""
    """The user turn of the example (rephrasings and syntheses; others write their own)."""
    anchors: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()


def _facts(node: Node, k: int, size: int) -> list[str]:
    """Return `size` consecutive facts of a node, starting at a place that moves with `k`."""
    facts = [f.text for f in node.facts]
    if len(facts) <= size:
        return facts
    start = (k * size) % len(facts)
    return (facts + facts)[start : start + size]


def rephrasing_brief(node: Node, k: int, dataset_map: DatasetMap) -> Brief | None:
    """Rephrase one or two facts (micro) or a whole passage (the node's level, meso at least)."""
    passage = k % 2 == 1
    level = at_least(node.level, Level.meso) if passage else Level.micro
    facts = _facts(node, k, 6 if passage else 2)
    return Brief("contractors.rephrasing.md", RephrasingOut, level,
                 {"title": node.title, "facts": facts, "style": STYLES[k % len(STYLES)],
                  "length": SIZES[level].words},
                 ask=ASKS[k % len(ASKS)].format(title=node.title))


def dialogue_brief(node: Node, k: int, dataset_map: DatasetMap) -> Brief | None:
    """Ask for a dialogue whose turns follow the node's level (micro 2, meso 3, macro 4)."""
    size = SIZES[node.level]
    return Brief("contractors.dialogue.md", DialogueOut, node.level,
                 {"title": node.title, "facts": _facts(node, k, 2 + size.turns),
                  "turns": size.turns})


EXERCISE_FORMS = ["question", "reversal", "multi_hop"]


def exercise_brief(node: Node, k: int, dataset_map: DatasetMap) -> Brief | None:
    """Ask for a question (micro), a reversal (micro) or a multi-hop exercise (meso)."""
    links = dataset_map.neighbours(node.id)
    form = EXERCISE_FORMS[k % (3 if links else 2)]
    variables: dict[str, object] = {"title": node.title, "facts": _facts(node, k, 2),
                                    "form": form, "linked": None, "link": ""}
    if form != "multi_hop":
        return Brief("contractors.exercise.md", ExerciseOut, Level.micro, variables)
    anchor = links[k % len(links)]
    dst = dataset_map.node(anchor.dst)
    variables |= {"linked": {"title": dst.title, "facts": _facts(dst, k, 2)},
                  "link": anchor.evidence.split(": ", 1)[-1]}
    return Brief("contractors.exercise.md", ExerciseOut, Level.meso, variables,
                 anchors=(dst.id,), markers=("[ANCHOR]",))


def synthesis_brief(node: Node, k: int, dataset_map: DatasetMap) -> Brief | None:
    """Ask for a macro synthesis across one anchor; every third carries a corrected [ERROR]."""
    links = dataset_map.neighbours(node.id)
    if not links:
        return None
    anchor = links[k % len(links)]
    dst = dataset_map.node(anchor.dst)
    with_error = k % 3 == 2
    markers = ("[THEME]", "[ANCHOR]", "[SYNTHESIS]") + (("[ERROR]",) if with_error else ())
    return Brief("contractors.synthesis.md",
                 SynthesisWithErrorOut if with_error else SynthesisOut, Level.macro,
                 {"title": node.title, "facts": _facts(node, k, 3), "other": dst.title,
                  "other_facts": _facts(dst, k, 3), "relation": anchor.relation.value,
                  "link": anchor.evidence.split(": ", 1)[-1], "with_error": with_error,
                  "length": SIZES[Level.macro].words},
                 ask=SYNTHESIS_ASKS[k % len(SYNTHESIS_ASKS)].format(a=node.title, b=dst.title),
                 anchors=(dst.id,), markers=markers)


BRIEFS = {
    ExampleKind.rephrasing: rephrasing_brief,
    ExampleKind.dialogue: dialogue_brief,
    ExampleKind.exercise: exercise_brief,
    ExampleKind.synthesis: synthesis_brief,
}


def model_requests(node: Node, kind: ExampleKind, count: int, job: Job, dataset_map: DatasetMap,
                   alternatives: int = 1) -> list[tuple[GenRequest, Brief]]:
    """Build `count` model requests of one kind for a node (varied facts, forms and seeds).

    With `alternatives` > 1 the first brief is asked that many times with other seeds; its
    outputs share a `group` (a fork: one is kept, the others become preference pairs).
    """
    out = []
    for i in range(count):
        k = job.round * 7 + i
        brief = BRIEFS[kind](node, k, dataset_map)
        if brief is None:
            continue
        size = SIZES[brief.level]
        tokens = 90 * size.turns if kind == ExampleKind.dialogue else size.tokens
        seed = job.seed + 1000 * job.iteration + 100 * job.round + i
        group = f"{node.id}:{kind}:{job.iteration}.{job.round}.{i}" if i == 0 else ""
        for alt in range(alternatives if group else 1):
            tags = {"node": node.id, "kind": kind} | ({"group": group} if alternatives > 1
                                                      and group else {})
            request = GenRequest(messages=render_chat(brief.template, **brief.variables),
                                 max_new_tokens=tokens, temperature=0.7, seed=seed + 50 * alt,
                                 tags=tags)
            out.append((request, brief))
    return out


def model_examples(backend: Backend, work: list[tuple[GenRequest, Brief]], job: Job,
                   retries: int) -> list[Example]:
    """Run all model requests, one batch per output schema, and turn outputs into examples."""
    examples: list[Example] = []
    for output in dict.fromkeys(brief.output for _, brief in work):
        group = [(r, b) for r, b in work if b.output is output]
        with progress.task(f"generate {group[0][0].tags['kind']}s ({output.__name__})",
                           total=len(group)) as advance:
            outputs = generate_structured(backend, [r for r, _ in group], output,
                                          retries=retries, on_result=lambda i, t: advance())
        for (req, brief), out in zip(group, outputs, strict=True):
            if out is not None:
                prov = _provenance(job, f"model:{req.tags['kind']}", backend.model_id,
                                   brief.template, req.params())
                ex = _from_output(req.tags["node"], req.tags["kind"], brief, out, prov)
                ex.group = req.tags.get("group", "")
                examples.append(ex)
    return examples


def _from_output(node_id: str, kind: ExampleKind, brief: Brief, out: BaseModel,
                 prov: Provenance) -> Example:
    if isinstance(out, DialogueOut):
        messages: list[dict[str, str]] = []
        for turn in out.turns:
            messages += _chat(turn.student, turn.tutor)
    elif isinstance(out, ExerciseOut):
        messages = _chat(out.question, out.answer)
    elif isinstance(out, SynthesisOut):
        messages = _chat(brief.ask, render_synthesis(out))
    else:
        assert isinstance(out, RephrasingOut)
        messages = _chat(brief.ask, out.text)
    return Example(node_id=node_id, kind=kind, level=brief.level, messages=messages,
                   anchors_used=list(brief.anchors), markers=list(brief.markers),
                   provenance=prov).with_id()


def render_synthesis(out: SynthesisOut) -> str:
    """Lay a synthesis out with its markers, one step a line; a wrong step comes corrected."""
    lines = [f"[THEME] {out.theme.strip()}"]
    for i, step in enumerate(out.steps):
        lines.append(f"[ANCHOR] {step.strip()}")
        if i == 0 and isinstance(out, SynthesisWithErrorOut):
            lines.append(f"[ERROR] {out.wrong_step.strip()} {out.correction.strip()}")
    lines.append(f"[SYNTHESIS] {out.conclusion.strip()}")
    return "\n".join(lines)


# ---------------------------------------------------------------- a round of work

MODEL_SHARE = {ExampleKind.rephrasing: 1.0}
"""With the embedded model: it writes what a 135M model can (DESIGN §4), rephrasings; its
dialogues put speakers' names where answers belong (0 of 11 accepted on the bundled example),
so dialogues are structural too."""
STRONG_MODEL_SHARE = MODEL_SHARE | {ExampleKind.dialogue: 1.0, ExampleKind.exercise: 0.5,
                                    ExampleKind.synthesis: 0.5}


def candidates_for(
    dataset_map: DatasetMap,
    deficits: dict[str, dict[ExampleKind, int]],
    seen: set[str],
    job: Job,
    backend: Backend | None,
    retries: int,
    model_share: dict[ExampleKind, float] | None = None,
    coverage: Counter[str] | None = None,
    alternatives: dict[str, int] | None = None,
) -> list[Example]:
    """Produce candidates that fill each node's deficits; model work goes out as one batch.

    `model_share` is the part of each kind's need asked of the model (rounded up); the rest
    comes from the structural generators, and all of it when there is no model. Structural
    examples are chosen for the facts stated least so far (`coverage`: fact id → examples
    of the corpus that state it, updated in place), so a node's facts are covered evenly.
    `alternatives` (node id → n) asks the model n alternatives of a node's first brief per kind.
    """
    share = MODEL_SHARE if model_share is None else model_share
    rng = random.Random(f"{job.seed}-{job.iteration}-{job.round}")
    covered = Counter() if coverage is None else coverage
    out: list[Example] = []
    work: list[tuple[GenRequest, Brief]] = []
    for node_id, kinds in sorted(deficits.items()):
        node = dataset_map.node(node_id)
        for kind, need in sorted(kinds.items()):
            by_model = math.ceil(need * share.get(kind, 0.0)) if backend is not None else 0
            if by_model:
                work += model_requests(node, kind, by_model, job, dataset_map,
                                       (alternatives or {}).get(node_id, 1))
            # one verbatim restatement beside the model's rephrasings keeps the node's facts
            # in the corpus even where the model's outputs are rejected
            keep = 1 if kind == ExampleKind.rephrasing and by_model else 0
            out += _take(node, _structural_pool(node, kind, dataset_map, job), seen,
                         need - by_model + keep, rng, covered)
    if work and backend is not None:
        out += model_examples(backend, work, job, retries)
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
    """Pick `need` new examples, each time the one stating the least-covered facts."""
    fresh = [e for e in pool if e.id not in seen]
    rng.shuffle(fresh)  # ties go to a seeded random pick
    stated = [facts_stated(node, e) for e in fresh]
    chosen: list[Example] = []
    while fresh and len(chosen) < need:
        best = max(range(len(fresh)),
                   key=lambda i: sum(1 / (1 + coverage[f]) for f in stated[i]))
        coverage.update(stated[best])
        chosen.append(fresh.pop(best))
        stated.pop(best)
    return chosen


def facts_stated(node: Node, example: Example) -> list[str]:
    """Return the ids of the node's facts an example states word for word."""
    text = example.text or " ".join(m["content"] for m in example.messages or [])
    return [f.id for f in node.facts if f.text in text]


def fact_coverage(dataset_map: DatasetMap, corpus: Iterable[Example]) -> Counter[str]:
    """Count, per fact id, the examples of the corpus that state it word for word."""
    ids = dataset_map.node_ids()
    counts: Counter[str] = Counter()
    for example in corpus:
        if example.node_id in ids:
            counts.update(facts_stated(dataset_map.node(example.node_id), example))
    return counts


# ---------------------------------------------------------------- graph nodes


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


def dispatch_node(state: State, runtime: Runtime[Context]) -> Command[
        Literal["contractors", "train", "export"]]:
    """Send contractors after the nodes' deficits, or go to training when quotas are met.

    With `budgets.cycles: 0` the run builds and checks the corpus only, and exports it.
    """
    from agentrun.services import resolve
    from agentrun.workspace import load_map

    cfg, ws, run = resolve(runtime.context, state)
    deficits = deficits_of(load_map(run.map_path), ws.corpus(),
                           cfg.budgets.max_examples - state["accepted"])
    spent = tokens_spent(run)
    tokens_left = cfg.budgets.max_tokens is None or spent < cfg.budgets.max_tokens
    if not tokens_left:
        log.info("token budget spent: %d of %d contractor tokens", spent, cfg.budgets.max_tokens)
    if deficits and state["round"] < cfg.budgets.max_rounds and tokens_left:
        return Command(goto="contractors")
    if cfg.budgets.cycles == 0:
        log.info("quotas met or rounds spent (round %d); no training (cycles: 0)", state["round"])
        return Command(goto="export")
    log.info("quotas met or rounds spent (round %d); training", state["round"])
    return Command(goto="train")


def contractors_node(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """Generate one round of candidates; a re-executed round reuses its saved candidates."""
    from agentrun.services import backend, resolve
    from agentrun.workspace import atomic_write_text, load_examples, load_map, save_examples

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
        tokens_before = getattr(model, "fresh_tokens", 0)
        budget = cfg.budgets.max_examples - state["accepted"]
        deficits = deficits_of(dataset_map, corpus, budget)
        # a node the corpus does not know yet gets alternatives to choose from (a fork)
        known = {e.node_id for e in corpus}
        alternatives = {n.id: cfg.steering.alternatives for n in dataset_map.nodes
                        if n.id not in known}
        candidates = candidates_for(dataset_map, deficits, seen, job, model,
                                    cfg.generation.structured_retries, model_share(cfg),
                                    fact_coverage(dataset_map, corpus), alternatives)
        if cfg.generation.megastructure and round_ == 1:
            parts = [p for p in megastructure_parts(dataset_map, job, *_student_context(cfg))
                     if p.id not in seen]
            candidates += parts[: max(budget - len(candidates), 0)]
        tokens = getattr(model, "fresh_tokens", 0) - tokens_before
        atomic_write_text(path.parent / "usage.json", json.dumps({"contractor_tokens": tokens}))
        save_examples(path, candidates)
        log.info("round %d: %d candidates (%d tokens generated)", round_, len(candidates), tokens)
    return {"round": round_}


def tokens_spent(run: Run) -> int:
    """Return the tokens the contractor model generated for a run, summed over its rounds."""
    return sum(json.loads(p.read_text()).get("contractor_tokens", 0)
               for p in run.data_dir.glob("rounds/*/usage.json"))


def model_share(cfg: AgentrunConfig) -> dict[ExampleKind, float]:
    """Return the part of each kind the contractor model writes (config, or by its strength)."""
    if cfg.generation.model_share is not None:
        return cfg.generation.model_share
    return MODEL_SHARE if cfg.roles.contractor.model == "embedded" else STRONG_MODEL_SHARE


def _student_context(cfg: AgentrunConfig) -> tuple[Callable[[str], int], int]:
    """Return the student's token counter and the tokens a megastructure part may use."""
    from transformers import AutoTokenizer

    from agentrun.services import student_dir

    tokenizer = AutoTokenizer.from_pretrained(str(student_dir(cfg)))
    # the chat template and the part's prompt take the rest of the training sequence
    budget = int(cfg.recipe()["max_seq_len"]) - 64
    return (lambda text: len(tokenizer(text, add_special_tokens=False).input_ids)), budget
