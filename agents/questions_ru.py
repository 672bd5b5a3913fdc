"""Russian questions: the question word first, the sentence's own order after it.

«Где родилась Ада Морроу?», «Когда её построили?», «Сколько часов длится смена?». Russian
needs no inversion, so no morphology either; a place is a capitalised Cyrillic name after
«в»/«на», a time a year or a time word, a count a number word outside a preposition.
"""

from __future__ import annotations

from agentrun.agents.text import YEAR, Question, finish_question, subject_of

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
    subject = _subject_ru(words, title)
    if subject is not None:
        answer, start = subject
        rest = words[start:]
        if any(w[0].isupper() for w in rest) or rest and rest[0].lower() in RU_LINKS:
            wh = "Кто" if person else "Что"
            if rest[:2] == ["—", "это"]:  # "А — это Б" → "Что — Б?"
                rest = ["—", *rest[2:]]
            text = finish_question(" ".join([wh, *rest]))
            out.append(Question(text, answer, "subject", _clause_ru(text)))
    return out


DASHES = {"—", "–"}
RU_NOT_TERMS = {"и", "а", "но", "да", "нет", "если", "ниже", "выше", "так", "вот", "итак", "то",
                "это", "тут", "здесь", "там", "теперь", "потом", "сейчас", "всё", "все"}
RU_PRONOUNS = {"я", "ты", "мы", "вы", "он", "она", "оно", "они"}


def _definition_ru(words: list[str], title: str) -> Question | None:
    """«Уход за маяком — это ежедневная забота о …» → «Что такое уход за маяком?»."""
    dash = next((i for i in range(1, min(4, len(words))) if words[i] in DASHES), None)
    if dash is None or not all(w.isalpha() for w in words[:dash]) or \
            words[0].lower() in RU_NOT_TERMS | RU_BREAKS or \
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
