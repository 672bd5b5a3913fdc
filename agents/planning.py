"""Planning: the architect draws the dataset map from the sources.

Structure first, model second: files, headings, `[[wikilinks]]` and sentences give nodes,
anchors, facts and probes without any model (probes.py); the architect model then adds what it
can (enrichment.py). A re-plan keeps a person's edits (replan.py).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import networkx as nx

from agentrun.agents.enrichment import enrich_with_model
from agentrun.agents.probes import EMBEDS, make_probes
from agentrun.agents.replan import merge_replan
from agentrun.agents.text import ENTITY, capitalised_phrases, slug, type_relation
from agentrun.config import AgentrunConfig
from agentrun.models import RoleModel
from agentrun.prompts import phrase
from agentrun.schemas import (
    Anchor,
    CodeExample,
    DatasetMap,
    ExampleKind,
    Fact,
    Level,
    Node,
    Relation,
    SourceSpan,
    content_hash,
)
from agentrun.sources import Note, Sentence, no_collection_pauses, read_sources
from agentrun.workspace import Workspace, load_map, save_map

log = logging.getLogger(__name__)

MAX_FACTS = 40

# A note longer than this with sections is planned as one node per section.
SECTION_SPLIT = 12
# An entity shared by more notes than this is too common to anchor them (e.g. a planet's name).
MAX_ENTITY_NOTES = 4


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
    with no_collection_pauses():
        return _plan(notes, quotas, max_node_facts, facts_per_quota)


def _plan(notes: list[Note], quotas: dict[ExampleKind, int], max_node_facts: int,
          facts_per_quota: int | None) -> DatasetMap:
    problems: list[str] = []
    units: list[_Unit] = []
    for note in notes:
        offset = len(units)
        for unit in _units(note, max_node_facts, problems):
            # parents are numbered within the note; make them indexes into `units`
            unit.parent = None if unit.parent is None else unit.parent + offset
            units.append(unit)
    nodes = [_node_from_unit(u, quotas, facts_per_quota) for u in units]
    _code_examples(units, nodes)
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
             span=SourceSpan(file=note.path, start=s.start, end=s.end, line=s.line),
             speaker=s.speaker or None, language=s.language or None)
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
        language=note.language,
    )


def scaled_quotas(quotas: dict[ExampleKind, int], facts: int,
                  facts_per_quota: int | None) -> dict[ExampleKind, int]:
    """Return the quotas of a node with `facts` facts (per node, or per `facts_per_quota`)."""
    times = max(math.ceil(facts / facts_per_quota), 1) if facts_per_quota else 1
    return {kind: count * times for kind, count in quotas.items()}


MAX_CODE, MAX_CODE_CHARS = 3, 2000
"""Code examples a node keeps, and their size (a longer block is a program, not an example)."""


def _code_examples(units: list[_Unit], nodes: list[Node]) -> None:
    """Give each code block of a note to the node of its section (the note's node if none)."""
    first: dict[tuple[str, str], int] = {}
    for i, unit in enumerate(units):
        first.setdefault((unit.note.path, unit.section), i)
    for i, unit in enumerate(units):
        if first[(unit.note.path, unit.section)] != i or unit.section:
            continue
        for code in unit.note.code:
            owner = nodes[first.get((unit.note.path, code.section), i)]
            if len(owner.code) < MAX_CODE and len(code.text) <= MAX_CODE_CHARS:
                owner.code.append(CodeExample(text=code.text, language=code.language,
                                              line=code.line))


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
    """Map every name a link may use to a node id, as Obsidian resolves links.

    A note is found by its path without the extension, by every shorter tail of it down to
    the file's name (the shortest path wins a name two notes share), by its title and its
    front-matter aliases, case-blind; `name#Section` finds a section that is a node.
    """
    index: dict[str, str] = {}
    by_depth = sorted(zip(units, nodes, strict=True),
                      key=lambda un: (un[0].note.path.count("/"), un[0].note.path))
    for unit, node in by_depth:
        note = unit.note
        parts = note.path.rsplit(".", 1)[0].split("/")
        tails = ["/".join(parts[k:]) for k in range(len(parts))]
        names = [*tails, note.title, *note.aliases] if unit.parent is None else []
        names += [f"{n}#{unit.section}" for n in (note.title, *tails) if unit.section]
        for name in names:
            index.setdefault(name.strip().lower(), node.id)
    return index


def _resolve(index: dict[str, str], target: str, heading: str | None) -> str | None:
    """Return the node a link's target (and heading) names, or None."""
    name = target.strip().lower().removesuffix(".md")
    return (index.get(f"{name}#{heading.strip().lower()}") if heading else None) or \
        index.get(name)


AddAnchor = Callable[[str, str, Relation, str, str, str], None]
"""Records an anchor: source, destination, relation, note, sentence, the words naming dst."""


def _anchors(units: list[_Unit], nodes: list[Node], index: dict[str, str],
             problems: list[str]) -> tuple[list[Anchor], list[str]]:
    anchors: dict[tuple[str, str], Anchor] = {}
    unresolved: list[str] = []

    def add(src: str, dst: str, relation: Relation, file: str, sentence: str,
            mention: str) -> None:
        if src != dst and (src, dst) not in anchors:
            anchors[(src, dst)] = Anchor(src=src, dst=dst, relation=relation, file=file,
                                         sentence=sentence[:300], mention=mention)

    unit_of_note: dict[str, int] = {}
    for i, (unit, node) in enumerate(zip(units, nodes, strict=True)):
        unit_of_note.setdefault(unit.note.path, i)
        if unit.parent is not None:  # "a section of X", in the note's language
            whole = units[unit.parent].title
            add(node.id, nodes[unit.parent].id, Relation.part_of, unit.note.path,
                phrase("architect.map.md", "section_of", unit.note.language, title=whole), whole)
    missing: dict[str, list[str]] = {}  # target → where it is linked from
    for i, unit in enumerate(units):
        if unit_of_note[unit.note.path] != i:
            continue  # a note's links are read once, from its whole text
        for link in unit.note.links:
            if link.attachment or not link.target:  # a file, or a heading of this note
                continue
            dst = _resolve(index, link.target, link.heading)
            if dst is None:
                missing.setdefault(link.target, []).append(f"{unit.note.path}:{link.line}")
                continue
            src = _unit_at(units, nodes, i, link.start)
            sentence = link.sentence or f"{EMBEDS}{link.target}"
            add(src, dst, type_relation(sentence), unit.note.path, sentence,
                link.alias or link.target.rsplit("/", 1)[-1])
    for target, where in missing.items():  # once per note, as Obsidian shows it
        more = f" (and {len(where) - 1} more links)" if len(where) > 1 else ""
        unresolved.append(f"{where[0]}: [[{target}]]")
        problems.append(f"{where[0]}: [[{target}]] links to a note that does not exist"
                        f"{more}; the link is not an anchor")
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
                     add: AddAnchor) -> None:
    """Anchor a node to every other note whose title its sentences name without a link."""
    for unit, node in zip(units, nodes, strict=True):
        for sentence in unit.sentences:
            for name in capitalised_phrases(sentence.text):
                dst = index.get(name.lower())
                if dst is not None and len(name) >= 4:
                    add(node.id, dst, type_relation(sentence.text), unit.note.path,
                        sentence.text, name)


