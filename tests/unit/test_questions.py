"""Probes are questions a person would ask: role questions, backward ones, two-hop pairs."""

from __future__ import annotations

import re

import pytest

from agentrun.agents.planning import plan_map
from agentrun.agents.questions import ask, echo, person_node
from agentrun.config import AgentrunConfig
from agentrun.schemas import ProbeKind, Relation
from agentrun.sources import parse_note

QUOTAS = AgentrunConfig().generation.quotas


def asked(fact: str, title: str, language: str = "en", person: bool = False) -> dict[str, tuple]:
    return {q.role: (q.text, q.answer) for q in ask(fact, title, language, person)}


@pytest.mark.parametrize(("fact", "role", "question", "answer"), [
    ("She was born in Tollis and came to Orvane at nineteen.", "where",
     "Where was she born?", "Tollis"),
    ("It was founded by Mirel Ashcombe in the year 431.", "who",
     "Who founded it in the year 431?", "Mirel Ashcombe"),
    ("It was founded by Mirel Ashcombe in the year 431.", "when",
     "When was it founded by Mirel Ashcombe?", "431"),
    ("The oath has three lines.", "how_many", "How many lines does the oath have?", "three"),
    ("A single lighthouse burns about six barrels of brinefire in a winter month.", "how_many",
     "How many barrels of brinefire does a single lighthouse burn in a winter month?", "six"),
    ("The red kelp grows only on the Fenwick Reef.", "where",
     "Where does the red kelp grow?", "Fenwick Reef"),
    ("Orvane is a crescent-shaped island in the cold Merrow Sea.", "where",
     "Where is Orvane?", "Merrow Sea"),
    ("The wax presses stand beside the harbour of Saltmere.", "where",
     "Where do the wax presses stand?", "Saltmere"),
    ("Most islanders harvest kelp from the Fenwick Reef.", "where_from",
     "Where do most islanders harvest kelp from?", "Fenwick Reef"),
    ("The tower was lit for the first time in the winter of 1822.", "when",
     "When was the tower lit for the first time?", "1822"),
    ("Mirel Ashcombe founded the Lantern Guild in 1820.", "what",  # a name with "the": no person
     "What did Mirel Ashcombe found in 1820?", "Lantern Guild"),
    ("Ada's mentor is Bruno Vale.", "what", "Who is Ada's mentor?", "Bruno Vale"),
])
def test_english_questions_put_the_question_word_first_and_invert_the_verb(
        fact, role, question, answer):
    assert asked(fact, "Node")[role] == (question, answer)


def test_a_definition_is_asked_as_what_or_who_it_is():
    assert asked("Orvane is a crescent-shaped island in the cold Merrow Sea.", "Orvane")["what"] \
        == ("What is Orvane?", "crescent-shaped island")
    assert asked("Mirel Ashcombe was a ship's pilot who founded the guild.", "Mirel Ashcombe",
                 person=True)["what"] == ("Who was Mirel Ashcombe?", "ship's pilot")
    assert asked("Уход за маяком — это ежедневная забота о береговом огне.", "Уход за маяком",
                 "ru")["what"] == ("Что такое уход за маяком?", "ежедневная забота")
    # a dash after a verb or an adverb is no definition
    for fact in ("Хочешь — я помогу тебе собрать датасет.", "Ниже — сжатый разбор по уровням."):
        assert "what" not in asked(fact, "Заметка", "ru")


def test_a_relation_between_named_things_is_asked_backwards():
    assert asked("Anna Berg is the sister of Boris Lind.", "Anna Berg", person=True)["subject"] \
        == ("Who is the sister of Boris Lind?", "Anna Berg")
    # a pronoun stands for the note's subject (a section's title without its section)
    assert asked("It was founded by Mirel Ashcombe.", "Lantern Guild (Ranks)")["subject"] == (
        "What was founded by Mirel Ashcombe?", "Lantern Guild")
    # no second name: nothing to reverse; a common-noun subject is not a name
    assert "subject" not in asked("It burns with a pale green flame.", "Brinefire")
    assert "subject" not in asked("Every keeper swears the Keeper's Oath.", "Guild")


def test_a_possessive_subject_is_asked_backwards_with_whose():
    assert asked("Cora Darwyn's mentor is Wenora Toris.", "Cora Darwyn", person=True) == {
        "what": ("Who is Cora Darwyn's mentor?", "Wenora Toris"),
        "subject": ("Whose mentor is Wenora Toris?", "Cora Darwyn")}


