"""Read a workspace's source material: Markdown and Obsidian notes, plain text.

Each note is parsed with a real Markdown parser (agentrun/markdown.py), its language detected
and its text cut into sentences for that language (agentrun/languages): a sentence is clean
text a person would write, with where it stands in the file. Reading reports what a person can
fix (an empty, binary or non-UTF-8 file, broken front-matter) with its location and goes on
with the rest. Only a folder without a single readable note is an error.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from agentrun import languages as language
from agentrun.config import load_yaml
from agentrun.errors import SourceError
from agentrun.injection import addressed_to_model
from agentrun.languages.filler import is_filler
from agentrun.markdown import Block, Code, metadata, parse

SOURCE_SUFFIXES = (".md", ".markdown", ".txt")
MAX_FRONT_MATTER_ALIASES = 50
URL_ONLY = re.compile(r"^\W*(?:https?://|www\.)\S+\W*$")


@dataclass
class Link:
    """A `[[target#heading^block|alias]]` link or `![[…]]` embed found in a note."""

    target: str
    heading: str | None
    alias: str | None
    start: int
    """Where the link's block starts in the file (a character offset)."""
    sentence: str = ""
    """The plain sentence that holds the link ("" for an embed on its own)."""
    line: int = 1
    block: str | None = None
    embed: bool = False
    attachment: bool = False
    """It points to a file that is not a note (an image, a PDF, …): never an anchor."""


@dataclass
class Sentence:
    """A sentence of a note, with its span in the file and its plain text (markup removed)."""

    text: str
    start: int
    end: int
    line: int
    section: str
    paragraph: int = 0
    speaker: str = ""
    """In a chat export's turn, who speaks (`user`, `assistant`); "" for the note's text."""
    language: str = ""
    """Its own language where it is not the note's (agentrun.languages.sentence_language)."""


@dataclass
class Note:
    """One source file, parsed."""

    path: str
    title: str
    text: str
    aliases: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    language: str = "en"
    """ISO 639-1 code of the language the note is written in."""
    sentences: list[Sentence] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    code: list[Code] = field(default_factory=list)
    """Its code blocks (never sentences), each with its section."""


@dataclass
class Sources:
    """The readable notes of a folder and the problems found while reading it."""

    notes: list[Note]
    problems: list[str]


