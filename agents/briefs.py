"""Model briefs: what the contractor model is asked for, per kind.

One prompt file and one pydantic schema per kind (rephrasing, dialogue, exercise, synthesis),
at the node's level, and how an output becomes an example; every request of a round goes to the
backend in one batch per schema.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field

from agentrun import progress
from agentrun.agents.structural import (
    ASKS,
    SIZES,
    Job,
    at_least,
    chat,
    provenance,
)
from agentrun.models import GenRequest, RoleModel
from agentrun.models.structured import generate_structured
from agentrun.prompts import localized, phrase, render_chat
from agentrun.schemas import DatasetMap, Example, ExampleKind, Failure, Level, Node, Provenance

STYLES = ["plain", "encyclopedic", "storytelling", "concise", "explanatory"]


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
    return Brief(localized("contractors.rephrasing.md", node.language), RephrasingOut, level,
                 {"title": node.title, "facts": facts, "style": STYLES[k % len(STYLES)],
                  "length": SIZES[level].words, "level": level.value},
                 ask=phrase(ASKS, "ask", node.language, title=node.title, k=k))


def dialogue_brief(node: Node, k: int, dataset_map: DatasetMap) -> Brief | None:
    """Ask for a dialogue whose turns follow the node's level (micro 2, meso 3, macro 4)."""
    size = SIZES[node.level]
    return Brief(localized("contractors.dialogue.md", node.language), DialogueOut, node.level,
                 {"title": node.title, "facts": _facts(node, k, 2 + size.turns),
                  "turns": size.turns})


EXERCISE_FORMS = ["question", "reversal", "multi_hop"]
EXERCISE = "contractors.exercise.md"


def exercise_brief(node: Node, k: int, dataset_map: DatasetMap) -> Brief | None:
    """Ask for a question (micro), a reversal (micro) or a multi-hop exercise (meso)."""
    links = dataset_map.neighbours(node.id)
    form = EXERCISE_FORMS[k % (3 if links else 2)]
    variables: dict[str, object] = {"title": node.title, "facts": _facts(node, k, 2),
                                    "form": form, "linked": None, "link": ""}
    if form != "multi_hop":
        return Brief(localized(EXERCISE, node.language), ExerciseOut, Level.micro, variables)
    anchor = links[k % len(links)]
    dst = dataset_map.node(anchor.dst)
    variables |= {"linked": {"title": dst.title, "facts": _facts(dst, k, 2)},
                  "link": anchor.sentence}
    return Brief(localized(EXERCISE, node.language), ExerciseOut, Level.meso, variables,
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
    return Brief(localized("contractors.synthesis.md", node.language),
                 SynthesisWithErrorOut if with_error else SynthesisOut, Level.macro,
                 {"title": node.title, "facts": _facts(node, k, 3), "other": dst.title,
                  "other_facts": _facts(dst, k, 3), "relation": anchor.relation.value,
                  "link": anchor.sentence, "with_error": with_error,
                  "length": SIZES[Level.macro].words},
                 ask=phrase(ASKS, "synthesis_ask", node.language, a=node.title, b=dst.title,
                            k=k),
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
            tags = {"node": node.id, "kind": kind, "origin": job.origin} | (
                {"group": group} if alternatives > 1 and group else {})
            request = GenRequest(messages=render_chat(brief.template, **brief.variables),
                                 max_new_tokens=tokens, seed=seed + 50 * alt,
                                 tags=tags)
            out.append((request, brief))
    return out


def model_examples(model: RoleModel, work: list[tuple[GenRequest, Brief]], job: Job,
                   retries: int) -> tuple[list[Example], list[Failure]]:
    """Run all model requests, one batch per output schema; return examples and failures.

    Each request carries the contractor role's sampling settings, as sent and as recorded in
    the examples' provenance. A request that gave no valid output (the backend's fault after
    its retries, or invalid output after the structured retries) is a `Failure` with its
    reason, so every request ends as one or the other.
    """
    examples: list[Example] = []
    failures: list[Failure] = []
    work = [(model.complete(r), b) for r, b in work]
    for output in dict.fromkeys(brief.output for _, brief in work):
        group = [(r, b) for r, b in work if b.output is output]
        reasons: dict[int, str] = {}
        with progress.task(f"generate {group[0][0].tags['kind']}s ({output.__name__})",
                           total=len(group)) as advance:
            outputs = generate_structured(model, [r for r, _ in group], output,
                                          retries=retries, on_result=lambda i, t: advance(),
                                          failures=reasons)
        for i, ((req, brief), out) in enumerate(zip(group, outputs, strict=True)):
            if out is None:
                failures.append(Failure(
                    node_id=req.tags["node"], kind=req.tags["kind"], model=model.model_id,
                    reason=reasons.get(i, "no output"), template=brief.template,
                    seed=req.seed, run=job.run, iteration=job.iteration, round=job.round))
                continue
            prov = provenance(job, f"model:{req.tags['kind']}", model.model_id,
                              brief.template, req.params())
            ex = _from_output(req.tags["node"], req.tags["kind"], brief, out, prov)
            ex.group = req.tags.get("group", "")
            examples.append(ex)
    return examples, failures


def _from_output(node_id: str, kind: ExampleKind, brief: Brief, out: BaseModel,
                 prov: Provenance) -> Example:
    if isinstance(out, DialogueOut):
        messages: list[dict[str, str]] = []
        for turn in out.turns:
            messages += chat(turn.student, turn.tutor)
    elif isinstance(out, ExerciseOut):
        messages = chat(out.question, out.answer)
    elif isinstance(out, SynthesisOut):
        messages = chat(brief.ask, render_synthesis(out))
    else:
        assert isinstance(out, RephrasingOut)
        messages = chat(brief.ask, out.text)
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
