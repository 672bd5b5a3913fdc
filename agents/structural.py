"""Structural generators: examples built from facts and anchors without any model.

Cross-anchor syntheses; dialogues that walk a node's facts; restatements of groups of facts;
and the megastructure, the whole map as one linked text in parts that fit the student's
context. The exercises (questions, quizzes, cloze, two-hop) are agents/exercises.py; this
module holds what every structural generator shares (the job, provenance, sizes).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import networkx as nx

from agentrun.agents.questions import teachable
from agentrun.agents.text import (
    names_in,
)
from agentrun.prompts import localized, phrase, template_hash
from agentrun.schemas import (
    Anchor,
    DatasetMap,
    Example,
    ExampleKind,
    Level,
    Node,
    Provenance,
)

# The wording of every structural example, one template file per purpose (prompts/).
ASKS = "structural.asks.md"
DIALOGUE = "structural.dialogue.md"
SYNTHESIS = "structural.synthesis.md"
MEGA = "structural.megastructure.md"


@dataclass(frozen=True)
class Size:
    """How long an example of a level is: what the prompt asks for and the token cap."""

    words: str
    tokens: int
    turns: int


SIZES = {
    Level.micro: Size("one or two sentences", 120, 2),
    Level.meso: Size("a short chain of reasoning: three to five connected sentences", 240, 3),
    Level.macro: Size("a structured text of two or three short paragraphs", 420, 4),
}


LEVELS = list(Level)


def at_least(level: Level, floor: Level) -> Level:
    """Return the larger of two levels (micro < meso < macro)."""
    return max(level, floor, key=LEVELS.index)


@dataclass(frozen=True)
class Job:
    """Where contractors stand: the run, iteration and round, and how much each node needs."""

    run: str
    iteration: int
    round: int
    seed: int

    @property
    def origin(self) -> str:
        """Name the round as its model requests carry it (the response cache counts by it)."""
        return f"{self.run}/{self.iteration}.{self.round}"


def provenance(job: Job, generator: str, model: str = "", template: str = "",
                params: dict[str, object] | None = None) -> Provenance:
    """Return the provenance of an example a contractor made."""
    return Provenance(
        role="contractor", generator=generator, model=model, template=template,
        template_hash=template_hash(template) if template else "", params=params or {},
        run=job.run, iteration=job.iteration,
    )


def chat(user: str, assistant: str) -> list[dict[str, str]]:
    """Return one user turn and its answer as chat messages."""
    return [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]


def structural_syntheses(node: Node, dataset_map: DatasetMap, job: Job) -> Iterator[Example]:
    """Yield cross-anchor syntheses: the linking sentence with facts of both ends (no model)."""
    mine = {f.text for f in node.facts}
    for anchor in dataset_map.neighbours(node.id):
        dst = dataset_map.node(anchor.dst)
        link = anchor.sentence
        opening = link if link in mine else phrase(SYNTHESIS, "linked", node.language,
                                                   a=node.title,
                                                   b=dst.title)
        for i, theirs in enumerate(dst.facts[:4]):
            own = node.facts[i % len(node.facts)].text if node.facts else ""
            lines = [phrase(SYNTHESIS, "theme", node.language, a=node.title, b=dst.title),
                     phrase(SYNTHESIS, "anchor", node.language, opening=opening)]
            lines += [phrase(SYNTHESIS, "synthesis", node.language, fact=t)
                      for t in dict.fromkeys((theirs.text, own)) if t and t != opening]
            ask = phrase(ASKS, "synthesis_ask", node.language, a=node.title, b=dst.title, k=i)
            yield Example(node_id=node.id, kind=ExampleKind.synthesis, level=Level.macro,
                          markers=["[THEME]", "[ANCHOR]", "[SYNTHESIS]"], anchors_used=[dst.id],
                          messages=chat(ask, "\n".join(lines)),
                          provenance=provenance(job, "structural:synthesis",
                                                template=localized(SYNTHESIS, node.language))
                          ).with_id()




def structural_dialogues(node: Node, dataset_map: DatasetMap, job: Job) -> Iterator[Example]:
    """Yield multi-turn dialogues that walk through a node's facts, then cross an anchor."""
    facts = [f.text for f in node.facts]
    links = dataset_map.neighbours(node.id)
    turns = SIZES[node.level].turns
    for start in range(0, max(len(facts) - 1, 1)):
        chunk = (facts + facts)[start : start + 2 * turns][: len(facts)]
        answers = [" ".join(chunk[i : i + 2]) for i in range(0, len(chunk), 2)]
        messages = chat(phrase(ASKS, "ask", node.language, title=node.title, k=start), answers[0])
        for i, answer in enumerate(answers[1:turns]):
            messages += chat(_follow_up(node, messages[-1]["content"], answer, start + i),
                             answer)
        used: list[str] = []
        if links:
            anchor = links[start % len(links)]
            dst = dataset_map.node(anchor.dst)
            link = anchor.sentence
            bridge = [t for t in (link, *(f.text for f in dst.facts[:1])) if t not in chunk]
            if dst.facts and bridge:
                messages += chat(phrase(DIALOGUE, "bridge", node.language, other=dst.title),
                                 " ".join(bridge))
                used = [dst.id]
        if len(messages) >= 4:
            yield Example(node_id=node.id, kind=ExampleKind.dialogue, level=node.level,
                          messages=messages, anchors_used=used,
                          provenance=provenance(job, "structural:dialogue",
                                                template=localized(DIALOGUE, node.language))
                          ).with_id()


