"""The consistency checker: accept or reject each candidate with typed reasons.

Checks run cheapest first: schema and length → exact hash → MinHash-LSH near duplicates →
anchor resolution → probe leakage → grounding (agents/grounding.py: a restated fact with
another number, name or polarity, invented names, a model-written sentence the notes do not
support, off-node) → embedding near duplicates (Chroma). The memory it checks against is the
workspace's, shared by every run.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from agentrun.agents.grounding import SENTENCE, Grounding
from agentrun.agents.text import as_lemmas, normalize
from agentrun.config import AgentrunConfig, CheckerSettings
from agentrun.memory.dedup import NearDuplicateIndex
from agentrun.memory.embeddings import Embedder
from agentrun.memory.store import Memory
from agentrun.models.base import Backend, GenRequest
from agentrun.models.structured import generate_structured
from agentrun.prompts import localized, render_chat
from agentrun.schemas import (
    DatasetMap,
    Example,
    ExampleKind,
    Fact,
    Probe,
    ProbeKind,
    Reason,
    ReasonCode,
    Verdict,
)
from agentrun.workspace import (
    ACCEPTED,
    CANDIDATES,
    REJECTED,
    Run,
    load_examples,
    load_map,
    save_examples,
)

log = logging.getLogger(__name__)
ROLES = {"system", "user", "assistant"}


@dataclass
class CheckResult:
    """Verdicts for a batch, in input order."""

    examples: list[Example]
    vectors: dict[str, np.ndarray] = field(default_factory=dict)
    """Embeddings computed while checking, by example id (reused when committing)."""

    @property
    def accepted(self) -> list[Example]:
        """The accepted examples."""
        return [e for e in self.examples if e.verdict and e.verdict.accepted]

    @property
    def rejected(self) -> list[Example]:
        """The rejected examples."""
        return [e for e in self.examples if e.verdict and not e.verdict.accepted]


class Checker:
    """Checks candidates against the map, the probes and the workspace's memory."""

    def __init__(self, dataset_map: DatasetMap, memory: Memory, embedder: Embedder,
                 settings: CheckerSettings, judge: Backend | None = None, retries: int = 1):
        self.map = dataset_map
        self.judge = judge
        self.retries = retries
        self.memory = memory
        self.embedder = embedder
        self.settings = settings
        self.node_ids = dataset_map.node_ids()
        # probe prompts by their first four words: a lookup per 4-gram of the example, not a
        # scan of every probe of the map
        self.leak_patterns: dict[str, list[tuple[Probe, str]]] = {}
        for p in dataset_map.probes():
            pattern = as_lemmas(p.prompt)
            if p.kind != ProbeKind.absorption and len(pattern.split()) >= 4:
                key = " ".join(pattern.split()[:4])
                self.leak_patterns.setdefault(key, []).append((p, pattern))
        self.probe_prompts = {as_lemmas(p.prompt): p for p in dataset_map.probes()}
        self.grounding = Grounding(dataset_map, settings)

    def check(self, candidates: list[Example], round_key: str,
              budget: int | None = None) -> CheckResult:
        """Decide every candidate; nothing is written (see `commit`).

        `budget` is how many more examples the run may accept: valid ones past it are
        rejected `over_budget` (alternatives of one brief take one place, a fork keeps one).
        """
        index = self.memory.near_index(self.settings.minhash_threshold, self.settings.num_perm)
        stored = self.memory.existing([c.id for c in candidates])
        batch_ids: set[str] = set()
        for ex in candidates:
            reasons = self._cheap_checks(ex, stored, batch_ids, index, round_key)
            ex.verdict = Verdict(accepted=not reasons, reasons=reasons)
            if not reasons:
                batch_ids.add(ex.id)
                # untagged while pending, so later candidates of this batch see it
                index.add(ex.id, ex.content())
        vectors = self._embedding_checks(
            [c for c in candidates if c.verdict and c.verdict.accepted], round_key)
        if self.judge is not None:
            self._judge_checks([c for c in candidates if c.verdict and c.verdict.accepted
                                and c.provenance.generator.startswith("model:")])
        if budget is not None:
            over_budget([c for c in candidates if c.verdict and c.verdict.accepted], budget)
        for ex in candidates:  # the index keeps only what this round accepted
            if ex.id in batch_ids and not (ex.verdict and ex.verdict.accepted):
                index.remove(ex.id)
            elif ex.verdict and ex.verdict.accepted:
                # the score a fork compares: grounded in the sources and new to the corpus
                scores = ex.verdict.scores
                scores["grounding"] = round(self.grounding.score(ex), 4)
                scores["score"] = round((scores["grounding"] + scores.get("novelty", 0.0)) / 2, 4)
        return CheckResult(candidates, vectors)

    def commit(self, result: CheckResult, round_key: str) -> None:
        """Upsert the accepted examples into memory (idempotent by content hash)."""
        accepted = result.accepted
        vectors = np.stack([result.vectors[e.id] for e in accepted]) if accepted else \
            np.zeros((0, 0), dtype=np.float32)
        self.memory.add(accepted, vectors, round_key)

    # -- cheap checks

    def _cheap_checks(self, ex: Example, stored: dict[str, dict[str, object]],
                      batch_ids: set[str], index: NearDuplicateIndex,
                      round_key: str) -> list[Reason]:
        problem = self._schema_problem(ex)
        if problem is not None:
            return [problem]
        meta = stored.get(ex.id)
        if ex.id in batch_ids or (meta is not None and meta.get("round_key") != round_key):
            return [Reason(code=ReasonCode.duplicate_of, other=ex.id,
                           detail="same content already in the corpus")]
        # a structural example is another wording, order or frame by construction: the near-
        # duplicate checks catch a model repeating itself (an exact duplicate is still one)
        near = None if ex.provenance.structural else self._near(ex, index, batch_ids,
                                                                round_key)
        if near is not None:
            return [Reason(code=ReasonCode.near_duplicate_of, other=near[0],
                           detail=f"word 3-gram Jaccard {near[1]:.2f}, containment "
                                  f"{near[2]:.2f}")]
        missing = [a for a in ex.anchors_used if a not in self.node_ids]
        if ex.node_id not in self.node_ids or missing:
            return [Reason(code=ReasonCode.broken_anchor, other=", ".join(missing) or ex.node_id,
                           detail="the example uses a node that is not in the map")]
        leak = self._leak(ex)
        if leak is not None:
            return [Reason(code=ReasonCode.leaks_probe, other=leak.id,
                           detail=f"contains the {leak.kind} probe's prompt")]
        problem = self.grounding.problem(ex)
        return [problem] if problem is not None else []

    def _near(self, ex: Example, index: NearDuplicateIndex, batch_ids: set[str],
              round_key: str) -> tuple[str, float, float] | None:
        """Return the stored text `ex` nearly repeats (key, Jaccard, containment), if any.

        On a shared memory the hit must still be stored: another worker may have forgotten
        it since this worker indexed it (a fork that kept another alternative).
        """
        while True:
            near = index.query(ex.content(), skip_tag=round_key)
            if near is None or near[0] == ex.id or (
                    near[1] < self.settings.minhash_threshold
                    and near[2] < self.settings.containment_threshold):
                return None
            if not self.memory.shared or near[0] in batch_ids or self.memory.existing([near[0]]):
                return near
            index.remove(near[0])

    def content_problem(self, ex: Example) -> Reason | None:
        """Return what is wrong with an example on its own (its form, its grounding), if any.

        The checks that need no memory: what the corpus already holds is not asked.
        """
        return self._schema_problem(ex) or self.grounding.problem(ex)

    def _schema_problem(self, ex: Example) -> Reason | None:
        msgs = ex.messages
        if msgs is not None:
            bad = (not msgs or msgs[-1].get("role") != "assistant"
                   or any(m.get("role") not in ROLES or not str(m.get("content", "")).strip()
                          for m in msgs))
            if bad:
                return Reason(code=ReasonCode.malformed,
                              detail="messages must be non-empty turns ending with the assistant")
        elif not (ex.text or "").strip():
            return Reason(code=ReasonCode.malformed, detail="neither messages nor text")
        size = len(ex.content())
        turns = [m["content"] for m in msgs] if msgs is not None else [ex.text or ""]
        sentences = [normalize(s) for t in turns for s in SENTENCE.findall(t)]
        if len(sentences) != len(set(sentences)):
            return Reason(code=ReasonCode.malformed, detail="repeats a sentence")
        if ex.kind == ExampleKind.dialogue and any(
                len(m["content"].split()) < 3 for m in msgs or [] if m["role"] == "assistant"):
            return Reason(code=ReasonCode.malformed, detail="a tutor turn under three words")
        if size < self.settings.min_chars:
            return Reason(code=ReasonCode.too_short, detail=f"{size} characters")
        limit = self.settings.max_part_chars if ex.kind == ExampleKind.megastructure_part \
            else self.settings.max_chars
        if size > limit:
            return Reason(code=ReasonCode.too_long, detail=f"{size} characters")
        return None

    def _leak(self, ex: Example) -> Probe | None:
        if ex.messages:
            for m in ex.messages:
                asked = as_lemmas(m["content"]) if m["role"] == "user" else ""
                if asked in self.probe_prompts:
                    return self.probe_prompts[asked]
        content = as_lemmas(ex.content())
        words = content.split()
        for i in range(len(words) - 3):
            for probe, pattern in self.leak_patterns.get(" ".join(words[i:i + 4]), ()):
                if pattern in content:
                    return probe
        return None

    # -- memory-backed checks


    def _embedding_checks(self, accepted: list[Example],
                          round_key: str) -> dict[str, np.ndarray]:
        """Reject embedding near duplicates; return the vectors of what was checked."""
        if not accepted:
            return {}
        vectors = self.embedder.embed([e.content() for e in accepted])
        nearest = self.memory.nearest(vectors, exclude_round=round_key)
        sims = vectors @ vectors.T
        for i, ex in enumerate(accepted):
            # structural examples are never near duplicates (see _cheap_checks)
            limit = math.inf if ex.provenance.structural else \
                self.settings.embed_threshold.get(ex.kind, 0.97)
            clash: tuple[str, float] | None = None
            if nearest[i] is not None and nearest[i].similarity >= limit:  # type: ignore[union-attr]
                clash = (nearest[i].id, nearest[i].similarity)  # type: ignore[union-attr]
            earlier = [j for j in range(i) if accepted[j].verdict.accepted  # type: ignore[union-attr]
                       and sims[i, j] >= limit]
            if clash is None and earlier:
                clash = (accepted[earlier[0]].id, float(sims[i, earlier[0]]))
            if clash is not None:
                ex.verdict = Verdict(accepted=False, reasons=[Reason(
                    code=ReasonCode.near_duplicate_of, other=clash[0],
                    detail=f"embedding cosine {clash[1]:.3f} ≥ {limit} ({ExampleKind(ex.kind)})")])
                continue
            # how far it is from everything before it: what it adds to the corpus
            closest = max([nearest[i].similarity if nearest[i] is not None else 0.0]  # type: ignore[union-attr]
                          + [float(sims[i, j]) for j in range(i)])
            ex.verdict.scores["novelty"] = round(1.0 - max(closest, 0.0), 4)  # type: ignore[union-attr]
        return {ex.id: vectors[i] for i, ex in enumerate(accepted)}


    def _judge_checks(self, examples: list[Example]) -> None:
        """Ask the checker model, in one batch, whether model-written examples keep the facts.

        Runs last, on what every deterministic check accepted: the judge sees the facts of the
        example's node and of the nodes it cites, numbered, and names the one it clashes with.
        """
        assert self.judge is not None
        if not examples:
            return
        shown = [self._judge_facts(ex) for ex in examples]
        requests = [GenRequest(messages=render_chat(
            localized("checker.judge.md", self.map.node(ex.node_id).language),
            facts=[f.text for f in fs], example=_answer_lines(ex)),
                               max_new_tokens=120, tags={"example": ex.id})
                    for ex, fs in zip(examples, shown, strict=True)]
        outputs = generate_structured(self.judge, requests, JudgeOut, retries=self.retries)
        for ex, facts, out in zip(examples, shown, outputs, strict=True):
            if out is None or out.verdict == "consistent":
                continue  # an unreadable judgement rejects nothing the rules accepted
            fact = facts[out.fact - 1].id if 0 < out.fact <= len(facts) else ex.node_id
            code = ReasonCode.contradicts if out.verdict == "contradicts" else \
                ReasonCode.ungrounded
            ex.verdict = Verdict(accepted=False, reasons=[Reason(
                code=code, other=fact, detail=f"judge {self.judge.model_id}: {out.reason}")])

    def _judge_facts(self, ex: Example) -> list[Fact]:
        """Return the facts a judge needs: the node's, then those of the nodes it cites."""
        ids = [ex.node_id] + [n for n in ex.anchors_used if n != ex.node_id]
        facts = [f for i in ids if i in self.node_ids for f in self.map.node(i).facts]
        return facts[:JUDGE_MAX_FACTS]


