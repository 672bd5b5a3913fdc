"""The architect: draws the dataset map from the sources and revises it after evaluation.

Structure first, model second: files, headings, `[[wikilinks]]` and sentences give nodes,
anchors, facts and probes without any model; the model then writes summaries where it can.
A revision reads the evaluation and moves quotas towards the probe kinds a node failed.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from langgraph.runtime import Runtime
from langgraph.types import Command
from pydantic import BaseModel, Field

from agentrun.config import AgentrunConfig
from agentrun.graphs.context import Context
from agentrun.graphs.state import State
from agentrun.models.base import Backend, GenRequest
from agentrun.models.structured import generate_structured
from agentrun.prompts import render_chat
from agentrun.schemas import (
    Anchor,
    DatasetMap,
    EvalReport,
    ExampleKind,
    Fact,
    Level,
    Node,
    NodeMetrics,
    Probe,
    ProbeKind,
    Relation,
    Revision,
    SourceSpan,
)
from agentrun.sources import Note
from agentrun.workspace import Workspace

log = logging.getLogger(__name__)

MAX_FACTS = 40
FUNCTION_WORDS = {
    "of", "in", "on", "at", "by", "from", "with", "to", "for", "as", "into", "every",
    "than", "about", "is", "are", "was", "were", "called", "means", "named", "within",
}
WH = {"by": "by whom or what", "is": "what", "are": "what", "was": "what", "were": "what",
      "called": "called what", "named": "named what", "means": "means what", "every": "every what"}
RELATION_CUES: list[tuple[Relation, re.Pattern[str]]] = [
    (Relation.part_of, re.compile(r"\bpart of\b|\bbelongs to\b|\bin every\b", re.I)),
    (Relation.contrasts, re.compile(r"\bunlike\b|\bwhereas\b|\bin contrast\b|\bnever\b", re.I)),
    (Relation.example_of, re.compile(r"\bfor example\b|\bsuch as\b|\binstance of\b", re.I)),
    (Relation.prerequisite, re.compile(r"\brequires?\b|\bbefore\b|\bsource of\b|\bfrom\b", re.I)),
    (Relation.generalizes, re.compile(r"\bkind of\b|\btype of\b|\bgenerally\b", re.I)),
]


class SummaryOut(BaseModel):
    """A node summary written by the model."""

    summary: str = Field(min_length=10, max_length=300)


def slug(text: str) -> str:
    """Return a stable, readable id for a title."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s or "node"


# ---------------------------------------------------------------- planning (structure first)


def plan_map(notes: list[Note], quotas: dict[ExampleKind, int]) -> DatasetMap:
    """Build the map's skeleton from the notes alone: nodes, facts, anchors and probes."""
    nodes = [_node_from_note(n, quotas) for n in notes]
    _dedupe_ids(nodes)
    index = _title_index(notes, nodes)
    anchors, unresolved = _anchors(notes, nodes, index)
    out_degree = Counter(a.src for a in anchors)
    for node in nodes:
        node.level = _level(node, out_degree[node.id])
    dataset_map = DatasetMap(nodes=nodes, anchors=anchors, unresolved_links=unresolved)
    for node in nodes:
        node.probes = make_probes(node, dataset_map, notes)
    return dataset_map


def _node_from_note(note: Note, quotas: dict[ExampleKind, int]) -> Node:
    node_id = slug(note.title)
    facts = [
        Fact(
            id=f"{node_id}.f{i}",
            text=s.text,
            span=SourceSpan(file=note.path, start=s.start, end=s.end, line=s.line),
        )
        for i, s in enumerate(note.sentences[:MAX_FACTS])
    ]
    if len(note.sentences) > MAX_FACTS:
        log.warning("%s: %d sentences; the node keeps the first %d as facts",
                    note.path, len(note.sentences), MAX_FACTS)
    return Node(
        id=node_id,
        title=note.title,
        summary=facts[0].text if facts else "",
        facts=facts,
        sources=[SourceSpan(file=note.path, start=0, end=len(note.text))],
        quota=dict(quotas),
    )


def _dedupe_ids(nodes: list[Node]) -> None:
    seen: Counter[str] = Counter()
    for node in nodes:
        seen[node.id] += 1
        if seen[node.id] > 1:
            log.warning("duplicate title %r: node id becomes %s-%d", node.title, node.id,
                        seen[node.id])
            node.id = f"{node.id}-{seen[node.id]}"


def _title_index(notes: list[Note], nodes: list[Node]) -> dict[str, str]:
    index: dict[str, str] = {}
    for note, node in zip(notes, nodes, strict=True):
        stem = note.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        for name in [note.title, stem, *note.aliases]:
            index.setdefault(name.strip().lower(), node.id)
    return index


