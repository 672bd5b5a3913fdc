"""One home per language: what agentrun knows of a language, behind one interface.

The language of a note and its sentences, for any language a person writes in: detection is
py3langid's (its model ships inside the package: offline); sentences are cut by sentencex, a
multilingual segmenter with abbreviations per language and fallbacks between related languages.

Each language's words are one folder (`en/`, `ru/`; docs/ARCHITECTURE.md lists what it holds)
built on the field's maintained library (lemminflect for English, pymorphy3 for Russian). A
word is given to the folder of its script, so a sentence that mixes languages is read word by
word; a word of a script with no folder is its own lemma.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import sentencex

from agentrun.languages import en, ru
from agentrun.languages import numbers as numbers_

WORD = re.compile(r"\w+", re.U)
CYRILLIC = re.compile(r"[а-яё]", re.I)
UNSPACED = frozenset({"ja", "zh", "th", "lo", "km", "my", "bo"})
"""Languages written without spaces between words: a sentence is counted in characters."""
LETTERS = re.compile(r"[^\W\d_]", re.U)
MODULES = {module.CODE: module for module in (en, ru)}
"""The languages agentrun reads word by word, by ISO 639-1 code."""


def _module(lower: str) -> Any:
    """Return the module of a word's script (None for a script no module reads)."""
    return ru if CYRILLIC.search(lower) else en if lower.isascii() else None


@lru_cache(maxsize=65536)
def _forms(lower: str) -> frozenset[str]:
    """Return the dictionary forms a language module finds for a lower-case word (ё as е)."""
    module = _module(lower)
    found = module.lemmas(lower) if module is not None and not lower.isdigit() else set()
    return frozenset(f.lower().replace("ё", "е") for f in found)


def lemmas(word: str) -> frozenset[str]:
    """Return the dictionary forms a word may have (lower-case, ё as е), the word's own included.

    A capitalised word is also read as a name in its language («Стрежневой»: «Стрежнева»).
    """
    lower = word.lower().replace("ё", "е")
    found = _forms(lower) | {lower}  # a number is only itself: 1820 is not 1821
    module = _module(lower)
    if word[:1].isupper() and module is not None:
        found |= {f for name in module.name_forms(lower) for f in _forms(name) | {name}}
    return found


@lru_cache(maxsize=65536)
def key(word: str) -> str:
    """Return one dictionary form of a word, the same for its inflections («маяка» → «маяк»).

    Each language module says which (its `key`); a word of a script with no module, or a
    number, is its own key.
    """
    lower = word.lower().replace("ё", "е")
    module = _module(lower)
    if module is None or lower.isdigit():
        return lower
    return str(module.key(lower)).lower().replace("ё", "е")


def words(text: str) -> list[str]:
    """Return a text's words (letters and digits), a possessive's 's dropped."""
    return WORD.findall(re.sub(r"(?<=\w)['’]s?\b", "", text))


def places(text: str, phrase: str, skip: frozenset[str] = frozenset(),
           any_order: bool = False) -> list[int]:
    """Return where `text` (its words, `skip` left out) has `phrase`'s words together.

    In the phrase's order, or with `any_order` in another order where the phrase's language
    allows it: a name («Браск Анна», "Quist, Dervla"), a Russian adjective and its noun
    («фонарь сигнальный»); never nouns ("bell tide" is not "tide bell", «смотритель дома» is
    not «дом смотрителя»).
    """
    said = [w for w in words(phrase) if w.lower() not in skip]
    any_order = any_order and len(said) > 1 and _reorderable(said)
    wanted = [lemmas(w) for w in said]
    seen = [lemmas(w) for w in words(text) if w.lower() not in skip]
    if not wanted:
        return []
    return [i for i in range(len(seen) - len(wanted) + 1)
            if all(w & s for w, s in zip(wanted, seen[i:i + len(wanted)], strict=True))
            or any_order and _matched(wanted, seen[i:i + len(wanted)])]


