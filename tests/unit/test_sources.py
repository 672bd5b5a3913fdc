import random
import time

import pytest

from agentrun.errors import SourceError
from agentrun.markdown import plain_text
from agentrun.sources import parse_note, read_sources


def test_wikilinks_with_alias_and_heading():
    note = parse_note("a.md", "# A\n\nThe [[Lantern Guild#Ranks|guild]] keeps seven lighthouses. "
                              "It burns [[Brinefire]] every night.\n")
    assert [(link.target, link.heading, link.alias) for link in note.links] == [
        ("Lantern Guild", "Ranks", "guild"), ("Brinefire", None, None)]
    assert note.links[0].sentence == "The guild keeps seven lighthouses."
    assert [s.text for s in note.sentences] == [
        "The guild keeps seven lighthouses.", "It burns Brinefire every night."]


def test_front_matter_title_and_spans():
    text = "---\ntitle: Kelp\naliases: [Weed]\n---\nKelp grows on the reef at low tide.\n"
    note = parse_note("k.md", text)
    assert note.title == "Kelp" and note.aliases == ["Weed"]
    s = note.sentences[0]
    assert text[s.start:s.end] == "Kelp grows on the reef at low tide." and s.line == 5


def test_broken_front_matter_keeps_note_and_says_where():
    note = parse_note("b.md", "---\ntags: [a]\ntitle: [oops\n---\n# Title\nSome text goes here.\n")
    assert note.title == "Title" and len(note.sentences) == 1
    (problem,) = note.problems
    assert problem.startswith("b.md:3: front-matter is not valid YAML")


def test_plain_text_of_a_fragment():
    assert plain_text("**Bold** [[A|b]] and [x](http://y) `c`") == "Bold b and x c"


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"   \n", "empty file"),
    (b"\x00\x01binary", "looks binary"),
    (b"caf\xe9 au lait", "not UTF-8"),
])
def test_bad_files_are_skipped_and_named(tmp_path, content, message):
    (tmp_path / "good.md").write_text("A fine note with a sentence.")
    bad = tmp_path / "bad.md"
    bad.write_bytes(content)
    sources = read_sources(tmp_path)
    assert [n.path for n in sources.notes] == ["good.md"]
    (problem,) = sources.problems
    assert str(bad) in problem and message in problem and "skipped" in problem
    # alone, the same file is an error naming it
    (tmp_path / "good.md").unlink()
    with pytest.raises(SourceError) as info:
        read_sources(tmp_path)
    assert str(bad) in str(info.value) and message in str(info.value)


def test_line_numbers_and_paragraphs_of_a_long_note():
    text = "# T\n\n" + "\n\n".join(f"Paragraph {i} has one sentence here." for i in range(300))
    note = parse_note("t.md", text)
    assert [s.line for s in note.sentences[:3]] == [3, 5, 7]
    assert note.sentences[-1].line == 3 + 2 * 299
    assert len({s.paragraph for s in note.sentences}) == 300


def test_empty_sources_folder(tmp_path):
    with pytest.raises(SourceError, match="no source files"):
        read_sources(tmp_path)


def test_a_note_over_the_size_limit_is_skipped_and_named(tmp_path):
    (tmp_path / "good.md").write_text("A fine note with a sentence.")
    big = tmp_path / "book.md"
    big.write_text("The keeper trims the wick at dusk. " * 60_000)  # 2.1 MB
    sources = read_sources(tmp_path, max_note_mb=2)
    assert [n.path for n in sources.notes] == ["good.md"]
    (problem,) = sources.problems
    assert problem.startswith(f"{big}: 2.1 MB, over the 2 MB") and "planning.max_note_mb" in problem
    (tmp_path / "good.md").unlink()
    with pytest.raises(SourceError, match="over the 2 MB"):
        read_sources(tmp_path, max_note_mb=2)
    assert len(read_sources(tmp_path, max_note_mb=3).notes) == 1


