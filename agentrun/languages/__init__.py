"""One home per language: what agentrun knows of a language, behind one interface.

The language of a note and its sentences, for any language a person writes in: detection is
py3langid's (its model ships inside the package: offline); sentences are cut by sentencex, a
multilingual segmenter with abbreviations per language and fallbacks between related languages.

Each language's words are one module (`en.py`, `ru.py`) built on the field's maintained
library (lemminflect for English, pymorphy3 for Russian). A word is given to the module of its
script, so a sentence that mixes languages is read word by word; a word of a script with no
module is its own lemma.
"""

from __future__ import annotations

import re
from functools import lru_cache

import sentencex

from agentrun.languages import en, ru

WORD = re.compile(r"\w+", re.U)
CYRILLIC = re.compile(r"[а-яё]", re.I)


@lru_cache(maxsize=65536)
def lemmas(word: str) -> frozenset[str]:
    """Return the dictionary forms a word may have (lower-case, ё as е), the word's own included."""
    lower = word.lower().replace("ё", "е")
    if lower.isdigit():  # a number is only itself: 1820 is not 1821
        return frozenset({lower})
    module = ru if CYRILLIC.search(lower) else en if lower.isascii() else None
    found = module.lemmas(lower) if module is not None else set()
    return frozenset({lower} | {f.lower().replace("ё", "е") for f in found})


def words(text: str) -> list[str]:
    """Return a text's words (letters and digits), a possessive's 's dropped."""
    return WORD.findall(re.sub(r"(?<=\w)['’]s?\b", "", text))


def names_in_order(text: str, phrase: str, skip: frozenset[str] = frozenset()) -> bool:
    """Whether `text` has `phrase`'s words in order, each in any of its forms (lemmas)."""
    wanted = [lemmas(w) for w in words(phrase) if w.lower() not in skip]
    seen = [lemmas(w) for w in words(text) if w.lower() not in skip]
    if not wanted:
        return False
    return any(all(wanted[j] & seen[i + j] for j in range(len(wanted)))
               for i in range(len(seen) - len(wanted) + 1))



UNSPACED = frozenset({"ja", "zh", "th", "lo", "km", "my", "bo"})
"""Languages written without spaces between words: a sentence is counted in characters."""
LETTERS = re.compile(r"[^\W\d_]", re.U)


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


def long_enough(sentence: str, language: str) -> bool:
    """Whether a sentence says enough to be a fact: three words, or 8 letters unspaced."""
    if language in UNSPACED:
        return len(LETTERS.findall(sentence)) >= 8
    return len(sentence.split()) >= 3
