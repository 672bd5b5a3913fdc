"""Model enrichment of a planned map by the architect model.

Summaries, and with a strong model anchor relations, transfer probes and the generalization
questions in better words. Each step is one
batch; whatever fails its schema or its check against the sources keeps the structural version,
so a weak model never makes the map worse.
"""

from __future__ import annotations

import logging
import re
from collections import Counter

from pydantic import BaseModel, Field

from agentrun.agents.text import normalize
from agentrun.config import AgentrunConfig
from agentrun.models import Backend, GenRequest
from agentrun.models.structured import generate_structured
from agentrun.prompts import localized, render_chat
from agentrun.schemas import Anchor, DatasetMap, Node, Probe, ProbeKind, Relation

log = logging.getLogger(__name__)


class SummaryOut(BaseModel):
    """A node summary written by the model."""

    summary: str = Field(min_length=10, max_length=300)


class TransferProbeOut(BaseModel):
    """A question that needs facts of two anchored nodes, and its short answer."""

    question: str = Field(min_length=10, max_length=300)
    answer: str = Field(min_length=1, max_length=80)


class QuestionOut(BaseModel):
    """A probe's question in better words (its answer stays the structural one)."""

    question: str = Field(min_length=8, max_length=300)


class RelationOut(BaseModel):
    """The relation an anchor's sentence expresses."""

    relation: Relation


def enrich_with_model(dataset_map: DatasetMap, cfg: AgentrunConfig, architect: Backend,
                      fresh: set[str]) -> None:
    """Add what the architect model can: summaries; with a strong model, relations and probes.

    Each step is one batch; whatever fails its schema or its check against the sources keeps
    the structural version, so a weak model never makes the map worse.
    """
    retries, seed = cfg.generation.structured_retries, cfg.generation.seed
    n = enrich_summaries(dataset_map, architect, retries, seed, fresh)
    log.info("the architect model wrote %d of %d summaries", n, len(fresh))
    mode = cfg.planning.model_probes
    if mode == "on" or (mode == "auto" and cfg.roles.architect.model != "embedded"):
        typed = model_relations(dataset_map, architect, retries, seed, fresh)
        probes = model_transfer_probes(dataset_map, architect, retries, seed, fresh)
        worded = model_questions(dataset_map, architect, retries, seed, fresh)
        log.info("the architect model retyped %d anchors, wrote %d transfer probes and "
                 "reworded %d questions", typed, probes, worded)


def enrich_summaries(dataset_map: DatasetMap, backend: Backend, retries: int, seed: int,
                     only: set[str] | None = None) -> int:
    """Ask the model for node summaries in one batch; keep the structural one where it fails."""
    nodes = [n for n in dataset_map.nodes
             if len(n.facts) >= 2 and (only is None or n.id in only)]
    requests = [
        GenRequest(
            messages=render_chat(localized("architect.summary.md", n.language), title=n.title,
                                 facts=[f.text for f in n.facts[:8]]),
            max_new_tokens=120, seed=seed,
        )
        for n in nodes
    ]
    outputs = generate_structured(backend, requests, SummaryOut, retries=retries)
    written = 0
    for node, out in zip(nodes, outputs, strict=True):
        if out is not None and _grounded(out.summary, node):
            node.summary = out.summary
            written += 1
    return written


def model_transfer_probes(dataset_map: DatasetMap, backend: Backend, retries: int, seed: int,
                          only: set[str] | None = None) -> int:
    """Let the model write transfer probes across anchors, in one batch; keep valid ones.

    A model probe replaces a structural one only if its answer is a phrase of the other
    node's facts and the question does not give it away (`_valid_transfer`).
    """
    jobs: list[tuple[Node, Node, Anchor]] = []
    per_node: Counter[str] = Counter()
    for anchor in dataset_map.anchors:
        src, dst = dataset_map.node(anchor.src), dataset_map.node(anchor.dst)
        wanted = (only is None or src.id in only) and per_node[src.id] < 2
        if wanted and anchor.relation != Relation.part_of and src.facts and dst.facts:
            per_node[src.id] += 1
            jobs.append((src, dst, anchor))
    requests = [
        GenRequest(messages=render_chat(
            localized("architect.transfer.md", src.language), src_title=src.title,
            dst_title=dst.title,
            src_facts=[f.text for f in src.facts[:6]], dst_facts=[f.text for f in dst.facts[:6]],
            link=anchor.sentence),
            max_new_tokens=120, seed=seed)
        for src, dst, anchor in jobs
    ]
    outputs = generate_structured(backend, requests, TransferProbeOut, retries=retries)
    written = 0
    for (src, dst, anchor), out in zip(jobs, outputs, strict=True):
        answer_fact = _valid_transfer(out, src, dst) if out is not None else None
        if out is None or answer_fact is None:
            continue
        bridge = next((f.id for f in src.facts if f.text in anchor.sentence), src.facts[0].id)
        # the model's words replace the direct structural probe across the same anchor (its
        # step-by-step variant stays); an anchor without one gets a probe of its own
        dst_facts = {f.id for f in dst.facts}
        same = next((p for p in src.probes if p.kind == ProbeKind.transfer and p.origin ==
                     "structural" and ".t" in p.id and p.fact_ids[-1] in dst_facts), None)
        probe = Probe(id=same.id if same else f"{src.id}.t{len(src.probes)}", node_id=src.id,
                      kind=ProbeKind.transfer, prompt=out.question,
                      answer=out.answer.strip().rstrip("."), fact_ids=[bridge, answer_fact],
                      origin=f"model:{backend.model_id}")
        src.probes = [probe if p is same else p for p in src.probes] if same \
            else [*src.probes, probe]
        written += 1
    return written


