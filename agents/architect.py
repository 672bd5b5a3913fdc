"""The architect: draws the dataset map from the sources and revises it after evaluation.

Structure first, model second: files, headings, `[[wikilinks]]` and sentences give nodes,
anchors, facts and probes without any model; the model then writes summaries where it can.
A revision reads the evaluation and moves quotas towards the probe kinds a node failed.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
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
from agentrun.sources import Note, Sentence
from agentrun.workspace import Workspace

log = logging.getLogger(__name__)

# Node statuses a person's decisions set (besides planned / weak / learned from revision).
STOPPED = "stopped"
"""A person stopped the node's generation (`agentrun chat`); its quotas are kept."""
SOURCE_GONE = "source_gone"
"""A node whose source note was deleted: kept, ungenerated, until the removal fork settles it."""
KEPT = "kept"
"""A node a person kept after its source was gone (generated for as any other)."""
UNGENERATED = (STOPPED, SOURCE_GONE)
"""Statuses that get no examples and no revision."""

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
    (Relation.prerequisite, re.compile(
        r"\brequires?\b|\bneeds?\b|\bbefore\b|\bsource of\b|"
        r"\b(?:made|refined|derived|distilled|comes?)\s+from\b", re.I)),
    (Relation.generalizes, re.compile(r"\bkind of\b|\btype of\b|\bgenerally\b", re.I)),
]


class SummaryOut(BaseModel):
    """A node summary written by the model."""

    summary: str = Field(min_length=10, max_length=300)


class TransferProbeOut(BaseModel):
    """A question that needs facts of two anchored nodes, and its short answer."""

    question: str = Field(min_length=10, max_length=300)
    answer: str = Field(min_length=1, max_length=80)


class RelationOut(BaseModel):
    """The relation an anchor's sentence expresses."""

    relation: Relation


