"""English questions: the question word first, the verb inverted as a person says it.

"Where was she born?", "How many lines does the oath have?", "Who founded it in 431?" (a
passive's agent asked in the active). Verbs are read with lemminflect's dictionary (lemma,
inflection, part of speech); no model, no parser.
"""

from __future__ import annotations

import re
from functools import lru_cache

from agentrun.agents.text import NUMBER_WORDS, UPPER, YEAR, Question, finish_question, subject_of
from agentrun.languages.en import (
    APPROX,
    AUX,
    BE,
    BREAKS,
    DETERMINERS,
    FOCUS,
    PLACE_PREPS,
    PREPS,
    SUBJECT_PRONOUNS,
    TIME_PREPS,
    TIME_WORDS,
)


@lru_cache(maxsize=1)
def _lemminflect():  # type: ignore[no-untyped-def]
    import lemminflect  # its dictionaries load on first use (a tenth of a second)

    return lemminflect


def _readings(word: str) -> dict[str, tuple[str, ...]]:
    """Return the parts of speech a word can be, with its lemma for each (do not change it)."""
    return _lemmas(word.lower())


@lru_cache(maxsize=1 << 16)
def _lemmas(word: str) -> dict[str, tuple[str, ...]]:
    """A word's readings, looked up once (a vault repeats its words many times)."""
    return dict(_lemminflect().getAllLemmas(word))


def _inflect(lemma: str, tag: str) -> str:
    forms = _lemminflect().getInflection(lemma, tag=tag)
    return str(forms[0]) if forms else lemma


def _is_number(word: str) -> bool:
    w = word.lower().strip(",")
    return w.isdigit() or w in NUMBER_WORDS or bool(re.fullmatch(r"\d+(?:[.,]\d+)?", w)) \
        or (("-" in w) and all(p in NUMBER_WORDS for p in w.split("-")))


def _clause_end(words: list[str], start: int) -> int:
    """Return where the clause that runs from `start` ends (a comma or a clause word)."""
    for i in range(start, len(words)):
        if words[i].lower() in BREAKS:
            return i
        if words[i].endswith((",", ";", ":")):
            return i + 1
    return len(words)


def _verb_at(words: list[str]) -> int | None:
    """Return the index of the finite verb (or first auxiliary) after the subject, or None."""
    first = _readings(words[0])
    if words[0].lower() in PREPS | BREAKS:
        return None  # a fronted phrase ("During storms the keepers …")
    if first.get("VERB", ("",))[0] == words[0].lower() and "NOUN" not in first:
        return None  # an instruction ("Replace the cracked lens before winter")
    for i in range(1, min(len(words), 9)):
        w = words[i].lower().strip(",")
        if w in {"has", "have", "had"} and not _participle(words, i + 1):
            return i  # "has three lines": the main verb, asked with do
        if w in AUX:
            return i
        if w in PREPS or w in BREAKS or words[i - 1].endswith(","):
            return None  # a phrase before the verb: not a shape this reads
        readings = _readings(w)
        if "VERB" not in readings or words[i][0].isupper():
            continue
        if w.endswith("s") and any(_is_number(x) or x.lower() in {"most", "many", "all", "some"}
                                   for x in words[:i]):
            continue  # "Three long flashes …": a plural noun after a count
        lemma = readings["VERB"][0]
        inflected = w != lemma
        prev = words[i - 1]  # "Wenora Toris lives": an unknown name is not a plural
        plural_subject = prev.lower() in {"they", "we", "you", "i"} or (prev.endswith("s")
            and not prev.endswith("'s") and (prev[0].islower() or bool(_readings(prev))))
        if "NOUN" not in readings and "ADJ" not in readings and (inflected or plural_subject):
            return i
        if inflected and w.endswith("ed"):
            return i
        if inflected and "NOUN" in readings and words[i - 1].lower() not in DETERMINERS \
                and not plural_subject and not (_bare_verb(words, i + 1)
                                                and _common(words[i - 1])):
            return i  # "A single lighthouse burns" (but "The wax presses stand")
        if plural_subject and not inflected:
            return i
    return None


def _participle(words: list[str], i: int) -> bool:
    """Whether words[i] is a past participle ("been", "founded", "kept")."""
    if i >= len(words):
        return False
    w = words[i].lower()
    lemma = _readings(w).get("VERB", ("",))[0]
    forms = _lemminflect().getAllInflections(lemma, upos="VERB") if lemma else {}
    # a regular verb lists its participle once, as its past ("founded")
    # a regular verb lists its participle once, as its past ("founded"); after a form of
    # "be" a past form is read as the participle ("was lit")
    return w == "been" or w in (*forms.get("VBN", ()), *forms.get("VBD", ()))