def _shared_entity_anchors(units: list[_Unit], nodes: list[Node], index: dict[str, str],
                           add: AddAnchor) -> None:
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
                        add(nodes[a].id, nodes[b].id, Relation.elaborates, units[a].note.path,
                            f"shares the name {name!r}", name)


def _set_levels(nodes: list[Node], anchors: list[Anchor]) -> None:
    out_degree = Counter(a.src for a in anchors)
    has_parts = {a.dst for a in anchors if a.relation == Relation.part_of}
    for node in nodes:
        node.level = _level(node, out_degree[node.id], node.id in has_parts)


def _cycles(anchors: list[Anchor]) -> list[str]:
    """Report cycles of prerequisite / part_of anchors (each needs the other first)."""
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


def _level(node: Node, out_degree: int, has_parts: bool) -> Level:
    if has_parts or out_degree >= 4:
        return Level.macro
    if len(node.facts) <= 3:
        return Level.micro
    return Level.meso


# ---------------------------------------------------------------- the workspace's map


def sources_digest(notes: list[Note]) -> str:
    """Return a digest of the sources (the map is re-planned when it changes)."""
    return content_hash("\n".join(f"{n.path}\n{n.text}" for n in notes))


def plan_workspace(ws: Workspace, cfg: AgentrunConfig,
                   architect: RoleModel | None = None) -> DatasetMap:
    """Return the workspace's map, planning it when the sources changed.

    A map whose sources digest matches is reused as it is (hand edits kept); otherwise the map
    is planned from the sources, enriched by the `architect` model when there is one, and
    saved to `map.yaml`.
    """
    sources = read_sources(ws.sources_dir, cfg.planning.max_note_mb)
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
    if architect is not None:
        enrich_with_model(dataset_map, cfg, architect, fresh)
    save_map(dataset_map, ws.map_path)
    return dataset_map


