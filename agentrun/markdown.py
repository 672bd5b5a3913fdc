"""Markdown as Obsidian writes it, parsed into plain-text blocks.

markdown-it-py (CommonMark, tables, strikethrough) with mdit-py-plugins (front matter,
footnotes, task lists, math) and Obsidian's syntax as inline rules of its own: wikilinks
`[[path/Note#Heading^block|alias]]` (the escaped pipe of a table cell included) and embeds
`![[…]]`. Comments (`%% … %%`, `<!-- … -->`) are dropped before parsing, with their lines kept.

What comes out is a list of `Block`s: the plain text a person reads (no emphasis marks, no
link syntax, no table pipes, no footnote markers, inline code as its text, math as written),
where in the file it is, the section it belongs to, and the links, footnotes and tags it holds.
Code never becomes text or a heading (each block is kept apart, as `Code`, with its section);
a callout's header is not text; a chat export's turns (`> [!user] **User** - date`) keep
their body and say who speaks; a table row becomes one block in words; a list item under an
item ending with ':' carries that item as its context.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.footnote import footnote_plugin
from mdit_py_plugins.front_matter import front_matter_plugin
from mdit_py_plugins.tasklists import tasklists_plugin

ATTACHMENT = re.compile(
    r"\.(?:png|jpe?g|gif|bmp|svg|webp|avif|tiff?|ico|pdf|mp3|wav|m4a|ogg|flac|webm|mp4|mov|"
    r"mkv|avi|ogv|3gp|canvas|excalidraw|zip|docx?|xlsx?|pptx?|csv|base)$", re.I)
"""What an embed or link points to when it is a file, not a note."""
DEEPEST = 64
"""The deepest a list item is read (columns of indentation): deeper items become its
siblings, so their text is kept where the parser's nesting limit would drop it."""
DEEP_ITEM = re.compile(rf"^[ \t]{{{DEEPEST},}}(?=(?:[-*+]|\d{{1,9}}[.)])[ \t])", re.M)
COMMENT = re.compile(r"%%.*?%%|<!--.*?-->", re.S)
TAG = re.compile(r"(?:(?<=\s)|(?<=^)|(?<=[(,;]))#((?:\d*[^\W\d_])[\w/-]*)")
"""An Obsidian tag: `#` after a space, letters, digits, `_`, `-`, `/`, not only digits."""
BLOCK_ID = re.compile(r"\s\^[A-Za-z0-9-]+\s*$")
HIGHLIGHT = re.compile(r"==(?=\S)(.+?)(?<=\S)==")
STRAY = re.compile(r"\*\*+|__+")
"""Emphasis marks the parser left as text (unbalanced, or broken across quoted lines)."""
CALLOUT = re.compile(r"^\[!([\w-]+)\][+-]?[ \t]*(.*)$")
CHAT_CALLOUT = re.compile(r"user|assistant|human|ai|bot|model|system|nexus|gpt|claude|chat",
                          re.I)
"""Callout types of chat exports: their header (speaker, date) is not text, their body is."""
USER_CALLOUT = re.compile(r"user|human", re.I)
"""The chat-export callout types of the person's own turns (the others are the model's)."""


@dataclass
class Link:
    """A `[[target#heading^block|alias]]` link or `![[…]]` embed of a note."""

    target: str
    heading: str | None = None
    block: str | None = None
    alias: str | None = None
    embed: bool = False
    line: int = 1
    offset: int = 0
    """Where its display text starts in its block's plain text."""

    @property
    def attachment(self) -> bool:
        """Whether it points to a file that is not a note (an image, a PDF, …)."""
        return bool(ATTACHMENT.search(self.target))


@dataclass
class Block:
    """A run of text a person reads as one unit: a paragraph, list item, table row or cell."""

    text: str
    line: int
    """The first line (1-based) in the file."""
    end_line: int
    section: str
    kind: str = "paragraph"
    """`paragraph`, `item`, `row` (a table row in words), `callout` or `footnote`."""
    links: list[Link] = field(default_factory=list)
    footnotes: list[tuple[int, str]] = field(default_factory=list)
    """(offset in `text`, footnote id) for each footnote marker that was removed."""
    speaker: str = ""
    """In a chat export's turn, who speaks: `user` or `assistant` ("" for the note's text)."""


@dataclass
class Code:
    """A fenced or indented code block: never text, kept as an example of its section."""

    text: str
    language: str
    line: int
    section: str