def _anchors(
    notes: list[Note], nodes: list[Node], index: dict[str, str]
) -> tuple[list[Anchor], list[str]]:
    anchors: dict[tuple[str, str], Anchor] = {}
    unresolved: list[str] = []
    for note, node in zip(notes, nodes, strict=True):
        for link in note.links:
            dst = index.get(link.target.lower())
            if dst is None:
                unresolved.append(f"{note.path}: [[{link.target}]]")
                continue
            if dst == node.id or (node.id, dst) in anchors:
                continue
            anchors[(node.id, dst)] = Anchor(
                src=node.id, dst=dst, relation=type_relation(link.sentence),
                evidence=f"{note.path}: {link.sentence}"[:300],
            )
    return list(anchors.values()), unresolved


def type_relation(sentence: str) -> Relation:
    """Guess an anchor's relation from the words around its link."""
    for relation, cue in RELATION_CUES:
        if cue.search(sentence):
            return relation
    return Relation.elaborates


def _level(node: Node, out_degree: int) -> Level:
    if out_degree >= 4:
        return Level.macro
    if len(node.facts) <= 3:
        return Level.micro
    return Level.meso


# ---------------------------------------------------------------- probes


def split_fact(text: str) -> tuple[str, str, str] | None:
    """Split a fact into (prefix, function word, answer): the answer is its closing phrase."""
    words = text.rstrip(".!?").split()
    if len(words) < 5:
        return None
    for i in range(len(words) - 2, max(len(words) - 7, 1), -1):
        if words[i].lower().strip(",") in FUNCTION_WORDS:
            answer = " ".join(words[i + 1 :]).strip(",;")
            return " ".join(words[:i]), words[i].lower().strip(","), answer
    return " ".join(words[:-3]), "", " ".join(words[-3:])


def absorption_prompt(title: str, prefix: str, fw: str) -> str:
    """Return the probe prompt asking for the fact as stated."""
    return f"Complete this statement about {title}: {prefix} {fw}".rstrip()


def question_form(prefix: str, fw: str) -> str:
    """Return a reworded, question form of a fact split (the generalization form)."""
    wh = WH.get(fw, f"{fw} what" if fw else "what")
    return f"{prefix} {wh}?"


def make_probes(node: Node, dataset_map: DatasetMap, notes: Iterable[Note]) -> list[Probe]:
    """Write absorption, generalization and transfer probes for a node from its facts."""
    splits = [(f, s) for f in node.facts if (s := split_fact(f.text))]
    probes: list[Probe] = []
    for i, (fact, (prefix, fw, answer)) in enumerate(splits[:2]):
        probes.append(Probe(id=f"{node.id}.a{i}", node_id=node.id, kind=ProbeKind.absorption,
                            prompt=absorption_prompt(node.title, prefix, fw), answer=answer,
                            fact_ids=[fact.id]))
    for i, (fact, (prefix, fw, answer)) in enumerate(splits[2:4]):
        probes.append(Probe(id=f"{node.id}.g{i}", node_id=node.id,
                            kind=ProbeKind.generalization,
                            prompt=f"About {node.title}: {question_form(prefix, fw)}",
                            answer=answer, fact_ids=[fact.id]))
    probes.extend(_transfer_probes(node, dataset_map))
    return probes


def _transfer_probes(node: Node, dataset_map: DatasetMap) -> list[Probe]:
    """Two-hop probes: identify X from this node's link sentence, then recall a fact of X."""
    probes: list[Probe] = []
    for anchor in dataset_map.neighbours(node.id)[:2]:
        dst = dataset_map.node(anchor.dst)
        sentence = anchor.evidence.split(": ", 1)[-1]
        hidden = re.sub(re.escape(dst.title), "X", sentence, flags=re.I)
        if "X" not in hidden:
            continue
        for fact in dst.facts[1:]:
            split = split_fact(fact.text)
            if split is None:
                continue
            prefix, fw, answer = split
            claim = re.sub(rf"^(It|{re.escape(dst.title)}|The {re.escape(dst.title)})\b", "X",
                           prefix, flags=re.I)
            claim = claim if claim.startswith("X") else f"About X: {claim}"
            probes.append(Probe(
                id=f"{node.id}.t{len(probes)}", node_id=node.id, kind=ProbeKind.transfer,
                prompt=f'The notes on {node.title} say: "{hidden}" {claim} {fw}'.rstrip(),
                answer=answer, fact_ids=[fact.id],
            ))
            break
    return probes


# ---------------------------------------------------------------- model enrichment


