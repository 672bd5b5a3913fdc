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