@dataclass
class Parsed:
    """A note's front matter, headings, blocks, footnote texts and tags."""

    front_matter: str | None
    headings: list[tuple[int, str, int]]
    """(level, plain text, line) of every heading."""
    blocks: list[Block]
    footnotes: dict[str, str]
    tags: list[str]
    code: list[Code] = field(default_factory=list)


def _wikilink(state: StateInline, silent: bool) -> bool:
    r"""Inline rule: `[[…]]` and `![[…]]` (an escaped `\|` inside is the alias bar)."""
    src, pos = state.src, state.pos
    embed = src.startswith("![[", pos)
    if not (embed or src.startswith("[[", pos)):
        return False
    start = pos + (3 if embed else 2)
    end = src.find("]]", start)
    if end < 0 or "\n" in src[start:end] or end == start:
        return False
    if not silent:
        token = state.push("wikilink", "", 0)
        token.content = src[start:end]
        token.meta = {"embed": embed}
    state.pos = end + 2
    return True


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    """Return the Markdown parser (CommonMark + GFM tables + Obsidian), built once."""
    # nesting 200 deep: a list nested past the preset's 20 levels would lose its text
    md = (MarkdownIt("commonmark", {"html": True, "maxNesting": 200})
          .enable(["table", "strikethrough"])
          .use(front_matter_plugin).use(footnote_plugin).use(tasklists_plugin)
          .use(dollarmath_plugin, allow_space=False, double_inline=True))
    md.inline.ruler.before("link", "wikilink", _wikilink)
    return md


def without_comments(text: str) -> str:
    """Blank out `%% … %%` and `<!-- … -->` comments, keeping every line where it was."""
    return COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def parse(text: str) -> Parsed:
    """Parse a note's Markdown into plain-text blocks (see the module's docstring)."""
    tokens = parser().parse(DEEP_ITEM.sub(" " * DEEPEST, without_comments(text)))
    walker = _Walker()
    walker.walk(tokens)
    return Parsed(walker.front_matter, walker.headings,
                  walker.blocks, walker.footnote_texts, walker.tags, walker.code)


def split_link(content: str) -> Link:
    r"""Read a wikilink's inside: `path/Note#Heading^block|alias` (a `\|` is a bar too)."""
    target, _, alias = content.replace("\\|", "|").partition("|")
    target, _, anchor = target.partition("#")
    heading, _, block = anchor.partition("^")
    if target.startswith("^") or (not anchor and "^" in target):
        target, _, block = target.partition("^")
    return Link(target=target.strip(), heading=heading.strip() or None,
                block=block.strip() or None, alias=alias.strip() or None)