def test_a_name_ending_in_s_is_a_subject_not_a_plural():
    assert asked("Wenora Toris lives in Torius Ford.", "Wenora Toris", person=True)["where"] \
        == ("Where does Wenora Toris live?", "Torius Ford")
    # a plural the lexicon knows still takes a plural verb
    assert asked("The Keepers light the lamps at dusk.", "Keepers")["when"] == (
        "When do the Keepers light the lamps?", "dusk")


def test_every_question_has_a_clause_form_and_english_an_echo_form():
    fact = "Wenora Toris lives in Torius Ford."
    where, backward = ask(fact, "Wenora Toris", "en", True)
    assert (where.told, echo(where, fact, "en")) == ("where Wenora Toris lives",
                                                     "Wenora Toris lives where?")
    assert backward.told == "who lives in Torius Ford" and echo(backward, fact, "en") == ""
    # the question word takes the answer's place: only where the answer ends the fact
    fact = "The Keepers light the lamps at dusk with a long taper."
    assert [echo(q, fact, "en") for q in ask(fact, "Keepers")] == ["", ""]
    fact = "Брио Марато родился в 1750 году."
    (when,) = ask(fact, "Брио Марато", "ru", True)
    assert when.told == "когда родился Брио Марато" and echo(when, fact, "ru") == ""
    # only a named subject and its verb swap places; a longer clause keeps its order
    (built,) = ask("Её построили в 1821 году из серого гранита.", "Башня", "ru")
    assert built.told == "когда её построили из серого гранита"
    (who, _) = ask("Наставник Брио Марато — Тало Нилини.", "Брио Марато", "ru", True)
    assert who.text == "Кто наставник Брио Марато?" and who.told == "наставник Брио Марато — кто"


@pytest.mark.parametrize("fact", [
    "During storms the keepers ring the Tidebell every quarter hour.",  # a fronted phrase
    "Replace the cracked lens before winter.",                          # an instruction
    "Scissors: Material — brass; Used for — trimming the wick.",       # a table row
    "Three long flashes mean that the reef is hidden by a high tide.",  # a clause after
])
def test_shapes_it_cannot_read_get_no_question(fact):
    assert [q for q in ask(fact, "Node") if q.role != "subject"] == []


@pytest.mark.parametrize(("fact", "role", "question", "answer"), [
    ("Ада Морроу родилась в Солтмире.", "where", "Где Ада Морроу родилась?", "Солтмире"),
    ("Её построили в 1821 году из серого гранита.", "when",
     "Когда её построили из серого гранита?", "1821"),
    ("Смена длится двенадцать часов, от заката до рассвета.", "how_many",
     "Сколько часов смена длится?", "двенадцать"),
    ("Ада Морроу — сестра Бориса Линда.", "subject", "Кто — сестра Бориса Линда?", "Ада Морроу"),
    # a dash before a name: who the subject is; a kind of place before a name: where
    ("Наставник Ады Морроу — Тало Нилини.", "what", "Кто наставник Ады Морроу?", "Тало Нилини"),
    ("Ада Морроу работает в архиве «Лорио».", "where", "Где Ада Морроу работает?",
     "в архиве «Лорио»"),
])
def test_russian_questions_keep_the_word_order_after_the_question_word(
        fact, role, question, answer):
    title = "Ада Морроу" if fact.startswith("Ада") else "Башня"
    assert asked(fact, title, "ru", person_node(title, [fact], "ru"))[role] == (question, answer)


def test_person_nodes_ask_who_and_things_ask_what():
    assert person_node("Mirel Ashcombe", ["She was born in Tollis."])
    assert not person_node("Brinefire", ["It burns green."])
    # Russian gives a tower a gender: «она» does not make it a person
    assert not person_node("Башня в гавани", ["Она стоит на пирсе."], "ru")
    assert person_node("Ада Морроу", ["Она родилась в Солтмире."], "ru")


FACT_VAULT = {
    "Anna Berg.md": "# Anna Berg\n\nAnna Berg is the sister of [[Boris Lind]]. "
                    "She was born in Kazan in 1990.\n",
    "Boris Lind.md": "# Boris Lind\n\nBoris Lind is a ship's carpenter. "
                     "He lives in Tollis near the old harbour.\n",
}


