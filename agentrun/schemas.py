"""The data model: the dataset map, examples, verdicts, preferences and evaluation reports.

Everything an agent emits or a file stores is one of these models. They are JSON- and
YAML-friendly (plain strings, numbers, lists) so that `map.yaml` and the JSONL files stay
readable and diffable.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator


class Level(StrEnum):
    """How big an example around a node is: a fact, a reasoning chain, or a structure."""

    micro = "micro"
    meso = "meso"
    macro = "macro"


class Relation(StrEnum):
    """The typed relation an anchor carries between two nodes."""

    prerequisite = "prerequisite"
    elaborates = "elaborates"
    contrasts = "contrasts"
    example_of = "example_of"
    part_of = "part_of"
    generalizes = "generalizes"


class ProbeKind(StrEnum):
    """What a probe tests: the fact as stated, reworded, or combined with another fact."""

    absorption = "absorption"
    generalization = "generalization"
    transfer = "transfer"


class ExampleKind(StrEnum):
    """The kinds of training examples the contractors emit."""

    exercise = "exercise"
    dialogue = "dialogue"
    rephrasing = "rephrasing"
    synthesis = "synthesis"
    megastructure_part = "megastructure_part"
    choice = "choice"


class ReasonCode(StrEnum):
    """Typed reasons the checker gives when it rejects an example."""

    malformed = "malformed"
    duplicate_of = "duplicate_of"
    near_duplicate_of = "near_duplicate_of"
    broken_anchor = "broken_anchor"
    contradicts = "contradicts"
    leaks_probe = "leaks_probe"
    off_node = "off_node"
    ungrounded = "ungrounded"
    too_long = "too_long"
    too_short = "too_short"
    not_chosen = "not_chosen"
    """Valid, but another alternative of the same brief was chosen at a fork."""
    over_budget = "over_budget"
    """Valid, but the run's example budget (`budgets.max_examples`) was already filled."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceSpan(_Model):
    """Where a piece of the map comes from: a file and a character span in it."""

    file: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    line: int = Field(default=1, ge=1)


class Fact(_Model):
    """An atomic statement of a node, with the span of source text it was taken from."""

    id: str
    text: str
    span: SourceSpan | None = None
    speaker: str | None = None
    """Who said it in a chat export kept in the note (`user`, `assistant`); unset otherwise."""
    language: str | None = None
    """The sentence's own language where it is not its note's (a note that mixes languages is
    read sentence by sentence); unset otherwise."""


class CodeExample(_Model):
    """A code block of a node's source, kept as written: an example, never a fact."""

    text: str
    language: str = ""
    """The fence's info string (`python`, `bash`, …); "" for none."""
    line: int = 0


class Probe(_Model):
    """A self-test question that proves whether the student learned a node; never trained on."""

    id: str
    node_id: str
    kind: ProbeKind
    prompt: str
    answer: str
    fact_ids: list[str] = Field(default_factory=list)
    """The facts the probe needs; the answer is in the last one."""
    split: str = "eval"
    origin: str = "structural"
    """`structural` (built from the sources) or `model:<id>` (written by the architect model
    and checked against the sources)."""


_EVIDENCE = re.compile(r"^(.+?\.(?:md|markdown|txt)): (.*)$", re.S)
"""An old anchor's evidence: the note's path, then its sentence."""


class Anchor(_Model):
    """A typed cross-reference between two nodes; examples crossing it must agree with both ends."""

    src: str
    dst: str
    relation: Relation = Relation.elaborates
    file: str = ""
    """The note the anchor was found in (empty for anchors a revision or a person added)."""
    sentence: str = ""
    """The evidence: the sentence of `file` that links the two nodes, or why the anchor exists."""
    mention: str = ""
    """The words of `sentence` that name `dst` (a link's alias or target, a title it names)."""

    @model_validator(mode="before")
    @classmethod
    def _from_evidence(cls, data: Any) -> Any:
        """Read maps written before `file` and `sentence`: `evidence: "path: sentence"`."""
        if isinstance(data, dict) and "evidence" in data:
            data = dict(data)
            evidence = str(data.pop("evidence") or "")
            found = _EVIDENCE.match(evidence)
            data.setdefault("file", found.group(1) if found else "")
            data.setdefault("sentence", found.group(2) if found else evidence)
        return data


