"""Read a workspace's source material: notes with front-matter, headings and `[[wikilinks]]`.

Reading is strict about what a person can fix (an empty, binary or non-UTF-8 file is an error
naming the file) and lenient about style (any markdown or plain text yields sentences).
"""

from __future__ import annotations

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


@dataclass
class Sentence:
    """A sentence of a note, with its span in the file and its plain text (markup removed)."""

    text: str
    start: int
    end: int
    line: int
    section: str


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


def read_sources(sources_dir: Path) -> list[Note]:
    """Read and parse every note under `sources_dir`, sorted by path."""
    if not sources_dir.is_dir():
        raise SourceError(f"{sources_dir}: no such folder; put your notes there")
    files = sorted(
        p for p in sources_dir.rglob("*") if p.is_file() and p.suffix.lower() in SOURCE_SUFFIXES
    )
    if not files:
        raise SourceError(
            f"{sources_dir}: no source files (.md, .markdown, .txt); add your notes there"
        )
    return [parse_note(p.relative_to(sources_dir).as_posix(), read_text(p)) for p in files]


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
    meta, body_start = _front_matter(rel_path, text)
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
    )
    note.sentences = list(_sentences(text, body_start))
    note.links = _links(text, note.sentences)
    return note


def _front_matter(rel_path: str, text: str) -> tuple[dict[str, object], int]:
    match = FRONT_MATTER.match(text)
    if not match:
        return {}, 0
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError:
        # Broken front-matter: keep the note, ignore its metadata (reported by the architect).
        return {"_broken": True}, match.end()
    return (meta if isinstance(meta, dict) else {}), match.end()


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


def _sentences(text: str, start: int) -> list[Sentence]:
    """Split the body into sentences, skipping headings, list markers and code fences."""
    out: list[Sentence] = []
    section = ""
    in_code = False
    pos = start
    for raw_line in text[start:].splitlines(keepends=True):
        line_start, pos = pos, pos + len(raw_line)
        stripped = raw_line.strip()
        if stripped.startswith("```"):
            in_code = not in_code
            continue
        if in_code or not stripped:
            continue
        heading = HEADING.match(stripped)
        if heading:
            section = strip_markup(heading.group(2))
            continue
        lead = len(raw_line) - len(raw_line.lstrip(" \t-*>+0123456789.)"))
        _split_line(text, line_start + lead, pos, section, out)
    return out


def _split_line(text: str, begin: int, end: int, section: str, out: list[Sentence]) -> None:
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
            line = text.count("\n", 0, start) + 1
            out.append(Sentence(plain, start, start + len(piece.rstrip()), line, section))


def _links(text: str, sentences: list[Sentence]) -> list[Link]:
    links = []
    for m in WIKILINK.finditer(text):
        sentence = next((s.text for s in sentences if s.start <= m.start() < s.end), "")
        links.append(
            Link(
                target=m.group(1).strip(),
                heading=(m.group(2) or "").strip() or None,
                alias=(m.group(3) or "").strip() or None,
                start=m.start(),
                sentence=sentence,
            )
        )
    return links
