"""Text helpers the roles share.

Ids, fact splits and question forms, names, number words, and the fact index that finds the
fact a sentence restates. Plain functions over strings, no model: the architect, the
contractors, the checker and the steering forks all read a fact the same way.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from anyascii import anyascii

from agentrun import languages
from agentrun.languages import en
from agentrun.schemas import DatasetMap, Relation

FUNCTION_WORDS = {
    "of", "in", "on", "at", "by", "from", "with", "to", "for", "as", "into", "every",
    "than", "about", "is", "are", "was", "were", "called", "means", "named", "within",
}


WH = {"by": "by whom or what", "is": "what", "are": "what", "was": "what", "were": "what",
      "called": "called what", "named": "named what", "means": "means what", "every": "every what"}
# Russian: the prepositions and links a fact's closing phrase follows, and the question word
# each asks with (the case the preposition governs).
WH_RU = {"в": "в чём", "во": "в чём", "на": "на чём", "из": "из чего", "от": "от чего",
         "для": "для чего", "с": "с чем", "со": "с чем", "к": "к чему", "ко": "к чему",
         "по": "по чему", "о": "о чём", "об": "о чём", "при": "при чём", "под": "под чем",
         "над": "над чем", "за": "за чем", "у": "у кого", "до": "до чего", "через": "через что",
         "между": "между чем", "без": "без чего", "это": "что", "—": "что", "является": "чем",
         "являются": "чем", "называется": "как", "называют": "как", "составляет": "сколько"}
GRAMMAR = {"en": (FUNCTION_WORDS, WH, "what"), "ru": (set(WH_RU), WH_RU, "что")}
"""Per language: the words a fact's answer follows, the question word for each, the default."""


RELATION_CUES: list[tuple[Relation, re.Pattern[str]]] = [
    (Relation.part_of, re.compile(r"\bpart of\b|\bbelongs to\b|\bin every\b", re.I)),
    (Relation.contrasts, re.compile(r"\bunlike\b|\bwhereas\b|\bin contrast\b|\bnever\b", re.I)),
    (Relation.example_of, re.compile(r"\bfor example\b|\bsuch as\b|\binstance of\b", re.I)),
    (Relation.prerequisite, re.compile(
        r"\brequires?\b|\bneeds?\b|\bbefore\b|\bsource of\b|"
        r"\b(?:made|refined|derived|distilled|comes?)\s+from\b", re.I)),
    (Relation.generalizes, re.compile(r"\bkind of\b|\btype of\b|\bgenerally\b", re.I)),
]


def type_relation(sentence: str) -> Relation:
    """Guess an anchor's relation from the words around its link."""
    for relation, cue in RELATION_CUES:
        if cue.search(sentence):
            return relation
    return Relation.elaborates


def slug(text: str) -> str:
    """Return a stable, readable id for a title in any script (transliterated to ASCII)."""
    # symbols (emoji) carry no name; a letter of another script becomes its Latin spelling
    # (the soft sign's apostrophe of a transliteration is dropped, an English one kept)
    ascii_ = "".join(ch if ch.isascii() else anyascii(ch).replace("'", "")
                     for ch in text if not unicodedata.category(ch).startswith("S"))
    s = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")
    return s[:80].rstrip("-") or "node"


UPPER = "A-ZÀ-ÖØ-ÞА-ЯЁΑ-Ω"
"""Capital letters of the Latin, Cyrillic and Greek scripts (a name starts with one)."""
ENTITY = re.compile(rf"\b[{UPPER}][\w'’–-]*(?:\s+(?:of\s+|the\s+)?[{UPPER}][\w'’–-]*)*")


def split_fact(text: str, language: str = "en") -> tuple[str, str, str] | None:
    """Split a fact into (prefix, function word, answer): the answer is its closing phrase."""
    words = text.rstrip(".!?…").split()
    if len(words) < 5:
        return None
    function_words = GRAMMAR.get(language, GRAMMAR["en"])[0]
    for i in range(len(words) - 2, max(len(words) - 7, 1), -1):
        if words[i].lower().strip(",") in function_words:
            answer = " ".join(words[i + 1 :]).strip(",;")
            return " ".join(words[:i]), words[i].lower().strip(","), answer
    return " ".join(words[:-3]), "", " ".join(words[-3:])


def question_form(prefix: str, fw: str, language: str = "en") -> str:
    """Return a reworded, question form of a fact split (the generalization form)."""
    _, words, default = GRAMMAR.get(language, GRAMMAR["en"])
    wh = words.get(fw, f"{fw} {default}" if fw else default)
    return f"{prefix.rstrip(' ,—-:')} {wh}?"


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


def capitalised_phrases(text: str) -> Iterable[str]:
    """Yield every run of capitalised words (with 'of'/'the' inside) and its longer sub-runs."""
    for m in ENTITY.finditer(text):
        words = m.group(0).split()
        yield m.group(0)
        for i in range(len(words)):
            # sub-runs of two words or more: "Hobb Farm" in "The Hobb Farm", never "Farm"
            for j in range(i + 2, min(len(words), i + 5) + 1):
                yield " ".join(words[i:j])


NUMBER_WORDS = {w: str(v) for w, v in en.COUNTS.items()}
"""English counts in words ("three"), for the question and exercise forms that write them."""


def content_words(text: str) -> list[str]:
    """Return the keys of a text's content words in any language («маяка» and «маяк» alike)."""
    return [w for w in languages.content_keys(text) if not w.isdigit()]


@dataclass(frozen=True)
class KeyFact:
    """A fact reduced to what a contradiction can change: its numbers, names and polarity."""

    fact_id: str
    node_id: str
    words: frozenset[str]
    numbers: tuple[str, ...]
    names: frozenset[str]
    negated: bool