class NodeStatus(StrEnum):
    """Where a node stands: planned, learned or weak after an evaluation, or set by a person."""

    planned = "planned"
    learned = "learned"
    weak = "weak"
    stopped = "stopped"
    """A person stopped the node's generation (`agentrun chat`); its quotas are kept."""
    source_gone = "source_gone"
    """Its source note was deleted: kept, ungenerated, until the removal fork settles it."""
    kept = "kept"
    """A person kept it after its source was gone (generated for as any other)."""


UNGENERATED = frozenset({NodeStatus.stopped, NodeStatus.source_gone})
"""Statuses that get no examples and no revision."""


class NodeMetrics(_Model):
    """The last evaluation's scores for a node, per probe kind (accuracy and mean log-prob)."""

    before: dict[str, float] = Field(default_factory=dict)
    after: dict[str, float] = Field(default_factory=dict)
    iteration: int = 0


class Node(_Model):
    """A semantic block of the dataset: what it teaches, its evidence, quotas and probes."""

    id: str
    title: str
    summary: str = ""
    level: Level = Level.meso
    facts: list[Fact] = Field(default_factory=list)
    sources: list[SourceSpan] = Field(default_factory=list)
    quota: dict[ExampleKind, int] = Field(default_factory=dict)
    probes: list[Probe] = Field(default_factory=list)
    code: list[CodeExample] = Field(default_factory=list)
    """Code blocks of its section, as written (planning keeps at most 3 of 2,000 characters)."""
    status: NodeStatus = NodeStatus.planned
    metrics: NodeMetrics | None = None
    language: str = "en"
    """The language of the node's note (ISO 639-1): its probes and examples are worded in it."""

    def speaking(self, fact: Fact) -> Node:
        """Return the node as a fact's own language words it (itself for the note's language)."""
        if not fact.language or fact.language == self.language:
            return self
        return self.model_copy(update={"language": fact.language})


class Revision(_Model):
    """One entry of the map's history: what a revision changed and why."""

    version: int
    at: str
    reason: str
    changes: list[str] = Field(default_factory=list)
    """Each change in one line: what, where, and why."""
    failed: dict[str, list[ProbeKind]] = Field(default_factory=dict)
    """Per node, the probe kinds whose scores the revision acted on."""
    quotas: dict[str, dict[ExampleKind, list[int]]] = Field(default_factory=dict)
    """Per node and example kind, the quota moved as [before, after]."""


class DatasetMap(_Model):
    """The dataset's architectural passport: nodes, anchors, formats, version and history."""

    version: int = 1
    sources_digest: str = ""
    nodes: list[Node] = Field(default_factory=list)
    anchors: list[Anchor] = Field(default_factory=list)
    formats: list[str] = Field(default_factory=lambda: ["sft"])
    unresolved_links: list[str] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)
    """What planning could not do cleanly, each with its location (file:line)."""
    history: list[Revision] = Field(default_factory=list)
    settled: list[str] = Field(default_factory=list)
    """Forks on the map itself already decided (a contradiction kept as both is not asked
    again)."""

    _index: dict[str, Any] = PrivateAttr(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        """Compare contents only (the lookup tables are a cache, not part of the map)."""
        return isinstance(other, DatasetMap) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]  # mutable, like every pydantic model

    def _lookup(self, name: str, items: list[Any], build: Any) -> Any:
        """Return a lookup table over `items`, rebuilt when the list was replaced or resized.

        It makes `node` and `neighbours` O(1) in loops over a large map.
        """
        key = (id(items), len(items))
        cached = self._index.get(name)
        if cached is None or cached[0] != key:
            cached = (key, build(items))
            self._index[name] = cached
        return cached[1]

    def node(self, node_id: str) -> Node:
        """Return the node with this id (KeyError if absent)."""
        # positions, not objects: a node replaced in place (`nodes[i] = …`) is still found
        where = self._lookup("nodes", self.nodes, lambda ns: {n.id: i for i, n in enumerate(ns)})
        i = where.get(node_id)
        if i is not None and self.nodes[i].id == node_id:
            return self.nodes[i]
        node = next((n for n in self.nodes if n.id == node_id), None)  # ids edited in place
        if node is None:
            raise KeyError(node_id)
        return node

    def revise(self, reason: str, changes: list[str] | None = None) -> Revision:
        """Start the map's next version: a history entry (UTC time) the caller may fill in."""
        revision = Revision(version=self.version + 1,
                            at=datetime.now(UTC).isoformat(timespec="seconds"), reason=reason,
                            changes=list(changes or []))
        self.version = revision.version
        self.history.append(revision)
        return revision

    def titles(self) -> dict[str, str]:
        """Return each node's title by its id."""
        return {n.id: n.title for n in self.nodes}

    def node_ids(self) -> set[str]:
        """Return the set of node ids."""
        return {n.id for n in self.nodes}

    def probes(self) -> list[Probe]:
        """Return every probe of every node."""
        return [p for n in self.nodes for p in n.probes]

    def neighbours(self, node_id: str) -> list[Anchor]:
        """Return the anchors leaving this node."""
        def build(anchors: list[Anchor]) -> dict[str, list[Anchor]]:
            out: dict[str, list[Anchor]] = {}
            for a in anchors:
                out.setdefault(a.src, []).append(a)
            return out

        out = self._lookup("anchors", self.anchors, build)
        return [a for a in out.get(node_id, []) if a.src == node_id]