class _Walker:
    """Walks the token stream once, keeping the section, list and callout it is inside."""

    def __init__(self) -> None:
        self.front_matter: str | None = None
        self.headings: list[tuple[int, str, int]] = []
        self.blocks: list[Block] = []
        self.footnote_texts: dict[str, str] = {}
        self.tags: list[str] = []
        self.code: list[Code] = []
        self.section = ""
        self.items: list[dict[str, Any]] = []  # each open list item: its context, its text
        self.lead = ""  # a paragraph ending with ':' just before: the context of a list
        self.lists: list[bool] = []  # for each open list, whether `lead` opened it
        self.callout: list[str | None] = []  # the type of each open blockquote's callout
        self.footnote: str | None = None

    def walk(self, tokens: list[Token]) -> None:
        i = 0
        while i < len(tokens):
            i = self.step(tokens, i)

    def step(self, tokens: list[Token], i: int) -> int:
        """Handle the token at `i`; return the index of the next one to look at."""
        t = tokens[i]
        if t.type not in ("paragraph_open", "bullet_list_open", "ordered_list_open"):
            self.lead = ""  # only a list right after the paragraph takes it as context
        if t.type == "front_matter":
            self.front_matter = t.content
        elif t.type == "heading_open":
            text, _, _ = self.inline(tokens[i + 1])
            self.headings.append((int(t.tag[1]), text, _line(t)))
            self.section = text if t.tag != "h1" else ""
            return i + 3
        elif t.type in ("bullet_list_open", "ordered_list_open"):
            # a list right after "… so that it:" carries that paragraph as its context
            opened = bool(self.lead) and not self.items
            if opened:
                self.items.append({"context": self.lead, "has_text": True})
            self.lists.append(opened)
            self.lead = ""
        elif t.type in ("bullet_list_close", "ordered_list_close"):
            if self.lists.pop():
                self.items.pop()
        elif t.type == "list_item_open":
            self.items.append({"context": "", "has_text": False})
        elif t.type == "list_item_close":
            self.items.pop()
        elif t.type == "blockquote_open":
            self.callout.append(self.callout_type(tokens, i))
        elif t.type == "blockquote_close":
            self.callout.pop()
        elif t.type == "footnote_open":
            self.footnote = str(t.meta.get("id"))
        elif t.type == "footnote_close":
            self.footnote = None
        elif t.type == "paragraph_open":
            self.paragraph(tokens[i + 1], t)
            return i + 3
        elif t.type == "table_open":
            return self.table(tokens, i)
        elif t.type in ("fence", "code_block") and t.content.strip():
            info = t.info.strip().split()[0] if t.info.strip() else ""
            self.code.append(Code(t.content.rstrip("\n"), info, _line(t), self.section))
        return i + 1

    def callout_type(self, tokens: list[Token], i: int) -> str | None:
        """Return the callout type of the blockquote opening at `i`, or None (a quote)."""
        if i + 2 < len(tokens) and tokens[i + 1].type == "paragraph_open":
            first = tokens[i + 2].content.split("\n", 1)[0]
            found = CALLOUT.match(first.strip())
            if found:
                return found.group(1).lower()
        return None

    def paragraph(self, inline: Token, opening: Token) -> None:
        """Add a paragraph's block: a callout's header skipped, a list item in its context."""
        header = CALLOUT.match(inline.content.split("\n", 1)[0].strip()) \
            if self.callout and self.callout[-1] is not None else None
        text, links, notes = self.inline(inline, skip_first_line=header is not None)
        line = _line(opening) + (1 if header else 0)
        # a callout's title is a fact only when it is a sentence (a label is not), and a
        # chat export's header (speaker, date) never is
        title = header.group(2).strip() if header else ""
        if title.endswith((".", "!", "?", "…")) and not CHAT_CALLOUT.search(self.callout[-1] or ""):
            head, head_links, _ = self.inline(_inline_of(title))
            self.add(head, _line(opening), _line(opening), "callout", head_links, [])
        end = (opening.map or [0, 0])[1]
        self.lead = text.strip()[:-1].strip() if text.strip().endswith(":") else ""
        if self.footnote is not None:  # its text joins the sentence citing it; links stay
            if _only_links(text, links):  # a citation, not something the note says
                text = ""
            self.footnote_texts[self.footnote] = " ".join(
                [self.footnote_texts.get(self.footnote, ""), text]).strip()
            if links:
                self.add("", line, max(end, line), "footnote", links, [])
            return
        kind = "paragraph"
        if self.items and not self.items[-1]["has_text"]:
            kind = "item"
            text, links, notes = self.in_context(text, links, notes)
        elif self.items:
            kind = "item"
        elif self.callout and self.callout[-1] is not None:
            kind = "callout"
        self.add(text, line, max(end, line), kind, links, notes)

    def in_context(self, text: str, links: list[Link], notes: list[tuple[int, str]]
                   ) -> tuple[str, list[Link], list[tuple[int, str]]]:
        """Give a list item's first text its parent item's context (`Parent: child`).

        An item whose text ends with ':' is the context of the items under it.
        """
        parent = self.items[-2]["context"] if len(self.items) > 1 else ""
        item = self.items[-1]
        item["has_text"] = True
        own = text.strip()
        if own.endswith(":"):
            item["context"] = f"{parent}: {own[:-1].strip()}" if parent else own[:-1].strip()
        if not parent:
            return text, links, notes
        shift = len(parent) + 2
        return (f"{parent}: {text}", [_shifted(link, shift) for link in links],
                [(o + shift, n) for o, n in notes])

    def table(self, tokens: list[Token], i: int) -> int:
        """Turn a table into one block per body row, in words: `first: header — cell; …`."""
        head: list[str] = []
        rows: list[tuple[list[str], list[Link], int]] = []
        cells: list[str] = []
        links: list[Link] = []
        in_head = False
        line = 0
        while tokens[i].type != "table_close":
            t = tokens[i]
            if t.type == "thead_open":
                in_head = True
            elif t.type == "thead_close":
                in_head = False
            elif t.type == "tr_open":
                cells, links, line = [], [], _line(t)
            elif t.type == "inline":
                text, found, _ = self.inline(t)
                offset = sum(len(c) + 2 for c in cells)
                links += [_shifted(link, offset) for link in found]
                cells.append(text)
            elif t.type == "tr_close":
                if in_head:
                    head = cells
                else:
                    rows.append((cells, links, line))
            i += 1
        for cells, found, line in rows:
            self.add(row_in_words(head, cells), line, line, "row", found, [])
        return i + 1

    def add(self, text: str, line: int, end: int, kind: str, links: list[Link],
            notes: list[tuple[int, str]]) -> None:
        if text.strip() or links:
            self.blocks.append(Block(text, line, end, self.section, kind, links, notes,
                                     self.speaker()))

    def speaker(self) -> str:
        """Who speaks in the chat export's turn the walker is inside ("" outside one)."""
        kind = next((c for c in reversed(self.callout) if c is not None), None)
        if kind is None or not CHAT_CALLOUT.search(kind):
            return ""
        return "user" if USER_CALLOUT.search(kind) else "assistant"

    def inline(self, token: Token, skip_first_line: bool = False
               ) -> tuple[str, list[Link], list[tuple[int, str]]]:
        """Render an inline token as plain text, with its links and footnote markers."""
        out: list[str] = []
        links: list[Link] = []
        notes: list[tuple[int, str]] = []
        line = _line(token)
        skipping = skip_first_line
        for child in token.children or []:
            kind = child.type
            if kind in ("softbreak", "hardbreak"):
                line += 1
                if skipping:
                    skipping = False
                    continue
                out.append(" ")
                continue
            if skipping:
                continue
            size = sum(len(s) for s in out)
            if kind == "text":
                out.append(self.text(child.content))
            elif kind == "code_inline":
                out.append(child.content)
            elif kind in ("math_inline", "math_inline_double"):
                fence = "$$" if kind.endswith("double") else "$"
                out.append(f"{fence}{child.content}{fence}")
            elif kind == "wikilink":
                link = split_link(child.content)
                link.embed, link.line, link.offset = bool(child.meta["embed"]), line, size
                links.append(link)
                if not link.embed:
                    out.append(link.alias or _display(link))
            elif kind == "footnote_ref":
                notes.append((size, str(child.meta.get("id"))))
            # emphasis marks, links' own syntax, images and inline HTML leave no text
        # whitespace stays as it is: link and footnote offsets point into this text (a
        # highlight around emphasis spans several runs: its marks go once all are joined)
        return BLOCK_ID.sub("", HIGHLIGHT.sub(r"\1", "".join(out))), links, notes

    def text(self, content: str) -> str:
        """Plain text of a text run: tags are metadata, highlights their text."""
        for found in TAG.finditer(content):
            if found.group(1) not in self.tags:
                self.tags.append(found.group(1))
        return STRAY.sub("", TAG.sub("", content))