def _one_line(size: int) -> str:
    rng = random.Random(0)
    words = "keepers trade kelpwax with the fishermen of the reef every season".split()
    sentences = []
    while len(sentences) * 70 < size:
        sentences.append(" ".join(rng.choice(words) for _ in range(10)).capitalize() + ".")
    return " ".join(sentences)


def test_a_one_line_note_is_read_in_linear_time():
    parse_note("warm.md", "The language model loads once, before the clock starts.")
    cost = []
    for size in (250_000, 1_000_000):
        text = _one_line(size)
        start = time.process_time()
        note = parse_note("big.md", text)
        cost.append(time.process_time() - start)
        s = note.sentences[-1]
        assert text[s.start:s.end] == s.text  # spans stay exact
    assert cost[1] / cost[0] < 7  # four times the text: about four times the time (was 12)


def test_a_sentence_after_long_markup_keeps_its_span(tmp_path):
    """A link whose address is longer than the span search's slack does not lose the sentence
    after it its place in the note."""
    from agentrun.sources import SPAN_SLACK, read_sources

    url = "https://example.org/" + "a" * (SPAN_SLACK + 500)
    text = f"# Lamp\n\nSee [the manual]({url}) first. The keeper trims the wick at dusk.\n"
    (tmp_path / "Lamp.md").write_text(text)
    (note,) = read_sources(tmp_path).notes
    (trim,) = [s for s in note.sentences if "trims the wick" in s.text]
    assert text[trim.start:trim.end] == "The keeper trims the wick at dusk."


CHAT_RU = """>[!nexus_agent] **Assistant** - 01.02.2025 at 10:00
> Маяк на мысе Орр построили в 1821 году.
>
> Хочешь — я помогу тебе:
> - составить карту сигналов,
> - написать расписание смен.
>
> Да, ты прав.
> Если хочешь, я могу описать линзу подробнее.
> Скажи, какой вариант тебе ближе.
"""

CHAT_EN = """>[!nexus_agent] **Assistant** - 01.02.2025 at 10:00
> The lighthouse on Cape Orr was built in 1821.
> Want me to draft the keepers' rota?
> If you want, I can describe the lens in more detail.
> Let me know which signal chart you prefer.
> Hope this helps!
"""


@pytest.mark.parametrize(("text", "fact", "filler"), [
    (CHAT_RU, "Маяк на мысе Орр построили в 1821 году.", 5),  # each list item an offer
    (CHAT_EN, "The lighthouse on Cape Orr was built in 1821.", 4),
])
def test_chat_filler_is_no_fact_and_is_counted_as_a_problem(tmp_path, text, fact, filler):
    (tmp_path / "chat.md").write_text(text, encoding="utf-8")
    sources = read_sources(tmp_path)
    (note,) = sources.notes
    assert [s.text for s in note.sentences] == [fact]
    (problem,) = sources.problems  # one line per note, counting every filler sentence
    assert problem.startswith("chat.md:") and f" {filler} sentences of chat filler" in problem


def test_filler_words_open_the_sentence_or_are_the_whole_of_it():
    from agentrun.languages.filler import is_filler

    assert is_filler("✅ Да, ты прав.", "ru") and is_filler("Shall I go on?", "en")
    # the same words inside a fact, or a word that only starts like one, are no filler
    for sentence, language in [("Смотритель говорит, что ты прав.", "ru"),
                               ("Могущество гильдии росло сто лет.", "ru"),
                               ("The keeper hopes this helps the ships.", "en"),
                               ("Surely the lamp burns all night.", "en"),
                               ("Хочешь — я помогу тебе.", "de")]:
        assert not is_filler(sentence, language), sentence