class Provenance(_Model):
    """Who made an example and how: role, model, template, sampling, run and iteration."""

    role: str
    generator: str
    model: str = ""
    template: str = ""
    template_hash: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    run: str = ""
    iteration: int = 0

    @property
    def structural(self) -> bool:
        """Whether the example was built from the facts without a model (`structural:<form>`).

        Such examples are the facts' own words and differ from their siblings by construction
        (another wording of a question, order of facts or frame).
        """
        return self.generator.startswith("structural:")


class Reason(_Model):
    """A typed rejection reason, pointing at what the example clashes with."""

    code: ReasonCode
    detail: str = ""
    other: str = ""


class Verdict(_Model):
    """The checker's decision on an example."""

    accepted: bool
    reasons: list[Reason] = Field(default_factory=list)
    scores: dict[str, float] = Field(default_factory=dict)


class Example(_Model):
    """One training example; its id is the hash of its content."""

    id: str = ""
    node_id: str
    kind: ExampleKind
    level: Level = Level.meso
    markers: list[str] = Field(default_factory=list)
    messages: list[dict[str, str]] | None = None
    text: str | None = None
    anchors_used: list[str] = Field(default_factory=list)
    provenance: Provenance
    verdict: Verdict | None = None
    group: str = ""
    """Examples written for the same brief share a group: alternatives of which a person (or
    the steering policy) keeps one."""

    def content(self) -> str:
        """Return the text that identifies the example (messages or plain text)."""
        if self.messages is not None:
            return "\n".join(f"{m['role']}: {m['content']}" for m in self.messages)
        return self.text or ""

    def with_id(self) -> Example:
        """Return a copy whose id is the content hash."""
        return self.model_copy(update={"id": content_hash(self.content())})


class Failure(_Model):
    """A model request that never became an example: where it was for, and why it failed."""

    node_id: str
    kind: ExampleKind
    reason: str
    """The backend's fault after its retries, or the last validation error of the output."""
    model: str = ""
    template: str = ""
    seed: int = 0
    run: str = ""
    iteration: int = 0
    round: int = 0


class Preference(_Model):
    """A pair of answers to one prompt, the better one first."""

    prompt: list[dict[str, str]] | str
    chosen: list[dict[str, str]] | str
    rejected: list[dict[str, str]] | str
    source: str = "checker_ranking"
    """`human_fork` (a person's pick), `policy` (picked by score, nobody asked) or
    `checker_ranking` (a near-miss the checker rejected)."""
    fork: str = ""
    """The fork the pair comes from, if any."""


class ForkKind(StrEnum):
    """Where the graph may stop for a person."""

    plan = "plan"
    """Approve the map before anything is generated."""
    examples = "examples"
    """Keep one of a node's 2–3 strongest alternatives for the same brief."""
    removal = "removal"
    """A re-plan would remove nodes whose sources are gone: remove them or keep them."""
    contradiction = "contradiction"
    """Two sources disagree on a fact: which version the corpus teaches, or both."""


class ForkOption(_Model):
    """One candidate a person can pick at a fork."""

    label: str
    text: str
    example_id: str = ""
    score: float | None = None


class Fork(_Model):
    """A decision the graph can hand to a person: what is asked and its 2–3 options."""

    id: str
    kind: ForkKind
    question: str
    options: list[ForkOption]
    node_id: str = ""
    iteration: int = 0
    why: str = ""
    """Why the policy asks (or would have asked): close scores, a new node, a review asked for."""


class Decision(_Model):
    """How a fork was settled: by whom, which option, and why."""

    fork_id: str
    choice: int | None
    """The option kept (0-based); None: every option rejected."""
    by: Literal["human", "policy"]
    reason: str = ""
    edited: str | None = None
    """A person's edit of the chosen option, kept instead of it."""