@contextmanager
def no_collection_pauses() -> Iterator[None]:
    """Hold the cyclic garbage collector while a vault is read or planned.

    Both build many small objects (a note, its blocks, facts, probes) and free almost none;
    the collector would rescan the growing heap over and over (at 10,000 notes, 40% of the
    planning time). Nothing they build is cyclic garbage, so nothing waits to be freed.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_sources(sources_dir: Path, max_note_mb: float | None = None) -> Sources:
    """Read and parse every note under `sources_dir`, sorted by path.

    A file that cannot be read as text, or larger than `max_note_mb` (`planning.max_note_mb`),
    is skipped and reported; the others are kept. So is a
    link (or a file under a linked folder) that leads outside `sources_dir`: what is planned is
    what the folder holds, never a file elsewhere on the machine.

    Raises:
        SourceError: the folder is missing or holds no readable note.
    """
    if not sources_dir.is_dir():
        raise SourceError(f"{sources_dir}: no such folder; put your notes there")
    files = sorted(
        p for p in sources_dir.rglob("*") if p.is_file() and p.suffix.lower() in SOURCE_SUFFIXES
    )
    if not files:
        raise SourceError(
            f"{sources_dir}: no source files (.md, .markdown, .txt); add your notes there"
        )
    notes: list[Note] = []
    problems: list[str] = []
    root = sources_dir.resolve()
    with no_collection_pauses():
        for path in files:
            if not path.resolve().is_relative_to(root):
                problems.append(f"{path}: a link to {path.resolve()}, outside {sources_dir}; "
                                "refused (copy the note in to plan it) (skipped)")
                continue
            try:
                notes.append(parse_note(path.relative_to(sources_dir).as_posix(),
                                        read_text(path, max_note_mb)))
            except SourceError as exc:
                problems.append(f"{exc} (skipped)")
    for note in notes:
        problems.extend(note.problems)
    if not notes:
        raise SourceError(problems[0] if len(problems) == 1 else
                          f"{sources_dir}: no readable note; first problem: {problems[0]}")
    return Sources(notes, problems)


def read_text(path: Path, max_mb: float | None = None) -> str:
    """Read a source file as UTF-8 text; raise a SourceError naming the file otherwise.

    A file over `max_mb` megabytes is not read at all.
    """
    try:
        size = path.stat().st_size
        if max_mb is not None and size > max_mb * 1e6:
            raise SourceError(f"{path}: {size / 1e6:,.1f} MB, over the {max_mb:g} MB a note may "
                              "have (planning.max_note_mb); split it into smaller notes or raise "
                              "the limit")
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror}); check its permissions") from exc
    if b"\x00" in raw[:8192]:
        raise SourceError(f"{path}: looks binary, not text; remove it from sources/")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"{path}: not UTF-8 (byte {exc.start}); re-save it as UTF-8"
        ) from exc
    if not text.strip():
        raise SourceError(f"{path}: empty file; write some text in it or remove it")
    return text


def parse_note(rel_path: str, text: str) -> Note:
    """Parse one note: front-matter, title, headings, language, sentences and links."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    parsed = parse(text)
    meta, problem = _front_matter(rel_path, parsed.front_matter)
    h1 = next((h for level, h, _ in parsed.headings if level == 1), None)
    title = str(meta.get("title") or h1 or Path(rel_path).stem).strip()
    note = Note(path=rel_path, title=title, text=text, aliases=_strings(meta.get("aliases",
                meta.get("alias"))), tags=_strings(meta.get("tags", meta.get("tag"))),
                headings=[h for _, h, _ in parsed.headings], problems=[problem] if problem else [],
                code=parsed.code)
    note.tags += [t for t in parsed.tags if t not in note.tags]
    readable = [b for b in parsed.blocks if b.kind != "footnote"]
    note.language = language.detect(" ".join(b.text for b in readable))
    line_starts = [0, *(m.end() for m in re.finditer("\n", text))]
    filler: list[tuple[int, str]] = []
    for paragraph, block in enumerate(parsed.blocks):
        _read_block(note, block, paragraph, parsed.footnotes, line_starts, filler)
    if filler:
        note.problems.append(_filler_problem(rel_path, filler))
    if not note.sentences and not note.links:
        raise SourceError(f"{rel_path}: no text to learn from outside code and markup")
    return note


def _read_block(note: Note, block: Block, paragraph: int, footnotes: dict[str, str],
                line_starts: list[int], filler: list[tuple[int, str]]) -> None:
    """Add a block's sentences (its footnotes' text after the sentence citing them) and links.

    Chat filler (an offer, a question to the reader, a pleasantry) goes to `filler` with its
    line instead.
    """
    start = line_starts[min(block.line, len(line_starts)) - 1]
    end = line_starts[block.end_line] - 1 if block.end_line < len(line_starts) else len(note.text)
    source = note.text[start:end]
    pieces = [] if block.kind == "footnote" else (
        [(0, block.text)] if block.kind == "row" else language.sentences(block.text,
                                                                         note.language))
    owner: dict[int, str] = {}
    spans = _Spans(source)
    for k, (offset, raw) in enumerate(pieces):
        nxt = pieces[k + 1][0] if k + 1 < len(pieces) else len(block.text) + 1
        said = [_clean(raw)]
        said += [" ".join(footnotes.get(ref, "").split()) for at, ref in block.footnotes
                 if offset <= at < nxt]
        for sentence in said:
            order = addressed_to_model(sentence) if sentence else None
            if order is not None:
                note.problems.append(
                    f"{note.path}:{block.line}: {order}, addressed to a model, not a fact: "
                    f"\"{sentence[:80]}\"; kept out of the facts (add it to the node's facts "
                    "in map.yaml to keep it)")
                continue
            if sentence and is_filler(sentence, note.language, in_chat=bool(block.speaker)):
                filler.append((block.line, sentence))
                continue
            if sentence and language.long_enough(sentence, note.language) \
                    and not URL_ONLY.match(sentence) and not sentence.endswith("?"):
                found = spans.find(sentence, offset)
                span = (start + found, start + found + len(sentence)) if found >= 0 \
                    else (start, max(end, start))
                own = language.sentence_language(sentence, note.language)
                note.sentences.append(Sentence(sentence, span[0], span[1], block.line,
                                               block.section, paragraph, block.speaker,
                                               "" if own == note.language else own))
        for link in block.links:
            if offset <= link.offset < nxt:
                owner[id(link)] = " ".join(raw.split())
    for link in block.links:
        note.links.append(Link(target=link.target, heading=link.heading, alias=link.alias,
                               start=start, sentence=owner.get(id(link), ""), line=link.line,
                               block=link.block, embed=link.embed,
                               attachment=link.attachment))


