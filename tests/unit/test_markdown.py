"""Notes as people write them in Obsidian: each syntax element in, the note's sentences,
links, tags and problems out; then whole test vaults (English, Russian) planned into maps.
"""

import re
import shutil
from pathlib import Path

import pytest

from agentrun.agents.planning import plan_map
from agentrun.agents.text import slug
from agentrun.config import AgentrunConfig
from agentrun.errors import SourceError
from agentrun.sources import parse_note, read_sources

VAULTS = Path(__file__).resolve().parents[1] / "fixtures" / "vaults"
MARKUP = re.compile(r"\*\*|\[\^|\[\[|!\[|`|\[!|^\s*\||\|\s*$|%%|<!--")
QUOTAS = AgentrunConfig().generation.quotas


def sentences(text: str, path: str = "n.md") -> list[str]:
    return [s.text for s in parse_note(path, text).sentences]


def test_wikilinks_with_path_heading_block_alias_and_the_escaped_pipe_of_a_table():
    note = parse_note("a.md", "Read [[Guides/Fog Watch#Night|the watch]] and [[Codes^first]].\n\n"
                              "| Book | Use |\n|---|---|\n| [[Signal Codes\\|Codes]] | fog |\n")
    assert [(x.target, x.heading, x.block, x.alias) for x in note.links] == [
        ("Guides/Fog Watch", "Night", None, "the watch"), ("Codes", None, "first", None),
        ("Signal Codes", None, None, "Codes")]
    assert sentences("Read [[Guides/Fog Watch#Night|the watch]] tonight, keeper.") == [
        "Read the watch tonight, keeper."]
    assert note.sentences[-1].text == "Codes: Use — fog."


def test_embeds_of_files_are_neither_facts_nor_problems_and_an_embedded_note_is_a_link():
    note = parse_note("a.md", "The tower stands on the pier.\n\n![[diagram.png]]\n"
                              "![[lucide-cog.svg]]\n![[Harbor Tower#History]]\n")
    assert [s.text for s in note.sentences] == ["The tower stands on the pier."]
    assert [(x.target, x.embed, x.attachment) for x in note.links] == [
        ("diagram.png", True, True), ("lucide-cog.svg", True, True),
        ("Harbor Tower", True, False)]


def test_callouts_keep_their_body_and_a_chat_exports_header_is_not_a_fact():
    text = ("> [!note] Why it matters\n> Ships steer by the light at night.\n\n"
            "> [!tip] A title that is a sentence.\n> The body follows it here.\n\n"
            ">[!nexus_user] **User** - 08.07.2025 at 5:32\n> How long does a shift last?\n\n"
            "> [!assistant] **Assistant** - 08.07.2025 at 5:33\n> A shift lasts twelve hours.\n")
    assert sentences(text) == ["Ships steer by the light at night.",
                               "A title that is a sentence.", "The body follows it here.",
                               "A shift lasts twelve hours."]  # a question is not a fact


def test_a_footnotes_text_joins_the_sentence_citing_it_and_the_marker_goes():
    text = ("The keeper trims the wick at dusk.[^1] The bell rings hourly.\n\n"
            "[^1]: The oil comes from the harbor stores.\n")
    assert sentences(text) == ["The keeper trims the wick at dusk.",
                               "The oil comes from the harbor stores.", "The bell rings hourly."]


def test_tags_from_the_text_and_the_front_matter_are_the_notes_not_its_facts():
    note = parse_note("t.md", "---\ntags: [craft, coast]\n---\nThe keeper works at night. "
                              "#craft/night #nocturne\n\nA C# compiler and page#anchor stay.\n")
    assert note.tags == ["craft", "coast", "craft/night", "nocturne"]
    assert [s.text for s in note.sentences] == ["The keeper works at night.",
                                                "A C# compiler and page#anchor stay."]


def test_comments_are_dropped_with_their_lines_kept():
    text = ("The lamp burns kelp oil. %% draft: check it %%\n<!-- a hidden remark here -->\n"
            "%%\nA whole hidden paragraph.\n%%\nThe wick is trimmed twice.\n")
    note = parse_note("c.md", text)
    assert [(s.text, s.line) for s in note.sentences] == [
        ("The lamp burns kelp oil.", 1), ("The wick is trimmed twice.", 6)]


def test_code_never_becomes_a_fact_or_a_heading_and_inline_code_reads_as_text():
    text = ("# Keeping\n\n```bash\n# ~/.config/hypr/hyprland.conf\necho hi there now\n```\n\n"
            "Run `agentrun plan` on the notes first.\n\n    # indented code too\n")
    note = parse_note("k.md", text)
    assert note.headings == ["Keeping"]
    assert [s.text for s in note.sentences] == ["Run agentrun plan on the notes first."]
    with pytest.raises(SourceError, match="no text to learn from"):
        parse_note("code.md", "```python\nprint('only code in this one')\n```\n")