def row_in_words(head: list[str], cells: list[str]) -> str:
    """Say a table row: its first cell, then each other cell after its column's header."""
    cells = [c.strip() for c in cells]
    if not any(cells):
        return ""
    first, rest = cells[0], cells[1:]
    names = head[1:] if len(head) == len(cells) else [""] * len(rest)
    parts = [f"{name.strip()} — {cell}" if name.strip() else cell
             for name, cell in zip(names, rest, strict=False) if cell]
    said = f"{first}: {'; '.join(parts)}" if first and parts else first or "; ".join(parts)
    return said if said.endswith((".", "!", "?")) else f"{said}."


def _display(link: Link) -> str:
    """The text Obsidian shows for a link without an alias: the note's name (and heading)."""
    name = link.target.rsplit("/", 1)[-1]
    name = re.sub(r"\.md$", "", name, flags=re.I)
    return f"{name} > {link.heading}" if link.heading and name else name or link.heading or ""


def _only_links(text: str, links: list[Link]) -> bool:
    """Whether a text is nothing but its links' names (and punctuation)."""
    rest = text
    for link in links:
        rest = rest.replace(link.alias or _display(link), "", 1)
    return bool(links) and not re.search(r"[^\W\d_]", rest)


def _shifted(link: Link, by: int) -> Link:
    link.offset += by
    return link


def _line(token: Token) -> int:
    return (token.map or [0])[0] + 1


def _inline_of(text: str) -> Token:
    """Parse a line of text as an inline token (a callout's title)."""
    tokens = parser().parseInline(text)
    return tokens[0] if tokens else Token("inline", "", 0)


def plain_text(markdown: str) -> str:
    """Return the plain text of a Markdown fragment, single-spaced, as its sentences read."""
    return " ".join(" ".join(b.text for b in parse(markdown).blocks).split())


def metadata(front_matter: Any) -> dict[str, Any]:
    """Return a front matter mapping's keys lower-cased (Obsidian's keys are case-blind)."""
    return {str(k).lower(): v for k, v in front_matter.items()} if isinstance(
        front_matter, dict) else {}
