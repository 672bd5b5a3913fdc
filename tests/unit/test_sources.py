import pytest

from agentrun.errors import SourceError
from agentrun.sources import parse_note, read_sources, strip_markup


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


def test_broken_front_matter_keeps_note():
    note = parse_note("b.md", "---\ntitle: [oops\n---\n# Title\nSome text goes right here.\n")
    assert note.title == "Title" and len(note.sentences) == 1


def test_strip_markup():
    assert strip_markup("**Bold** [[A|b]] and [x](http://y) `c`") == "Bold b and x c"


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"   \n", "empty file"),
    (b"\x00\x01binary", "looks binary"),
    (b"caf\xe9 au lait", "not UTF-8"),
])
def test_bad_files_name_the_file(tmp_path, content, message):
    (tmp_path / "good.md").write_text("A fine note with a sentence.")
    bad = tmp_path / "bad.md"
    bad.write_bytes(content)
    with pytest.raises(SourceError) as info:
        read_sources(tmp_path)
    assert str(bad) in str(info.value) and message in str(info.value)


def test_empty_sources_folder(tmp_path):
    with pytest.raises(SourceError, match="no source files"):
        read_sources(tmp_path)