def test_a_table_row_is_one_fact_in_words():
    text = ("| Tool | Made of | Used for |\n| --- | --- | --- |\n"
            "| Wick trimmer | **brass** | cutting the wick |\n| Log | paper | |\n")
    assert sentences(text) == ["Wick trimmer: Made of — brass; Used for — cutting the wick.",
                               "Log: Made of — paper."]


def test_list_items_carry_their_parent_items_context():
    text = ("- The keeper carries three tools:\n  - a brass trimmer,\n  - a tin of soot cleaner;\n"
            "- [x] The log records every passing ship.\n1. The first code is for fog.\n")
    assert sentences(text) == ["The keeper carries three tools: a brass trimmer.",
                               "The keeper carries three tools: a tin of soot cleaner.",
                               "The log records every passing ship.",
                               "The first code is for fog."]


def test_math_is_kept_as_written_and_emphasis_goes():
    assert sentences("The flame reaches **a height** of $h = 12$ cm, ==*always*==.") == [
        "The flame reaches a height of $h = 12$ cm, always."]


def test_bad_input_is_read_or_skipped_in_one_line():
    # a BOM and CRLF endings, a link to itself, a deeply nested list, text without
    # sentence punctuation in a language without spaces
    assert sentences("\ufeffThe tower is old.\r\nIt was built in 1821.\r\n") == [
        "The tower is old.", "It was built in 1821."]
    # past the parser's nesting limit (100 lists) an item becomes the deepest one's sibling
    deep = "".join("  " * i + f"- level {i} item here\n" for i in range(300))
    assert sentences(deep)[-1] == "level 299 item here" and len(sentences(deep)) == 300
    note = parse_note("self.md", "# Self\n\nThis note links [[Self]] to itself now.\n")
    assert [x.target for x in note.links] == ["Self"]
    japanese = parse_note("ja.md", "灯台守は毎晩灯りをともします。霧の夜は鐘を鳴らします。")
    assert japanese.language == "ja" and len(japanese.sentences) == 2


def test_the_language_of_a_note_and_readable_ids_from_any_script():
    note = parse_note("r.md", "Смотритель подрезает фитиль на закате. Корабли держат курс по "
                              "огню маяка.\n")
    assert note.language == "ru" and len(note.sentences) == 2
    assert slug("Сигнальные коды") == "signalnye-kody"
    assert slug("🧠 Разложим мысль") == "razlozhim-mysl"
    assert slug("Keeper's Oath") == "keeper-s-oath"


def test_links_resolve_as_obsidian_resolves_them(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / "Tower.md").write_text("The tower stands on the pier of the town.")
    (tmp_path / "a" / "deep" / "Tower.md").write_text("Another tower stands on a hill far off.")
    (tmp_path / "a" / "Bell.md").write_text("---\naliases: [Fog Bell]\n---\nThe bell rings.\n")
    (tmp_path / "Notes.md").write_text(
        "The [[tower]] is near. The [[a/deep/Tower|hill tower]] is far. The [[fog bell]] "
        "rings. The [[Bell.md]] again. The [[Nowhere]] is gone. [[Nowhere]] again.\n\n"
        "![[chart.png]] and [[#A heading]] of this note.\n")
    sources = read_sources(tmp_path)
    m = plan_map(sources.notes, QUOTAS)
    out = {(a.src, a.dst) for a in m.anchors if a.src == "notes"}
    assert out == {("notes", "tower"), ("notes", "tower-2"), ("notes", "bell")}
    assert m.node("tower").sources[0].file == "Tower.md"  # the shortest path wins the name
    (problem,) = [p for p in m.problems if "does not exist" in p]
    assert problem.startswith("Notes.md:1: [[Nowhere]]") and "1 more" in problem


@pytest.mark.parametrize("vault", ["en", "ru"])
def test_a_test_vault_plans_into_a_clean_map_in_its_language(vault, tmp_path):
    from agentrun.shell.runner import plan

    ws = tmp_path / "ws"
    shutil.copytree(VAULTS / vault, ws / "sources")
    m = plan(ws, use_model=False)
    facts = [f.text for n in m.nodes for f in n.facts]
    probes = m.probes()
    assert facts and not [t for t in facts if MARKUP.search(t)]
    assert not [p for p in probes if MARKUP.search(f"{p.prompt} {p.answer}")]
    assert not [p for p in m.problems if "does not exist" in p]  # every link resolves
    assert all(re.fullmatch(r"[a-z0-9-]+", n.id) for n in m.nodes)
    assert {n.language for n in m.nodes} == {vault}
    if vault == "ru":
        assert not [p for p in probes if re.search(r"\b(Complete|About|what)\b", p.prompt)]
    for node in m.nodes:
        kinds = {p.kind for p in node.probes}
        assert not node.facts or {"absorption", "generalization"} <= kinds, node.id
    assert any(p.kind == "transfer" for p in probes)
    assert not [n for n in m.nodes if "config" in n.title or n.title.startswith("#")]
    if vault == "en":  # a note of code alone is skipped, in one line
        assert [p for p in m.problems if p.startswith("Code Only.md: no text to learn from")]