def model_questions(dataset_map: DatasetMap, backend: Backend, retries: int, seed: int,
                    only: set[str] | None = None) -> int:
    """Let the model reword the structural generalization questions, in one batch.

    The answer stays the structural one; a rewording is kept only if it is a question, does
    not give its answer away and still speaks of the fact (shares two of its words).
    """
    jobs = [(node, probe, facts[probe.fact_ids[0]])
            for node in dataset_map.nodes if only is None or node.id in only
            for facts in [{f.id: f.text for f in node.facts}]
            for probe in node.probes if probe.kind == ProbeKind.generalization
            and probe.origin == "structural" and probe.fact_ids[0] in facts]
    requests = [GenRequest(messages=render_chat(
        localized("architect.question.md", node.language), title=node.title, fact=fact,
        question=probe.prompt, answer=probe.answer), max_new_tokens=80, seed=seed)
        for node, probe, fact in jobs]
    outputs = generate_structured(backend, requests, QuestionOut, retries=retries)
    worded = 0
    for (_, probe, fact), out in zip(jobs, outputs, strict=True):
        if out is None or not _valid_question(out.question, probe.answer, fact):
            continue
        probe.prompt = " ".join(out.question.split())
        probe.origin = f"model:{backend.model_id}"
        worded += 1
    return worded


def _valid_question(question: str, answer: str, fact: str) -> bool:
    """A question (ends with '?'), without its answer, about the fact it asks."""
    said = normalize(question)
    shared = {w for w in said.split() if len(w) >= 4} & set(normalize(fact).split())
    return question.rstrip().endswith("?") and f" {normalize(answer)} " not in f" {said} " \
        and len(shared) >= 2


def _valid_transfer(out: TransferProbeOut, src: Node, dst: Node) -> str | None:
    """Return the id of the fact of `dst` holding the answer, if the probe is sound."""
    answer = " ".join(out.answer.lower().strip().rstrip(".").split())
    question = out.question.lower()
    if len(answer) < 3 or answer in question or "?" not in out.question:
        return None
    about_src = src.title.lower() in question or any(
        w in question for f in src.facts for w in re.findall(r"[a-z]{6,}", f.text.lower()))
    if not about_src:
        return None
    return next((f.id for f in dst.facts if answer in " ".join(f.text.lower().split())), None)


def model_relations(dataset_map: DatasetMap, backend: Backend, retries: int, seed: int,
                    only: set[str] | None = None) -> int:
    """Let the model type the anchors that carry a linking sentence, in one batch."""
    node = dataset_map.node
    anchors = [a for a in dataset_map.anchors if (only is None or a.src in only)
               and a.relation != Relation.part_of and a.sentence
               in {f.text for f in node(a.src).facts}]
    requests = [
        GenRequest(messages=render_chat(
            localized("architect.relation.md", node(a.src).language), src_title=node(a.src).title,
            dst_title=node(a.dst).title, sentence=a.sentence),
            max_new_tokens=24, seed=seed)
        for a in anchors
    ]
    outputs = generate_structured(backend, requests, RelationOut, retries=retries)
    changed = 0
    for anchor, out in zip(anchors, outputs, strict=True):
        if out is not None and out.relation != anchor.relation:
            anchor.relation = out.relation
            changed += 1
    return changed


def _grounded(text: str, node: Node) -> bool:
    """Accept a model's text only if its names and numbers appear in the node's facts."""
    facts = " ".join(f.text for f in node.facts).lower()
    names = re.findall(r"\b(?:[A-Z][a-z]+|\d+)\b", text)
    return bool(names) and all(n.lower() in facts or n.lower() in node.title.lower()
                               for n in names[1:])
