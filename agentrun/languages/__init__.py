"""One home per language: what agentrun knows of a language's words, behind one interface.

Each language is one module (`en.py`, `ru.py`) with a `lemmas(word)` built on the field's
maintained library (lemminflect for English, pymorphy3 for Russian). A word is given to the
module of its script, so a sentence that mixes languages is read word by word; a word of a
script with no module is its own lemma.
"""

from __future__ import annotations

import re
from functools import lru_cache

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