def enrich_summaries(dataset_map: DatasetMap, backend: Backend, retries: int, seed: int,
                     only: set[str] | None = None) -> int:
    """Ask the model for node summaries in one batch; keep the structural one where it fails."""
    nodes = [n for n in dataset_map.nodes
             if len(n.facts) >= 2 and (only is None or n.id in only)]
    requests = [
        GenRequest(
            messages=render_chat("architect.summary.md", title=n.title,
                                 facts=[f.text for f in n.facts[:8]]),
            max_new_tokens=120, temperature=0.0, seed=seed,
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


def _grounded(text: str, node: Node) -> bool:
    """Accept a model's text only if its names and numbers appear in the node's facts."""
    facts = " ".join(f.text for f in node.facts).lower()
    names = re.findall(r"\b(?:[A-Z][a-z]+|\d+)\b", text)
    return bool(names) and all(n.lower() in facts or n.lower() in node.title.lower()
                               for n in names[1:])


# ---------------------------------------------------------------- revision


def revise_map(dataset_map: DatasetMap, report: EvalReport, weak_gain: float) -> Revision:
    """Record per-node metrics and raise quotas where the student did not learn."""
    by_node: dict[str, dict[str, list[float]]] = {}
    for r in report.probes:
        stats = by_node.setdefault(r.node_id, {})
        stats.setdefault(f"{r.kind}.gain", []).append(r.logprob_after - r.logprob_before)
        stats.setdefault(f"{r.kind}.acc_after", []).append(float(r.correct_after))
    changes: list[str] = []
    for node in dataset_map.nodes:
        means = {k: sum(v) / len(v) for k, v in by_node.get(node.id, {}).items()}
        node.metrics = _metrics(node, report)
        weak = [k for k in ProbeKind if f"{k}.gain" in means
                and means[f"{k}.gain"] < weak_gain and means[f"{k}.acc_after"] < 1.0]
        if weak:
            changes.append(_raise_quotas(node, weak))
            node.status = "weak"
        elif means:
            node.status = "learned"
    dataset_map.version += 1
    revision = Revision(
        version=dataset_map.version, at=time.strftime("%Y-%m-%dT%H:%M:%S"),
        reason=f"evaluation of iteration {report.iteration}: "
               f"{len(changes)} of {len(dataset_map.nodes)} nodes below a gain of {weak_gain}",
        changes=changes,
    )
    dataset_map.history.append(revision)
    return revision


def _metrics(node: Node, report: EvalReport) -> NodeMetrics:
    probes = [r for r in report.probes if r.node_id == node.id]
    before: dict[str, float] = {}
    after: dict[str, float] = {}
    for kind in ProbeKind:
        ks = [r for r in probes if r.kind == kind]
        if ks:
            before[str(kind)] = round(sum(r.logprob_before for r in ks) / len(ks), 4)
            after[str(kind)] = round(sum(r.logprob_after for r in ks) / len(ks), 4)
    return NodeMetrics(before=before, after=after, iteration=report.iteration)


# Which kinds of example teach what a failed probe kind tests.
REMEDY: dict[ProbeKind, dict[ExampleKind, int]] = {
    ProbeKind.absorption: {ExampleKind.rephrasing: 1, ExampleKind.exercise: 2},
    ProbeKind.generalization: {ExampleKind.exercise: 2, ExampleKind.dialogue: 1},
    ProbeKind.transfer: {ExampleKind.exercise: 2, ExampleKind.dialogue: 1},
}


def _raise_quotas(node: Node, weak: list[ProbeKind]) -> str:
    moved: Counter[ExampleKind] = Counter()
    for probe_kind in weak:
        moved.update(REMEDY[probe_kind])
    for kind, extra in moved.items():
        node.quota[kind] = node.quota.get(kind, 0) + extra
    what = ", ".join(f"{k} +{v}" for k, v in sorted(moved.items()))
    return f"{node.id}: weak on {', '.join(str(k) for k in weak)}; quota {what}"


# ---------------------------------------------------------------- graph nodes


def sources_digest(notes: list[Note]) -> str:
    """Return a digest of the sources (the map is re-planned when it changes)."""
    from agentrun.schemas import content_hash

    return content_hash("\n".join(f"{n.path}\n{n.text}" for n in notes))


def ingest_node(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """Read the sources (failing clearly on bad files) and open or create the run folder."""
    from agentrun.sources import read_sources
    from agentrun.workspace import Run, Workspace

    ws = Workspace.open(runtime.context.workspace)
    notes = read_sources(ws.sources_dir)
    run = Run(Path(state["run_dir"])) if state.get("run_dir") else ws.new_run()
    run.create()
    log.info("ingested %d notes into run %s", len(notes), run.id)
    return {"run_dir": str(run.root), "sources_digest": sources_digest(notes),
            "started_at": state.get("started_at") or time.time(), "iteration": 1, "round": 0,
            "accepted": 0, "rejected": 0, "rejected_by_reason": {}, "revisions": []}


def plan_workspace(ws: Workspace, cfg: AgentrunConfig, use_model: bool = True) -> DatasetMap:
    """Return the workspace's map, planning it when the sources changed.

    A map whose sources digest matches is reused as it is (hand edits kept); otherwise the map
    is planned from the sources, enriched by the architect model, and saved to `map.yaml`.
    """
    from agentrun.services import backend
    from agentrun.sources import read_sources
    from agentrun.workspace import load_map, save_map

    notes = read_sources(ws.sources_dir)
    digest = sources_digest(notes)
    existing = load_map(ws.map_path) if ws.map_path.exists() else None
    if existing is not None and existing.sources_digest == digest:
        return existing
    dataset_map = plan_map(notes, cfg.generation.quotas)
    dataset_map.sources_digest = digest
    fresh = {n.id for n in dataset_map.nodes}
    if existing is not None:
        fresh = merge_replan(existing, dataset_map)
    if use_model and cfg.generation.model_generators:
        n = enrich_summaries(dataset_map, backend(cfg, ws, "architect"),
                             cfg.generation.structured_retries, cfg.generation.seed, fresh)
        log.info("the architect model wrote %d of %d summaries", n, len(fresh))
    save_map(dataset_map, ws.map_path)
    return dataset_map


def merge_replan(old: DatasetMap, new: DatasetMap) -> set[str]:
    """Carry a person's edits from `old` into a re-planned `new`; record the diff in history.

    A node whose facts did not change is kept exactly as it was (summary, level, quotas,
    probes: hand edits included); a changed node takes the new facts and probes but keeps its
    level and quotas; anchors a person added between surviving nodes are kept. Returns the
    ids of nodes that need a new summary.
    """
    before = {n.id: n for n in old.nodes}
    changes: list[str] = []
    fresh: set[str] = set()
    for i, node in enumerate(new.nodes):
        prior = before.get(node.id)
        if prior is None:
            changes.append(f"+ node {node.id}: new source ({len(node.facts)} facts)")
            fresh.add(node.id)
        elif [f.text for f in prior.facts] == [f.text for f in node.facts]:
            new.nodes[i] = prior
        else:
            gone = {f.text for f in prior.facts} - {f.text for f in node.facts}
            added = {f.text for f in node.facts} - {f.text for f in prior.facts}
            node.level, node.quota = prior.level, dict(prior.quota)
            changes.append(f"~ node {node.id}: facts +{len(added)} -{len(gone)}; "
                           "probes rewritten, level and quotas kept")
            fresh.add(node.id)
    ids = new.node_ids()
    changes += [f"- node {nid}: its source is gone" for nid in before if nid not in ids]
    structural = {(a.src, a.dst) for a in new.anchors}
    for a in old.anchors:
        if (a.src, a.dst) not in structural and a.src in ids and a.dst in ids:
            new.anchors.append(a)  # a person's anchor, or one whose link text moved
    old_pairs = {(a.src, a.dst) for a in old.anchors}
    changes += [f"+ anchor {s} → {d}" for s, d in sorted(structural - old_pairs)]
    new.version, new.history = old.version + 1, list(old.history)
    new.history.append(Revision(version=new.version, at=time.strftime("%Y-%m-%dT%H:%M:%S"),
                                reason="sources changed; re-planned", changes=changes))
    return fresh


def plan_node(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """Plan (or reuse) the map and freeze a copy in the run folder."""
    from agentrun.services import resolve
    from agentrun.workspace import save_map

    cfg, ws, run = resolve(runtime.context, state)
    dataset_map = plan_workspace(ws, cfg)
    save_map(dataset_map, run.map_path)
    return {"map_version": dataset_map.version}


def revise_node(state: State, runtime: Runtime[Context]) -> Command[Literal["dispatch", "export"]]:
    """Revise the map from the evaluation; start another cycle if the budget allows."""
    from agentrun.services import resolve
    from agentrun.workspace import load_map, save_map

    cfg, ws, run = resolve(runtime.context, state)
    dataset_map = load_map(run.map_path)
    report = EvalReport.model_validate_json(Path(state["report"]).read_text())
    revision = revise_map(dataset_map, report, cfg.evaluation.weak_logprob_gain)
    save_map(dataset_map, run.map_path)
    save_map(dataset_map, ws.map_path)
    elapsed = time.time() - state["started_at"]
    more = (state["iteration"] < cfg.budgets.cycles and elapsed < cfg.budgets.wall_time_s
            and state["accepted"] < cfg.budgets.max_examples)
    update = {"map_version": dataset_map.version,
              "revisions": [*state.get("revisions", []), revision.reason]}
    if more:
        return Command(goto="dispatch", update={**update, "iteration": state["iteration"] + 1,
                                                "round": 0})
    return Command(goto="export", update=update)