def key_parts(text: str) -> tuple[frozenset[str], tuple[str, ...], frozenset[str], bool]:
    """Split a sentence into content words, numbers (words read as digits), names, negation.

    Words and names are keys (agentrun.languages): «Анной Браск» is «Анна Браск», "built" is
    "build", «в тысяча восемьсот двадцатом году» says 1820 as "in 1820" does.
    """
    names = frozenset(languages.capitalised(text))
    words = frozenset(content_words(text)) - names
    return words, tuple(sorted(languages.numbers(text))), names, languages.negated(text)


class FactIndex:
    """Finds the fact a sentence restates and tells whether it changes its value.

    A sentence restates a fact when it shares at least 3 and at least 60% of the fact's
    content words (names and numbers aside). It contradicts it when it then gives different
    numbers, swaps the fact's names for other names of the map, or flips its polarity.
    Deterministic and linear: an inverted index from words to facts.
    """

    def __init__(self, dataset_map: DatasetMap):
        self.facts: list[KeyFact] = []
        # per node, word → its facts: a lookup touches only the nodes an example may cite
        self.postings: dict[str, dict[str, list[int]]] = {}
        self.titles = {n.id: frozenset(map(languages.key, languages.words(n.title)))
                       for n in dataset_map.nodes}
        for node in dataset_map.nodes:
            for fact in node.facts:
                words, numbers, names, negated = key_parts(fact.text)
                own = self.postings.setdefault(node.id, {})
                for w in words:
                    own.setdefault(w, []).append(len(self.facts))
                self.facts.append(KeyFact(fact.id, node.id, words, numbers, names, negated))
        self.known_names = frozenset().union(*(f.names for f in self.facts), *self.titles.values())

    def contradiction(self, sentence: str, nodes: set[str]) -> tuple[KeyFact, str] | None:
        """Return the fact of `nodes` that `sentence` contradicts, and how; None if none.

        A sentence that agrees with any fact it restates (a synthesis may restate two) is
        never a contradiction of the others.
        """
        words, numbers, names, negated = key_parts(sentence)
        hits: Counter[int] = Counter(i for n in nodes for w in words
                                     for i in self.postings.get(n, {}).get(w, ()))
        close = []
        for i, shared in hits.most_common(8):
            fact = self.facts[i]
            if len(fact.words) >= 2 and shared >= min(3, len(fact.words)) \
                    and shared >= 0.6 * len(fact.words):
                close.append((shared / len(fact.words), fact))
        clashes = [(fact, how) for ratio, fact in sorted(close, key=lambda c: -c[0])
                   if (how := self._clash(fact, ratio, numbers, names, negated))]
        return clashes[0] if clashes and len(clashes) == len(close) else None

    def agrees(self, fact: KeyFact, sentence: str) -> bool:
        """Tell whether a sentence states the fact's values (numbers and names)."""
        _, numbers, names, _ = key_parts(sentence)
        return not Counter(fact.numbers) - Counter(numbers) and fact.names <= names

    def _clash(self, fact: KeyFact, ratio: float, numbers: tuple[str, ...],
               names: frozenset[str], negated: bool) -> str:
        """Say how a sentence restating `fact` changes it ("" when it does not)."""
        missing = Counter(fact.numbers) - Counter(numbers)
        extra = Counter(numbers) - Counter(fact.numbers)
        if missing and extra:
            return (f"says {', '.join(sorted(extra))} where the fact says "
                    f"{', '.join(sorted(missing))}")
        missing_names = fact.names - names - self.titles[fact.node_id]
        swapped = (names & self.known_names) - fact.names
        if missing_names and swapped:
            return (f"names {_shown(swapped)} where the fact names {_shown(missing_names)}")
        if negated != fact.negated and ratio >= 0.8:
            return "states the opposite of the fact"
        return ""


def _shown(names: frozenset[str]) -> str:
    """Return names' keys as a person reads them ("Anna, Brask")."""
    return ", ".join(sorted(n.title() for n in names))


def as_lemmas(text: str) -> str:
    """Return a text as its words' lemmas: a probe asked in another case is the same probe."""
    return " ".join(languages.keyed(text))


def normalize(text: str) -> str:
    """Lower-case and keep only words, single-spaced (for leak matching)."""
    return " ".join(re.findall(r"\w+", text.lower()))


@dataclass(frozen=True)
class Question:
    """A question about a fact and its short answer (a phrase of the fact's own words)."""

    text: str
    answer: str
    role: str
    """who, what, where, where_from, when, how_many (forward) or subject (asked backwards)."""
    told: str = ""
    """The question as a clause in the fact's own order ("where she was born"), for another
    wording of it ("tell me where she was born", «скажите, где она родилась»)."""


YEAR = re.compile(r"^\d{3,4}s?$")
"""A year as a sentence writes it (431, 1821, 1990s)."""


def subject_of(title: str) -> str:
    """What a note's pronoun stands for: its title, without the section a node may add."""
    return title.split(" (", 1)[0]


def finish_question(text: str) -> str:
    """Single-space a question, capitalise it and end it with a question mark."""
    text = re.sub(r"\s+", " ", text).strip(" ,;:")
    return text[0].upper() + text[1:] + "?"


SUBJECT_WORDS = {"en": ("it", "she", "he"), "ru": ("она", "он", "оно")}
"""The pronouns a note's sentences call its own subject by."""


def named(fact: str, title: str, language: str = "en") -> str:
    """Return a fact with its opening pronoun replaced by what it stands for (the title).

    Read beside another node's facts, "It stands on the cliff" no longer says which thing.
    """
    first, _, rest = fact.partition(" ")
    if rest and first.lower() in SUBJECT_WORDS.get(language, SUBJECT_WORDS["en"]):
        return f"{subject_of(title)} {rest}"
    return fact
