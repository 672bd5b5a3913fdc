"""The language of a note and its sentences, for any language a person writes in.

Detection is py3langid's (its model ships inside the package: offline); sentences are cut by
sentencex, a multilingual segmenter with abbreviations per language and fallbacks between
related languages.
"""

from __future__ import annotations

import re
from functools import lru_cache

import sentencex

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
