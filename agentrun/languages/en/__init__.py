"""English: lemmas through lemminflect (a dictionary, rules for unknown words) and word lists."""

from __future__ import annotations

from lemminflect import getAllLemmas

CODE = "en"

_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
          "fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
_ORDINAL_UNITS = ("zeroth first second third fourth fifth sixth seventh eighth ninth tenth "
                  "eleventh twelfth thirteenth fourteenth fifteenth sixteenth seventeenth "
                  "eighteenth nineteenth").split()
COUNTS: dict[str, int] = {
    **{w: i for i, w in enumerate(_UNITS)}, **{w: 20 + 10 * i for i, w in enumerate(_TENS)},
    "hundred": 100, "thousand": 1000, "twice": 2, "dozen": 12}
"""Cardinal number words, as a question or an exercise may write a count ("three")."""
NUMBERS: dict[str, int] = {
    **{w: v for w, v in COUNTS.items() if w not in ("hundred", "thousand", "dozen")},
    **{w: i for i, w in enumerate(_ORDINAL_UNITS) if i >= 3},  # "first", "second": not counts
    **{w.removesuffix("y") + "ieth": 20 + 10 * i for i, w in enumerate(_TENS)},
    "hundredth": 100, "thousandth": 1000}
"""Number words (cardinal, ordinal) by value; `SCALES` multiply what comes before them."""
INSIDE = {"first": 1, "second": 2, "oh": 0}
"""Ordinals that are numbers only after another number word ("twenty-first")."""
SCALES = {"dozen": 12, "hundred": 100, "thousand": 1000, "million": 1_000_000,
          "billion": 1_000_000_000, "k": 1000, "bn": 1_000_000_000, "mln": 1_000_000}
"""Words that multiply the number before them ("two dozen", "18 thousand", "18k")."""
NUMBER_STARTS = {"dozen", "hundred", "thousand", "million", "billion"}
"""Scale words that start a number alone, in this form only."""
HALVES = {"half"}
JOINERS = {"and", "a"}
"""Words inside a number phrase: "three hundred and five", "three and a half"."""
THOUSANDS_COMMA = True
"""A comma before three digits groups thousands (18,000); a point marks the decimals."""

SPEAKERS = {"i", "we", "you"}
"""The subjects of a chat's turns: a sentence they open says who talks, not what a note holds."""
NEGATIONS = {"not", "never", "no", "none", "nor", "cannot", "without", "neither",
             *(w + "nt" for w in ("is", "was", "were", "are", "do", "does", "did", "ca", "could",
                                  "wo", "would", "has", "have", "had", "should", "ai"))}
"""Negation words; "wasnt" is "wasn't" as a sentence's words are read (apostrophe dropped)."""
NOT_DENYING = {"only", "just", "merely", "least"}
"""Words after a negation that make it no denial ("not only X", «не только X»)."""
CONTRASTS = {"but", "rather", "instead"}
"""Words after which a negation no longer holds ("not X but Y")."""
STOP = set("""about above after again against also among because been before being below
between both could does doing down during each every from further have having here into
itself just more most much only other over same should some such than that their them then
there these they this those through under until very were what when where which while whom
will with would your""".split())
"""Words of four letters or more that carry no content."""
MIN_WORD = 4
"""Shorter words are function words ("the", "was", "of") for content matching."""
ABBREVIATIONS = {"mt": "mount", "st": "saint", "dr": "doctor", "prof": "professor",
                 "km": "kilometre", "kg": "kilogram", "cm": "centimetre", "mm": "millimetre",
                 "ft": "foot", "yr": "year", "yrs": "year", "approx": "approximately"}
"""Abbreviations a sentence may write for a word (each also means its full word)."""


# The words English questions are built around (agents/questions_en.py).
AUX = {"is", "are", "was", "were", "has", "have", "had", "can", "could", "will", "would",
       "may", "might", "must", "should", "shall", "does", "do", "did"}
BE = {"is", "are", "was", "were"}
PLACE_PREPS = {"in", "at", "on", "near", "beside", "inside", "off", "along", "across", "under",
               "behind", "outside", "within", "around"}
TIME_PREPS = {"in", "on", "at", "during", "since", "until", "before", "after", "by"}
PREPS = PLACE_PREPS | TIME_PREPS | {"from", "to", "into", "for", "with", "by", "through",
                                    "about", "over", "between", "among", "against", "toward",
                                    "towards", "upon", "without"}
BREAKS = {"and", "or", "but", "which", "who", "whom", "whose", "that", "where", "while",
          "because", "although", "though", "when", "if", "so", "than", "as", "unless"}
"""Words that start another clause: a question keeps the clause it asks about."""
TIME_WORDS = {"year", "years", "century", "centuries", "month", "week", "day", "days", "night",
              "morning", "evening", "midnight", "noon", "dawn", "dusk", "sunset", "sunrise",
              "winter", "summer", "spring", "autumn", "season", "hour", "minute", "age",
              "january", "february", "march", "april", "may", "june", "july", "august",
              "september", "october", "november", "december", "monday", "tuesday",
              "wednesday", "thursday", "friday", "saturday", "sunday", "storms", "storm",
              "tide"}
APPROX = {"about", "around", "nearly", "almost", "roughly", "some", "over", "only", "exactly"}
FOCUS = {"only", "just", "also", "still", "even", "always", "often", "usually", "mostly"}
SUBJECT_PRONOUNS = {"it": "it", "she": "her", "he": "him", "they": "them", "this": "this",
                    "these": "these"}
DETERMINERS = {"the", "a", "an", "its", "her", "his", "their", "every", "each", "most", "some",
               "all", "many", "this", "these", "that", "those", "no", "one", "our", "my"}


def lemmas(word: str) -> set[str]:
    """Return the lemmas of a lower-case English word, for every part of speech it may be."""
    found = {lemma for forms in getAllLemmas(word).values() for lemma in forms}
    full = ABBREVIATIONS.get(word)
    return found | {full} if full else found


def key(word: str) -> str:
    """Return the first of a lower-case word's lemmas in alphabetical order (itself if none).

    Stable across a word's forms: "builds", "built" and "building" are all "build".
    """
    return min(lemmas(word), default=word)


def reorderable(words: list[str]) -> bool:
    """Whether an English phrase of common words keeps its meaning in another order: never."""
    return False


def name_forms(word: str) -> set[str]:
    """Return the other forms an English name may take: none beyond its lemmas."""
    return set()