class ProbeResult(_Model):
    """A probe's scores before and after training."""

    probe_id: str
    node_id: str
    kind: ProbeKind
    correct_before: bool
    correct_after: bool
    logprob_before: float
    logprob_after: float
    answer_before: str = ""
    answer_after: str = ""
    strict_before: bool | None = None
    strict_after: bool | None = None
    """Word for word (the matcher of earlier reports), beside `correct_*`, which allows any
    inflection of the target («в Таллисе» for «Таллис»); None in a report written before."""


class GuardResult(_Model):
    """A general question (not about the material) answered before and after training."""

    question: str
    answer: str
    correct_before: bool
    correct_after: bool
    answer_after: str = ""


class EvalReport(_Model):
    """Per-probe, per-node and per-kind scores before vs after, with what produced them."""

    run: str
    iteration: int
    adapter: str
    data: str
    probes: list[ProbeResult] = Field(default_factory=list)
    guard: list[GuardResult] = Field(default_factory=list)
    """The regression guard: general questions; forgetting shows as answers lost."""

    def forgetting(self) -> dict[str, int]:
        """Count the general questions answered before training, and how many still are."""
        before = [g for g in self.guard if g.correct_before]
        return {"questions": len(self.guard), "answered_before": len(before),
                "still_answered": sum(g.correct_after for g in before),
                "answered_after": sum(g.correct_after for g in self.guard)}

    def summary(self, key: str = "kind") -> dict[str, dict[str, float]]:
        """Aggregate accuracy and mean log-prob before/after by probe `kind` or `node_id`."""
        groups: dict[str, list[ProbeResult]] = {}
        for r in self.probes:
            groups.setdefault(str(getattr(r, key)), []).append(r)
        return {name: _aggregate(rows) for name, rows in sorted(groups.items())}


def _aggregate(rows: list[ProbeResult]) -> dict[str, float]:
    n = max(len(rows), 1)
    out = {
        "n": float(len(rows)),
        "acc_before": sum(r.correct_before for r in rows) / n,
        "acc_after": sum(r.correct_after for r in rows) / n,
        "logprob_before": sum(r.logprob_before for r in rows) / n,
        "logprob_after": sum(r.logprob_after for r in rows) / n,
    }
    if rows and all(r.strict_before is not None and r.strict_after is not None for r in rows):
        out["strict_before"] = sum(bool(r.strict_before) for r in rows) / n
        out["strict_after"] = sum(bool(r.strict_after) for r in rows) / n
    return out


def content_hash(text: str) -> str:
    """Return a short stable hash of normalized text (whitespace-insensitive)."""
    norm = " ".join(text.split())
    return hashlib.sha256(norm.encode("utf-8")).hexdigest()[:16]


class RunStatus(StrEnum):
    """Where a run stands, as `run.json` records it (written by the nodes, whoever drives)."""

    created = "created"
    running = "running"
    waiting = "waiting"
    """At a fork, for a person's answer."""
    paused = "paused"
    done = "done"
    stopped = "stopped"
    """A person stopped it at the plan review."""
    failed = "failed"
    interrupted = "interrupted"
    """Stopped by Ctrl-C, or shown for a run `running` in run.json that no process drives (it
    was killed); `agentrun resume` goes on."""


FINISHED = frozenset({RunStatus.done, RunStatus.stopped})
"""Statuses a run does not resume from."""


class RunMeta(BaseModel):
    """A run's `run.json`: where it works, how it is driven, where it stands."""

    model_config = ConfigDict(extra="allow")  # runs written by older versions carry more

    workspace: str = ""
    status: RunStatus = RunStatus.created
    driver: Literal["cli", "langgraph server"] = "cli"
    context: dict[str, Any] | None = None
    """The context the run started with (workspace, cycles, budgets, auto, overrides)."""
    fork: str | None = None
    """The id of the fork the run waits at."""
    error: str | None = None
    server: str | None = None
    """The LangGraph server's address, for a run it drives."""
    thread: str | None = None
    checkpointer: str = "sqlite"
    """Where its checkpoints are: `sqlite` (checkpoints.sqlite beside this file) or the
    PostgreSQL database's URL, its password masked (a resume takes it from the settings)."""

    @property
    def finished(self) -> bool:
        """Whether the run ended (done, or stopped by a person)."""
        return self.status in FINISHED
