"""Russian questions: the question word first, the sentence's own order after it.

«Где родилась Ада Морроу?», «Когда её построили?», «Сколько часов длится смена?». Russian
needs no inversion; a place is a capitalised Cyrillic name after «в»/«на», a time a year or
a time word, a count a number word outside a preposition. Where the question word stands for
a phrase, pymorphy3 reads the phrase's case and the verb's form: the object is asked in its
case («Чего модель не формирует?», «К чему приводит задержка?»), and a verb after кто or что
agrees with it, masculine or neuter singular («Кто родился …», «Что было построено …»).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from agentrun.agents.text import YEAR, Question, finish_question, subject_of
from agentrun.languages import ru

RU_PLACE = {"в", "во", "на"}
RU_TIME_WORDS = {"году", "годах", "веке", "века", "месяце", "январе", "феврале", "марте",
                 "апреле", "мае", "июне", "июле", "августе", "сентябре", "октябре", "ноябре",
                 "декабре", "зимой", "летом", "весной", "осенью", "полночь", "полдень",
                 "закате", "рассвете", "утром", "вечером", "ночью", "время", "днём"}
RU_NUMBERS = {"один", "одна", "одно", "два", "две", "три", "четыре", "пять", "шесть", "семь",
              "восемь", "девять", "десять", "одиннадцать", "двенадцать", "тринадцать",
              "четырнадцать", "пятнадцать", "двадцать", "тридцать", "сорок", "пятьдесят",
              "сто", "двести", "триста", "тысяча", "тысячи"}
RU_PREPS = {"в", "во", "на", "из", "от", "для", "с", "со", "к", "ко", "по", "о", "об", "при",
            "под", "над", "за", "у", "до", "через", "между", "без"}
RU_BREAKS = {"и", "или", "но", "а", "который", "которая", "которое", "которые", "которую",
             "которой", "где", "когда", "что", "чтобы", "потому", "если", "поэтому"}
RU_LINKS = {"это", "—", "является", "являются", "был", "была", "было", "были"}


def ask_ru(words: list[str], title: str, person: bool) -> list[Question]:
    """Return the role questions of a Russian fact's words, then its backward question."""
    words = _unlabelled(words)
    if len(words) < 3:
        return []
    end = next((i for i, w in enumerate(words) if i and w.lower() in RU_BREAKS), len(words))
    end = next((i + 1 for i, w in enumerate(words[:end]) if w.endswith((",", ";", ":"))), end)
    out: list[Question] = []
    i = 1
    while i < end:
        prep = words[i].lower()
        if prep in RU_PREPS and i + 1 < end:
            j = i + 1
            while j < end and words[j].lower() not in RU_PREPS:
                j += 1
            phrase = words[i + 1:j]
            low = [w.lower().strip(",") for w in phrase]
            rest = words[:i] + words[j:end]
            role = None
            if any(YEAR.match(w) for w in low) or any(w in RU_TIME_WORDS for w in low):
                role, wh = "when", "Когда"
            elif prep in RU_PLACE and phrase and _named_ru(phrase[0]):
                role, wh = "where", "Где"
            elif prep in RU_PLACE and len(phrase) > 1 and _named_ru(phrase[1]):
                # "работает в архиве «Лорио»": a kind of place, then its name
                role, wh = "where", "Где"
                phrase = [prep, *phrase]
            elif prep in {"из", "от"} and phrase and phrase[0][0].isupper():
                role, wh = "where_from", "Откуда"
            if role is not None and len(rest) >= 2:
                years = [w for w in phrase if YEAR.match(w)]
                answer = years[0] if role == "when" and years else " ".join(phrase).strip(",")
                text = finish_question(" ".join([wh, _lower_ru(rest, title)]))
                out.append(Question(text, answer, role, _told_ru(wh, rest, title)))
            i = j
            continue
        if prep in RU_NUMBERS or prep.isdigit():
            if words[i - 1].lower() not in RU_PREPS and i + 1 < end:
                # "Смена длится двенадцать часов" → "Сколько часов смена длится?"
                rest = words[:i] + words[i + 2:end]
                out.append(Question(finish_question(" ".join(["Сколько", words[i + 1].strip(","),
                                                        _lower_ru(rest, title)])),
                                    words[i], "how_many"))
        i += 1
    named = _named_predicate_ru(words[:end], title)
    if named:
        out.append(named)
    definition = None if person else _definition_ru(words, title)  # «Кто такая» needs a gender
    if definition:
        out.append(definition)
    # a dash after the verb starts another thought («… вызывает недоумение — почему …»)
    tight = next((i for i in range(1, end) if words[i] in DASHES), end)
    answered = {q.answer for q in out}  # «в Солтмире» is asked where, not «в чём»
    out += [q for q in _asked_in_case(words, tight, title) if q.answer not in answered]
    backward = _backward_ru(words, tight, title, person)
    if backward:
        out.append(backward)
    return out