def test_every_chaining_anchor_gets_a_two_hop_probe_and_its_step_by_step_variant():
    m = plan_map([parse_note(p, t) for p, t in FACT_VAULT.items()], QUOTAS)
    (anchor,) = [a for a in m.anchors if a.relation != Relation.part_of]
    assert (anchor.src, anchor.dst, anchor.mention) == ("anna-berg", "boris-lind", "Boris Lind")
    transfer = [p for p in m.node("anna-berg").probes if p.kind == ProbeKind.transfer]
    direct, steps = transfer
    assert direct.prompt == ('The notes on Anna Berg say: "Anna Berg is the sister of X." '
                             "Where does X live near the old harbour?")
    assert direct.answer == steps.answer == "Tollis"
    assert "step by step" in steps.prompt
    assert steps.prompt.endswith("Where does X live near the old harbour?")
    assert direct.fact_ids == steps.fact_ids == ["anna-berg.f0", "boris-lind.f1"]
    # a node of two facts asks them by their roles, and one backwards
    gen = {p.prompt.split(": ", 1)[1]: p.answer for p in m.node("anna-berg").probes
           if p.kind == ProbeKind.generalization}
    assert gen == {"tell me where she was born in 1990.": "Kazan", "tell me who Anna Berg is.":
                   "sister of Boris Lind", "Who is the sister of Boris Lind?": "Anna Berg"}


def test_an_alias_link_hides_the_words_the_sentence_uses():
    notes = [parse_note("Guild.md", "# Lantern Guild\n\nThe guild keeps seven lighthouses. "
                                    "It was founded by Mirel Ashcombe in 431.\n"),
             parse_note("Mirel.md", "# Mirel Ashcombe\n\nMirel Ashcombe founded the "
                                    "[[Guild|guild]] after a shipwreck.\n")]
    m = plan_map(notes, QUOTAS)
    (direct, _) = [p for p in m.node("mirel-ashcombe").probes if p.kind == ProbeKind.transfer]
    assert '"Mirel Ashcombe founded the X after a shipwreck."' in direct.prompt
    # the question never asks what the bridge already says (the founder's name)
    assert direct.prompt.endswith("When was X founded by Mirel Ashcombe?")
    assert direct.answer == "431"


RU_VAULT = {
    "Ада.md": "# Ада Морроу\n\nАда Морроу — сестра [[Борис Линд|Бориса Линда]]. "
              "Она родилась в Солтмире в 1990 году.\n",
    "Борис.md": "# Борис Линд\n\nБорис Линд — корабельный плотник. "
                "Борис Линд живёт в Толлисе у старой гавани.\n",
}


def test_russian_two_hop_probes_are_in_russian():
    m = plan_map([parse_note(p, t) for p, t in RU_VAULT.items()], QUOTAS)
    direct, steps = [p for p in m.node("ada-morrou").probes if p.kind == ProbeKind.transfer]
    assert direct.prompt.startswith("В заметке «Ада Морроу» сказано: «Ада Морроу — сестра X.»")
    assert "по шагам" in steps.prompt and direct.answer == steps.answer


def test_russian_notes_get_russian_model_briefs_for_every_kind_and_form():
    from agentrun.agents.briefs import model_requests
    from agentrun.agents.structural import Job
    from agentrun.schemas import ExampleKind

    m = plan_map([parse_note(p, t) for p, t in RU_VAULT.items()], QUOTAS)
    node = m.node("ada-morrou")
    job = Job(run="r", iteration=0, round=0, seed=0)
    for kind in (ExampleKind.rephrasing, ExampleKind.dialogue, ExampleKind.exercise,
                 ExampleKind.synthesis):
        work = model_requests(node, kind, 6, job, m)  # six briefs: every form and style
        assert work, kind
        for request, brief in work:
            assert brief.template.endswith(".ru.md"), brief.template
            system, user = (msg["content"] for msg in request.messages)
            assert "Пиши по-русски" in system and "JSON" in user
            assert not re.search(r"\b(?:Write|Notes about|Answer as)\b", user), user


def test_no_probe_holds_its_own_answer():
    from agentrun.agents.text import normalize
    from agentrun.sources import read_sources
    from tests.conftest import EXAMPLE

    m = plan_map(read_sources(EXAMPLE / "sources").notes, QUOTAS)
    backward = [p for p in m.probes() if p.prompt.startswith("From the notes:")]
    assert backward  # asked without the title that is their answer
    for p in m.probes():
        if p.kind != ProbeKind.absorption:
            assert f" {normalize(p.answer)} " not in f" {normalize(p.prompt)} ", p


