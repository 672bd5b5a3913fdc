"""English words: their lemmas through lemminflect (a dictionary, rules for unknown words)."""

from __future__ import annotations

from lemminflect import getAllLemmas


def lemmas(word: str) -> set[str]:
    """Return the lemmas of a lower-case English word, for every part of speech it may be."""
    return {lemma for forms in getAllLemmas(word).values() for lemma in forms}