def _backward_ru(words: list[str], end: int, title: str, person: bool) -> Question | None:
    """The fact asked backwards: its subject is the answer to кто or что.

    A name, the title or a pronoun for it, when the rest names something («Кто — сестра
    Бориса Линда?»); or the noun phrase the clause opens with («Что приводит к задержке?»).
    The verb agrees with the question word («Кто родился …», «Что было построено …»).
    """
    subject = _subject_ru(words, title)
    if subject is not None:
        answer, start = subject
        rest = words[start:]
        if not (any(w[0].isupper() for w in rest) or rest and rest[0].lower() in RU_LINKS):
            return None
        wh = "Кто" if person else "Что"
    else:
        found = _subject_phrase_ru(words, end)
        if found is None or end - found[1] < 3:
            return None
        answer, start = found
        rest = words[start:end]
        wh = "Кто" if "anim" in _head(words[:start]).tag else "Что"
    if rest[:2] == ["—", "это"]:  # "А — это Б" → "Что — Б?"
        rest = ["—", *rest[2:]]
    text = finish_question(" ".join([wh, *agree_ru(rest, wh)]))
    return Question(text, answer, "subject", _clause_ru(text))


def _unlabelled(words: list[str]) -> list[str]:
    """Drop what opens a fact before its words: an emoji, a bullet, a label («📌 Вывод:»)."""
    k = 0
    while k < len(words) and not any(ch.isalnum() for ch in words[k]):
        k += 1
    label = next((i + 1 for i in range(k, min(k + 2, len(words))) if words[i].endswith(":")), k)
    k = label if len(words) - label >= 3 else k
    # a leading «А», «И», «Но» ties the fact to the one before; alone, it says the same
    return words[k + 1:] if len(words) - k > 3 and words[k] in {"А", "И", "Но"} else words[k:]


DASHES = {"—", "–"}
RU_NOT_TERMS = {"и", "а", "но", "да", "нет", "если", "ниже", "выше", "так", "вот", "итак", "то",
                "это", "тут", "здесь", "там", "теперь", "потом", "сейчас", "всё", "все"}
RU_PRONOUNS = {"я", "ты", "мы", "вы", "он", "она", "оно", "они"}


def _definition_ru(words: list[str], title: str) -> Question | None:
    """«Уход за маяком — это ежедневная забота о …» → «Что такое уход за маяком?»."""
    dash = next((i for i in range(1, min(4, len(words))) if words[i] in DASHES), None)
    if dash is None or not all(w.isalpha() for w in words[:dash]) or \
            words[0].lower() in RU_NOT_TERMS | RU_BREAKS | RU_PREPS or \
            words[dash - 1].lower().endswith(("ешь", "ишь", "ете", "ите")):
        return None  # "Хочешь — я помогу", "Ниже — разбор": not a term and its meaning
    start = dash + 1 + (dash + 1 < len(words) and words[dash + 1].lower() == "это")
    if start >= len(words) or not words[start][:1].islower() or words[start][:1].isascii() \
            or words[start].lower() in RU_PRONOUNS:
        return None
    k = start
    while k < min(len(words), start + 3) and words[k].lower() not in RU_PREPS | RU_BREAKS:
        k += 1
        if not words[k - 1][-1].isalnum():
            break
    answer = " ".join(words[start:k]).strip(",;:.")
    term = _lower_ru(words[:dash], title)
    return Question(finish_question(f"Что такое {term}"), answer, "what") if answer else None


def _named_ru(word: str) -> bool:
    """Whether a word is a Cyrillic name ("Кор-Бэй", "«Лорио»")."""
    word = word.lstrip("«\"")
    return bool(word) and word[0].isupper() and not word[0].isascii()


def _named_predicate_ru(words: list[str], title: str) -> Question | None:
    """"Наставник Брио Марато — Тало Нилини" → "Кто наставник Брио Марато?" (Тало Нилини).

    A subject, a dash and a name: asked who (a first and last name) or what the subject is.
    """
    if "—" not in words[1:]:
        return None
    d = words.index("—", 1)
    predicate = [w.strip(",;:") for w in words[d + 1:]]
    if not predicate or predicate[0].lower() == "это" or \
            not all(_named_ru(w) for w in predicate) or len(predicate) > 4:
        return None
    wh = "Кто" if len(predicate) == 2 else "Что"
    subject = words[:d]
    if len(subject) >= 3 and all(_named_ru(w) for w in subject):  # "Наставник Брио Марато"
        subject = [subject[0].lower(), *subject[1:]]
    text = finish_question(" ".join([wh, _lower_ru(subject, title)]))
    # the clause another wording asks: the question word after the dash ("… — кто")
    return Question(text, " ".join(predicate), "what",
                    f"{_lower_ru(subject, title)} — {wh.lower()}")