def test_a_node_of_one_or_two_facts_gets_a_generalization_probe_too():
    notes = [parse_note("one.md", "# One\n\nThe harbor bell was cast in Saltmere in 1821.\n"),
             parse_note("two.md", "# Two\n\nThe fog horn sounds from the north pier. "
                                  "Its keeper tests it every Sunday morning.\n")]
    m = plan_map(notes, QUOTAS)
    for node in m.nodes:
        kinds = [p.kind for p in node.probes]
        assert "absorption" in kinds and "generalization" in kinds, node.probes
    (gen,) = [p for p in m.node("one").probes if p.kind == "generalization"]
    assert gen.prompt == "About One: tell me where the harbor bell was cast in 1821."
    assert gen.answer == "Saltmere"


def test_a_list_after_a_paragraph_ending_with_a_colon_carries_it():
    text = "The answer must be such that it:\n\n- is easy to absorb,\n- spreads over layers.\n"
    assert sentences(text) == ["The answer must be such that it: is easy to absorb.",
                               "The answer must be such that it: spreads over layers."]


def test_a_footnote_that_only_cites_a_note_is_an_anchor_not_a_fact():
    note = parse_note("f.md", "The tower is older than the pier.[^1]\n\n[^1]: [[Harbor Tower]]\n")
    assert [s.text for s in note.sentences] == ["The tower is older than the pier."]
    assert [x.target for x in note.links] == ["Harbor Tower"]


def test_a_colon_before_a_heading_gives_no_context_to_the_list_after_it():
    text = "Here is what follows:\n\n## Tools\n\n- a brass trimmer for the lamp\n"
    assert sentences(text) == ["a brass trimmer for the lamp"]


def test_an_embed_cycle_plans_once_each_way(tmp_path):
    (tmp_path / "A.md").write_text("The first note embeds the second one.\n\n![[B]]\n")
    (tmp_path / "B.md").write_text("The second note embeds the first one.\n\n![[A]]\n")
    m = plan_map(read_sources(tmp_path).notes, QUOTAS)
    assert {(a.src, a.dst) for a in m.anchors} == {("a", "b"), ("b", "a")}
    assert [len(n.facts) for n in m.nodes] == [1, 1] and not m.problems


CODE_NOTE = """# Keeper Config

The keeper's lamp is set in one config file. The file lives in the keeper's home folder.

## Setup

Every keeper writes the file before the first night watch. The watch reads it at dusk.

```bash
# ~/.config/lighthouse/keeper.conf
lamp=brinefire
```

    indented = "also code"
"""


def test_a_code_block_is_kept_as_its_sections_code_example_and_taught(tmp_path, embedder):
    from agentrun.agents.checker import Checker
    from agentrun.agents.exercises import structural_exercises
    from agentrun.agents.structural import Job
    from agentrun.config import CheckerSettings
    from agentrun.memory.store import Memory

    m = plan_map([parse_note("Keeper Config.md", CODE_NOTE)], QUOTAS)
    (node,) = m.nodes
    assert [(c.language, c.text.splitlines()[0]) for c in node.code] == [
        ("bash", "# ~/.config/lighthouse/keeper.conf"), ("", 'indented = "also code"')]
    assert not any("lamp=" in f.text or "config/" in f.text for f in node.facts)
    job = Job(run="r", iteration=0, round=0, seed=0)
    code = [e for e in structural_exercises(node, m, job)
            if e.provenance.generator == "structural:code"]
    assert len(code) == 2 and code[0].messages[1]["content"].startswith("```bash\n# ~/")
    assert "Show the bash code example the notes on Keeper Config give." in \
        code[0].messages[0]["content"]
    verdicts = Checker(m, Memory(tmp_path), embedder, CheckerSettings()).check(code, "r/1")
    assert all(e.verdict.accepted for e in verdicts.examples), \
        [e.verdict.reasons for e in verdicts.examples]


def test_chat_export_turns_say_who_speaks_and_a_question_is_not_a_fact():
    note = parse_note("chat.md", "# Chat\n\nThe keeper logs every ship.\n\n"
                      "> [!user] **User** - 03.02.2025 at 9:14\n"
                      "> How long does one shift last? I keep two lamps lit.\n\n"
                      "> [!assistant] **Assistant** - 03.02.2025 at 9:15\n"
                      "> A shift lasts twelve hours, from dusk until dawn.\n")
    m = plan_map([note], QUOTAS)
    said = {f.text: f.speaker for f in m.nodes[0].facts}
    assert said == {"The keeper logs every ship.": None,
                    "I keep two lamps lit.": "user",
                    "A shift lasts twelve hours, from dusk until dawn.": "assistant"}