def _reorderable(said: list[str]) -> bool:
    """Whether a phrase means the same with its words in another order (see `places`)."""
    if all(w[0].isupper() for w in said):
        return True
    module = _module(said[0].lower())
    return module is not None and all(_module(w.lower()) is module for w in said) \
        and module.reorderable([w.lower() for w in said])


def denied(text: str, at: int, size: int = 1, skip: frozenset[str] = frozenset()) -> bool:
    """Whether `text` denies its words `at` … `at + size` ("not X", «не из X», "X did not").

    A negation up to three words before, in the same clause: "never used red kelp", "not
    built in 1820", «не в 1905, а в 1906»; not "No, it was Tallis" (a comma between), nor "not
    only Tallis" («не только»), nor "not Quist but Penhallow" (a contrast after it). Or one of
    the words right after it: "Anna Brask did not write it", «Тарск не строил маяк».
    """
    clean = re.sub(r"(?<=\w)['’]s?\b", "", text)
    spans = [m for m in WORD.finditer(clean) if m.group(0).lower() not in skip]
    end = spans[at + size - 1].end() if at + size - 1 < len(spans) else len(clean)
    after = [m.group(0).lower() for m in spans[at + size:at + size + 2]
             if not CLAUSE_END.search(clean[end:m.start()])]
    if after and (negated(after[0]) or len(after) == 2 and negated(after[1])
                  and after[0] in getattr(_module(after[0]), "AUX", ())):
        return True  # "Brask did not write it", «Браск не строил»: not «Корвель давно не светит»
    target = spans[at].start() if at < len(spans) else len(clean)
    for i in range(at - 1, max(at - 3, 0) - 1, -1):
        word = spans[i].group(0).lower()
        module = _module(word)
        if CLAUSE_END.search(clean[spans[i].end():target]) or module is None:
            return False
        if word in module.CONTRASTS:
            return False  # "not Quist but Penhallow", «не Тарск, а Гаст»
        if negated(word):
            following = spans[i + 1].group(0).lower() if i + 1 < len(spans) else ""
            return following not in module.NOT_DENYING  # "not only", «не только»
    return False


CLAUSE_END = re.compile(r"[,.;:!?—–]")
"""Punctuation that ends the clause a negation denies in."""


def _matched(wanted: list[frozenset[str]], window: list[frozenset[str]]) -> bool:
    """Whether each wanted word has a word of the window of its own (a small matching)."""
    free = list(window)
    for forms in sorted(wanted, key=lambda f: sum(bool(f & s) for s in window)):
        found = next((i for i, s in enumerate(free) if forms & s), None)
        if found is None:
            return False
        free.pop(found)
    return True


def keyed(text: str) -> list[str]:
    """Return every word of a text as its key, in order: a text read as dictionary forms."""
    return [key(w) for w in WORD.findall(text)]


def numbers(text: str, context: str = "") -> list[str]:
    """Return a text's numbers in digits or words, canonical (18000, 3.5, 1820), in order.

    What a comma between digits means (18,000 or «3,5») follows the language of `context`
    (a target's answer), or of the text itself.
    """
    return numbers_.read(text, _module, lemmas, context)


def is_number(word: str) -> bool:
    """Whether a word is a number word or a scale word of its language ("three", «тысяч»)."""
    module = _module(word.lower())
    return module is not None and bool(lemmas(word) & _number_words(module.CODE))


@lru_cache(maxsize=16)
def _number_words(code: str) -> frozenset[str]:
    """Return a language's number and scale words (dictionary forms), gathered once."""
    return frozenset(MODULES[code].NUMBERS) | frozenset(MODULES[code].SCALES)