def _follow_up(node: Node, previous: str, answer: str, k: int) -> str:
    """Return the student's next turn, following what the previous answer said.

    It takes up a name the previous answer gave and asks the question the next answer
    answers; a canned turn only where the next answer has no question to ask.
    """
    shared = sorted(n for n in names_in(previous) & names_in(answer)
                    if n.lower() != node.title.lower())
    question = next((q.text for q in teachable(node, answer.split(". ")[0])
                     if q.role != "subject" and q.answer not in previous), "")
    if not question:
        return phrase(DIALOGUE, "follow_up", node.language, k=k)
    return phrase(DIALOGUE, "follow_on", node.language, mentioned=shared[0] if shared else "",
                  question=question)


def structural_rephrasings(node: Node, job: Job) -> Iterator[Example]:
    """Yield restatements of groups of facts (the fallback when no model writes them).

    Groups of 3, 2 and 4 facts in the note's order, then groups of 3 in a shuffled order,
    so that each fact is also learned after other facts than the one it follows in the note.
    """
    facts = [f.text for f in node.facts]
    shuffled = facts[:]
    random.Random(f"{node.id}-{job.seed}").shuffle(shuffled)
    for size, order in ((3, facts), (2, facts), (4, facts), (3, shuffled)):
        for start in range(0, len(order), size):
            group = order[start : start + size]
            ask = phrase(ASKS, "ask", node.language, title=node.title, k=start // size)
            yield Example(  # the level by size: a fact or two is micro, more a meso passage
                node_id=node.id, kind=ExampleKind.rephrasing,
                level=Level.micro if len(group) <= 2 else Level.meso,
                messages=chat(ask, " ".join(group)),
                provenance=provenance(job, "structural:restatement",
                                      template=localized(ASKS, node.language)),
            ).with_id()


def megastructure_parts(dataset_map: DatasetMap, job: Job, count_tokens: Callable[[str], int],
                        budget: int) -> list[Example]:
    """Lay the whole map out as one linked text and split it into parts of ≤ `budget` tokens.

    Nodes follow their anchors (a depth-first walk, so linked nodes sit side by side); a node
    that follows one it is anchored to opens with an [ANCHOR] line naming the link (its ends
    and relation, not the evidence sentence, which is one of the facts already). Parts
    break between facts; each part's prompt gives its place in the whole and the node the
    previous part ended on, so the parts train as one system (DESIGN §6).
    """
    graph = nx.Graph()
    graph.add_nodes_from(n.id for n in dataset_map.nodes if n.facts)
    graph.add_edges_from((a.src, a.dst) for a in dataset_map.anchors
                         if a.src in graph and a.dst in graph)
    if not graph:
        return []
    hub = dataset_map.node(max(graph, key=lambda n: (graph.degree(n), -list(graph).index(n))))
    language = Counter(n.language for n in dataset_map.nodes).most_common(1)[0][0]
    theme = phrase(MEGA, "theme", language, hub=hub.title)
    pieces: list[tuple[str, str]] = []  # (node id, line) in reading order
    previous: str | None = None
    for node_id in nx.dfs_preorder_nodes(graph):
        node = dataset_map.node(node_id)
        pieces.append((node_id, phrase(MEGA, "heading", language, title=node.title)))
        link = _anchor_between(dataset_map, node_id, previous) if previous else None
        if link is not None:
            src, dst = dataset_map.node(link.src), dataset_map.node(link.dst)
            relation = link.relation.value.replace("_", " ")
            pieces.append((node_id, phrase(MEGA, "link", language, src=src.title,
                                           dst=dst.title, relation=relation)))
        pieces += [(node_id, f.text) for f in node.facts]
        previous = node_id
    parts = _pack(pieces, count_tokens, budget)
    return [_part(dataset_map, job, theme, i, parts, language) for i in range(len(parts))]


def _anchor_between(dataset_map: DatasetMap, a: str, b: str) -> Anchor | None:
    """Return an anchor joining two nodes, either way round, if there is one."""
    return next((x for x in dataset_map.neighbours(a) if x.dst == b), None) or next(
        (x for x in dataset_map.neighbours(b) if x.dst == a), None)


def _pack(pieces: list[tuple[str, str]], count_tokens: Callable[[str], int],
          budget: int) -> list[list[tuple[str, str]]]:
    """Group lines into consecutive parts of at most `budget` tokens (a line is never cut)."""
    parts: list[list[tuple[str, str]]] = [[]]
    used = 0
    for node_id, line in pieces:
        size = count_tokens(line) + 1
        # a heading or link line never ends a part: it moves on with the fact it introduces
        if parts[-1] and used + size > budget:
            carry: list[tuple[str, str]] = []
            while parts[-1] and parts[-1][-1][1].startswith(("## ", "[ANCHOR] ")):
                carry.insert(0, parts[-1].pop())
            parts.append(carry)
            used = sum(count_tokens(t) + 1 for _, t in carry)
        parts[-1].append((node_id, line))
        used += size
    return [p for p in parts if p]


def _part(dataset_map: DatasetMap, job: Job, theme: str, i: int,
          parts: list[list[tuple[str, str]]], language: str) -> Example:
    lines = parts[i]
    owners = Counter(node_id for node_id, _ in lines)
    owner = owners.most_common(1)[0][0]
    previous = dataset_map.node(parts[i - 1][-1][0]).title if i else ""
    ask = phrase(MEGA, "part", language, theme=theme, i=i + 1, n=len(parts), previous=previous)
    return Example(node_id=owner, kind=ExampleKind.megastructure_part, level=Level.macro,
                   markers=["[THEME]"] + (["[ANCHOR]"] if len(owners) > 1 else []),
                   anchors_used=[n for n in owners if n != owner],
                   messages=chat(ask, "\n".join(t for _, t in lines)),
                   provenance=provenance(job, "structural:megastructure",
                                         template=localized(MEGA, language))).with_id()
