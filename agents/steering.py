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

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.types import interrupt

from agentrun.agents.forks import example_forks, map_forks, plan_fork, score_gap, settle_map_forks
from agentrun.config import AgentrunConfig, Steering
from agentrun.errors import AgentrunError
from agentrun.memory.embeddings import Embedder
from agentrun.memory.store import Memory
from agentrun.schemas import (
    Decision,
    Example,
    Fork,
    ForkKind,
    Preference,
    Reason,
    ReasonCode,
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