def _filler_problem(rel_path: str, filler: list[tuple[int, str]]) -> str:
    """Say, once per note, which sentences were chat filler and kept out of the facts."""
    line, first = filler[0]
    lines = ", ".join(str(n) for n in dict.fromkeys(n for n, _ in filler))
    return (f"{rel_path}:{line}: {len(filler)} sentences of chat filler (offers, questions to "
            f"the reader, pleasantries), not facts, e.g. \"{first[:80]}\" (lines {lines}); "
            "kept out of the facts (add one to the node's facts in map.yaml to keep it)")


SPAN_SLACK = 2000
"""How far from where it is expected a sentence is looked for in its block's source (the
markup between sentences): bounded, so a note of one giant paragraph is read in linear time."""
WIDER = 32
"""A sentence not found near where it is expected is looked for this many slacks further on."""


class _Spans:
    """Find a block's sentences in its source, in order, each near where it is expected."""

    def __init__(self, source: str):
        self.source = source
        self.cursor = 0
        """Where the last sentence found ends: the next one starts after it."""
        self.shift = 0
        """How far the source runs ahead of the plain text (its markup), at the last found."""

    def find(self, sentence: str, offset: int) -> int:
        """Return where `sentence`, at `offset` in the block's plain text, starts; -1 if not."""
        expected = offset + self.shift
        at = self.source.find(sentence, max(self.cursor, expected - SPAN_SLACK),
                              expected + len(sentence) + SPAN_SLACK)
        if at < 0:  # more markup than the slack before it (a long link, a comment): further on
            at = self.source.find(sentence, self.cursor,
                                  expected + len(sentence) + SPAN_SLACK * WIDER)
        if at >= 0:
            self.cursor, self.shift = at + len(sentence), at - offset
        return at


def _clean(raw: str) -> str:
    """Return a sentence as a person would write it ("" when it says nothing alone).

    Single spaces; a list item's trailing comma or semicolon becomes a full stop; an
    introduction to a list (`…:`) is carried by its items, not kept on its own.
    """
    text = " ".join(raw.split())
    if text.endswith(":"):
        return ""
    if text.endswith((",", ";")):
        text = text[:-1].rstrip() + "."
    return text


def _strings(value: object) -> list[str]:
    """Return a front-matter value as a list of strings (one value, a list, or none)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",") if isinstance(
        value, str) and "," in value else [value]
    return [str(v).strip().lstrip("#") for v in items if str(v).strip()]


def _front_matter(rel_path: str, raw: str | None) -> tuple[dict[str, object], str]:
    """Return the front-matter mapping and a problem (or "")."""
    if raw is None:
        return {}, ""
    try:
        meta = load_yaml(raw, MAX_FRONT_MATTER_ALIASES) or {}
    except yaml.YAMLError as exc:
        # Broken front-matter: keep the note, ignore its metadata, say where it broke
        # (where the broken construct starts: libyaml reports its end one line later).
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1  # +1 for the opening ---, +1 1-based
        what = getattr(exc, "problem", None) or "invalid YAML"
        return {}, (f"{rel_path}:{line}: front-matter is not valid YAML ({what}); "
                    "its title, aliases and tags are ignored")
    if not isinstance(meta, dict):
        return {}, f"{rel_path}:2: front-matter is not a mapping of keys; it is ignored"
    return metadata(meta), ""
