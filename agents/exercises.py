"""Exercises: a node's facts asked in the forms people ask, and composed across anchors.

Per fact, its role questions (agents/questions.py: forward, and backward for a relation
between named things) in several wordings, answered with the fact, some with the short
answer alone; quizzes that ask several facts of a node and of the nodes it links to in one
conversation, in a shuffled order; two-hop questions across an anchor as a person asks
them ("Where does Cora Darwyn's mentor live?"), answered by the chain of both facts; cloze,
correction, code, multi-hop and step-by-step two-hop exercises. No model.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from itertools import islice

from agentrun import languages
from agentrun.agents.probes import bridge_fact, tasks_on_x
from agentrun.agents.questions import ask, echo, held, teachable
from agentrun.agents.structural import Job, chat, provenance
from agentrun.agents.text import (
    NUMBER_WORDS,
    SUBJECT_WORDS,
    named,
    question_form,
    split_fact,
)
from agentrun.prompts import localized, phrase
from agentrun.schemas import DatasetMap, Example, ExampleKind, Fact, Level, Node, Relation

EXERCISE = "structural.exercise.md"


def structural_exercises(node: Node, dataset_map: DatasetMap, job: Job) -> Iterator[Example]:
    """Yield question, quiz, cloze, correction, code, multi-hop and two-hop exercises.

    Each fact is asked in the forms people ask (agents/questions.py): up to three role
    questions, the backward one included, each in several wordings, answered with the fact
    (the pronoun it opens with named), one wording in four with the short answer alone. The
    generalization probes ask "tell me …"; a question a probe asks word for word is never
    taught, so the probes stay held out.
    """
    asked = {f.id: _forms(node.speaking(f), f.text) for f in node.facts}
    for n, fact in enumerate(node.facts):
        spoken = node.speaking(fact)  # a sentence of another language is asked in it
        said, forms = asked[fact.id]
        for k, (user, short) in enumerate(forms):
            yield _exercise(spoken, job, "question", user,
                            _say("question_answer", spoken.language, short=short, fact=said,
                                 k=n + k))
        split = split_fact(fact.text, spoken.language)
        if split is None:
            continue
        prefix, fw, answer = split
        yield _exercise(spoken, job, "cloze",
                        " ".join(_say("cloze", spoken.language, title=node.title, prefix=prefix,
                                      fw=fw).split()),
                        _say("cloze_answer", spoken.language, answer=answer, fact=fact.text))
        question = question_form(prefix, fw, spoken.language)
        if not forms and not held(node, question) and not ask(
                fact.text, node.title, spoken.language):  # a held question is not reworded
            yield _exercise(spoken, job, "question", question, fact.text)
        wrong = _wrong_number(fact.text)
        if wrong is not None:
            ex = _exercise(spoken, job, "correction",
                           _say("correction", spoken.language, title=node.title, wrong=wrong),
                           _say("correction_answer", spoken.language, fact=fact.text))
            ex.markers = ["[ERROR]"]
            yield ex.with_id()
    for code in node.code:
        yield _exercise(node, job, "code", _say("code", node.language, title=node.title,
                                                code_language=code.language),
                        f"```{code.language}\n{code.text}\n```")
    yield from _quizzes(node, dataset_map, job, asked)
    yield from _multi_hop(node, dataset_map, job)
    chains = _chains(node, dataset_map)
    yield from _two_hop(node, chains, job)
    yield from _composed(node, chains, job)


def _forms(node: Node, fact: str) -> tuple[str, list[tuple[str, str]]]:
    """Return a fact named and the user turns that ask it, each with its short answer.

    Named: its opening pronoun replaced by the title ("Bruno Vale works at …" for "He works
    at …"); the turns: every wording of each of its role questions.
    """
    said = named(fact, node.title, node.language)
    forms: dict[str, str] = {}
    for i, question in enumerate(teachable(node, said)[:3]):
        # the clause a generalization probe asks ("tell me where …") is not taught either
        told = "" if held(node, question.told) else question.told
        for k in range(i, i + WORDINGS):
            user = _say("question", node.language, title=node.title, question=question.text,
                        told=told, echo=echo(question, said, node.language), k=k)
            if user not in forms and not held(node, user):
                forms[user] = question.answer
    return said, list(forms.items())


WORDINGS = 5
"""The most wordings of one question (the exercise forms' `question` macro has as many)."""

QUIZ_TURNS = 6
"""The most questions one quiz asks."""


def _quizzes(node: Node, dataset_map: DatasetMap, job: Job,
             asked: dict[str, tuple[str, list[tuple[str, str]]]]) -> Iterator[Example]:
    """Quizzes: several facts asked in one conversation, each answered with its sentence.

    A node's facts in two shuffled orders (each fact is also recalled after other facts
    than the one it follows in the note), and across each anchor the fact that holds the
    link with the linked node's facts, so both facts of a two-hop chain are seen together.
    The turns share one conversation's overhead: more facts recalled per training token.
    """
    own = [asked[f.id] for f in node.facts if asked[f.id][1]]
    for k in range(2):
        order = own[:]
        random.Random(f"{node.id}-{job.seed}-{k}").shuffle(order)
        for start in range(0, len(order), QUIZ_TURNS):
            chunk = order[start:start + QUIZ_TURNS]
            if len(chunk) >= 2:
                yield _quiz(node, job, chunk, k, [])
    for anchor in dataset_map.neighbours(node.id):
        dst = dataset_map.node(anchor.dst)
        bridge = bridge_fact(node, anchor, dst.title)
        theirs = [_forms(dst, f.text) for f in dst.facts[:QUIZ_TURNS - 1]]
        chain = [asked[bridge[0].id]] if bridge and asked[bridge[0].id][1] else []
        chain += [t for t in theirs if t[1]]
        if len(chain) >= 2 and chain[0] in own:
            yield _quiz(node, job, chain, 0, [dst.id])


def _quiz(node: Node, job: Job, turns: list[tuple[str, list[tuple[str, str]]]], k: int,
          anchors: list[str]) -> Example:
    messages = [m for j, (said, forms) in enumerate(turns)
                for m in chat(forms[(k + j) % len(forms)][0], said)]
    ex = Example(node_id=node.id, kind=ExampleKind.exercise, level=Level.micro,
                 messages=messages, anchors_used=anchors,
                 provenance=provenance(job, "structural:quiz",
                                       template=localized(EXERCISE, node.language)))
    if anchors:
        ex.markers = ["[ANCHOR]"]
    return ex.with_id()


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


Chain = tuple[Node, Fact, str, list[tuple[Fact, str, str]]]
"""A chaining anchor's other end, the bridge fact, that fact with the other end's name as X,
and the tasks on X the two-hop exercises ask (agents/probes.tasks_on_x past the first)."""


def _chains(node: Node, dataset_map: DatasetMap) -> list[Chain]:
    """Return the chains across each anchor whose ends chain, for both kinds of two-hop.

    The first task on X is the transfer probe's (agents/probes.py): it is never taught.
    """
    chains = []
    for anchor in dataset_map.neighbours(node.id):
        if anchor.relation == Relation.part_of:
            continue
        dst = dataset_map.node(anchor.dst)
        bridge = bridge_fact(node, anchor, dst.title)
        if bridge is not None:
            fact, hidden = bridge
            tasks = list(islice(tasks_on_x(dst, f"{node.title} {hidden}"), 1, 4))
            chains.append((dst, fact, hidden, tasks))
    return chains


def _two_hop(node: Node, chains: list[Chain], job: Job) -> Iterator[Example]:
    """Step-by-step two-hop answers across each chaining anchor, on facts no probe asks.

    The bridge fact with the other node's name hidden as X identifies X; the task asks a
    fact of X's node.
    """
    for dst, fact, hidden, tasks in chains:
        for target, task, answer in tasks:
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


def _composed(node: Node, chains: list[Chain], job: Job) -> Iterator[Example]:
    """Two-hop questions as a person asks them, answered by the chain of both facts.

    Where the bridge fact gives the linked node a definite description ("Cora Darwyn's
    mentor is Wenora Toris."), a fact of the linked node is asked of that description
    ("Where does Cora Darwyn's mentor live?"), plainly and step by step; the answer says the
    bridge fact, then the fact. Not the transfer probe's fact: that two-hop stays held out.
    """
    n = 0  # the step-by-step wordings are taken in turn across the anchors
    for dst, fact, hidden, tasks in chains:
        what = described(named(hidden, node.title, node.language), node.language,
                         (node.title, dst.title))
        if not what:
            continue
        said = named(fact.text, node.title, node.language)
        for target, task, _ in tasks:
            if not task.endswith("?") or task.count("X") != 1:
                continue  # a statement to complete reads as no question a person asks
            words = task.rstrip("?").split()
            if languages.subject_last(node.language) and len(words) == 3 and words[1] == "X":
                task = f"{words[0]} {words[2]} X?"  # «Где живёт наставник Ады?», as said
            question = re.sub(r"\bX\b", what, task)
            question = question[:1].upper() + question[1:]
            n += 1
            answer = _say("composed_answer", node.language, bridge=said,
                          fact=named(target.text, dst.title, dst.language))
            for steps in (False, True):
                user = _say("composed", node.language, question=question, steps=steps, k=n)
                if held(node, user):
                    continue
                ex = _exercise(node, job, "composed", user, answer)
                ex.anchors_used = [dst.id]
                ex.markers = ["[ANCHOR]"]
                yield ex


DETERMINERS = {"en": ("the",), "ru": ()}
"""Words a definite description may open with, lower-cased inside a question."""

COPULAS = {"en": (" is ", " was "), "ru": (" — ",)}
"""What links a description to the name it describes ("D is X", "D — X")."""


def described(hidden: str, language: str, titles: tuple[str, ...]) -> str | None:
    """Return the definite description a bridge fact gives X, or None.

    "Cora Darwyn's mentor is X." gives "Cora Darwyn's mentor", "X was the keeper of the
    lamp." "the keeper of the lamp", «Наставник Коры — X.» «наставник Коры». An indefinite
    one ("X is a sailor") or one with a pronoun describes no one thing: None.
    """
    text = hidden.strip().rstrip(".!")
    for link in COPULAS.get(language, ()):
        left, sep, right = text.partition(link)
        opens = right == "X"  # the description opened the sentence
        phrase = left if opens else right if left == "X" else ""
        words = phrase.split()
        if not sep or not 1 <= len(words) <= 8 or "X" in words or "," in phrase:
            continue
        first = words[0].lower()
        if first in SUBJECT_WORDS.get(language, ()) or first in PRONOUNS.get(language, ()):
            return None
        if language == "en" and first not in DETERMINERS["en"] and "'s" not in phrase \
                and "\u2019s" not in phrase:
            return None  # "a sailor", "Orvane": no description of one thing
        name = any(t.split()[:1] == words[:1] for t in titles)
        if opens and (first in DETERMINERS[language] or language != "en" and not name):
            phrase = first + phrase[len(first):]  # capitalised as the sentence's opening
        return phrase
    return None


PRONOUNS = {"en": ("his", "her", "its", "their", "this", "that", "a", "an"),
            "ru": ("его", "её", "ее", "их", "этот", "эта", "это", "тот", "та")}
"""Openings of a phrase that describes no one thing by itself."""