def _common(word: str) -> bool:
    """Whether a word is a lower-case word the dictionary knows (not a name)."""
    return word.islower() and bool(_readings(word))


def _bare_verb(words: list[str], i: int) -> bool:
    """Whether words[i] is a verb's bare form (the verb of a plural subject before it)."""
    if i >= len(words) or words[i][0].isupper():
        return False
    w = words[i].lower()
    return w not in DETERMINERS | PREPS and _readings(w).get("VERB", ("",))[0] == w


def _subject_text(words: list[str]) -> str:
    """The subject as it reads inside a question (a leading common word lower-cased).

    A word the dictionary knows is common unless the next word is capitalised too (a name
    of several words: "Lantern Guild"); a word it does not know is a name ("Orvane").
    """
    first = words[0]
    named = len(words) > 1 and words[1][:1].isupper()
    if first.lower() in DETERMINERS | set(SUBJECT_PRONOUNS) or \
            (not named and _readings(first) and first != first.upper()):
        first = first.lower()
    return " ".join([first, *words[1:]])


def _do_support(verb: str) -> tuple[str, str]:
    """Return (do/does/did, the verb's bare form) for a finite main verb."""
    lemma = _readings(verb).get("VERB", (verb,))[0]
    if verb.lower() == lemma:
        return "do", lemma
    if verb.lower() == _inflect(lemma, "VBZ").lower():
        return "does", lemma
    return "did", lemma


def _phrases(words: list[str], start: int, end: int) -> list[tuple[int, int]]:
    """Return the [i, j) spans of the prepositional phrases in words[start:end]."""
    spans, i = [], start
    while i < end:
        if words[i].lower() in PREPS and i + 1 < end:
            j = i + 1
            while j < end and words[j].lower() not in PREPS - {"of"}:
                j += 1
            spans.append((i, j))
            i = j
        else:
            i += 1
    return spans


def _role(prep: str, phrase: list[str]) -> str | None:
    """Tell what a prepositional phrase answers: where, where_from, when or who."""
    low = [w.lower().strip(",") for w in phrase]
    named = any(w[0].isupper() for w in phrase if w.lower() not in DETERMINERS)
    if prep in TIME_PREPS and (any(YEAR.match(w) for w in low) or any(w in TIME_WORDS
                                                                      for w in low)):
        return "when"
    if prep == "by" and named:
        return "who"
    if prep == "from" and named:
        return "where_from"
    if prep in PLACE_PREPS and named:
        return "where"
    return None


def _answer_of(role: str, phrase: list[str]) -> str:
    """The short answer in a phrase: a year for *when* where it has one, else the phrase."""
    if role == "when":
        years = [w for w in phrase if YEAR.match(w)]
        if years:
            return years[0]
    names = [m.group(0) for m in NAME.finditer(" ".join(phrase))]
    if role in {"where", "where_from", "who"} and names:
        return names[-1].strip(",;:")  # "off the northern tip of Orvane" → "Orvane"
    while phrase and phrase[0].lower() in DETERMINERS:
        phrase = phrase[1:]
    return " ".join(phrase).strip(",;:")


NAME = re.compile(rf"[{UPPER}][\w'’-]*(?:\s+(?:of\s+|the\s+)?[{UPPER}][\w'’-]*)*")
"""A run of capitalised words: the name in a phrase."""


