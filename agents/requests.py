"""A person's words in `agentrun chat`, read in the language they are written in.

Each message is one request: a command (`status`, `статус`), an answer to a fork (`A`, `нет`,
`edit B: …`), `why ID`, or words for a map edit, which the language's own rules read first
(every word in any of its forms, a node named by id, title or an inflected title) and the
English rules or the architect model after. The words of each language are one module,
`agentrun/languages/<code>/steer.py`; replies are worded from the same table.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

from agentrun.agents.instructions import (
    InstructionError,
    MapEdit,
    parse_rules,
    resolve_node,
    understand,
)
from agentrun.agents.revision import REMEDY
from agentrun.languages import lemmas
from agentrun.languages.en import steer as steer_en
from agentrun.languages.ru import steer as steer_ru
from agentrun.languages.steer_words import SteerWords
from agentrun.models.base import Backend
from agentrun.schemas import DatasetMap, ExampleKind, ProbeKind, Revision

LANGUAGES = (steer_ru.WORDS, steer_en.WORDS)
"""The languages a person may steer in; a script of its own first, since the Latin names of
nodes appear in a message of any language."""
WORDS: dict[str, SteerWords] = {w.language: w for w in LANGUAGES}
DEFAULT_LANGUAGE = "en"
LOOKALIKES = str.maketrans("авсеАВСЕ", "abceABCE")
"""A fork's labels are Latin; one typed in another layout looks the same and means it."""
QUOTES = " \t.!?,;:\"'«»“”„"

Action = Literal["help", "quit", "status", "weak", "go", "pause", "rejected", "why", "answer",
                 "edit", "instruct"]


@dataclass(frozen=True)
class Request:
    """What one chat message asks for, and the language to answer it in."""

    action: Action
    language: str
    arg: str | None = None
    """`why`: the example's id; `answer` and `edit`: the option's label, number or `none`."""
    text: str | None = None
    """`edit`: the person's wording; `instruct`: the whole message."""


@dataclass(frozen=True)
class _Token:
    """A word of a message: its forms (itself and its lemmas) and where it starts."""

    forms: frozenset[str]
    start: int
    word: str


class UnknownNode(InstructionError):
    """A request that names a node the map does not have."""

    def __init__(self, name: str, hints: list[str], ids: list[str]):
        """Keep the name asked for, the close ids, and every id (worded by the chat)."""
        super().__init__(f"no node called {name!r}")
        self.name, self.hints, self.ids = name, hints, ids


class NotUnderstood(InstructionError):
    """Words that ask for no map edit the rules or the architect know."""


def message_language(text: str, previous: str = DEFAULT_LANGUAGE) -> str:
    """Return the language a chat message is in; `previous` when no word tells.

    A word counts when all its letters (two or more) are of one language's script, so a
    fork's label (`A`) or an example's id (`3fa9b2c1`) keeps the conversation's language.
    Short messages are the rule here, where a statistical detector has too few letters.
    """
    tokens = re.findall(r"\w+", text.lower())
    for words in LANGUAGES:
        letters = re.compile(f"[{words.letters}]{{2,}}")
        if any(letters.fullmatch(t) for t in tokens):
            return words.language
    return previous


def read_request(text: str, language: str) -> Request:
    """Return what a message asks for, read with its language's words."""
    words, line = WORDS[language], text.strip()
    low = " ".join(line.lower().replace("ё", "е").split()).rstrip(".!")
    for action, phrases in words.commands.items():
        if any(low == p or _same_words(low, p) for p in phrases):
            return Request(action, language)  # type: ignore[arg-type]
    if m := re.match(words.why, line):
        return Request("why", language, m.group(1))
    if m := re.match(words.edit, line):
        return Request("edit", language, _label(m.group(1), words), m.group(2).strip())
    # a lone label typed in the other layout («А» while writing English) is the Latin one
    if m := re.match(words.answer, line.translate(LOOKALIKES) if len(line) == 1 else line):
        return Request("answer", language, _label(m.group(1), words))
    return Request("instruct", language, text=line)