def slug(text: str) -> str:
    """Return a stable, readable id for a title."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s or "node"


# ---------------------------------------------------------------- planning (structure first)

# A note longer than this with sections is planned as one node per section.
SECTION_SPLIT = 12
# An entity shared by more notes than this is too common to anchor them (e.g. a planet's name).
MAX_ENTITY_NOTES = 4
ENTITY = re.compile(r"\b[A-Z][\w'’–-]*(?:\s+(?:of\s+|the\s+)?[A-Z][\w'’–-]*)*")


@dataclass
class _Unit:
    """A future node: a note, a section of one, or a part of an enormous one."""

    note: Note
    title: str
    sentences: list[Sentence]
    section: str = ""
    parent: int | None = None  # index of the unit this one is part of (within its note)


def plan_map(notes: list[Note], quotas: dict[ExampleKind, int],
             max_node_facts: int = MAX_FACTS, facts_per_quota: int | None = None) -> DatasetMap:
    """Build the map's skeleton from the notes alone: nodes, facts, anchors and probes.

    `quotas` are examples of each kind per node or, with `facts_per_quota`, per that many
    facts: a node of 20 facts at 6 gets four times the quotas, so its facts are covered as
    often as a short note's.

    Notes become nodes; the sections of a long note and the parts of an enormous one become
    nodes of their own, `part_of` the note. Anchors come from wikilinks, from plain mentions
    of another node's title and, between notes without links, from rare shared names.
    Everything that could not be planned cleanly is listed in `problems` with its location.
    """
    problems: list[str] = []
    units: list[_Unit] = []
    for note in notes:
        offset = len(units)
        for unit in _units(note, max_node_facts, problems):
            # parents are numbered within the note; make them indexes into `units`
            unit.parent = None if unit.parent is None else unit.parent + offset
            units.append(unit)
    nodes = [_node_from_unit(u, quotas, facts_per_quota) for u in units]
    _dedupe_ids(units, nodes, problems)
    index = _title_index(units, nodes)
    anchors, unresolved = _anchors(units, nodes, index, problems)
    _set_levels(nodes, anchors)
    problems += _cycles(anchors)
    dataset_map = DatasetMap(nodes=nodes, anchors=anchors, unresolved_links=unresolved,
                             problems=problems)
    for node in nodes:
        node.probes = make_probes(node, dataset_map)
    return dataset_map


def _units(note: Note, max_facts: int, problems: list[str]) -> list[_Unit]:
    """Cut a note into units: the note, its sections if it is long, parts if enormous."""
    main = _Unit(note, note.title, [])
    units = [main]
    if len(note.sentences) > SECTION_SPLIT and any(s.section for s in note.sentences):
        sections: dict[str, list[Sentence]] = {}
        for sentence in note.sentences:
            sections.setdefault(sentence.section, []).append(sentence)
        for name, sentences in sections.items():
            if name and len(sentences) >= 2:
                units.append(_Unit(note, f"{note.title} ({name})", sentences, name, parent=0))
            else:
                main.sentences += sentences
        main.sentences.sort(key=lambda s: s.start)
    else:
        main.sentences = list(note.sentences)
    out: list[_Unit] = []
    for unit in units:
        parts = _paragraph_chunks(unit.sentences, max_facts)
        if len(parts) > 1:
            problems.append(f"{note.path}: '{unit.title}' has {len(unit.sentences)} sentences; "
                            f"split into {len(parts)} nodes of at most {max_facts} facts")
        first = len(out)
        for k, part in enumerate(parts):
            title = unit.title if k == 0 else f"{unit.title} (part {k + 1})"
            out.append(_Unit(note, title, part, unit.section, unit.parent if k == 0 else first))
    return out


def _paragraph_chunks(sentences: list[Sentence], max_facts: int) -> list[list[Sentence]]:
    """Split sentences into chunks of at most `max_facts`, cutting between paragraphs."""
    chunks: list[list[Sentence]] = [[]]
    for sentence in sentences:
        current = chunks[-1]
        if len(current) == max_facts:
            # cut at the last paragraph break in the second half of the chunk, if any
            row = [*current, sentence]
            cut = next((i for i in range(len(current), max_facts // 2 - 1, -1)
                        if row[i].paragraph != row[i - 1].paragraph), len(current))
            chunks[-1], tail = current[:cut], current[cut:]
            chunks.append(tail)
        chunks[-1].append(sentence)
    return chunks


def _node_from_unit(unit: _Unit, quotas: dict[ExampleKind, int],
                    facts_per_quota: int | None) -> Node:
    node_id = slug(unit.title)
    note = unit.note
    facts = [
        Fact(id=f"{node_id}.f{i}", text=s.text,
             span=SourceSpan(file=note.path, start=s.start, end=s.end, line=s.line))
        for i, s in enumerate(unit.sentences)
    ]
    if unit.sentences and (unit.parent is not None or unit.section):
        span = SourceSpan(file=note.path, start=unit.sentences[0].start,
                          end=unit.sentences[-1].end, line=unit.sentences[0].line)
    else:
        span = SourceSpan(file=note.path, start=0, end=len(note.text))
    return Node(
        id=node_id,
        title=unit.title,
        summary=facts[0].text if facts else "",
        facts=facts,
        sources=[span],
        # a hub without facts of its own (only sections) has nothing to generate from
        quota=scaled_quotas(quotas, len(facts), facts_per_quota) if facts else {},
    )


def scaled_quotas(quotas: dict[ExampleKind, int], facts: int,
                  facts_per_quota: int | None) -> dict[ExampleKind, int]:
    """Return the quotas of a node with `facts` facts (per node, or per `facts_per_quota`)."""
    times = max(math.ceil(facts / facts_per_quota), 1) if facts_per_quota else 1
    return {kind: count * times for kind, count in quotas.items()}


def _dedupe_ids(units: list[_Unit], nodes: list[Node], problems: list[str]) -> None:
    first: dict[str, str] = {}
    seen: Counter[str] = Counter()
    for unit, node in zip(units, nodes, strict=True):
        seen[node.id] += 1
        if seen[node.id] == 1:
            first[node.id] = unit.note.path
            continue
        new_id = f"{node.id}-{seen[node.id]}"
        problems.append(f"{unit.note.path}: duplicate title '{node.title}' (also "
                        f"{first[node.id]}); its node id becomes {new_id}")
        node.id = new_id
        for i, fact in enumerate(node.facts):
            fact.id = f"{new_id}.f{i}"


def _title_index(units: list[_Unit], nodes: list[Node]) -> dict[str, str]:
    """Map every name a link may use (title, file stem, alias, note#section) to a node id."""
    index: dict[str, str] = {}
    for unit, node in zip(units, nodes, strict=True):
        note = unit.note
        stem = note.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        names = [note.title, stem, *note.aliases] if unit.parent is None else []
        names += [f"{n}#{unit.section}" for n in (note.title, stem) if unit.section]
        for name in names:
            index.setdefault(name.strip().lower(), node.id)
    return index


def _anchors(units: list[_Unit], nodes: list[Node], index: dict[str, str],
             problems: list[str]) -> tuple[list[Anchor], list[str]]:
    anchors: dict[tuple[str, str], Anchor] = {}
    unresolved: list[str] = []

    def add(src: str, dst: str, relation: Relation, evidence: str) -> None:
        if src != dst and (src, dst) not in anchors:
            anchors[(src, dst)] = Anchor(src=src, dst=dst, relation=relation,
                                         evidence=evidence[:300])

    unit_of_note: dict[str, int] = {}
    for i, (unit, node) in enumerate(zip(units, nodes, strict=True)):
        unit_of_note.setdefault(unit.note.path, i)
        if unit.parent is not None:
            add(node.id, nodes[unit.parent].id, Relation.part_of,
                f"{unit.note.path}: a section of {units[unit.parent].title}")
    for i, unit in enumerate(units):
        if unit_of_note[unit.note.path] != i:
            continue  # a note's links are read once, from its whole text
        for link in unit.note.links:
            key = f"{link.target}#{link.heading}" if link.heading else link.target
            dst = index.get(key.lower()) or index.get(link.target.lower())
            if dst is None:
                unresolved.append(f"{unit.note.path}:{link.line}: [[{link.target}]]")
                problems.append(f"{unit.note.path}:{link.line}: [[{link.target}]] links to "
                                "a note that does not exist; the link is not an anchor")
                continue
            src = _unit_at(units, nodes, i, link.start)
            add(src, dst, type_relation(link.sentence), f"{unit.note.path}: {link.sentence}")
    _mention_anchors(units, nodes, index, add)
    _shared_entity_anchors(units, nodes, index, add)
    return list(anchors.values()), unresolved


def _unit_at(units: list[_Unit], nodes: list[Node], first: int, offset: int) -> str:
    """Return the id of the node (of the note starting at `first`) whose text holds `offset`."""
    path = units[first].note.path
    i = first
    while i < len(units) and units[i].note.path == path:
        sentences = units[i].sentences
        if sentences and any(s.start <= offset < s.end for s in sentences):
            return nodes[i].id
        i += 1
    return nodes[first].id


def _mention_anchors(units: list[_Unit], nodes: list[Node], index: dict[str, str],
                     add: Callable[[str, str, Relation, str], None]) -> None:
    """Anchor a node to every other note whose title its sentences name without a link."""
    for unit, node in zip(units, nodes, strict=True):
        for sentence in unit.sentences:
            for name in _capitalised_phrases(sentence.text):
                dst = index.get(name.lower())
                if dst is not None and len(name) >= 4:
                    add(node.id, dst, type_relation(sentence.text),
                        f"{unit.note.path}: {sentence.text}")


def _capitalised_phrases(text: str) -> Iterable[str]:
    """Yield every run of capitalised words (with 'of'/'the' inside) and its longer sub-runs."""
    for m in ENTITY.finditer(text):
        words = m.group(0).split()
        yield m.group(0)
        for i in range(len(words)):
            # sub-runs of two words or more: "Hobb Farm" in "The Hobb Farm", never "Farm"
            for j in range(i + 2, min(len(words), i + 5) + 1):
                yield " ".join(words[i:j])


def _shared_entity_anchors(units: list[_Unit], nodes: list[Node], index: dict[str, str],
                           add: Callable[[str, str, Relation, str], None]) -> None:
    """Link notes without wikilinks that share a rare multi-word name (entity co-occurrence)."""
    holders: dict[str, list[int]] = {}
    for i, unit in enumerate(units):
        if unit.note.links:
            continue
        names = {m.group(0) for s in unit.sentences for m in ENTITY.finditer(s.text)
                 if " " in m.group(0) and m.group(0).lower() not in index}
        for name in names:
            holders.setdefault(name, []).append(i)
    for name, idx in sorted(holders.items()):
        if 2 <= len(idx) <= MAX_ENTITY_NOTES:
            for a in idx:
                for b in idx:
                    if units[a].note.path != units[b].note.path:
                        add(nodes[a].id, nodes[b].id, Relation.elaborates,
                            f"{units[a].note.path}: shares the name {name!r}")


def _set_levels(nodes: list[Node], anchors: list[Anchor]) -> None:
    out_degree = Counter(a.src for a in anchors)
    has_parts = {a.dst for a in anchors if a.relation == Relation.part_of}
    for node in nodes:
        node.level = _level(node, out_degree[node.id], node.id in has_parts)


def _cycles(anchors: list[Anchor]) -> list[str]:
    """Report cycles of prerequisite / part_of anchors (each needs the other first)."""
    import networkx as nx

    graph = nx.DiGraph()
    graph.add_edges_from((a.src, a.dst) for a in anchors
                         if a.relation in (Relation.prerequisite, Relation.part_of))
    problems = []
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1:
            cycle = [u for u, _ in nx.find_cycle(graph.subgraph(component))]
            problems.append(f"anchors: {' → '.join([*cycle, cycle[0]])} is a cycle of "
                            "prerequisite/part_of anchors; a learner cannot take them in order "
                            "(retype one with `relation:` in map.yaml)")
    return problems


def type_relation(sentence: str) -> Relation:
    """Guess an anchor's relation from the words around its link."""
    for relation, cue in RELATION_CUES:
        if cue.search(sentence):
            return relation
    return Relation.elaborates


def _level(node: Node, out_degree: int, has_parts: bool) -> Level:
    if has_parts or out_degree >= 4:
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


def make_probes(node: Node, dataset_map: DatasetMap) -> list[Probe]:
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
    transfer = sum(p.kind == ProbeKind.transfer for p in probes)
    probes.extend(_inner_transfer_probes(node, 2 - transfer, start=transfer))
    return probes


LEADING_WORDS = {"the", "a", "an", "it", "in", "on", "this", "these", "its", "his", "her",
                 "their", "after", "before", "during", "when", "while", "with", "by", "for"}


def names_in(text: str) -> set[str]:
    """Return the proper names of a sentence: capitalised runs, sentence-initial words aside."""
    names = set()
    for m in ENTITY.finditer(text):
        words = m.group(0).split()
        while words and words[0].lower() in LEADING_WORDS:
            words = words[1:]
        name = " ".join(words)
        if len(name) >= 4 and (m.start() > 0 or len(words) > 1):
            names.add(name)
    return names


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
        split = split_fact(target.text)
        if idx[-1] in used or split is None:
            continue
        prefix, fw, answer = split
        if name.lower() not in prefix.lower() or name.lower() in answer.lower():
            continue
        used.add(idx[-1])
        probes.append(Probe(
            id=f"{node.id}.t{start + len(probes)}", node_id=node.id, kind=ProbeKind.transfer,
            prompt=(f'The notes on {node.title} say: "{hide(bridge.text, name)}" '
                    f"{hide(prefix, name)} {fw}").rstrip(),
            answer=answer, fact_ids=[bridge.id, target.id]))
    return probes


def hide(text: str, name: str, mask: str = "X") -> str:
    """Replace every case-insensitive occurrence of `name` in `text` with `mask`.

    Plain string search, not a regex per name: with hundreds of titles, compiled patterns
    would overflow `re`'s cache and planning would stop being linear.
    """
    low, key = text.lower(), name.lower()
    out, i = [], 0
    while key and (j := low.find(key, i)) >= 0:
        out += [text[i:j], mask]
        i = j + len(key)
    return "".join(out) + text[i:]


def _subject_as_x(prefix: str, title: str) -> str:
    """Turn a fact's opening about `title` into a claim about X ("It …", "The T …")."""
    low, key = prefix.lower(), title.lower()
    for lead in ("the " + key, key, "it"):
        if low.startswith(lead) and (len(low) == len(lead) or not low[len(lead)].isalnum()):
            return "X" + prefix[len(lead):]
    return f"About X: {prefix}"


def _transfer_probes(node: Node, dataset_map: DatasetMap) -> list[Probe]:
    """Two-hop probes: identify X from this node's link sentence, then recall a fact of X."""
    probes: list[Probe] = []
    bridges = {f.text: f.id for f in node.facts}
    for anchor in dataset_map.neighbours(node.id):
        if len(probes) == 2:
            break
        dst = dataset_map.node(anchor.dst)
        sentence = anchor.evidence.split(": ", 1)[-1]
        if anchor.relation == Relation.part_of or sentence not in bridges:
            continue  # the bridge must be a sentence of this node that names the other
        hidden = hide(sentence, dst.title)
        if hidden == sentence:
            continue
        for fact in dst.facts[1:]:
            split = split_fact(fact.text)
            if split is None:
                continue
            prefix, fw, answer = split
            claim = _subject_as_x(prefix, dst.title)
            probes.append(Probe(
                id=f"{node.id}.t{len(probes)}", node_id=node.id, kind=ProbeKind.transfer,
                prompt=f'The notes on {node.title} say: "{hidden}" {claim} {fw}'.rstrip(),
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
        from agentrun.sources import strip_markup

        span = fact.span
        return strip_markup(texts.get(span.file, "")[span.start:span.end]) if span else ""

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
            "architect.transfer.md", src_title=src.title, dst_title=dst.title,
            src_facts=[f.text for f in src.facts[:6]], dst_facts=[f.text for f in dst.facts[:6]],
            link=anchor.evidence.split(": ", 1)[-1]),
            max_new_tokens=120, temperature=0.0, seed=seed)
        for src, dst, anchor in jobs
    ]
    outputs = generate_structured(backend, requests, TransferProbeOut, retries=retries)
    written: dict[str, list[Probe]] = {}
    for (src, dst, anchor), out in zip(jobs, outputs, strict=True):
        answer_fact = _valid_transfer(out, src, dst) if out is not None else None
        if out is None or answer_fact is None:
            continue
        bridge = next((f.id for f in src.facts if f.text in anchor.evidence), src.facts[0].id)
        mine = written.setdefault(src.id, [])
        mine.append(Probe(id=f"{src.id}.t{len(mine)}", node_id=src.id, kind=ProbeKind.transfer,
                          prompt=out.question, answer=out.answer.strip().rstrip("."),
                          fact_ids=[bridge, answer_fact], origin=f"model:{backend.model_id}"))
    for node_id, probes in written.items():
        node = dataset_map.node(node_id)
        kept = [p for p in node.probes if p.kind != ProbeKind.transfer]
        structural = [p for p in node.probes if p.kind == ProbeKind.transfer]
        for i, p in enumerate(structural[len(probes):], start=len(probes)):
            kept.append(p.model_copy(update={"id": f"{node_id}.t{i}"}))
        node.probes = kept + probes
    return sum(len(p) for p in written.values())


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
               and a.relation != Relation.part_of and a.evidence.split(": ", 1)[-1]
               in {f.text for f in node(a.src).facts}]
    requests = [
        GenRequest(messages=render_chat(
            "architect.relation.md", src_title=node(a.src).title,
            dst_title=node(a.dst).title, sentence=a.evidence.split(": ", 1)[-1]),
            max_new_tokens=24, temperature=0.0, seed=seed)
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


# ---------------------------------------------------------------- revision


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
    revision = Revision(version=dataset_map.version + 1, at=time.strftime("%Y-%m-%dT%H:%M:%S"),
                        reason="")
    for node in list(dataset_map.nodes):
        means = stats.get(node.id, {})
        node.metrics = _metrics(node, report)
        weak = [k for k in ProbeKind if f"{k}.gain" in means
                and means[f"{k}.gain"] < weak_gain and means[f"{k}.acc_after"] < 1.0]
        if node.status in UNGENERATED:  # stopped by a person, or awaiting removal
            continue
        if not weak:
            node.status = "learned" if means else node.status
            continue
        node.status = "weak"
        revision.failed[node.id] = weak
        revision.changes.append(_raise_quotas(node, weak, revision))
        if ProbeKind.absorption in weak and len(node.facts) > max_split_facts:
            revision.changes.append(split_node(dataset_map, node))
        if ProbeKind.transfer in weak:
            revision.changes += _add_needed_anchors(dataset_map, node, report)
    dataset_map.version = revision.version
    revision.reason = (f"evaluation of iteration {report.iteration}: {len(revision.failed)} of "
                       f"{len(dataset_map.nodes)} nodes below a log-prob gain of {weak_gain}")
    dataset_map.history.append(revision)
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
                sources=list(node.sources), quota=dict(node.quota), status="planned")
    part.probes = [p.model_copy(update={"node_id": part.id}) for p in node.probes
                   if p.fact_ids and p.fact_ids[-1] in moved_ids]
    node.facts = node.facts[:half]
    node.probes = [p for p in node.probes if not (p.fact_ids and p.fact_ids[-1] in moved_ids)]
    dataset_map.nodes.insert(dataset_map.nodes.index(node) + 1, part)
    dataset_map.anchors.append(Anchor(src=part.id, dst=node.id, relation=Relation.part_of,
                                      evidence=f"split from {node.id} by revision"))
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
                    src=node.id, dst=other, evidence=f"transfer probe {probe.id} needs it"))
                changes.append(f"+ anchor {node.id} → {other}: transfer probe {probe.id} "
                               "combines facts of both")
    return changes


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
    notes = read_sources(ws.sources_dir).notes
    run = Run(Path(state["run_dir"])) if state.get("run_dir") else ws.new_run()
    run.create()
    if not run.meta():  # started by a LangGraph server (Studio, the SDK), not by the CLI
        from langgraph.config import get_config

        thread = get_config().get("configurable", {}).get("thread_id")
        run.update_meta(workspace=str(ws.root), status="running", driver="langgraph server",
                        context={**asdict(runtime.context), "workspace": str(ws.root)},
                        server=os.environ.get("AGENTRUN_SERVER_URL"),
                        thread=str(thread) if thread else None)
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

    sources = read_sources(ws.sources_dir)
    notes = sources.notes
    digest = sources_digest(notes)
    existing = load_map(ws.map_path) if ws.map_path.exists() else None
    if existing is not None and existing.sources_digest == digest:
        return existing
    dataset_map = plan_map(notes, cfg.generation.quotas, cfg.planning.max_node_facts,
                           cfg.generation.facts_per_quota)
    dataset_map.sources_digest = digest
    dataset_map.problems = sources.problems + dataset_map.problems
    fresh = {n.id for n in dataset_map.nodes}
    if existing is not None:
        fresh = merge_replan(existing, dataset_map)
    if use_model and cfg.generation.model_generators:
        enrich_with_model(dataset_map, cfg, backend(cfg, ws, "architect"), fresh)
    save_map(dataset_map, ws.map_path)
    return dataset_map


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
        log.info("the architect model retyped %d anchors and wrote %d transfer probes",
                 typed, probes)




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
        if prior.status == KEPT:  # a person kept it once its source was gone
            new.nodes.append(prior)
            continue
        if prior.status != SOURCE_GONE:
            changes.append(f"- node {nid}: its source is gone; a run asks whether to remove it")
        new.nodes.append(prior.model_copy(update={"status": SOURCE_GONE}))
    ids = new.node_ids()
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
    for problem in dataset_map.problems:
        log.warning("%s", problem)
    save_map(dataset_map, run.map_path)
    return {"map_version": dataset_map.version}


def revise_node(state: State, runtime: Runtime[Context]) -> Command[Literal["dispatch", "export"]]:
    """Revise the map from the evaluation; start another cycle if the budget allows."""
    from agentrun.services import resolve
    from agentrun.workspace import load_map, save_map

    cfg, ws, run = resolve(runtime.context, state)
    # The workspace's map, not the run's copy: a person may have edited it during the run.
    dataset_map = load_map(ws.map_path)
    report = EvalReport.model_validate_json(Path(state["report"]).read_text())
    revision = revise_map(dataset_map, report, cfg.evaluation.weak_logprob_gain,
                          cfg.planning.max_split_facts)
    save_map(dataset_map, ws.map_path)
    save_map(dataset_map, run.map_path)
    elapsed = time.time() - state["started_at"]
    more = (state["iteration"] < cfg.budgets.cycles and elapsed < cfg.budgets.wall_time_s
            and state["accepted"] < cfg.budgets.max_examples)
    update = {"map_version": dataset_map.version,
              "revisions": [*state.get("revisions", []), revision.reason]}
    if more:
        return Command(goto="dispatch", update={**update, "iteration": state["iteration"] + 1,
                                                "round": 0})
    return Command(goto="export", update=update)
