"""Re-planning: carry a person's edits from the old map into one planned from changed sources."""

from __future__ import annotations

from agentrun.schemas import DatasetMap, NodeStatus


def merge_replan(old: DatasetMap, new: DatasetMap) -> set[str]:
    """Carry a person's edits from `old` into a re-planned `new`; record the diff in history.

    A node whose facts did not change is kept exactly as it was (summary, level, quotas,
    probes: hand edits included); a changed node takes the new facts and probes but keeps its
    level and quotas; anchors a person added between surviving nodes are kept. A node whose
    source is gone stays, marked `source_gone`, until a run's removal fork settles it. Returns
    the ids of nodes that need a new summary.
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
    for nid, prior in before.items():  # kept until a person (or the policy) removes them
        if nid in ids:
            continue
        if prior.status == NodeStatus.kept:  # a person kept it once its source was gone
            new.nodes.append(prior)
            continue
        if prior.status != NodeStatus.source_gone:
            changes.append(f"- node {nid}: its source is gone; a run asks whether to remove it")
        new.nodes.append(prior.model_copy(update={"status": NodeStatus.source_gone}))
    ids = new.node_ids()
    structural = {(a.src, a.dst) for a in new.anchors}
    for a in old.anchors:
        if (a.src, a.dst) not in structural and a.src in ids and a.dst in ids:
            new.anchors.append(a)  # a person's anchor, or one whose link text moved
    old_pairs = {(a.src, a.dst) for a in old.anchors}
    changes += [f"+ anchor {s} → {d}" for s, d in sorted(structural - old_pairs)]
    new.version, new.history = old.version, list(old.history)
    new.revise("sources changed; re-planned", changes)
    return fresh
