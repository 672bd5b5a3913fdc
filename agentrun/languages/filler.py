"""Chat filler: sentences of a chat export that talk to the reader instead of stating a fact.

An assistant's reply ends with offers ("Want me to draft the spec?", «Хочешь — я помогу
тебе: …»), questions to the reader and pleasantries ("Hope this helps!", «Да, ты прав.»). Read
as facts they become probes such as «Хочешь — я помогу тебе что?». Each language's words are
`chat` module in the language's folder (`en/chat.py`, `ru/chat.py`); a language without
one has no filler.
"""

from __future__ import annotations

import re
from functools import lru_cache
from types import ModuleType

from agentrun.languages.en import chat as chat_en
from agentrun.languages.ru import chat as chat_ru

FILLER: dict[str, ModuleType] = {"en": chat_en, "ru": chat_ru}
"""The module of filler words of each language, by ISO 639-1 code."""

LEAD = re.compile(r"^[\W_]+", re.U)
"""What a sentence may open with before its words (an emoji, a bullet, a dash)."""


@lru_cache(maxsize=8)
def _patterns(language: str) -> tuple[re.Pattern[str], frozenset[str]] | None:
    """Return a language's offer openings as one pattern, and its pleasantries."""
    module = FILLER.get(language)
    if module is None:
        return None
    openings = sorted((_fold(o) for o in module.OFFERS), key=len, reverse=True)
    # a word opening ends at a word's end ("могу", not "могущество")
    pattern = "|".join(re.escape(o) + (r"\b" if o[-1].isalnum() else "") for o in openings)
    return re.compile(rf"^(?:{pattern})"), frozenset(_fold(p) for p in module.PLEASANTRIES)


def _fold(text: str) -> str:
    """Lower-case, ё as е, typographic apostrophes as plain ones."""
    return text.lower().replace("ё", "е").replace("’", "'")


def is_filler(sentence: str, language: str, in_chat: bool = True) -> bool:
    """Tell whether a sentence is an offer, a question to the reader or a pleasantry.

    Outside a chat's turns an offer must say who offers ("If you want, I can …"): a note's
    own "If you want to reach the tower, take the north path" or «Давайте рассмотрим линзу»
    is kept.
    """
    patterns = _patterns(language)
    if patterns is None:
        return False
    openings, pleasantries = patterns
    text = _fold(LEAD.sub("", sentence.strip()))
    if text.rstrip(" .!…)") in pleasantries:
        return True
    return bool(openings.match(text)) and (in_chat or bool(
        set(re.findall(r"[\w']+", text)) & FILLER[language].FIRST_PERSON))