JUDGE_MAX_FACTS = 48


class JudgeOut(BaseModel):
    """The checker model's reading of one example against its facts."""

    verdict: Literal["consistent", "contradicts", "unsupported"]
    fact: int = Field(default=0, ge=0, le=JUDGE_MAX_FACTS)
    """The number of the note the example contradicts (1-based); 0 when none."""
    reason: str = Field(default="", max_length=200)


def _answer_lines(ex: Example) -> str:
    """Return an example as the judge reads it: its turns, one per line, roles named."""
    if ex.messages:
        return "\n".join(f"{m['role']}: {m['content']}" for m in ex.messages)
    return ex.text or ""


# ---------------------------------------------------------------- a round


def drop_phantoms(memory: Memory, current: Run) -> int:
    """Forget memory entries that no run's ledger holds; return how many.

    A round commits to memory before it writes its verdicts (so a crash re-checks it); a run
    abandoned in between, or a run folder deleted, leaves entries no `accepted.jsonl` has,
    which would reject a new run's examples as their duplicates. Entries of a round that
    finished, of this run, or of a run another process drives are kept. O(corpus), once a run.
    A memory shared on a server keeps the entries of runs this copy of the workspace does not
    have (other machines'): only a run folder here, abandoned, has phantoms.
    """
    phantoms: list[str] = []
    for key, ids in memory.round_keys().items():
        run_id, _, round_name = key.partition("/")
        if not round_name or run_id == current.id:
            continue
        other = Run(current.root.parent / run_id)
        if memory.shared and not other.root.exists():
            continue
        if (other.data_dir / "rounds" / round_name / ACCEPTED).exists() or (
                other.root.exists() and other.has_writer()):
            continue
        phantoms += ids
    memory.remove(phantoms)
    return len(phantoms)