def _same_words(message: str, phrase: str) -> bool:
    """Whether a message says a phrase word for word, each word in any of its forms."""
    said, wanted = re.findall(r"\w+", message), phrase.split()
    return len(said) == len(wanted) and all(w in {s} | lemmas(s) for s, w in zip(said, wanted,
                                                                                  strict=True))


def _label(said: str, words: SteerWords) -> str:
    """Return an answer as `parse_answer` reads it: a Latin label, a number, or `none`."""
    low = said.lower().replace("ё", "е")
    return "none" if low in words.none_words else said.translate(LOOKALIKES)


def request_edit(text: str, language: str, dataset_map: DatasetMap,
                 model: Backend | None = None) -> MapEdit:
    """Return the map edit words ask for, nodes resolved to ids.

    The language's own rules first; then the English rules and the architect model, which
    read any language. UnknownNode names a missing node; NotUnderstood asks for no edit.
    """
    edit = read_edit(text, language, dataset_map)
    if edit is None and (model is not None or parse_rules(text) is not None):
        edit = understand(text, dataset_map, model, language)
    if edit is None:
        raise NotUnderstood(text)
    return edit


def read_edit(text: str, language: str, dataset_map: DatasetMap) -> MapEdit | None:
    """Return the edit a message asks for in its language's words, or None.

    "больше диалогов для узла Башня в гавани", "3 fewer exercises for Kelpwax", "объедини X
    и Y", "останови генерацию для X", "продолжи X", "фокус на переносе": every word in any
    of its forms, node names as ids, titles, close spellings or inflected titles.
    """
    words = WORDS[language]
    tokens = _tokens(text)
    while tokens and tokens[0].forms & words.filler:  # "пожалуйста, …", "please …"
        tokens = tokens[1:]
    if not tokens:
        return None
    for read in (_read_merge, _read_switch, _read_focus, _read_quota):
        edit = read(text, tokens, words, dataset_map)
        if edit is not None:
            return edit
    return None


def _tokens(text: str) -> list[_Token]:
    return [_Token(lemmas(m.group()), m.start(), m.group().lower())
            for m in re.finditer(r"\w+", text)]


def _name(text: str, tokens: list[_Token], words: SteerWords, end: int | None = None) -> str:
    """Return the text from the first token that is not filler on (a node's name)."""
    rest = _skip_filler(tokens, words)
    return text[rest[0].start:end].strip(QUOTES) if rest else ""


def _read_merge(text: str, tokens: list[_Token], words: SteerWords,
                dataset_map: DatasetMap) -> MapEdit | None:
    """Merge: the first split at a joiner where both sides name nodes of the map."""
    if not tokens[0].forms & words.merge:
        return None
    rest = _skip_filler(tokens[1:], words)
    joins = [i for i, t in enumerate(rest) if i > 0 and t.word in words.joiners]
    failures: list[UnknownNode] = []
    for i in joins:
        try:
            keep = find_node(dataset_map, _name(text, rest[:i], words, end=rest[i].start))
        except UnknownNode as exc:
            failures.append(exc)
            continue
        try:
            return MapEdit(op="merge", nodes=[keep, find_node(dataset_map,
                                                              _name(text, rest[i + 1:], words))])
        except UnknownNode as exc:  # the first node found: the second is the one to name
            failures.insert(0, exc)
    if failures:
        raise failures[0]
    return None


def _skip_filler(tokens: list[_Token], words: SteerWords) -> list[_Token]:
    i = 0
    while i < len(tokens) and tokens[i].forms & words.filler:
        i += 1
    return tokens[i:]


def _read_switch(text: str, tokens: list[_Token], words: SteerWords,
                 dataset_map: DatasetMap) -> MapEdit | None:
    """Stop or resume generating for one node: the verb first, then the node."""
    op: Literal["stop", "resume"] | None = ("stop" if tokens[0].forms & words.stop else
                                            "resume" if tokens[0].forms & words.resume else None)
    name = _name(text, tokens[1:], words) if op else ""
    if op is None or not name:
        return None
    return MapEdit(op=op, nodes=[find_node(dataset_map, name)])


