"""Read a workspace's source material: notes with front-matter, headings and `[[wikilinks]]`.

Reading reports what a person can fix (an empty, binary or non-UTF-8 file, broken
front-matter) with its location and goes on with the rest; it is lenient about style (any
markdown or plain text yields sentences). Only a folder without a single readable note is an
error.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from agentrun.errors import SourceError

SOURCE_SUFFIXES = (".md", ".markdown", ".txt")
WIKILINK = re.compile(r"\[\[([^\[\]|#]+)(?:#([^\[\]|]+))?(?:\|([^\[\]]+))?\]\]")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.MULTILINE)
FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
# A sentence ends at . ! ? followed by space/newline and an upper-case letter, digit or quote.
SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\"'(\[])")


@dataclass
class Link:
    """A `[[target#heading|alias]]` link found in a note."""

    target: str
    heading: str | None
    alias: str | None
    start: int
    sentence: str = ""
    line: int = 1


@dataclass
class Sentence:
    """A sentence of a note, with its span in the file and its plain text (markup removed)."""

    text: str
    start: int
    end: int
    line: int
    section: str
    paragraph: int = 0


@dataclass
class Note:
    """One source file, parsed."""

    path: str
    title: str
    text: str
    aliases: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    sentences: list[Sentence] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    headings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class Sources:
    """The readable notes of a folder and the problems found while reading it."""

    notes: list[Note]
    problems: list[str]


def read_sources(sources_dir: Path) -> Sources:
    """Read and parse every note under `sources_dir`, sorted by path.

    A file that cannot be read as text is skipped and reported; the others are kept.

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
    for path in files:
        try:
            notes.append(parse_note(path.relative_to(sources_dir).as_posix(), read_text(path)))
        except SourceError as exc:
            problems.append(f"{exc} (skipped)")
    for note in notes:
        problems.extend(note.problems)
    if not notes:
        raise SourceError(problems[0] if len(problems) == 1 else
                          f"{sources_dir}: no readable note; first problem: {problems[0]}")
    return Sources(notes, problems)


def read_text(path: Path) -> str:
    """Read a source file as UTF-8 text; raise a SourceError naming the file otherwise."""
    try:
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
    """Parse front-matter, title, headings, wikilinks and sentences of one note."""
    meta, body_start, problem = _front_matter(rel_path, text)
    headings = [m.group(2).strip() for m in HEADING.finditer(text, body_start)]
    title = str(meta.get("title") or _first_h1(text, body_start) or Path(rel_path).stem)
    aliases = meta.get("aliases") or []
    tags = meta.get("tags") or []
    note = Note(
        path=rel_path,
        title=title.strip(),
        text=text,
        aliases=[str(a) for a in aliases] if isinstance(aliases, list) else [str(aliases)],
        tags=[str(t) for t in tags] if isinstance(tags, list) else [str(tags)],
        headings=headings,
        problems=[problem] if problem else [],
    )
    line_starts = [0, *(m.end() for m in re.finditer("\n", text))]
    note.sentences = _sentences(text, body_start, line_starts)
    note.links = _links(text, note.sentences, line_starts)
    return note


def _front_matter(rel_path: str, text: str) -> tuple[dict[str, object], int, str]:
    """Return the front-matter mapping, where the body starts, and a problem (or "")."""
    match = FRONT_MATTER.match(text)
    if not match:
        return {}, 0, ""
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present
        meta = yaml.load(match.group(1), Loader=loader) or {}  # noqa: S506
    except yaml.YAMLError as exc:
        # Broken front-matter: keep the note, ignore its metadata, say where it broke.
        # where the broken construct starts (libyaml reports its end one line later)
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1  # +1 for the opening ---, +1 1-based
        what = getattr(exc, "problem", None) or "invalid YAML"
        return {}, match.end(), (f"{rel_path}:{line}: front-matter is not valid YAML ({what}); "
                                 "its title, aliases and tags are ignored")
    if not isinstance(meta, dict):
        return {}, match.end(), (f"{rel_path}:2: front-matter is not a mapping of keys; "
                                 "it is ignored")
    return meta, match.end(), ""


def _first_h1(text: str, start: int) -> str | None:
    for m in HEADING.finditer(text, start):
        if len(m.group(1)) == 1:
            return strip_markup(m.group(2))
    return None


def strip_markup(text: str) -> str:
    """Return plain text: wikilinks become their alias or target, emphasis and code marks go."""
    text = WIKILINK.sub(lambda m: (m.group(3) or m.group(1)).strip(), text)
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)  # [label](url)
    text = re.sub(r"[*_`]{1,3}([^*_`]+)[*_`]{1,3}", r"\1", text)
    return " ".join(text.split())


def _sentences(text: str, start: int, line_starts: list[int]) -> list[Sentence]:
    """Split the body into sentences, skipping headings, list markers and code fences."""
    out: list[Sentence] = []
    section = ""
    in_code = False
    pos = start
    paragraph = 0
    for raw_line in text[start:].splitlines(keepends=True):
        line_start, pos = pos, pos + len(raw_line)
        stripped = raw_line.strip()
        if stripped.startswith("```"):
            in_code = not in_code
            continue
        if in_code or not stripped:
            paragraph += not in_code
            continue
        heading = HEADING.match(stripped)
        if heading:
            # An H1 is the note's title, not a section of it.
            section = strip_markup(heading.group(2)) if len(heading.group(1)) > 1 else ""
            paragraph += 1
            continue
        lead = len(raw_line) - len(raw_line.lstrip(" \t-*>+0123456789.)"))
        for sentence in _split_line(text, line_start + lead, pos, section):
            sentence.line = bisect.bisect_right(line_starts, sentence.start)
            sentence.paragraph = paragraph
            out.append(sentence)
    return out


def _split_line(text: str, begin: int, end: int, section: str) -> list[Sentence]:
    out: list[Sentence] = []
    chunk = text[begin:end]
    cursor = 0
    for piece in SENTENCE_END.split(chunk) + [""]:
        if not piece.strip():
            continue
        offset = chunk.find(piece, cursor)
        cursor = offset + len(piece)
        plain = strip_markup(piece)
        if len(plain.split()) >= 3:
            start = begin + offset
            out.append(Sentence(plain, start, start + len(piece.rstrip()), 1, section))
    return out


def _links(text: str, sentences: list[Sentence], line_starts: list[int]) -> list[Link]:
    links = []
    starts = [s.start for s in sentences]
    for m in WIKILINK.finditer(text):
        i = bisect.bisect_right(starts, m.start()) - 1
        inside = i >= 0 and sentences[i].start <= m.start() < sentences[i].end
        sentence = sentences[i].text if inside else ""
        links.append(
            Link(
                target=m.group(1).strip(),
                heading=(m.group(2) or "").strip() or None,
                alias=(m.group(3) or "").strip() or None,
                start=m.start(),
                sentence=sentence,
                line=bisect.bisect_right(line_starts, m.start()),
            )
        )
    return links