def _told_ru(wh: str, rest: list[str], title: str) -> str:
    """The clause of a question in another order than the question's own.

    "Где Ада Морроу живёт?" is told "где живёт Ада Морроу" (the verb before the subject),
    so a wording built on it is not the question word for word; a clause with no verb
    after a named subject keeps the question's order.
    """
    if len(rest) >= 2 and rest[-1][:1].islower() and all(_named_ru(w) for w in rest[:-1]):
        rest = [rest[-1], *rest[:-1]]
    return _clause_ru(finish_question(" ".join([wh, _lower_ru(rest, title)])))


def _clause_ru(question: str) -> str:
    """A Russian question as the clause after «скажите,»: the same order, lower-case first."""
    text = question.strip(" ?")
    return text[:1].lower() + text[1:]


def _subject_ru(words: list[str], title: str) -> tuple[str, int] | None:
    """The subject a backward question asks for: the title, a name, or a pronoun for it."""
    low = " ".join(words).lower()
    key = title.lower()
    if low.startswith(key + " ") and len(key.split()) < len(words) - 1:
        return title, len(key.split())
    if words[0].lower() in {"она", "он", "оно"}:
        return subject_of(title), 1
    if words[0].lower() in RU_PREPS:
        return None
    names = 0
    while names < len(words) - 1 and words[names][0].isupper() and \
            words[names][-1].isalnum():
        names += 1
    if names >= 2 and not words[names][:1].isascii():  # a Latin name may run on in Latin
        return " ".join(words[:names]), names
    return None


def _lower_ru(words: list[str], title: str) -> str:
    """Join a Russian clause after a question word, its first word lower-cased unless a name.

    A name is a run of capitalised words ("Ада Морроу") or the node's one-word title.
    """
    first = words[0]
    named = len(words) > 1 and words[1][:1].isupper()
    if first[1:].islower() and not named and first.lower() != title.lower():
        first = first.lower()
    return " ".join([first, *words[1:]])


def person_ru(title: str, texts: list[str]) -> bool:
    """Tell whether a Russian node is about a person.

    Russian gives every noun a gender (a tower is «она»), so a person is a title of
    capitalised words: a first name and a surname.
    """
    words = title.split()
    return len(words) >= 2 and all(w[:1].isupper() for w in words)


# ---------------------------------------------------------------- morphology (pymorphy3)

PUNCT = ",;:.!?…«»\"“”()"
WHAT = {"nomn": "что", "accs": "что", "gent": "чего", "datv": "чему", "ablt": "чем",
        "loct": "чём"}
WHO = {"nomn": "кто", "accs": "кого", "gent": "кого", "datv": "кому", "ablt": "кем",
       "loct": "ком"}
"""Что and кто in each case: the question word that stands for a phrase in that case."""
AGREE = {"кто": "masc", "что": "neut"}
"""The gender a past verb or a short form takes after кто or что («Кто родился»)."""
RU_CHAT_SUBJECTS = {"я", "ты", "мы", "вы", "это", "всё", "все", "что", "кто", "который"}
"""Subjects that name no thing of the notes: the speakers of a chat, a pointer back."""
PHRASE_WORDS = {"NOUN", "ADJF", "PRTF", "NUMR", "NPRO"}


@lru_cache(maxsize=1 << 16)
def _parse(word: str) -> Any:
    """Return pymorphy3's likeliest reading of a word (its punctuation aside)."""
    return ru.analyzer().parse(word.lower().strip(PUNCT))[0]


def _finite(word: str) -> bool:
    """Whether a word is a finite verb or a short participle («формирует», «построена»)."""
    tag = _parse(word).tag
    return (tag.POS == "VERB" and "indc" in tag) or tag.POS == "PRTS"


def agree_ru(words: list[str], wh: str) -> list[str]:
    """Put the predicate opening `words` in agreement with кто or что.

    Singular and 3rd person; masculine after кто, neuter after что in the past and in short
    forms: «родилась в Солтмире» after кто is «родился в Солтмире»; «были построены» after что is
    «было построено»; «живут» is «живёт». Adverbs and «не» in the predicate are kept.
    """
    gender = AGREE[wh.lower()]
    out = list(words)
    for k, word in enumerate(words[:5]):
        parse = _parse(word)
        if word.lower() == "не" or parse.tag.POS == "ADVB":
            continue
        if parse.tag.POS not in {"VERB", "PRTS", "ADJS"}:
            break
        past = parse.tag.POS != "VERB" or "past" in parse.tag
        form = parse.inflect({"sing", gender} if past else {"sing", "3per"})
        if form is not None:
            out[k] = form.word + word[len(word.rstrip(PUNCT)):]
    return out