def _read_focus(text: str, tokens: list[_Token], words: SteerWords,
                dataset_map: DatasetMap) -> MapEdit | None:
    """Focus the next cycle on what one probe kind tests."""
    if not any(t.forms & words.focus for t in tokens):
        return None
    probe = next((words.probes[f] for t in tokens for f in sorted(t.forms) if f in words.probes),
                 None)
    return MapEdit(op="focus", probe_kind=ProbeKind(probe)) if probe else None


def _read_quota(text: str, tokens: list[_Token], words: SteerWords,
                dataset_map: DatasetMap) -> MapEdit | None:
    """More or fewer examples of a kind for a node: `[N] more|fewer KIND for|on NODE`."""
    way = next((t for t in tokens if t.forms & (words.more | words.fewer)), None)
    kinds = [(i, k) for i, t in enumerate(tokens) if (k := _kind(t, words))]
    if way is None or not kinds:
        return None
    prep = next((i for i in range(kinds[0][0] + 1, len(tokens))
                 if tokens[i].forms & words.prepositions), None)
    name = _name(text, tokens[prep + 1:], words) if prep else ""
    if prep is None or not name:
        return None
    kind = [k for i, k in kinds if i < prep][-1]  # "примеров диалогов": the last is exact
    amount = next((n for t in tokens[:prep] if (n := _number(t, words))), 2)
    sign = 1 if way.forms & words.more else -1
    return MapEdit(op="quota", nodes=[find_node(dataset_map, name)], kind=ExampleKind(kind),
                   amount=sign * amount)


def _kind(token: _Token, words: SteerWords) -> str | None:
    return next((words.kinds[f] for f in sorted(token.forms) if f in words.kinds), None)


def _number(token: _Token, words: SteerWords) -> int | None:
    if token.word.isdecimal() and token.word.isascii():
        return int(token.word)
    return next((words.numbers[f] for f in sorted(token.forms) if f in words.numbers), None)


def find_node(dataset_map: DatasetMap, name: str) -> str:
    """Return the id of the node a person named; UnknownNode if the map has none such.

    Found as `resolve_node` finds it, or by its title in any inflection ("башни в гавани" for
    "Башня в гавани").
    """
    try:
        return resolve_node(dataset_map, name)
    except InstructionError:
        pass
    said = [lemmas(w) for w in re.findall(r"\w+", name)]
    for node in dataset_map.nodes:
        title = [lemmas(w) for w in re.findall(r"\w+", node.title)]
        if len(title) == len(said) and all(a & b for a, b in zip(title, said, strict=True)):
            return node.id
    names = {n.title.lower(): n.id for n in dataset_map.nodes} | {
        n.id.lower(): n.id for n in dataset_map.nodes}
    hints = difflib.get_close_matches(name.lower(), list(names), n=3, cutoff=0.4)
    raise UnknownNode(name, list(dict.fromkeys(names[h] for h in hints)),
                      [n.id for n in dataset_map.nodes])


def describe(edit: MapEdit, revision: Revision, language: str) -> list[str]:
    """Return the changes an applied edit made, worded in a language."""
    words = WORDS[language]
    say = words.replies
    if edit.op == "quota":
        return [say["change_quota"].format(node=node, kind=words.kind_names[kind], before=b,
                                           after=a)
                for node, kinds in revision.quotas.items() for kind, (b, a) in kinds.items()]
    if edit.op == "focus":
        probe = edit.probe_kind or ProbeKind.transfer
        raised = ", ".join(f"{words.kind_names[k]} +{v}" for k, v in REMEDY[probe].items())
        return [say["change_focus"].format(raised=raised, probe=words.probe_names[probe])]
    if edit.op == "merge":
        return [say["change_merge"].format(keep=edit.nodes[0], gone=edit.nodes[1])]
    return [say[f"change_{edit.op}"].format(node=edit.nodes[0])]
