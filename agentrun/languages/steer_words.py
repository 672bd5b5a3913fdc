"""The shape of one language's words for steering a run in `agentrun chat`.

Each language is one instance (`en/steer.py`, `ru/steer.py`: `WORDS`): what a person may say, in
dictionary forms (lower-case, ё written е, as `agentrun.languages.lemmas` returns them), and
what the chat answers, as `str.format` templates. Code chooses among them by language code;
it never tests for a language by name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SteerWords:
    """One language's requests and replies for the chat that steers a run."""

    language: str
    """ISO 639-1 code."""
    letters: str
    """A regex character class body of the language's script (`a-z`, `а-яё`)."""
    commands: dict[str, tuple[str, ...]]
    """Command → the whole messages that ask for it (each word in any of its forms)."""
    why: str
    """Regex of `why ID`: group 1 is the example id."""
    answer: str
    """Regex of a fork answer: group 1 is a label, a number or a `none_words` word."""
    edit: str
    """Regex of `edit B: TEXT`: group 1 is the label, group 2 the person's wording."""
    none_words: frozenset[str]
    """Answers that reject every option of an examples fork."""
    yes: frozenset[str]
    """Answers that approve a map edit."""
    more: frozenset[str]
    fewer: frozenset[str]
    numbers: dict[str, int]
    """Number words a person may use for an amount (`три` → 3)."""
    kinds: dict[str, str]
    """Word for a kind of example → its `ExampleKind` value."""
    probes: dict[str, str]
    """Word for what a probe tests → its `ProbeKind` value."""
    merge: frozenset[str]
    stop: frozenset[str]
    resume: frozenset[str]
    focus: frozenset[str]
    joiners: frozenset[str]
    """Words between the two nodes of a merge (`and`, `with`)."""
    prepositions: frozenset[str]
    """Words after which a quota request names its node (`on`, `for`)."""
    filler: frozenset[str]
    """Words dropped before a node's name (`the`, `node`, `generating`)."""
    replies: dict[str, str]
    """Reply key → template; every language has the same keys and placeholders."""
    kind_names: dict[str, str]
    """`ExampleKind` value → its name in a reply."""
    probe_names: dict[str, str]
    """`ProbeKind` value → its name in a reply."""
    status_names: dict[str, str]
    """`RunStatus` value → its name in a reply."""
    help: str
