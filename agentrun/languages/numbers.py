"""Numbers as a sentence writes them, in digits or in words, read to one canonical value.

«18 000», "18,000", «18 тыс.», "18k", «восемнадцать тысяч» and "eighteen thousand" are all
18000; «три с половиной» and "3.5" are 3.5; «в тысяча восемьсот двадцатом году» and "in
eighteen twenty" are 1820. Each language module gives its number words (by dictionary form),
the scale words that multiply, and what a comma between digits means; the reading is here.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

TOKEN = re.compile(r"\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?![\d,.]\d)|\d+(?:[.,]\d+)*|[^\W\d_]+",
                   re.U)
"""A number in digits (with spaces between thousands, or commas and points), or a word."""


def canonical(value: Decimal) -> str:
    """Write a value the one way every reading compares: 18000, 3.5, 1820."""
    text = format(value.normalize(), "f")
    return text


def from_digits(text: str, thousands_comma: bool) -> list[Decimal]:
    """Read digits: spaces group thousands; a comma groups them or marks decimals by language."""
    text = re.sub(r"[ \u00a0\u202f]", "", text)
    if "," in text and thousands_comma:
        head, *groups = text.split(",")
        if all(len(g) == 3 and g.isdigit() for g in groups):
            text = head + "".join(groups)  # 18,000
        else:  # a list: "1,2"
            return [v for part in text.split(",") for v in from_digits(part, False)]
    elif "," in text:
        text = text.replace(",", ".", 1)  # 3,5
    try:
        return [Decimal(text)]
    except InvalidOperation:  # "1.2.3": a section number, read part by part
        return [Decimal(p) for p in text.split(".") if p]


class _Phrase:
    """A number being read word by word: the thousands so far and the group being built."""

    def __init__(self, first: Decimal, from_words: bool):
        self.total = Decimal(0)
        self.group = first
        self.words = from_words
        """Whether the last part was a word (eighteen twenty is a year; 18 twenty is not)."""

    def add(self, value: Decimal) -> None:
        """Add a number word: "twenty one" is 21, "eighteen twenty" is 1820."""
        if self.words and 10 <= self.group <= 99 and (10 <= value <= 99 or value == 0):
            self.group = self.group * 100 + value  # "nineteen oh five"
        else:
            self.group += value
        self.words = True

    def scale(self, factor: int) -> None:
        """Multiply by a scale word; thousands and above close the group ("18 thousand 5")."""
        self.group = (self.group or Decimal(1)) * factor
        if factor >= 1000:
            self.total, self.group = self.total + self.group, Decimal(0)

    def value(self) -> Decimal:
        return self.total + self.group


def read(text: str, module_of: Any, lemmas: Any, context: str = "") -> list[str]:
    """Return every number of a text, canonical, in order (see the module's docstring).

    Args:
        text: the text.
        module_of: the language module of a lower-case word (None for no module).
        lemmas: a word's dictionary forms (`agentrun.languages.lemmas`).
        context: the text whose language says what a comma between digits means.
    """
    out: list[Decimal] = []
    phrase: _Phrase | None = None
    language = module_of((context or text).lower())
    thousands_comma = language.THOUSANDS_COMMA if language is not None else True
    for token in TOKEN.findall(text):
        lower = token.lower()
        if lower[0].isdigit():
            if phrase is not None:
                out.append(phrase.value())
            *before, last = from_digits(token, thousands_comma)
            out += before
            phrase = _Phrase(last, from_words=False)
            continue
        module = module_of(lower)
        if module is None:
            if phrase is not None:
                out.append(phrase.value())
            phrase = None
            continue
        forms = lemmas(lower)
        number = next((module.NUMBERS[f] for f in sorted(forms) if f in module.NUMBERS), None)
        if number is None and phrase is not None and phrase.words:
            number = next((module.INSIDE[f] for f in sorted(forms) if f in module.INSIDE), None)
        scale = next((module.SCALES[f] for f in sorted(forms) if f in module.SCALES), None)
        if number is not None:
            if phrase is None or not phrase.words and phrase.group != 0:
                if phrase is not None:
                    out.append(phrase.value())
                phrase = _Phrase(Decimal(str(number)), from_words=True)
            else:
                phrase.add(Decimal(str(number)))
        elif scale is not None and (phrase is not None or lower in module.NUMBER_STARTS):
            # alone, only the word itself starts a number ("a thousand", «тысяча восемьсот»):
            # "thousands of", «тысячи людей» name no number
            phrase = phrase or _Phrase(Decimal(0), from_words=True)
            phrase.scale(scale)
        elif phrase is not None and forms & module.HALVES:
            phrase.group += Decimal("0.5")
        elif phrase is not None and lower in module.JOINERS:
            continue
        elif phrase is not None:
            out.append(phrase.value())
            phrase = None
    if phrase is not None:
        out.append(phrase.value())
    return [canonical(v) for v in out]
