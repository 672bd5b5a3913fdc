"""The consistency checker: accept or reject each candidate with typed reasons.

Checks run cheapest first: schema and length → exact hash → MinHash-LSH near duplicates →
anchor resolution → probe leakage → fact consistency (a restated fact with another number,
name or polarity) → invented names → off-node → embedding near duplicates (Chroma). The
memory it checks against is the workspace's, shared by every run.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from agentrun.agents.text import FactIndex, content_words, normalize, stems
from agentrun.config import AgentrunConfig, CheckerSettings
from agentrun.memory.dedup import NearDuplicateIndex
from agentrun.memory.embeddings import Embedder
from agentrun.memory.store import Memory
from agentrun.models.base import Backend, GenRequest
from agentrun.models.structured import generate_structured
from agentrun.prompts import render_chat
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
# A capitalized word that does not open a sentence, or a number: what a model may invent.
INNER_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)\b(?:[A-Z][a-z]+|\d+)\b", re.M)
SENTENCE = re.compile(r"[^.!?]+[.!?]")
MARKER = re.compile(r"\[(?:THEME|ANCHOR|SYNTHESIS|ERROR)\]\s*")


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
            pattern = normalize(p.prompt)
            if p.kind != ProbeKind.absorption and len(pattern.split()) >= 4:
                key = " ".join(pattern.split()[:4])
                self.leak_patterns.setdefault(key, []).append((p, pattern))
        self.probe_prompts = {normalize(p.prompt): p for p in dataset_map.probes()}
        own = self.own_vocab = {
            n.id: set(content_words(" ".join([n.title, *(f.text for f in n.facts),
                                              *(c.text for c in n.code)])))
            for n in dataset_map.nodes}
        # the node ids each node's examples may draw on: itself and its anchored nodes
        self.reach = {n.id: {n.id} | {a.dst for a in dataset_map.neighbours(n.id)}
                      for n in dataset_map.nodes}
        self.node_vocab = {nid: set().union(*(own[d] for d in reach if d in own))
                           for nid, reach in self.reach.items()}
        self.facts = FactIndex(dataset_map)
        self.support = {n.id: Support.of([n.title, *(f.text for f in n.facts)])
                        for n in dataset_map.nodes}
        self.vocabulary = set().union(*own.values()) | {
            w.lower() for n in dataset_map.nodes
            for w in re.findall(r"\w+", " ".join([n.title] + [f.text for f in n.facts]))}

    def check(self, candidates: list[Example], round_key: str) -> CheckResult:
        """Decide every candidate; nothing is written (see `commit`)."""
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
        for ex in candidates:  # the index keeps only what this round accepted
            if ex.id in batch_ids and not (ex.verdict and ex.verdict.accepted):
                index.remove(ex.id)
            elif ex.verdict and ex.verdict.accepted:
                # the score a fork compares: grounded in the sources and new to the corpus
                scores = ex.verdict.scores
                scores["grounding"] = round(self._grounding(ex), 4)
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
        near = index.query(ex.content(), skip_tag=round_key)
        if near is not None and near[0] != ex.id and (
                near[1] >= self.settings.minhash_threshold
                or near[2] >= self.settings.containment_threshold):
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
        problem = self.ungrounded(ex)
        return [problem] if problem is not None else []

    def content_problem(self, ex: Example) -> Reason | None:
        """Return what is wrong with an example on its own (its form, its grounding), if any.

        The checks that need no memory: what the corpus already holds is not asked.
        """
        return self._schema_problem(ex) or self.ungrounded(ex)

    def ungrounded(self, ex: Example) -> Reason | None:
        """Return why an example says what its notes do not, or None when it is grounded.

        A contradicted fact, a name or number the sources lack, a model-written sentence the
        notes do not support, or an answer mostly in other words than its nodes'.
        """
        clash = self._contradiction(ex)
        if clash is not None:
            return clash
        invented = self._invented(ex)
        if invented:
            return Reason(code=ReasonCode.ungrounded, other=ex.node_id,
                          detail=f"names not in the sources: {', '.join(invented[:5])}")
        unsupported = self._unsupported(ex)
        if unsupported is not None:
            return Reason(code=ReasonCode.ungrounded, other=ex.node_id,
                          detail=f"a sentence the notes do not support: {unsupported}")
        if not self._on_node(ex):
            return Reason(code=ReasonCode.off_node, other=ex.node_id,
                          detail="most of its words are not in the node's sources")
        return None

    def _contradiction(self, ex: Example) -> Reason | None:
        """Reject an example that restates a fact of its node or anchors with another value.

        An [ERROR] example may state a wrong value on purpose, if it also states the right one.
        """
        nodes = self.reach.get(ex.node_id, {ex.node_id}) | set(ex.anchors_used)
        sentences = SENTENCE.findall(_answer(ex) + " ")
        for sentence in sentences:
            found = self.facts.contradiction(sentence, nodes)
            if found is None:
                continue
            fact, how = found
            if "[ERROR]" in ex.markers and any(
                    self.facts.agrees(fact, s) for s in sentences):
                continue
            return Reason(code=ReasonCode.contradicts, other=fact.fact_id,
                          detail=f"{how}: {sentence.strip()}")
        return None

    def _invented(self, ex: Example) -> list[str]:
        """Return the names and numbers of the answer that no source fact contains."""
        names = INNER_NAME.findall(_answer(ex))
        return sorted({n for n in names if n.lower() not in self.vocabulary})

    def _unsupported(self, ex: Example) -> str | None:
        """Return the first sentence of a model-written answer its notes do not support.

        A model rewrites facts; it must not add to them ("She died at nineteen" where the
        notes say she came to the island at nineteen). A sentence is supported when its
        content words are words of its node's or anchored nodes' facts
        (`checker.min_sentence_support`), each clause keeps the order of some fact (two of
        its content words next to each other stand at most two apart in one fact: a
        recombination such as "born in Tollis at nineteen" is not), and a negation is one
        a fact makes. Structural examples are the facts' own words and are not read here.
        """
        if not ex.provenance.generator.startswith("model:"):
            return None
        nodes = self.reach.get(ex.node_id, {ex.node_id}) | set(ex.anchors_used)
        support = Support.union([self.support[n] for n in nodes if n in self.support])
        text = _answer(ex)
        for sentence in SENTENCE.findall(text + " "):
            if not support.holds(sentence, self.settings.min_sentence_support):
                return sentence.strip()
        cut = SENTENCE.sub("", text).strip()
        # words after the last full stop: the output was cut off, or is no sentence at all
        return cut if len(cut.split()) >= 2 else None

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
                if m["role"] == "user" and normalize(m["content"]) in self.probe_prompts:
                    return self.probe_prompts[normalize(m["content"])]
        content = normalize(ex.content())
        words = content.split()
        for i in range(len(words) - 3):
            for probe, pattern in self.leak_patterns.get(" ".join(words[i:i + 4]), ()):
                if pattern in content:
                    return probe
        return None

    def _on_node(self, ex: Example) -> bool:
        """Most content words of the answer must come from the node or its anchored nodes."""
        return self._grounding(ex) >= self.settings.min_grounding

    def _grounding(self, ex: Example) -> float:
        """Return the share of the answer's content words found in its nodes' sources."""
        words = content_words(_answer(ex))
        if not words:
            return 0.0
        vocab = self.node_vocab.get(ex.node_id, set())
        if ex.anchors_used:  # a megastructure part may span nodes beyond the direct anchors
            vocab = vocab.union(*(self.own_vocab.get(n, set()) for n in ex.anchors_used))
        return sum(w in vocab for w in words) / len(words)

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
            limit = self.settings.embed_threshold.get(ex.kind, 0.97)
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
        requests = [GenRequest(messages=render_chat("checker.judge.md", facts=[f.text for f in fs],
                                                    example=_answer_lines(ex)),
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


def _answer(ex: Example) -> str:
    """Return what the example teaches: its assistant turns, or its text (markers left out)."""
    if ex.messages:
        text = " ".join(m["content"] for m in ex.messages if m["role"] == "assistant")
    else:
        text = ex.text or ""
    return MARKER.sub("", text)


# ---------------------------------------------------------------- a round


def check_round(cfg: AgentrunConfig, run: Run, iteration: int, round_: int, memory: Memory,
                embedder: Embedder, judge: Backend | None) -> dict[str, Any]:
    """Check a round's candidates once, then gather the run's verdicts; return the counts."""
    folder = run.round_dir(iteration, round_)
    round_key = f"{run.id}/{folder.name}"
    if not (folder / ACCEPTED).exists():
        checker = Checker(load_map(run.map_path), memory, embedder, cfg.checker, judge,
                          cfg.generation.structured_retries)
        result = checker.check(load_examples(folder / CANDIDATES), round_key)
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


@dataclass
class Support:
    """What the facts of some nodes can support: their words, word pairs and negations."""

    words: set[str]
    pairs: set[tuple[str, str]]
    negated: set[str]
    """Words of the facts that say "not" (a negated sentence must share one)."""

    @classmethod
    def of(cls, texts: list[str]) -> Support:
        """Read facts: each one's content words and the pairs at most two apart in it."""
        words: set[str] = set()
        pairs: set[tuple[str, str]] = set()
        negated: set[str] = set()
        for text in texts:
            seq = stems(text)
            words.update(seq)
            pairs.update((a, b) for i, a in enumerate(seq) for b in seq[i + 1:i + 3])
            if _negated(text):
                negated.update(seq)
        return cls(words, pairs, negated)

    @classmethod
    def union(cls, parts: list[Support]) -> Support:
        """Return what any of several nodes' facts support."""
        return cls(set().union(*(p.words for p in parts)), set().union(*(p.pairs for p in parts)),
                   set().union(*(p.negated for p in parts)))

    def holds(self, sentence: str, min_words: float) -> bool:
        """Whether the facts support a sentence (its words, its clauses' order, a negation)."""
        seq = stems(sentence)
        if not seq:
            return True
        if sum(w in self.words for w in seq) / len(seq) < min_words:
            return False
        if _negated(sentence) and not self.negated & set(seq):
            return False
        for clause in CLAUSE.split(sentence):
            part = stems(clause)
            if any((a, b) not in self.pairs for a, b in zip(part, part[1:], strict=False)):
                return False
        return True


CLAUSE = re.compile(r"[,;:()—–]|\s(?:and|but|while|whereas|и|а|но)\s", re.I)
"""Where a sentence joins clauses: each clause of a rewrite restates a part of one fact."""
NEGATION_WORDS = re.compile(r"\b(?:not|never|no|none|nor|cannot|without|не|нет|никогда|ни)\b|"
                            r"n't\b", re.I)


def _negated(text: str) -> bool:
    return bool(NEGATION_WORDS.search(text))