def ask_en(words: list[str], title: str, person: bool) -> list[Question]:
    """Return the role questions of an English fact's words, then its backward question."""
    v = _verb_at(words)
    if v is None:
        return []
    subject, verb = words[:v], words[v].lower()
    end = _clause_end(words, v + 1)
    out: list[Question] = []
    copula = verb in BE
    if verb in AUX - {"has", "have", "had"} or (verb in AUX and _participle(words, v + 1)):
        chain = v + 1  # auxiliaries and a participle: "was founded", "has been kept"
        while chain < end and (words[chain].lower() in AUX | {"been", "not"}):
            chain += 1
        passive = verb in BE and chain < end and _participle(words, chain)
        head = [words[v]]
        tail = words[v + 1:chain + (1 if passive else 0)]
        rest_from = chain + (1 if passive else 0)
        # "is an island in …" (a noun phrase after "is"; not "is for fog at night")
        copula = copula and not passive and chain == v + 1 and chain < end \
            and words[chain].lower() in DETERMINERS
    else:
        copula = False
        passive = False
        do, bare = _do_support(verb)
        head, tail, rest_from = [do], [bare], v + 1

    said = words[v:rest_from]  # the verb as the fact says it ("was born", "lives")

    def forward(wh: str, cut: tuple[int, int], trailing: str = "") -> tuple[str, str]:
        i, j = cut
        while i > rest_from and words[i - 1].lower() in FOCUS:
            i -= 1
        # "Orvane is an island in the Merrow Sea" → "Where is Orvane?" ("where Orvane is")
        rest = words[j:end] if copula else words[rest_from:i] + words[j:end]
        body = [wh, *head, _subject_text(subject), *tail, *rest]
        told = [wh.lower(), _subject_text(subject), *said, *rest]
        return finish_question(" ".join(body) + trailing), _clause(" ".join(told) + trailing)

    for i, j in _phrases(words, rest_from, end):
        prep, phrase = words[i].lower(), words[i + 1:j]
        role = _role(prep, phrase)
        if role is None or (role == "who" and not passive):
            continue
        answer = _answer_of(role, phrase)
        if role == "who" and passive:
            # "It was founded by A in 431" → "Who founded it in 431?"
            tense = "VBD" if verb in {"was", "were"} else "VBZ"
            lemma = _readings(words[rest_from - 1]).get("VERB", (words[rest_from - 1],))[0]
            obj = SUBJECT_PRONOUNS.get(subject[0].lower(), _subject_text(subject)) \
                if len(subject) == 1 else _subject_text(subject)
            rest = words[rest_from:i] + words[j:end]
            text = finish_question(" ".join(["Who", _inflect(lemma, tense), obj, *rest]))
            told = _clause(text)
        elif role == "where_from":
            text, told = forward("Where", (i, j), " from")
        else:
            text, told = forward({"who": "By whom", "where": "Where", "when": "When"}[role],
                                 (i, j))
        out.append(Question(text, answer, role, told))
    # a count right after the verb: "The oath has three lines" → "How many lines does …"
    k = rest_from + (1 if rest_from < end and words[rest_from].lower() in APPROX else 0)
    if k < end and _is_number(words[k]) and k + 1 < end and words[k + 1][0].islower():
        stop = k + 2
        while stop < end and words[stop].lower() not in PREPS | BREAKS:
            stop += 1
        if stop < end and words[stop].lower() == "of":  # "six barrels of brinefire"
            stop += 1
            while stop < end and words[stop].lower() not in PREPS | BREAKS:
                stop += 1
        thing = " ".join(words[k + 1:stop]).strip(",;:")
        if not passive:  # "How many barrels were burned" would need the passive's agent
            rest = words[stop:end]
            body = ["How many", thing, *head, _subject_text(subject), *tail, *rest]
            clause = ["how many", thing, _subject_text(subject), *said, *rest]
            out.append(Question(finish_question(" ".join(body)), words[k].strip(","), "how_many",
                                _clause(" ".join(clause))))
    if not passive:
        out += _object_en(words, subject, (head, tail, said), rest_from, end,
                          copula or verb in BE)
    definition = _definition_en(words, subject, v, end, person)
    if definition:
        out.append(definition)
    backward = _backward_en(words[:end], subject, v, title, person)
    if backward:
        out.append(backward)
    return out


def _clause(text: str) -> str:
    """A question as the clause after "tell me": lower-case first, no question mark."""
    text = " ".join(text.split()).strip(" ,;:?")
    return text[:1].lower() + text[1:]


def _object_en(words: list[str], subject: list[str],
               verb: tuple[list[str], list[str], list[str]], start: int, end: int,
               be: bool) -> list[Question]:
    """Ask what an active verb acts on, or what a name a subject is.

    "Ashcombe designed the first brinefire lamp" → "What did Ashcombe design?";
    "Ada's mentor is Bruno Vale" → "Who is Ada's mentor?" (a first and last name: who).
    """
    stop = start
    while stop < end and words[stop].lower().strip(",") not in PREPS | BREAKS:
        stop += 1
    phrase = words[start:stop]
    if not phrase or len(phrase) > 6 or _is_number(phrase[0]) or words[start].lower() in APPROX:
        return []
    if be and not (phrase[0][0].isupper() and phrase[0].lower() not in DETERMINERS):
        return []  # "is an island" is a definition, "is for fog" no object
    first = _readings(phrase[0])
    if not be and first and "NOUN" not in first and phrase[0].lower() not in DETERMINERS \
            and not phrase[0][0].isupper():
        return []  # an adverb or a participle after the verb: no object to ask for
    answer = _answer_of("what", phrase)
    names = [w for w in answer.split() if w[:1].isupper()]
    who = len(names) == len(answer.split()) == 2 and phrase[0].lower() not in DETERMINERS
    head, tail, said = verb  # "the Lantern Guild" is no person: a name takes no article
    wh = "Who" if who else "What"
    body = [wh, *head, _subject_text(subject), *tail, *words[stop:end]]
    told = [wh.lower(), _subject_text(subject), *said, *words[stop:end]]
    return [Question(finish_question(" ".join(body)), answer, "what", _clause(" ".join(told)))] \
        if len(answer) >= 2 else []