@pytest.mark.parametrize(("fact", "title", "person", "role", "question", "answer"), [
    # кто takes a masculine singular verb, что a neuter singular one, whatever the subject's
    ("Ада Морроу родилась в Солтмире.", "Ада Морроу", True, "subject",
     "Кто родился в Солтмире?", "Ада Морроу"),
    ("Старые маяки были построены из серого гранита.", "Маяк", False, "subject",
     "Что было построено из серого гранита?", "Старые маяки"),
    ("Смотрители зажигают огни на закате.", "Маяк", False, "subject",
     "Кто зажигает огни на закате?", "Смотрители"),
    # the object and a phrase after a preposition are asked in their case
    ("Старые маяки были построены из серого гранита.", "Маяк", False, "what",
     "Из чего старые маяки были построены?", "серого гранита"),
    ("Модель не формирует глубокого мышления.", "Заметка", False, "what",
     "Чего модель не формирует?", "глубокого мышления"),
    ("Смотрители зажигают огни на закате.", "Маяк", False, "what",
     "Что смотрители зажигают на закате?", "огни"),
    # backwards: the opening noun phrase is the answer
    ("Отсутствие смотрителя приводит к крушению кораблей.", "Маяк", False, "subject",
     "Что приводит к крушению кораблей?", "Отсутствие смотрителя"),
    ("Сигнальный код — это набор вспышек для кораблей.", "Коды", False, "what",
     "Что такое сигнальный код?", "набор вспышек"),
    # English: a plural verb is asked about one thing; definitions and backward questions
    ("The Keepers burn brinefire in the Orvane lighthouses.", "Keepers", False, "subject",
     "What burns brinefire in the Orvane lighthouses?", "Keepers"),
    ("Brinefire is a pale green oil from the Fenwick Reef.", "Brinefire", False, "what",
     "What is Brinefire?", "pale green oil"),
    ("Brinefire is a pale green oil from the Fenwick Reef.", "Brinefire", False, "subject",
     "What is a pale green oil from the Fenwick Reef?", "Brinefire"),
])
def test_the_question_word_agrees_and_asks_in_the_answers_case(
        fact, title, person, role, question, answer):
    language = "en" if fact.isascii() else "ru"
    assert asked(fact, title, language, person)[role] == (question, answer)


def test_a_russian_question_asks_each_phrase_once_and_never_the_chat_speakers():
    # «в Солтмире» is asked where, not again «в чём»
    assert [q.role for q in ask("Ада Морроу родилась в Солтмире.", "Ада Морроу", "ru", True)] \
        == ["where", "subject"]
    # «мы», «ты» are the speakers of a chat, not a thing of the notes
    assert ask("Мы корректируем всю систему как живую архитектуру.", "Заметка", "ru") == []
    # the clause form puts the verb first, so the probe is not the taught question
    (what, _) = ask("Модель не формирует глубокого мышления.", "Заметка", "ru")
    assert what.told == "чего не формирует модель"


def test_chat_filler_never_becomes_a_probe(tmp_path):
    from agentrun.sources import read_sources

    (tmp_path / "chat.md").write_text(
        "# Маяк\n\nСмотрители зажигают огни на закате.\n\nХочешь — я помогу тебе: "
        "написать расписание смен.\n\nДа, ты прав.\n", encoding="utf-8")
    (tmp_path / "chat-en.md").write_text(
        "# Lamp\n\nThe Keepers burn brinefire in the Orvane lighthouses.\n\n"
        "If you want, I can draft the keepers' rota.\n\nHope this helps!\n", encoding="utf-8")
    sources = read_sources(tmp_path)
    m = plan_map(sources.notes, QUOTAS)
    prompts = " ".join(p.prompt + " " + p.answer for p in m.probes())
    assert m.probes() and not re.search(r"Хочешь|ты прав|If you want|Hope this", prompts)
    assert sum("chat filler" in p for p in sources.problems) == 2


@pytest.mark.parametrize("text", [
    "# Шаги\n\nЯ пишу текст с учётом всей архитектуры.\nТы обучаешь модель и смотришь перенос.\n"
    "Мы корректируем всю систему как живую архитектуру.\n",
    "# Steps\n\nI write the text with the whole architecture in mind.\nYou train the model and "
    "watch the transfer.\nWe correct the whole system as a living architecture.\n",
])
def test_a_chat_speaker_is_never_asked_about(text):
    """«Мы корректируем всю систему что?» asks nothing the notes hold: no such probe."""
    m = plan_map([parse_note("steps.md", text)], QUOTAS)
    general = [p.prompt for p in m.probes() if p.kind == ProbeKind.generalization]
    assert not any(re.search(r"\b(?:Мы|Я|Ты|We|I|You)\b", p.split(":", 1)[-1])
                   for p in general), general
