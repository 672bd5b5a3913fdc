"""Steering: the forks where the graph may stop for a person, and the policy that decides when.

Two forks exist. `plan` comes after the architect, before anything is generated: approve the
map (edited by hand meanwhile, if you like) or stop. `examples` comes after the checker: the
contractor model wrote 2–3 alternatives for one brief of a node new to the corpus, the checker
passed them, and one is kept. The others leave the corpus (`not_chosen`) and each becomes a
preference pair `(prompt, chosen, rejected)` for DPO.

The policy (`steering` in agentrun.yaml) asks a person when the alternatives' checker scores
are close, when the node is new, or when the person asked to review that kind of fork, never
more than `max_questions` a cycle; otherwise, and always in `auto` mode, it decides alone and
records why. A question is a LangGraph `interrupt()`: the run's checkpoint keeps it across
restarts, and it is answered with `Command(resume=answer)` from the CLI or from Studio. The
nodes here only read files the checker already wrote, so answering re-runs no paid work.
"""

from __future__ import annotations

import difflib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langgraph.types import interrupt

from agentrun.agents.forks import example_forks, map_forks, plan_fork, score_gap, settle_map_forks
from agentrun.agents.instructions import (
    InstructionError,
    MapEdit,
    parse_rules,
    resolve_node,
    understand,
)
from agentrun.agents.revision import REMEDY
from agentrun.config import AgentrunConfig, Steering
from agentrun.errors import AgentrunError
from agentrun.languages import lemmas, steer_en, steer_ru
from agentrun.languages.steer_words import SteerWords
from agentrun.memory.embeddings import Embedder
from agentrun.memory.store import Memory
from agentrun.models.base import Backend
from agentrun.schemas import (
    DatasetMap,
    Decision,
    Example,
    ExampleKind,
    Fork,
    ForkKind,
    Preference,
    ProbeKind,
    Reason,
    ReasonCode,
    Revision,
    RunStatus,
)
from agentrun.workspace import (
    ACCEPTED,
    FORKS,
    REJECTED,
    Run,
    atomic_write_text,
    load_examples,
    load_map,
    save_examples,
    save_map,
    write_jsonl,
)

log = logging.getLogger(__name__)



# ---------------------------------------------------------------- forks
























# ---------------------------------------------------------------- the policy


@dataclass(frozen=True)
class Policy:
    """When to ask a person, and what to pick when nobody is asked."""

    settings: Steering

    def should_ask(self, fork: Fork, asked: int, new_node: bool = True) -> tuple[bool, str]:
        """Return whether to ask, and why (or why not)."""
        s = self.settings
        if s.mode == "auto":
            return False, "auto mode: nobody is asked"
        if asked >= s.max_questions:
            return False, f"question budget spent ({s.max_questions} this cycle)"
        if fork.kind in s.review:
            return True, f"you asked to review every {fork.kind} fork"
        if fork.kind == ForkKind.plan:
            return False, "plan review not asked for"
        if fork.kind == ForkKind.removal:
            return True, "a re-plan would remove content"
        if fork.kind == ForkKind.contradiction:
            return True, "the sources disagree"
        gap = score_gap(fork)
        if gap <= s.close_margin:
            return True, f"scores close: {gap:.3f} apart (margin {s.close_margin})"
        if new_node:
            return True, "the node is new to the corpus"
        return False, f"scores {gap:.3f} apart: the best is clear"

    def decide(self, fork: Fork, why: str) -> Decision:
        """Decide a fork alone: approve a plan, keep the best-scored alternative."""
        if fork.kind == ForkKind.plan:
            return Decision(fork_id=fork.id, choice=0, by="policy", reason=why)
        if fork.kind == ForkKind.removal:  # the sources are the truth: their notes were deleted
            return Decision(fork_id=fork.id, choice=0, by="policy",
                            reason=f"{why}; removed: their sources are gone")
        if fork.kind == ForkKind.contradiction:  # never drop a source's fact unasked
            return Decision(fork_id=fork.id, choice=2, by="policy",
                            reason=f"{why}; kept both: dropping a fact is a person's call")
        best = max(range(len(fork.options)), key=lambda i: fork.options[i].score or 0.0)
        scores = ", ".join(f"{o.label} {o.score:.3f}" for o in fork.options)
        return Decision(fork_id=fork.id, choice=best, by="policy",
                        reason=f"{why}; kept the best checker score ({scores})")