def _definition_en(words: list[str], subject: list[str], v: int, end: int,
                   person: bool) -> Question | None:
    """"Orvane is a crescent-shaped island in …" → "What is Orvane?" (crescent-shaped island)."""
    verb = words[v].lower()
    if verb not in BE or len(subject) > 4 or v + 2 >= end or \
            words[v + 1].lower() not in {"a", "an", "the"}:
        return None
    k = v + 2
    while k < min(end, v + 6) and words[k].lower() not in PREPS | BREAKS \
            and not (k > v + 2 and _participle(words, k)):
        k += 1
        if words[k - 1].endswith((",", ";", ":")):
            break
    answer = " ".join(words[v + 2:k]).strip(",;:")
    if not answer:
        return None
    who = person and (subject[0].lower() in {"she", "he"} or subject[0][0].isupper()
                      and subject[0].lower() not in DETERMINERS)
    wh = "Who" if who else "What"
    text = finish_question(" ".join([wh, verb, _subject_text(subject)]))
    return Question(text, answer, "what", _clause(" ".join([wh.lower(), _subject_text(subject),
                                                            verb])))


def _backward_en(words: list[str], subject: list[str], v: int, title: str,
                 person: bool) -> Question | None:
    """The fact asked backwards: its subject is the answer, when the rest names something."""
    rest = words[v:]
    named = [w for w in rest if w[0].isupper() and w.lower() not in DETERMINERS]
    if not named:
        return None
    owner = next((k for k, w in enumerate(subject[:-1]) if w.endswith(("'s", "’s"))), None)
    if owner is not None and words[v].lower() in BE and len(rest) > 1:
        # "Ada Morrow's mentor is Bruno Vale" → "Whose mentor is Bruno Vale?" (Ada Morrow)
        text = finish_question(" ".join(["Whose", *subject[owner + 1:], *rest]))
        return Question(text, _subject_text(subject[:owner + 1])[:-2], "subject", _clause(text))
    first = subject[0].lower()
    if len(subject) == 1 and first in SUBJECT_PRONOUNS:
        if first in {"this", "these", "they"}:
            return None
        answer, who = subject_of(title), first in {"she", "he"}
    elif any(w[0].isupper() and w.lower() not in DETERMINERS and (k or not _readings(w))
             for k, w in enumerate(subject)):
        answer = " ".join(subject)
        while answer.split()[0].lower() in DETERMINERS and len(answer.split()) > 1:
            answer = answer.split(" ", 1)[1]
        who = person and answer.lower() in title.lower()
    else:
        return None
    verb = words[v].lower()
    if verb in {"are", "were"}:  # asked about one thing: "Who was …", "What is …"
        rest = [{"are": "is", "were": "was"}[verb], *rest[1:]]
    elif verb not in AUX and _readings(verb).get("VERB", ("",))[0] == verb:  # "Keepers burn"
        rest = [_inflect(verb, "VBZ"), *rest[1:]]
    text = finish_question(" ".join(["Who" if who else "What", *rest]))
    return Question(text, answer, "subject", _clause(text))


PERSON_VERBS = ("was born", "lives", "lived", "works", "worked", "died", "married", "studied")
"""What a note says of its subject that only a person does ("Bruno Vale lives in …")."""


def person_en(title: str, texts: list[str]) -> bool:
    """Tell whether an English node is about a person.

    A note that calls its subject she or he, or says what only a person does, is.
    """
    return any(t.split()[0].lower().strip(",") in {"she", "he", "her", "his"}
               or t.startswith(tuple(f"{title} {verb} " for verb in PERSON_VERBS))
               for t in texts if t.split())
