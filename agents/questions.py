"""Questions a person would ask about a fact, in the fact's language.

A fact is read as subject, verb and the phrases after it. Each phrase whose role can be told
from its shape becomes a question about it: a place after "in"/"at"/"on" is asked with
*where*, a year or a season with *when*, a count with *how many*, the agent of a passive with
*who*; the question word goes first and, in English, the verb is inverted as a person would
say it ("Where was she born?", "How many lines does the oath have?"). Russian keeps its word
order after the question word ("Где родилась Ада Морроу?"). A fact that relates two named
things is also asked backwards, its subject becoming the answer ("Who founded the guild?"):
a model taught "A is B's X" does not learn "B's X is A" unless it is asked so.

No model: each language's grammar is its own module (questions_en, questions_ru); a fact
whose shape is not recognised gets no question, and the caller falls back to a cloze.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from agentrun import languages
from agentrun.agents.questions_en import ask_en, person_en
from agentrun.agents.questions_ru import ask_ru, person_ru
from agentrun.agents.text import Question, normalize
from agentrun.schemas import Node, ProbeKind

TABLE_ROW = re.compile(r"^[^\s:]+(?: [^\s:]+)?: .+ — ")
"""A table row in words ("Scissors: Material — brass; …"): not a sentence to ask about."""


def ask(fact: str, title: str, language: str = "en", person: bool = False) -> list[Question]:
    """Return the role questions of a fact, forward ones first, then the backward one.

    `title` is the node's title (a pronoun subject stands for it); `person` says whether the
    node is about a person (its backward question asks *who*, not *what*).
    """
    words = fact.strip().rstrip(".!?…").split()
    asker = ASKERS.get(language)
    if asker is None or len(words) < 3 or len(words) > 40 or TABLE_ROW.match(fact) \
            or languages.by_speaker(fact):  # "We fixed …": who talks, not what the notes hold
        return []
    return asker(words, title, person)


ASKERS: dict[str, Callable[[list[str], str, bool], list[Question]]] = {"en": ask_en,
                                                                       "ru": ask_ru}
"""Each language's grammar of questions: a fact's words, its node's title, whether a person."""


ECHO_WORDS = {"en": ("who", "what", "where", "when")}
"""Question words an echo question moves to the end, per language (Russian has none: its
question word order is already free)."""


def echo(question: Question, fact: str, language: str) -> str:
    """The question with its question word last ("Bruno Vale lives where?"), or "" if none.

    Only where the answer ends the fact, so the question word takes the answer's place
    ("Ashcombe designed what?", not "Keepers light at dusk what?"); built from the clause
    form (`told`), so the verb is as the fact says it. Never for a subject question.
    """
    words = question.told.split()
    if question.role == "subject" or len(words) < 3 \
            or words[0] not in ECHO_WORDS.get(language, ()) \
            or not normalize(fact).endswith(normalize(question.answer)):
        return ""
    rest = " ".join(words[1:])
    return f"{rest[:1].upper()}{rest[1:]} {words[0]}?"


def person_node(title: str, texts: list[str], language: str = "en") -> bool:
    """Tell whether a node is about a person (its backward questions ask *who*).

    Each language tells it its own way (`PERSONS`); a language without a way says no.
    """
    tell = PERSONS.get(language)
    return tell is not None and tell(title, texts)


PERSONS: dict[str, Callable[[str, list[str]], bool]] = {"en": person_en, "ru": person_ru}
"""Whether a node is about a person, per language: its title and its facts' texts."""


def teachable(node: Node, text: str) -> list[Question]:
    """Return the role questions of a sentence of a node that no generalization probe asks."""
    person = person_node(node.title, [f.text for f in node.facts], node.language)
    return [q for q in ask(text, node.title, node.language, person)
            if len(q.answer) >= 2 and not held(node, q.text)]


def held(node: Node, question: str) -> bool:
    """Whether a probe other than absorption asks this question (it is never taught)."""
    asked = normalize(question)
    return any(asked in normalize(p.prompt) for p in node.probes
               if p.kind != ProbeKind.absorption)
