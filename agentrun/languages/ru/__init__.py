"""Russian: lemmas through pymorphy3 (its dictionary, and its guesses for names), word lists.

Number words are listed by their dictionary form: pymorphy3 brings «двадцатом», «тысяч»,
«трёх» back to «двадцатый», «тысяча», «три».
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

CODE = "ru"

_UNITS = ("ноль один два три четыре пять шесть семь восемь девять десять одиннадцать "
          "двенадцать тринадцать четырнадцать пятнадцать шестнадцать семнадцать "
          "восемнадцать девятнадцать").split()
_TENS = "двадцать тридцать сорок пятьдесят шестьдесят семьдесят восемьдесят девяносто".split()
_HUNDREDS = "сто двести триста четыреста пятьсот шестьсот семьсот восемьсот девятьсот".split()
_ORDINAL_UNITS = ("нулевой первый второй третий четвёртый пятый шестой седьмой восьмой "
                  "девятый десятый одиннадцатый двенадцатый тринадцатый четырнадцатый "
                  "пятнадцатый шестнадцатый семнадцатый восемнадцатый девятнадцатый").split()
_ORDINAL_TENS = ("двадцатый тридцатый сороковой пятидесятый шестидесятый семидесятый "
                 "восьмидесятый девяностый").split()
_ORDINAL_HUNDREDS = ("сотый двухсотый трёхсотый четырёхсотый пятисотый шестисотый семисотый "
                     "восьмисотый девятисотый").split()
NUMBERS: dict[str, float] = {
    **{w: i for i, w in enumerate(_UNITS)}, **{w: 20 + 10 * i for i, w in enumerate(_TENS)},
    **{w: 100 * (i + 1) for i, w in enumerate(_HUNDREDS)},
    **{w: i for i, w in enumerate(_ORDINAL_UNITS) if i >= 3},  # «первый», «второй»: not counts
    **{w: 20 + 10 * i for i, w in enumerate(_ORDINAL_TENS)},
    **{w: 100 * (i + 1) for i, w in enumerate(_ORDINAL_HUNDREDS)},
    "оба": 2, "полтора": 1.5, "полторы": 1.5, "тысячный": 1000}
"""Number words (cardinal, ordinal) by dictionary form, ё written е, and their values."""
NUMBERS = {w.replace("ё", "е"): v for w, v in NUMBERS.items()}
INSIDE = {"первый": 1, "второй": 2}
"""Ordinals that are numbers only after another number word («двадцать первом»)."""
SCALES = {"дюжина": 12, "тысяча": 1000, "тыс": 1000, "миллион": 1_000_000, "млн": 1_000_000,
          "миллиард": 1_000_000_000, "млрд": 1_000_000_000}
"""Words that multiply the number before them («18 тысяч», «18 тыс.», «3 млн»)."""
NUMBER_STARTS = {"дюжина", "тысяча", "миллион", "миллиард"}
"""Scale words that start a number alone, in this form only."""
HALVES = {"половина"}
JOINERS = {"с"}
"""Words inside a number phrase: «три с половиной»."""
THOUSANDS_COMMA = False
"""A comma marks the decimals (3,5); thousands are grouped by spaces (18 000)."""

SUBJECT_LAST = True
"""A question's long subject follows its verb: «Где живёт наставник Ады?»."""
SPEAKERS = {"я", "мы", "ты", "вы"}
"""The subjects of a chat's turns: a sentence they open says who talks, not what a note holds."""
NEGATIONS = {"не", "нет", "ни", "никогда", "без", "нельзя", "ничто", "никто"}
NOT_DENYING = {"только", "лишь", "иной"}
"""Words after a negation that make it no denial ("not only X", «не только X»)."""
CONTRASTS = {"а", "но", "зато"}
"""Words after which a negation no longer holds ("not X but Y")."""
STOP = set("""более будет будут была были было быть вместе впрочем всегда всего всех говорит
даже другой другие если есть естественно затем здесь иногда какая какой когда которая которое
которые который которых кроме лишь между может можно надо него нему перед после потом потому
почти пока при про раз разве сейчас свой своя себя сказать снова совсем так также такой там
тогда того тоже только том тут уже хорошо хоть чего чтобы чтоб этих этой этом этот эта это
этого этому весь все всё вся она оно они его её ему ими как что кто где чем для над под из
или был быть""".split())
"""Words of three letters or more that carry no content."""
STOP = {w.replace("ё", "е") for w in STOP}
MIN_WORD = 3
"""Shorter words are prepositions and particles («в», «на», «не») for content matching."""
ABBREVIATIONS = {"км": "километр", "м": "метр", "см": "сантиметр", "мм": "миллиметр",
                 "кг": "килограмм", "г": "год", "гг": "год", "ул": "улица", "др": "другой",
                 "проф": "профессор", "св": "святой", "оз": "озеро", "р": "река"}
"""Abbreviations a sentence may write for a word (each also means its full word)."""


@lru_cache(maxsize=1)
def analyzer() -> Any:
    """Return the one pymorphy3 analyzer (its dictionaries load once, on first use)."""
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


def lemmas(word: str) -> set[str]:
    """Return the normal forms pymorphy3 gives a lower-case Russian word (names guessed)."""
    found = {parse.normal_form for parse in analyzer().parse(word)}
    full = ABBREVIATIONS.get(word)
    return found | {full} if full else found


def key(word: str) -> str:
    """Return the normal form of a lower-case word's likeliest reading (pymorphy3's order).

    Its first reading, not the least of all: «северном» may also be read as a guessed
    «северн», which no other form of «северный» gives.
    """
    return str(analyzer().parse(word)[0].normal_form)


def reorderable(words: list[str]) -> bool:
    """Whether a phrase is one noun with its adjectives («фонарь сигнальный»), in any order.

    Two nouns are not: «смотритель дома» is another thing than «дом смотрителя».
    """
    kinds = [analyzer().parse(w)[0].tag.POS for w in words]
    return kinds.count("NOUN") == 1 and all(k in ("NOUN", "ADJF", "PRTF") for k in kinds)


FEMININE_SURNAME = re.compile(r"(ов|ев|ёв|ин|ын)(ой|ою|у)$")


def name_forms(word: str) -> set[str]:
    """Return the nominative a capitalised word may have as a woman's surname.

    pymorphy3 reads «Стрежневой» as an adjective; as a surname it is «Стрежнева».
    """
    found = FEMININE_SURNAME.search(word)
    return {word[:found.start(2)] + "а"} if found else set()