def _phrase_end(words: list[str], start: int, end: int) -> int:
    """Return where a noun phrase from `start` ends, or `start` if it runs past eight words.

    It ends at punctuation, a preposition, a clause word or a verb; a longer one is not cut,
    as its tail would dangle in the question.
    """
    j = start
    while j < end and words[j].lower() not in RU_PREPS | RU_BREAKS | DASHES \
            and _parse(words[j]).tag.POS in PHRASE_WORDS | {"CONJ", None}:
        j += 1
        if words[j - 1][-1] in PUNCT:
            break
    return start if j - start > 8 else j


def _nominative(word: str) -> bool:
    """Whether a word may be in the nominative (an inanimate noun's reads alike accusative)."""
    return any(p.tag.case == "nomn" for p in ru.analyzer().parse(word))


def _head(words: list[str]) -> Any:
    """The reading of a phrase's first noun or pronoun (its case is the phrase's case)."""
    return next((p for w in words if (p := _parse(w)).tag.POS in {"NOUN", "NPRO"}), None)


def _reading_ru(words: list[str], end: int) -> tuple[int, int, int] | None:
    """Find a clause's subject, predicate and verb: (predicate start, verb, after verb).

    The subject is a noun phrase in the nominative before the verb («Отсутствие
    архитектурного подхода»); the predicate is the verb with the «не» and adverbs before it.
    """
    verb = next((i for i in range(1, min(end, 8)) if _finite(words[i])), None)
    if verb is None or words[0].lower() in RU_PREPS | RU_BREAKS | RU_NOT_TERMS:
        return None
    start = verb
    while start > 1 and (words[start - 1].lower() == "не"
                         or _parse(words[start - 1]).tag.POS == "ADVB"):
        start -= 1
    subject = words[:start]
    head = _head(subject)
    if head is None or not _nominative(head.word) or any(w.strip("“”«»\"")[-1:] in PUNCT + "—–"
                                                      for w in subject) \
            or head.normal_form in RU_CHAT_SUBJECTS or not subject[0].strip("“«\"")[:1].isalpha() \
            or not all(_parse(w).tag.POS in PHRASE_WORDS | {"PREP", "CONJ"} for w in subject):
        return None
    after = verb + 1
    while after < end and _parse(words[after]).tag.POS in {"PRTS", "INFN"}:
        after += 1  # «было построено», «могут быть»
    return start, verb, after


def _asked_in_case(words: list[str], end: int, title: str) -> list[Question]:
    """Ask for a clause's object or its first phrase after a preposition, in its case.

    «Модель не формирует глубокого мышления» → «Чего модель не формирует?»;
    «Задержка приводит к недооценке проекта» → «К чему задержка приводит?». The clause form
    says the predicate before the subject («чего не формирует модель»).
    """
    reading = _reading_ru(words, end)
    if reading is None:
        return []
    start, verb, after = reading
    k, prep = after, ""
    while k < end and _parse(words[k]).tag.POS == "ADVB":
        k += 1
    if k < end and words[k].lower() in RU_PREPS:
        prep, k = words[k].lower(), k + 1
    j = _phrase_end(words, k, end)
    head = _head(words[k:j])
    if head is None or head.tag.case not in WHAT or j == k or (
            not prep and head.tag.case in {"nomn", "accs"} and "tran" not in _parse(
                words[verb]).tag) or head.normal_form in RU_CHAT_SUBJECTS:
        return []
    table = WHO if "anim" in head.tag else WHAT
    wh = " ".join(filter(None, [prep, table[head.tag.case]]))
    subject, predicate = _subject_text_ru(words[:start], title), words[start:k - bool(prep)]
    rest = words[j:end]
    answer = " ".join(words[k:j]).strip(PUNCT)
    text = finish_question(" ".join([wh, subject, *predicate, *rest]))
    told = _clause_ru(finish_question(" ".join([wh, *predicate, subject, *rest])))
    return [Question(text, answer, "what", told)] if len(answer) >= 2 else []


NAME_TAGS = {"Name", "Surn", "Patr", "Geox", "Orgn", "Trad"}


def _subject_text_ru(words: list[str], title: str) -> str:
    """A subject inside a question: lower-cased first unless a name (pymorphy3 knows names)."""
    if NAME_TAGS & _parse(words[0]).tag.grammemes or not words[0][:1].isalpha() \
            or words[0][:1].isascii():
        return " ".join(words)
    return _lower_ru(words, title)


def _subject_phrase_ru(words: list[str], end: int) -> tuple[str, int] | None:
    """The noun phrase a clause opens with, as the answer to кто or что, and where it ends."""
    reading = _reading_ru(words, end)
    if reading is None:
        return None
    start = reading[0]
    return " ".join(words[:start]), start