def over_budget(accepted: list[Example], budget: int) -> None:
    """Reject what does not fit the budget, taking the nodes' examples in turn.

    Each node keeps its first examples before any node gets another, so a full budget cuts
    the round evenly rather than the last nodes whole. Alternatives of one brief (`group`)
    take one place: the fork after the checker keeps one of them.
    """
    by_node: dict[str, list[list[Example]]] = {}
    places: dict[str, list[Example]] = {}
    for ex in accepted:
        key = ex.group or ex.id
        if key not in places:
            places[key] = []
            by_node.setdefault(ex.node_id, []).append(places[key])
        places[key].append(ex)
    turns = [place for queue in itertools.zip_longest(*by_node.values()) for place in queue
             if place is not None]
    for place in turns[max(budget, 0):]:
        for ex in place:
            ex.verdict = Verdict(accepted=False, reasons=[Reason(
                code=ReasonCode.over_budget,
                detail=f"the run's example budget was filled ({budget} left this round)")])


def check_round(cfg: AgentrunConfig, run: Run, iteration: int, round_: int, memory: Memory,
                embedder: Embedder, judge: Backend | None) -> dict[str, Any]:
    """Check a round's candidates once, then gather the run's verdicts; return the counts."""
    folder = run.round_dir(iteration, round_)
    round_key = f"{run.id}/{folder.name}"
    if not (folder / ACCEPTED).exists():
        if not run.round_files(ACCEPTED):  # the run's first check: memory follows the ledgers
            dropped = drop_phantoms(memory, run)
            if dropped:
                log.info("forgot %d memory entries of rounds no ledger holds", dropped)
        checker = Checker(load_map(run.map_path), memory, embedder, cfg.checker, judge,
                          cfg.generation.structured_retries)
        before = len(run.verdicts()[0])  # this round's own verdicts are not written yet
        result = checker.check(load_examples(folder / CANDIDATES), round_key,
                               cfg.budgets.max_examples - before)
        # Memory first, then the files: a crash in between re-checks this round, and the
        # round's own memory entries are skipped by `round_key`, so nothing is lost or doubled.
        checker.commit(result, round_key)
        save_examples(folder / REJECTED, result.rejected)
        save_examples(folder / ACCEPTED, result.accepted)
    accepted, rejected = run.verdicts()
    save_examples(run.accepted_path, accepted)
    save_examples(run.rejected_path, rejected)
    reasons = Counter(r.code.value for e in rejected for r in (e.verdict.reasons if e.verdict
                                                                 else []))
    return {"accepted": len(accepted), "rejected": len(rejected),
            "rejected_by_reason": dict(reasons)}
