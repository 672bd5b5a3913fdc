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

TOKEN = re.compile(r"(?<![\w.,])[-−](?=[0-9])|[0-9]{1,3}(?:[ \u00a0\u202f][0-9]{3})+"
                   r"(?:[.,][0-9]+)?(?![0-9]|[.,][0-9])|[0-9]+(?:[.,][0-9]+)*|[^\W\d_]+", re.U)
"""A minus sign, a number in digits (spaces between thousands, or commas and points), a word."""
GAP = re.compile(r"^[\s\-–]*$")
"""What may stand between two words of one number: spaces and hyphens ("twenty-one")."""


def canonical(value: Decimal) -> str:
    """Write a value the one way every reading compares: 18000, 3.5, 1820."""
    return format(value.normalize(), "f")


def from_digits(text: str, thousands_comma: bool) -> list[Decimal]:
    """Read digits: spaces group thousands; a comma groups them or marks decimals by language.

    "18,000" and "1,234.5" (English), «3,5» and «1 234,5» (Russian); a list ("1,2,3") is its
    numbers; a section number ("1.2.3") is its parts.
    """
    text = re.sub(r"[ \u00a0\u202f]", "", text)
    head, *groups = text.split(",")
    if groups and thousands_comma and all(len(g.split(".")[0]) == 3 for g in groups[:-1]) \
            and len(groups[-1].split(".")[0]) == 3:
        text = head + "".join(groups)  # 18,000 / 1,234.5
    elif len(groups) == 1 and not thousands_comma and "." not in text:
        text = f"{head}.{groups[0]}"  # 3,5
    elif groups:
        return [v for part in text.split(",") for v in from_digits(part, False)]
    if text.count(".") > 1:
        return [v for part in text.split(".") if part for v in from_digits(part, False)]
    try:
        return [Decimal(text)]
    except InvalidOperation:
        return []


class _Phrase:
    """A number being read word by word: the thousands so far and the group being built."""

    def __init__(self, first: Decimal, from_words: bool):
        self.total = Decimal(0)
        self.group = first
        self.words = from_words
        """Whether the last part was a word (eighteen twenty is a year; 18 twenty is not)."""
        self.scaled = False
        """Whether the last part was a scale word ("three hundred and five" goes on)."""
        self.joined = False
        """Whether a joiner ("and", «с») came last: only a scale's tail or a half may follow."""

    def add(self, value: Decimal) -> None:
        """Add a number word: "twenty one" is 21, "eighteen twenty" is 1820."""
        if self.words and 10 <= self.group <= 99 and (10 <= value <= 99 or value == 0):
            self.group = self.group * 100 + value  # "nineteen oh five"
        else:
            self.group += value
        self.words, self.scaled, self.joined = True, False, False

    def scale(self, factor: int) -> None:
        """Multiply by a scale word; thousands and above close the group ("18 thousand 5")."""
        self.group = (self.group or Decimal(1)) * factor
        if factor >= 1000:
            self.total, self.group = self.total + self.group, Decimal(0)
        self.scaled, self.joined = True, False

    def value(self) -> Decimal:
        """Return the number read so far."""
        return self.total + self.group


def _word_value(lower: str, module: Any, lemmas: Any, inside: bool
                ) -> tuple[float | None, int | None, bool]:
    """Return a word's value as a number word, as a scale word, and whether it is a half."""
    forms = lemmas(lower)
    number = next((module.NUMBERS[f] for f in sorted(forms) if f in module.NUMBERS), None)
    if number is None and inside:
        number = next((module.INSIDE[f] for f in sorted(forms) if f in module.INSIDE), None)
    scale = next((module.SCALES[f] for f in sorted(forms) if f in module.SCALES), None)
    return number, scale, bool(forms & module.HALVES)


def read(text: str, module_of: Any, lemmas: Any, context: str = "") -> list[str]:
    """Return every number of a text, canonical, in order (see the module's docstring).

    A number's words stand next to each other: a comma or a full stop between them ends it
    ("one, two, three" is three numbers), and "and" joins only a scale's tail ("three hundred
    and five") or a half ("three and a half"), never two numbers ("five and six").

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
    sign, end = Decimal(1), 0

    def close() -> None:
        nonlocal phrase
        if phrase is not None:
            out.append(phrase.value())
        phrase = None

    for m in TOKEN.finditer(text):
        token, lower = m.group(0), m.group(0).lower()
        if phrase is not None and not GAP.match(text[end:m.start()]):
            close()
        end = m.end()
        if token in "-−":
            sign = Decimal(-1)
            continue
        if lower[0].isdecimal():
            close()
            *before, last = from_digits(token, thousands_comma) or [Decimal(0)]
            out += before
            phrase, sign = _Phrase(sign * last, from_words=False), Decimal(1)
            continue
        sign = Decimal(1)
        module = module_of(lower)
        if module is None:
            close()
            continue
        number, scale, half = _word_value(lower, module, lemmas,
                                          phrase is not None and phrase.words)
        if phrase is not None and phrase.joined and number is not None and not phrase.scaled:
            close()  # "five and six" are two numbers
        if number is not None:
            if phrase is None or not phrase.words and phrase.group != 0:
                close()
                phrase = _Phrase(Decimal(str(number)), from_words=True)
            else:
                phrase.add(Decimal(str(number)))
        elif scale is not None and (phrase is not None or lower in module.NUMBER_STARTS):
            # alone, only the word itself starts a number ("a thousand", «тысяча восемьсот»):
            # "thousands of", «тысячи людей» name no number
            phrase = phrase or _Phrase(Decimal(0), from_words=True)
            phrase.scale(scale)
        elif phrase is not None and half:
            phrase.group += Decimal("0.5")
            phrase.joined = False
        elif phrase is not None and lower in module.JOINERS:
            phrase.joined = True
        else:
            close()
    close()
    return [canonical(v) for v in out]