def content_keys(text: str) -> list[str]:
    """Return the keys of a text's content words in order, and its numbers as written.

    Function words (short, or in the language's stop list) and number words are left out;
    digits stay, as words of their own. Each word is read by the module of its script.
    """
    out = []
    for word in WORD.findall(text):
        lower = word.lower().replace("ё", "е")
        if lower.isdigit():
            out.append(lower)
            continue
        module = _module(lower)
        shortest, stop = (module.MIN_WORD, module.STOP) if module else (4, frozenset())
        keyed_ = key(lower)  # «которую» is «который», a stop word in any of its forms
        if len(lower) >= shortest and lower not in stop and keyed_ not in stop \
                and not lower[0].isdigit() and not is_number(lower):
            out.append(keyed_)
    return out


def negated(text: str) -> bool:
    """Whether a sentence says "not" in any language it mixes (not, never, не, нет, n't)."""
    return any(lower in m.NEGATIONS for w in WORD.findall(text.replace("n't", " not"))
               if (m := _module(lower := w.lower().replace("ё", "е"))) is not None)


def subject_last(language: str) -> bool:
    """Whether a language puts a question's long subject after its verb («Где живёт X?»)."""
    return bool(getattr(MODULES.get(language), "SUBJECT_LAST", False))


def by_speaker(sentence: str) -> bool:
    """Whether a sentence opens with a chat's speaker ("I", "we", «я», «мы»): no thing of notes."""
    first = words(sentence)[:1]
    module = _module(first[0].lower()) if first else None
    return module is not None and first[0].lower() in module.SPEAKERS


def capitalised(text: str) -> list[str]:
    """Return the keys of a sentence's capitalised words but its first: its names.

    «Анной Браск» and «Анна Браск» give the same keys, as "Tallis's" and "Tallis" do.
    """
    return [key(w) for w in words(text)[1:] if w[0].isupper()]


@lru_cache(maxsize=1)
def _identifier():  # type: ignore[no-untyped-def]
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(text: str, default: str = "en") -> str:
    """Return the ISO 639-1 code of the language most of `text` is in (`default` if unsure)."""
    sample = " ".join(text.split())[:4000]
    if len(LETTERS.findall(sample)) < 12:
        return default
    language, confidence = _identifier().classify(sample)
    return str(language) if confidence >= 0.5 else default


def sentences(text: str, language: str) -> list[tuple[int, str]]:
    """Cut text into sentences; return (offset in `text`, sentence) pairs, whitespace kept."""
    out: list[tuple[int, str]] = []
    cursor = 0
    for piece in sentencex.segment(language, text):
        if not piece.strip():
            continue
        at = text.find(piece.strip(), cursor)
        if at < 0:
            at = cursor
        out.append((at, piece.strip()))
        cursor = at + len(piece.strip())
    return out


CYRILLIC_LANGUAGES = frozenset({"ru", "uk", "be", "bg", "sr", "mk", "kk", "ky", "mn", "tg"})
"""Languages written in Cyrillic letters (a note in one of them may quote a Latin sentence)."""


def sentence_language(sentence: str, note_language: str) -> str:
    """Return the language of one sentence of a note: the note's, unless its letters say not.

    A sentence of Latin letters in a Russian note (or of Cyrillic ones in an English one) is
    read in its own language; one sentence is too short for a sure guess between languages of
    one script, so the letters decide and the detector only names a language within it.
    """
    letters = LETTERS.findall(sentence)
    if len(letters) < 12:
        return note_language
    cyrillic = sum(bool(CYRILLIC.match(ch)) for ch in letters) / len(letters)
    latin = sum(ch.isascii() for ch in letters) / len(letters)
    note_cyrillic = note_language in CYRILLIC_LANGUAGES
    if note_cyrillic and latin > 0.8:
        found = detect(sentence, default="en")
        return found if found not in CYRILLIC_LANGUAGES and found in MODULES else "en"
    if not note_cyrillic and cyrillic > 0.8:
        found = detect(sentence, default="ru")
        return found if found in CYRILLIC_LANGUAGES else "ru"
    return note_language


def long_enough(sentence: str, language: str) -> bool:
    """Whether a sentence says enough to be a fact: three words, or 8 letters unspaced."""
    if language in UNSPACED:
        return len(LETTERS.findall(sentence)) >= 8
    return len(sentence.split()) >= 3
