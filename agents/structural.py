"""Structural generators: examples built from facts and anchors without any model.

Question (forward and backward, several frames), cloze, correction, multi-hop and two-hop
exercises; cross-anchor syntheses;
dialogues that walk a node's facts; restatements of groups of facts; and the megastructure,
the whole map as one linked text in parts that fit the student's context.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice

import networkx as nx

from agentrun.agents.probes import bridge_fact, tasks_on_x
from agentrun.agents.questions import ask, person_node
from agentrun.agents.text import (
    NUMBER_WORDS,
    Question,
    named,
    names_in,
    normalize,
    question_form,
    split_fact,
)
from agentrun.prompts import localized, phrase, template_hash
from agentrun.schemas import (
    Anchor,
    DatasetMap,
    Example,
    ExampleKind,
    Level,
    Node,
    ProbeKind,
    Provenance,
    Relation,
)

# The wording of every structural example, one template file per purpose (prompts/).
ASKS = "structural.asks.md"
EXERCISE = "structural.exercise.md"
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


def structural_exercises(node: Node, dataset_map: DatasetMap, job: Job) -> Iterator[Example]:
    """Yield question, cloze, correction, code, multi-hop and two-hop exercises (no model).

    Each fact is asked in the forms people ask (agents/questions.py): up to three role
    questions, the backward one included, each in two frames, answered with the short answer
    then the fact, or the fact alone. The generalization probes ask in another wording
    ("tell me where …"); a question a probe asks word for word is never taught, so the
    probes stay held out.
    """
    for n, fact in enumerate(node.facts):
        questions = teachable_questions(node, fact.text)
        for i, q in enumerate(questions[:3]):
            for k in (n + i, n + i + 1):
                yield _exercise(node, job, "question",
                                _say("question", node.language, title=node.title,
                                     question=q.text, k=k),
                                _say("question_answer", node.language, short=q.answer,
                                     fact=fact.text, k=k))
        split = split_fact(fact.text, node.language)
        if split is None:
            continue
        prefix, fw, answer = split
        yield _exercise(node, job, "cloze",
                        " ".join(_say("cloze", node.language, title=node.title, prefix=prefix,
                                      fw=fw).split()),
                        _say("cloze_answer", node.language, answer=answer, fact=fact.text))
        question = question_form(prefix, fw, node.language)
        if not questions and not _held(node, question) and not ask(
                fact.text, node.title, node.language):  # a held question is not reworded
            yield _exercise(node, job, "question", question, fact.text)
        wrong = _wrong_number(fact.text)
        if wrong is not None:
            ex = _exercise(node, job, "correction",
                           _say("correction", node.language, title=node.title, wrong=wrong),
                           _say("correction_answer", node.language, fact=fact.text))
            ex.markers = ["[ERROR]"]
            yield ex.with_id()
    for code in node.code:
        yield _exercise(node, job, "code", _say("code", node.language, title=node.title,
                                                code_language=code.language),
                        f"```{code.language}\n{code.text}\n```")
    yield from _multi_hop(node, dataset_map, job)
    yield from _two_hop(node, dataset_map, job)


def teachable_questions(node: Node, text: str) -> list[Question]:
    """Return the role questions of a sentence of a node that no generalization probe asks."""
    person = person_node(node.title, [f.text for f in node.facts], node.language)
    return [q for q in ask(text, node.title, node.language, person)
            if len(q.answer) >= 2 and not _held(node, q.text)]


def _held(node: Node, question: str) -> bool:
    """Whether a probe other than absorption asks this question (it is never taught)."""
    asked = normalize(question)
    return any(asked in normalize(p.prompt) for p in node.probes
               if p.kind != ProbeKind.absorption)


def _wrong_number(text: str) -> str | None:
    """Return the sentence with its first number changed (a plausible wrong step), if any."""
    for m in re.finditer(r"\b(\d+|[a-z]+)\b", text):
        word = m.group(1)
        value = int(word) if word.isdigit() else int(NUMBER_WORDS.get(word.lower(), "-1"))
        if value >= 0 and (word.isdigit() or word.lower() in NUMBER_WORDS):
            return f"{text[:m.start()]}{value + 2}{text[m.end():]}"
    return None


def _multi_hop(node: Node, dataset_map: DatasetMap, job: Job) -> Iterator[Example]:
    """Yield how a node connects to each anchored node: the link, two facts of the other end.

    Composed in one answer: two-hop recall needs both facts seen together.
    """
    for anchor in dataset_map.neighbours(node.id):
        dst = dataset_map.node(anchor.dst)
        detail = " ".join(named(f.text, dst.title, dst.language) for f in dst.facts[:2])
        ex = _exercise(node, job, "multi_hop",
                       _say("multi_hop", node.language, title=node.title, other=dst.title),
                       _say("multi_hop_answer", node.language, link=anchor.sentence,
                            other=dst.title, detail=detail))
        ex.anchors_used = [dst.id]
        ex.markers = ["[ANCHOR]"]
        yield ex


def _two_hop(node: Node, dataset_map: DatasetMap, job: Job) -> Iterator[Example]:
    """Step-by-step two-hop answers across each chaining anchor, on facts no probe asks.

    The bridge fact with the other node's name hidden as X identifies X; the task asks a
    fact of X's node. The first such fact is the transfer probe's (agents/probes.py): it is
    never taught.
    """
    for anchor in dataset_map.neighbours(node.id):
        if anchor.relation == Relation.part_of:
            continue
        dst = dataset_map.node(anchor.dst)
        bridge = bridge_fact(node, anchor, dst.title)
        if bridge is None:
            continue
        fact, hidden = bridge
        for target, task, answer in islice(tasks_on_x(dst, f"{node.title} {hidden}"), 1, 4):
            ex = _exercise(node, job, "two_hop",
                           _say("two_hop", node.language, title=node.title, bridge=hidden,
                                task=task),
                           _say("two_hop_answer", node.language, other=dst.title,
                                bridge=fact.text, fact=named(target.text, dst.title,
                                                             dst.language), answer=answer))
            ex.anchors_used = [dst.id]
            ex.markers = ["[ANCHOR]"]
            yield ex


def _exercise(node: Node, job: Job, generator: str, user: str, assistant: str) -> Example:
    return Example(
        node_id=node.id, kind=ExampleKind.exercise, level=Level.micro,
        messages=chat(user, assistant),
        provenance=provenance(job, f"structural:{generator}",
                              template=localized(EXERCISE, node.language)),
    ).with_id()


def _say(form: str, language: str, **variables: object) -> str:
    """Return a form of the structural exercises' wording, in a language."""
    return phrase(EXERCISE, form, language, **variables)




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
    question = next((q.text for q in teachable_questions(node, answer.split(". ")[0])
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
