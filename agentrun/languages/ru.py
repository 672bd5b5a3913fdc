"""Russian words: their lemmas through pymorphy3 (its dictionary, and its guesses for names)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def analyzer() -> Any:
    """Return the one pymorphy3 analyzer (its dictionaries load once, on first use)."""
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


def lemmas(word: str) -> set[str]:
    """Return the normal forms pymorphy3 gives a lower-case Russian word (names guessed)."""
    return {parse.normal_form for parse in analyzer().parse(word)}