def parse_answer(fork: Fork, answer: Any) -> int | None:
    """Turn a person's answer into an option index (None: reject all); ValueError if unclear.

    Accepted: the option's label ("A"), its number ("1"), or "none" to reject every option
    (examples forks only); also `{"choice": …}` as Studio sends it, with `"text": …` to keep
    that option in the person's own words (examples forks only).
    """
    if isinstance(answer, dict):
        if answer.get("text") is not None:
            if fork.kind != ForkKind.examples:
                raise ValueError("only an option of an examples fork can be edited")
            if not str(answer["text"]).strip():
                raise ValueError("an edited option cannot be empty")
        answer = answer.get("choice")
    text = str(answer).strip().upper() if answer is not None else "NONE"
    if text in ("NONE", "REJECT") and fork.kind == ForkKind.examples:
        return None
    labels = [o.label for o in fork.options]
    if text in labels:
        return labels.index(text)
    if text.isdigit() and 1 <= int(text) <= len(labels):
        return int(text) - 1
    allowed = ", ".join(labels) + (" or none" if fork.kind == ForkKind.examples else "")
    raise ValueError(f"{answer!r} is not one of the options: answer {allowed}")


def check_answer(pending: dict[str, Any] | None, answer: Any, run_id: str) -> None:
    """Refuse, in one line, an answer the fork a run waits at cannot take, or a missing one."""
    if pending is not None and answer is None:
        raise AgentrunError(f"{run_id} waits at fork {pending['fork']['id']}: answer it with "
                            "`agentrun resume RUN --answer LABEL`")
    if pending is None and answer is not None:
        raise AgentrunError(f"{run_id} waits at no fork; resume it without --answer")
    if pending is not None:
        try:
            parse_answer(Fork.model_validate(pending["fork"]), answer)
        except ValueError as exc:
            raise AgentrunError(f"fork {pending['fork']['id']}: {exc}") from None


def ask_person(fork: Fork, why: str, run: Run | None = None) -> Decision:
    """Interrupt the graph with the fork until a valid answer comes back.

    The run's `run.json` says `waiting` at the fork meanwhile, whoever drives the graph.
    """
    payload: dict[str, Any] = {"fork": fork.model_dump(mode="json"), "why": why}
    if run is not None:
        run.update_meta(status="waiting", fork=fork.id)
    while True:
        answer = interrupt(payload)
        try:
            choice = parse_answer(fork, answer)
        except ValueError as exc:  # asked again, nothing changed
            payload = {**payload, "error": str(exc)}
            continue
        edited = answer.get("text") if isinstance(answer, dict) else None
        if edited is not None and choice is None:
            payload = {**payload, "error": "an edit needs the option it rewrites (edit B: …)"}
            continue
        if run is not None:
            run.update_meta(status="running", fork=None)
        return Decision(fork_id=fork.id, choice=choice, by="human", reason=why,
                        edited=str(edited).strip() if edited is not None else None)


# ---------------------------------------------------------------- applying decisions


def preferences_of(fork: Fork, decision: Decision, by_id: dict[str, Example]) -> list[Preference]:
    """Pair the kept alternative with each other one, where both answer the same prompt."""
    if decision.choice is None or fork.kind != ForkKind.examples:
        return []
    chosen = by_id[fork.options[decision.choice].example_id]
    if decision.edited is not None:  # the person's wording beats every option, theirs too
        chosen = edited_example(chosen, decision.edited)
    out = []
    for i, option in enumerate(fork.options):
        other = by_id[option.example_id]
        if (i == decision.choice and decision.edited is None) or not (chosen.messages
                                                                      and other.messages):
            continue
        if chosen.messages[:-1] != other.messages[:-1]:
            continue  # different questions: not a pair for DPO
        out.append(Preference(prompt=chosen.messages[:-1], chosen=[chosen.messages[-1]],
                              rejected=[other.messages[-1]],
                              source="human_fork" if decision.by == "human" else "policy",
                              fork=fork.id))
    return out


