"""Probes: the self-test questions that prove whether the student learned a node.

Absorption asks for a fact as stated, generalization in another form, transfer across two
facts (an anchor's bridge sentence, then a fact of the other node). Built from the facts
alone; `probe_support` counts how many the sources really support.
"""

from __future__ import annotations

from agentrun.agents.text import hide, names_in, question_form, split_fact
from agentrun.markdown import plain_text
from agentrun.prompts import phrase
from agentrun.schemas import DatasetMap, Fact, Node, Probe, ProbeKind, Relation
from agentrun.sources import Note

PROBES = "architect.probes.md"
"""The wording of the structural probes."""


def make_probes(node: Node, dataset_map: DatasetMap) -> list[Probe]:
    """Write absorption, generalization and transfer probes for a node from its facts."""
    splits = [(f, s) for f in node.facts if (s := split_fact(f.text, node.language))]
    probes: list[Probe] = []
    for i, (fact, (prefix, fw, answer)) in enumerate(splits[:2]):
        probes.append(Probe(id=f"{node.id}.a{i}", node_id=node.id, kind=ProbeKind.absorption,
                            prompt=phrase(PROBES, "absorption", node.language,
                                          title=node.title, prefix=prefix, fw=fw),
                            answer=answer,
                            fact_ids=[fact.id]))
    # a short node's generalization asks its last fact again, in the question form
    for i, (fact, (prefix, fw, answer)) in enumerate(splits[2:4] or splits[-1:]):
        probes.append(Probe(id=f"{node.id}.g{i}", node_id=node.id,
                            kind=ProbeKind.generalization,
                            prompt=phrase(PROBES, "generalization", node.language, title=node.title,
                                          question=question_form(prefix, fw, node.language)),
                            answer=answer, fact_ids=[fact.id]))
    probes.extend(_transfer_probes(node, dataset_map))
    transfer = sum(p.kind == ProbeKind.transfer for p in probes)
    probes.extend(_inner_transfer_probes(node, 2 - transfer, start=transfer))
    return probes


def _inner_transfer_probes(node: Node, need: int, start: int) -> list[Probe]:
    """Two-fact probes inside a node: X is named in one fact and completed in another.

    For notes without anchors (a single paragraph, plain text): the bridge fact, with a name
    hidden as X, identifies X; the probe then asks for the end of another fact about X.
    """
    if need <= 0:
        return []
    holders: dict[str, list[int]] = {}
    for i, fact in enumerate(node.facts):
        for name in names_in(fact.text):
            if name.lower() != node.title.lower():
                holders.setdefault(name, []).append(i)
    probes: list[Probe] = []
    used: set[int] = set()
    for name, idx in sorted(holders.items(), key=lambda kv: (-len(kv[0]), kv[0])):
        if len(probes) == need or len(idx) < 2:
            continue
        bridge, target = node.facts[idx[0]], node.facts[idx[-1]]
        split = split_fact(target.text, node.language)
        if idx[-1] in used or split is None:
            continue
        prefix, fw, answer = split
        if name.lower() not in prefix.lower() or name.lower() in answer.lower():
            continue
        used.add(idx[-1])
        probes.append(Probe(
            id=f"{node.id}.t{start + len(probes)}", node_id=node.id, kind=ProbeKind.transfer,
            prompt=phrase(PROBES, "transfer", node.language, title=node.title,
                          bridge=hide(bridge.text, name), claim=hide(prefix, name), fw=fw),
            answer=answer, fact_ids=[bridge.id, target.id]))
    return probes


def _subject_as_x(prefix: str, title: str, language: str) -> str:
    """Turn a fact's opening about `title` into a claim about X ("It …", "The T …")."""
    low, key = prefix.lower(), title.lower()
    for lead in ("the " + key, key, "it"):
        if low.startswith(lead) and (len(low) == len(lead) or not low[len(lead)].isalnum()):
            return "X" + prefix[len(lead):]
    return phrase(PROBES, "about_x", language, prefix=prefix)


def _transfer_probes(node: Node, dataset_map: DatasetMap) -> list[Probe]:
    """Two-hop probes: identify X from this node's link sentence, then recall a fact of X."""
    probes: list[Probe] = []
    bridges = {f.text: f.id for f in node.facts}
    for anchor in dataset_map.neighbours(node.id):
        if len(probes) == 2:
            break
        dst = dataset_map.node(anchor.dst)
        sentence = anchor.sentence
        if anchor.relation == Relation.part_of or sentence not in bridges:
            continue  # the bridge must be a sentence of this node that names the other
        hidden = hide(sentence, dst.title)
        if hidden == sentence:
            continue
        for fact in dst.facts[1:]:
            split = split_fact(fact.text, dst.language)
            if split is None:
                continue
            prefix, fw, answer = split
            claim = _subject_as_x(prefix, dst.title, node.language)
            probes.append(Probe(
                id=f"{node.id}.t{len(probes)}", node_id=node.id, kind=ProbeKind.transfer,
                prompt=phrase(PROBES, "transfer", node.language, title=node.title,
                              bridge=hidden, claim=claim, fw=fw),
                answer=answer, fact_ids=[bridges[sentence], fact.id],
            ))
            break
    return probes


def probe_support(dataset_map: DatasetMap, notes: list[Note]) -> dict[ProbeKind, list[int]]:
    """Count, per probe kind, the probes the sources really support, as [supported, total].

    Absorption and generalization: the answer is in the source text at its fact's span.
    Transfer: the answer is in the other node's source text and the bridge is a sentence of
    the probed node's source that names the other node (so the answer is derivable).
    """
    texts = {n.path: n.text for n in notes}
    aliases = {n.path: n.aliases for n in notes}
    facts = {f.id: (node, f) for node in dataset_map.nodes for f in node.facts}
    counts = {k: [0, 0] for k in ProbeKind}

    def source_of(fact: Fact) -> str:
        span = fact.span
        return plain_text(texts.get(span.file, "")[span.start:span.end]) if span else ""

    for probe in dataset_map.probes():
        counts[probe.kind][1] += 1
        found = [facts[f] for f in probe.fact_ids if f in facts]
        if not found or probe.answer.lower() not in source_of(found[-1][1]).lower():
            continue
        if probe.kind == ProbeKind.transfer:
            (bridge_node, bridge), (other, target) = found[0], found[-1]
            if other.id == probe.node_id:  # inside a node: both facts name what X hides
                names = list(names_in(source_of(target))) if bridge.id != target.id else []
            else:
                names = [other.title, *(a for s in other.sources for a in aliases.get(s.file, []))]
            if bridge_node.id != probe.node_id or not any(
                    n.lower() in source_of(bridge).lower() for n in names):
                continue
        counts[probe.kind][0] += 1
    return counts
