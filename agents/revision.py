"""Revision: read an evaluation into the map and act where the student did not learn.

A weak node gets more of the examples that teach what it failed (REMEDY), a node too big to
absorb is split, a transfer probe that needs an unanchored node gets the anchor. Nothing a
person wrote is removed; every change goes into the map's history.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from agentrun.config import AgentrunConfig
from agentrun.schemas import (
    UNGENERATED,
    Anchor,
    DatasetMap,
    EvalReport,
    ExampleKind,
    Node,
    NodeMetrics,
    NodeStatus,
    ProbeKind,
    Relation,
    Revision,
)
from agentrun.workspace import Run, Workspace, load_map, save_map


def revise_run(cfg: AgentrunConfig, ws: Workspace, run: Run, report_path: Path) -> Revision:
    """Revise the workspace's map (and the run's copy) from an evaluation report."""
    # The workspace's map, not the run's copy: a person may have edited it during the run.
    dataset_map = load_map(ws.map_path)
    report = EvalReport.model_validate_json(report_path.read_text())
    revision = revise_map(dataset_map, report, cfg.evaluation.weak_logprob_gain,
                          cfg.planning.max_split_facts)
    save_map(dataset_map, ws.map_path)
    save_map(dataset_map, run.map_path)
    return revision



def revise_map(dataset_map: DatasetMap, report: EvalReport, weak_gain: float,
               max_split_facts: int = 24) -> Revision:
    """Record per-node metrics and act where the student did not learn; return the revision.

    A node is weak on a probe kind when its mean log-prob gain stays under `weak_gain` and not
    every probe of that kind is answered. Remedies per kind (REMEDY) raise quotas; a node too
    big to absorb is split in two; a transfer probe that needs a node the map does not anchor
    gets that anchor. Nothing a person wrote is removed: quotas only grow, facts and probes
    only move between nodes, and every change is written into the map's history.
    """
    stats = _probe_stats(report)
    revision = dataset_map.revise(reason="")
    for node in list(dataset_map.nodes):
        means = stats.get(node.id, {})
        node.metrics = _metrics(node, report)
        weak = [k for k in ProbeKind if f"{k}.gain" in means
                and means[f"{k}.gain"] < weak_gain and means[f"{k}.acc_after"] < 1.0]
        if node.status in UNGENERATED:  # stopped by a person, or awaiting removal
            continue
        if not weak:
            node.status = NodeStatus.learned if means else node.status
            continue
        node.status = NodeStatus.weak
        revision.failed[node.id] = weak
        revision.changes.append(_raise_quotas(node, weak, revision))
        if ProbeKind.absorption in weak and len(node.facts) > max_split_facts:
            revision.changes.append(split_node(dataset_map, node))
        if ProbeKind.transfer in weak:
            revision.changes += _add_needed_anchors(dataset_map, node, report)
    revision.reason = (f"evaluation of iteration {report.iteration}: {len(revision.failed)} of "
                       f"{len(dataset_map.nodes)} nodes below a log-prob gain of {weak_gain}")
    return revision


def _probe_stats(report: EvalReport) -> dict[str, dict[str, float]]:
    """Return per node the mean gain and after-accuracy of each probe kind."""
    lists: dict[str, dict[str, list[float]]] = {}
    for r in report.probes:
        stats = lists.setdefault(r.node_id, {})
        stats.setdefault(f"{r.kind}.gain", []).append(r.logprob_after - r.logprob_before)
        stats.setdefault(f"{r.kind}.acc_after", []).append(float(r.correct_after))
    return {n: {k: sum(v) / len(v) for k, v in s.items()} for n, s in lists.items()}


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


# Which kinds of example teach what a failed probe kind tests: more rephrasings where the fact
# as stated was not absorbed, varied questions (exercises, dialogues) where a rewording failed,
# cross-anchor syntheses and multi-hop exercises where facts were not combined.
REMEDY: dict[ProbeKind, dict[ExampleKind, int]] = {
    ProbeKind.absorption: {ExampleKind.rephrasing: 2, ExampleKind.exercise: 1},
    ProbeKind.generalization: {ExampleKind.exercise: 2, ExampleKind.dialogue: 1},
    ProbeKind.transfer: {ExampleKind.synthesis: 2, ExampleKind.exercise: 1},
}


def _raise_quotas(node: Node, weak: list[ProbeKind], revision: Revision) -> str:
    moved: Counter[ExampleKind] = Counter()
    for probe_kind in weak:
        moved.update(REMEDY[probe_kind])
    if not node.facts:
        return f"{node.id}: weak on {', '.join(weak)}; no facts of its own, quotas left as they are"
    for kind, extra in sorted(moved.items()):
        before = node.quota.get(kind, 0)
        node.quota[kind] = before + extra
        revision.quotas.setdefault(node.id, {})[kind] = [before, before + extra]
    what = ", ".join(f"{k} +{v}" for k, v in sorted(moved.items()))
    return f"{node.id}: weak on {', '.join(weak)}; quota {what}"


def split_node(dataset_map: DatasetMap, node: Node) -> str:
    """Move the second half of a node's facts (and their probes) into a new `part_of` node."""
    taken = dataset_map.node_ids()
    k = 2
    while f"{node.id}-part-{k}" in taken:
        k += 1
    half = len(node.facts) // 2
    moved_facts = node.facts[half:]
    moved_ids = {f.id for f in moved_facts}
    part = Node(id=f"{node.id}-part-{k}", title=f"{node.title} (part {k})",
                summary=moved_facts[0].text, level=node.level, facts=moved_facts,
                sources=list(node.sources), quota=dict(node.quota))
    part.probes = [p.model_copy(update={"node_id": part.id}) for p in node.probes
                   if p.fact_ids and p.fact_ids[-1] in moved_ids]
    node.facts = node.facts[:half]
    node.probes = [p for p in node.probes if not (p.fact_ids and p.fact_ids[-1] in moved_ids)]
    dataset_map.nodes.insert(dataset_map.nodes.index(node) + 1, part)
    dataset_map.anchors.append(Anchor(src=part.id, dst=node.id, relation=Relation.part_of,
                                      sentence=f"split from {node.id} by revision"))
    return (f"{node.id}: too big to absorb ({half + len(moved_facts)} facts); split, "
            f"{len(moved_facts)} facts and {len(part.probes)} probes moved to {part.id}")


def _add_needed_anchors(dataset_map: DatasetMap, node: Node, report: EvalReport) -> list[str]:
    """Anchor a node to every node whose facts one of its failed transfer probes needs."""
    owner = {f.id: n.id for n in dataset_map.nodes for f in n.facts}
    linked = {(a.src, a.dst) for a in dataset_map.anchors}
    failed = {r.probe_id for r in report.probes
              if r.node_id == node.id and r.kind == ProbeKind.transfer and not r.correct_after}
    changes = []
    for probe in node.probes:
        if probe.id not in failed:
            continue
        for fact_id in probe.fact_ids:
            other = owner.get(fact_id)
            if other and other != node.id and (node.id, other) not in linked:
                linked.add((node.id, other))
                dataset_map.anchors.append(Anchor(
                    src=node.id, dst=other, sentence=f"transfer probe {probe.id} needs it"))
                changes.append(f"+ anchor {node.id} → {other}: transfer probe {probe.id} "
                               "combines facts of both")
    return changes