def edited_example(ex: Example, text: str) -> Example:
    """Return a copy of an example whose (last) answer is a person's wording."""
    out = ex.model_copy(deep=True)
    if out.messages:
        out.messages[-1] = {**out.messages[-1], "content": text}
    else:
        out.text = text
    out.provenance.role = "human"
    out.provenance.generator = f"{ex.provenance.generator}+edited"
    return out.with_id()


def apply_decisions(folder: Path, forks: list[Fork], decisions: list[Decision],
                    data_dir: Path) -> tuple[list[str], list[Example]]:
    """Move the alternatives not kept to the round's rejected file; record pairs and decisions.

    An option kept in a person's words replaces the option it rewrites. Returns the ids of the
    examples dropped and the examples added (edited). Idempotent: a decision already applied
    changes nothing the second time.
    """
    accepted = load_examples(folder / ACCEPTED)
    rejected = load_examples(folder / REJECTED)
    by_id = {e.id: e for e in accepted + rejected}
    dropped: dict[str, Reason] = {}
    added: list[Example] = []
    prefs: list[Preference] = []
    for fork, decision in zip(forks, decisions, strict=True):
        if fork.kind != ForkKind.examples:
            continue
        prefs += preferences_of(fork, decision, by_id)
        who = "a person" if decision.by == "human" else "the steering policy"
        for i, option in enumerate(fork.options):
            if i == decision.choice and decision.edited is not None:
                detail = "a person kept it in their own words"
            elif i != decision.choice:
                detail = f"another alternative was kept by {who}"
            else:
                continue
            dropped[option.example_id] = Reason(code=ReasonCode.not_chosen, other=fork.id,
                                                detail=detail)
        if decision.edited is not None and decision.choice is not None:
            original = by_id[fork.options[decision.choice].example_id]
            if original.verdict is not None and original.verdict.accepted:
                added.append(edited_example(original, decision.edited))
    for ex in accepted:
        if ex.id in dropped and ex.verdict is not None:
            ex.verdict.accepted = False
            ex.verdict.reasons = [dropped[ex.id]]
    have = {e.id for e in accepted}
    added = [e for e in added if e.id not in have]
    # a crash between the two writes leaves the dropped ones in both files: move each once
    moved = {e.id for e in rejected}
    save_examples(folder / REJECTED,
                  rejected + [e for e in accepted if e.id in dropped and e.id not in moved])
    save_examples(folder / ACCEPTED,
                  [e for e in accepted if e.id not in dropped] + added)
    _append_new(data_dir / "decisions.jsonl", [d.model_dump(mode="json") for d in decisions],
                "fork_id", write_jsonl)
    _append_new(data_dir / "preferences.jsonl", [p.model_dump(mode="json") for p in prefs],
                "fork", write_jsonl, also="rejected")
    return sorted(dropped), added


def _append_new(path: Path, rows: list[dict[str, Any]], key: str, write: Any,
                also: str | None = None) -> None:
    """Append rows whose key is not in the file yet (a re-executed node writes nothing twice)."""
    old = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def ident(r: dict[str, Any]) -> str:
        return json.dumps([r[key], r.get(also)] if also else r[key], sort_keys=True)

    have = {ident(r) for r in old}
    new = [r for r in rows if ident(r) not in have]
    if new:
        write(path, old + new)


def load_preferences(data_dir: Path) -> list[Preference]:
    """Return the preference pairs the forks of a run produced."""
    path = data_dir / "preferences.jsonl"
    if not path.exists():
        return []
    return [Preference.model_validate_json(line) for line in path.read_text().splitlines()
            if line.strip()]