def test_a_note_mixing_languages_is_read_sentence_by_sentence(tmp_path):
    from agentrun.agents.planning import plan_map
    from agentrun.schemas import ExampleKind, ProbeKind

    (tmp_path / "Маяк.md").write_text(
        "# Маяк Корвель\n\nМаяк Корвель построен в 1820 году инженером Анной Браск. Смотритель "
        "живёт в башне маяка круглый год. The harbour lamp burns kelp oil from the northern "
        "farms.\n", encoding="utf-8")
    (note,) = read_sources(tmp_path).notes
    assert note.language == "ru"
    assert [s.language for s in note.sentences] == ["", "", "en"]
    dataset_map = plan_map([note], {ExampleKind.exercise: 2})
    (node,) = dataset_map.nodes
    english = next(f for f in node.facts if f.language == "en")
    asked = [p for p in node.probes if english.id in p.fact_ids and p.kind != ProbeKind.transfer]
    assert asked and all(not any("а" <= ch <= "я" for ch in p.prompt.split(":")[-1].lower())
                         for p in asked), [p.prompt for p in asked]
    assert any(p.prompt.startswith(("Complete", "About")) for p in asked)
    assert all(f.language is None for f in node.facts if f is not english)


def test_a_russian_note_split_into_sections_links_them_in_russian(tmp_path):
    from agentrun.agents.planning import plan_map
    from agentrun.schemas import ExampleKind, Relation

    body = " ".join(f"Смотритель номер {i} зажигал фонарь маяка каждый вечер." for i in range(8))
    (tmp_path / "Маяк.md").write_text(
        f"# Маяк Корвель\n\n## Башня\n\n{body}\n\n## Фонарь\n\n"
        f"{body.replace('зажигал', 'чистил')}\n", encoding="utf-8")
    dataset_map = plan_map(read_sources(tmp_path).notes, {ExampleKind.exercise: 2})
    parts = [a for a in dataset_map.anchors if a.relation == Relation.part_of]
    assert parts and all(a.sentence == "раздел заметки «Маяк Корвель»" for a in parts)


@pytest.mark.parametrize(("sentence", "language"), [
    ("If you want to reach the tower, take the north path.", "en"),
    ("Let's note that the tower is 40 m tall.", "en"),
    ("Если нужно попасть на маяк, идите по северной тропе.", "ru"),
    ("Давайте рассмотрим устройство линзы.", "ru"),
    ("Могу сказать, что маяк построен в 1820 году.", "ru"),
])
def test_a_notes_own_advice_is_no_chat_filler(sentence, language):
    """Outside a chat's turns an offer says who offers; a tutorial's own words stay facts."""
    from agentrun.languages.filler import is_filler

    assert not is_filler(sentence, language, in_chat=False)
    assert is_filler("If you want, I can draft the rota.", "en", in_chat=False)
    assert is_filler("Хочешь — я помогу тебе: написать расписание.", "ru", in_chat=False)


def test_a_note_in_a_language_without_a_folder_is_planned_with_one_warning(tmp_path, caplog,
                                                                          monkeypatch):
    """German: English wording, one warning naming the language, never a traceback."""
    import logging

    from agentrun.agents.planning import plan_map
    from agentrun.schemas import ExampleKind

    (tmp_path / "Leuchtturm.md").write_text(
        "# Leuchtturm Korvel\n\nDer Leuchtturm Korvel wurde im Jahr 1820 von der Ingenieurin "
        "Anna Brask gebaut. Er steht auf dem nördlichen Kap der Insel Orvane. Sein Licht ist bei "
        "klarem Wetter zwanzig Seemeilen weit zu sehen.\n", encoding="utf-8")
    (tmp_path / "Leuchtfeuer.md").write_text(
        "# Leuchtfeuer\n\nDas Leuchtfeuer brennt jede Nacht über dem Hafen von Orvane. Die "
        "Wärter füllen das Öl der Lampe jeden Abend nach.\n", encoding="utf-8")
    monkeypatch.setattr("agentrun.prompts._WARNED", set())  # as in a fresh process
    with caplog.at_level(logging.WARNING, logger="agentrun.prompts"):
        dataset_map = plan_map(read_sources(tmp_path).notes, {ExampleKind.exercise: 2})
    assert {n.language for n in dataset_map.nodes} == {"de"}
    assert all(n.facts and n.probes for n in dataset_map.nodes)
    warned = [r.getMessage() for r in caplog.records if "'de'" in r.getMessage()]
    assert len(warned) == 1 and "English" in warned[0]
