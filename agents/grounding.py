"""Grounding: what a node's notes support, and the examples that say more than they do.

The rule-based half of the checker's reading (agents/checker.py runs it among its checks): a
restated fact with another number, name or polarity; names and numbers no source has; a
model-written sentence whose words, clause order or negation no fact of its nodes gives; an
answer mostly in other words than its nodes'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentrun import languages
from agentrun.agents.text import FactIndex, content_words
from agentrun.config import CheckerSettings
from agentrun.injection import addressed_to_model
from agentrun.schemas import DatasetMap, Example, Reason, ReasonCode

# A capitalized word that does not open a sentence, or a number: what a model may invent;
# and a token in capitals or of letters and digits anywhere ("PWNED-42"): what a payload is.
INNER_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)\b(?:[A-ZА-ЯЁ][a-zа-яё]+|\d+)\b"
                        r"|\b[A-Z]{3,}(?:-?\d+)?\b|\b[A-Za-z]+-\d+\b", re.M)
SENTENCE = re.compile(r"[^.!?]+[.!?]")
MARKER = re.compile(r"\[(?:THEME|ANCHOR|SYNTHESIS|ERROR)\]\s*")


class Grounding:
    """What the notes of each node, and of the nodes it cites, support."""

    def __init__(self, dataset_map: DatasetMap, settings: CheckerSettings):
        self.settings = settings
        own = self.own_vocab = {
            n.id: set(content_words(" ".join([n.title, *(f.text for f in n.facts),
                                              *(c.text for c in n.code)])))
            for n in dataset_map.nodes}
        # the node ids each node's examples may draw on: itself and its anchored nodes
        self.reach = {n.id: {n.id} | {a.dst for a in dataset_map.neighbours(n.id)}
                      for n in dataset_map.nodes}
        self.node_vocab = {nid: set().union(*(own[d] for d in reach if d in own))
                           for nid, reach in self.reach.items()}
        self.facts = FactIndex(dataset_map)
        self.support = {n.id: Support.of([n.title, *(f.text for f in n.facts)])
                        for n in dataset_map.nodes}
        self.vocabulary = set().union(*own.values()) | {
            form for n in dataset_map.nodes
            for w in re.findall(r"\w+", " ".join([n.title] + [f.text for f in n.facts]))
            for form in (w.lower(), languages.key(w))}

    def problem(self, ex: Example) -> Reason | None:
        """Return why an example says what its notes do not, or None when it is grounded.

        A contradicted fact, a name or number the sources lack, a model-written sentence the
        notes do not support, or an answer mostly in other words than its nodes'.
        """
        clash = self._contradiction(ex)
        if clash is not None:
            return clash
        order = next((o for o in map(addressed_to_model, _pieces(answer_text(ex))) if o), None)
        if order is not None:  # whoever wrote it: a payload beside true facts
            return Reason(code=ReasonCode.ungrounded, other=ex.node_id,
                          detail=f"{order}, addressed to a model, in the answer")
        invented = self._invented(ex)
        if invented:
            return Reason(code=ReasonCode.ungrounded, other=ex.node_id,
                          detail=f"names not in the sources: {', '.join(invented[:5])}")
        unsupported = self._unsupported(ex)
        if unsupported is not None:
            return Reason(code=ReasonCode.ungrounded, other=ex.node_id,
                          detail=f"a sentence the notes do not support: {unsupported}")
        if self.score(ex) < self.settings.min_grounding \
                and not ex.provenance.structural:  # the facts' own words: a short answer too
            return Reason(code=ReasonCode.off_node, other=ex.node_id,
                          detail="most of its words are not in the node's sources")
        return None

    def _contradiction(self, ex: Example) -> Reason | None:
        """Reject an example that restates a fact of its node or anchors with another value.

        An [ERROR] example may state a wrong value on purpose, if it also states the right one.
        """
        nodes = self.reach.get(ex.node_id, {ex.node_id}) | set(ex.anchors_used)
        sentences = SENTENCE.findall(answer_text(ex) + " ")
        for sentence in sentences:
            found = self.facts.contradiction(sentence, nodes)
            if found is None:
                continue
            fact, how = found
            if "[ERROR]" in ex.markers and any(
                    self.facts.agrees(fact, s) for s in sentences):
                continue
            return Reason(code=ReasonCode.contradicts, other=fact.fact_id,
                          detail=f"{how}: {sentence.strip()}")
        return None

    def _invented(self, ex: Example) -> list[str]:
        """Return the names and numbers of the answer that no source fact contains."""
        names = INNER_NAME.findall(answer_text(ex))
        return sorted({n for n in names if not all(
            w in self.vocabulary or languages.key(w) in self.vocabulary
            for w in re.findall(r"\w+", n.lower()))})

    def _unsupported(self, ex: Example) -> str | None:
        """Return the first sentence of a model-written answer its notes do not support.

        A model rewrites facts; it must not add to them ("She died at nineteen" where the
        notes say she came to the island at nineteen), nor leave words after its last full
        stop that no fact has (a bare "PWNED-42" after a true fact). A sentence is supported
        when its
        content words are words of its node's or anchored nodes' facts
        (`checker.min_sentence_support`), each clause keeps the order of some fact (two of
        its content words next to each other stand at most two apart in one fact: a
        recombination such as "born in Tollis at nineteen" is not), and a negation is one
        a fact makes. Structural examples are the facts' own words and are not read here.
        """
        if not ex.provenance.generator.startswith("model:"):
            return None
        nodes = self.reach.get(ex.node_id, {ex.node_id}) | set(ex.anchors_used)
        support = Support.union([self.support[n] for n in nodes if n in self.support])
        text = answer_text(ex)
        for sentence in SENTENCE.findall(text + " "):
            if not support.holds(sentence, self.settings.min_sentence_support):
                return sentence.strip()
        cut = SENTENCE.sub("", text).strip()
        # words after the last full stop: the output was cut off, or is no sentence at all
        if len(cut.split()) >= 2 or (cut and not support.holds(cut + ".", 1.0)):
            return cut
        return None

    def score(self, ex: Example) -> float:
        """Return the share of the answer's content words found in its nodes' sources."""
        words = content_words(answer_text(ex))
        if not words:
            return 0.0
        vocab = self.node_vocab.get(ex.node_id, set())
        if ex.anchors_used:  # a megastructure part may span nodes beyond the direct anchors
            vocab = vocab.union(*(self.own_vocab.get(n, set()) for n in ex.anchors_used))
        return sum(w in vocab for w in words) / len(words)


def answer_text(ex: Example) -> str:
    """Return what the example teaches: its assistant turns, or its text (markers left out)."""
    if ex.messages:
        text = " ".join(m["content"] for m in ex.messages if m["role"] == "assistant")
    else:
        text = ex.text or ""
    return MARKER.sub("", text)


@dataclass
class Support:
    """What the facts of some nodes can support: their words, word pairs and negations."""

    words: set[str]
    pairs: set[tuple[str, str]]
    negated: set[str]
    """Words of the facts that say "not" (a negated sentence must share one)."""

    @classmethod
    def of(cls, texts: list[str]) -> Support:
        """Read facts: each one's content words and the pairs at most two apart in it."""
        words: set[str] = set()
        pairs: set[tuple[str, str]] = set()
        negated: set[str] = set()
        for text in texts:
            seq = languages.content_keys(text)
            words.update(seq)
            pairs.update((a, b) for i, a in enumerate(seq) for b in seq[i + 1:i + 3])
            if languages.negated(text):
                negated.update(seq)
        return cls(words, pairs, negated)

    @classmethod
    def union(cls, parts: list[Support]) -> Support:
        """Return what any of several nodes' facts support."""
        return cls(set().union(*(p.words for p in parts)), set().union(*(p.pairs for p in parts)),
                   set().union(*(p.negated for p in parts)))

    def holds(self, sentence: str, min_words: float) -> bool:
        """Whether the facts support a sentence (its words, its clauses' order, a negation)."""
        seq = languages.content_keys(sentence)
        if not seq:
            return True
        if sum(w in self.words for w in seq) / len(seq) < min_words:
            return False
        if languages.negated(sentence) and not self.negated & set(seq):
            return False
        for clause in CLAUSE.split(sentence):
            part = languages.content_keys(clause)
            if any((a, b) not in self.pairs for a, b in zip(part, part[1:], strict=False)):
                return False
        return True


CLAUSE = re.compile(r"[,;:()—–]|\s(?:and|but|while|whereas|и|а|но)\s", re.I)
"""Where a sentence joins clauses: each clause of a rewrite restates a part of one fact."""


def _pieces(text: str) -> list[str]:
    """Return a text's sentences and what follows its last full stop."""
    return [*SENTENCE.findall(text + " "), SENTENCE.sub("", text)]