def _log_decision(fork: Fork, decision: Decision) -> None:
    kept = "none" if decision.choice is None else fork.options[decision.choice].label
    log.info("fork %s: %s kept %s (%s)", fork.id, decision.by, kept, decision.reason)


# ---------------------------------------------------------------- the two steps


def review_plan(cfg: AgentrunConfig, ws: Any, run: Run) -> dict[str, Any]:
    """The plan fork, then the map's own forks (frozen, so every resume asks the same)."""
    policy = Policy(cfg.steering)
    fork = plan_fork(load_map(run.map_path))
    ask, why = policy.should_ask(fork, asked=0)
    decision = ask_person(fork, why, run) if ask else policy.decide(fork, why)
    _log_decision(fork, decision)
    _append_new(run.data_dir / "decisions.jsonl", [decision.model_dump(mode="json")],
                "fork_id", write_jsonl)
    if decision.choice != 0:
        run.update_meta(status=RunStatus.stopped)
        return {"status": "stopped at plan review"}
    if decision.by == "human":  # the person may have edited the workspace's map meanwhile
        save_map(load_map(ws.map_path), run.map_path)  # a broken edit stops here, in one line
    forks = _frozen(run.root / "review-forks.json", lambda: map_forks(load_map(run.map_path)))
    asked, decisions = int(ask), []
    for fork in forks:
        ask, why = policy.should_ask(fork, asked)
        asked += int(ask)
        decisions.append(ask_person(fork, why, run) if ask else policy.decide(fork, why))
        _log_decision(fork, decisions[-1])
    update: dict[str, Any] = {"asked": asked, "asked_iteration": 1}
    if forks:
        dataset_map = load_map(ws.map_path)
        settle_map_forks(dataset_map, forks, decisions)
        save_map(dataset_map, ws.map_path)
        save_map(dataset_map, run.map_path)
        _append_new(run.data_dir / "decisions.jsonl",
                    [d.model_dump(mode="json") for d in decisions], "fork_id", write_jsonl)
        update["map_version"] = dataset_map.version
    return update


def steer_round(cfg: AgentrunConfig, run: Run, iteration: int, round_: int, asked: int,
                memory: Memory, embedder: Embedder) -> dict[str, Any]:
    """The examples forks of a round: ask (within the budget) or decide, then apply."""
    folder = run.round_dir(iteration, round_)
    forks = _frozen(folder / FORKS, lambda: example_forks(
        load_map(run.map_path), load_examples(folder / ACCEPTED), iteration))
    if not forks:
        return {}
    policy = Policy(cfg.steering)
    decisions = []
    for fork in forks:
        ask, why = policy.should_ask(fork, asked)
        asked += int(ask)
        decision = ask_person(fork, why, run) if ask else policy.decide(fork, why)
        _log_decision(fork, decision)
        decisions.append(decision)
    dropped, added = apply_decisions(folder, forks, decisions, run.data_dir)
    memory.remove(dropped)  # the corpus remembers what it keeps
    if added:  # options kept in a person's words
        memory.add(added, embedder.embed([e.content() for e in added]),
                   f"{run.id}/{folder.name}")
    accepted, rejected = run.verdicts()
    save_examples(run.accepted_path, accepted)
    save_examples(run.rejected_path, rejected)
    return {"accepted": len(accepted), "rejected": len(rejected), "asked": asked,
            "asked_iteration": iteration}


def _frozen(path: Path, find: Callable[[], list[Fork]]) -> list[Fork]:
    """Return the forks as first found (`find` runs once; answers re-run against the same)."""
    if path.exists():
        return [Fork.model_validate(f) for f in json.loads(path.read_text())]
    forks = find()
    atomic_write_text(path, json.dumps([f.model_dump(mode="json") for f in forks]))
    return forks


# ---------------------------------------------------------------- a person's words in chat

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
    if m := re.match(words.answer, line):
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
        edit = understand(text, dataset_map, model)
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
    if token.word.isdigit():
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
