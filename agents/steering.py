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
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from agentrun.agents.architect import KEPT, SOURCE_GONE
from agentrun.config import Steering
from agentrun.graphs.context import Context
from agentrun.graphs.state import State
from agentrun.schemas import (
    DatasetMap,
    Decision,
    Example,
    ExampleKind,
    Fork,
    ForkKind,
    ForkOption,
    Preference,
    Reason,
    ReasonCode,
    Revision,
)
from agentrun.workspace import Run

log = logging.getLogger(__name__)

LABELS = "ABC"


# ---------------------------------------------------------------- forks


def plan_fork(dataset_map: DatasetMap) -> Fork:
    """Return the plan-approval fork: the map's size in one line, approve or stop."""
    facts = sum(len(n.facts) for n in dataset_map.nodes)
    quota = sum(sum(n.quota.values()) for n in dataset_map.nodes)
    probes = sum(len(n.probes) for n in dataset_map.nodes)
    summary = (f"{len(dataset_map.nodes)} nodes, {len(dataset_map.anchors)} anchors, {facts} "
               f"facts, {quota} examples asked for, {probes} probes, "
               f"{len(dataset_map.problems)} problems")
    return Fork(
        id=f"plan:v{dataset_map.version}:{dataset_map.sources_digest[:12]}", kind=ForkKind.plan,
        question=f"Approve the map ({summary})? Edit map.yaml first if you like: approving "
                 "reads it again.",
        options=[ForkOption(label="A", text="approve: generate the corpus from this map"),
                 ForkOption(label="B", text="stop: end the run before generating anything")])


def map_forks(dataset_map: DatasetMap) -> list[Fork]:
    """Return the forks on the map itself: nodes a re-plan would remove, sources that disagree."""
    forks = []
    gone = [n for n in dataset_map.nodes if n.status == SOURCE_GONE]
    if gone:
        names = ", ".join(n.title for n in gone[:6]) + (" …" if len(gone) > 6 else "")
        facts = sum(len(n.facts) for n in gone)
        forks.append(Fork(
            id=f"removal:v{dataset_map.version}:" + ",".join(sorted(n.id for n in gone))[:80],
            kind=ForkKind.removal,
            question=f"The sources of {len(gone)} nodes are gone ({names}; {facts} facts). "
                     "Remove them from the map?",
            options=[ForkOption(label="A", text="remove them, with their anchors and probes "
                                                "(their examples stay in past runs)"),
                     ForkOption(label="B", text="keep them: their facts stay in the map and "
                                                "are generated for")]))
    return forks + contradiction_forks(dataset_map)


def contradiction_forks(dataset_map: DatasetMap) -> list[Fork]:
    """One fork per pair of facts of anchored nodes where one changes the other's values.

    Linear: each fact is looked up (inverted index) among the facts of its node's neighbours.
    """
    from agentrun.agents.checker import FactIndex, key_parts

    index = FactIndex(dataset_map)
    near: dict[str, set[str]] = defaultdict(set)
    for a in dataset_map.anchors:
        near[a.src].add(a.dst)
        near[a.dst].add(a.src)
    facts = {f.id: f for n in dataset_map.nodes for f in n.facts}
    forks: dict[str, Fork] = {}
    for node in dataset_map.nodes:
        for fact in node.facts if near[node.id] else []:
            found = index.contradiction(fact.text, near[node.id] - {node.id})
            if found is None:
                continue
            other, how = found
            # two source sentences disagree when each restates the other about the same names
            # (most of both sentences' words shared) with other numbers or the opposite
            # polarity; sentences about other names are about other things
            words, _, names, _ = key_parts(fact.text)
            if how.startswith("names") or names != other.names or len(
                    words & other.words) < 0.6 * len(words | other.words) or _numbered_name(
                    fact.text) or _numbered_name(facts[other.fact_id].text):
                continue
            fork_id = "contradiction:" + "|".join(sorted((fact.id, other.fact_id)))
            if fork_id in dataset_map.settled or fork_id in forks:
                continue
            forks[fork_id] = Fork(
                id=fork_id, kind=ForkKind.contradiction, node_id=node.id,
                question=f"Two sources disagree ({how}). Which should the corpus teach?",
                options=[ForkOption(label="A", text=_cited(fact), example_id=fact.id),
                         ForkOption(label="B", text=_cited(facts[other.fact_id]),
                                    example_id=other.fact_id),
                         ForkOption(label="C", text="both: they do not contradict each other")])
    return list(forks.values())


def _numbered_name(text: str) -> bool:
    """Whether a number in the sentence belongs to a name ("Breash 78", "Route 9")."""
    return re.search(r"\b[A-Z][a-z]+ \d+\b", text) is not None


def _cited(fact: Any) -> str:
    where = f" ({fact.span.file}:{fact.span.line})" if fact.span else ""
    return f"{fact.text}{where}"


def settle_map_forks(dataset_map: DatasetMap, forks: list[Fork],
                     decisions: list[Decision]) -> list[str]:
    """Apply the removal and contradiction decisions to the map; return the changes made.

    A new version goes into the map's history; every fork settled is remembered in `settled`.
    """
    changes = []
    for fork, decision in zip(forks, decisions, strict=True):
        who = "a person" if decision.by == "human" else "the policy"
        if fork.kind == ForkKind.removal:
            gone = {n.id for n in dataset_map.nodes if n.status == SOURCE_GONE}
            if decision.choice == 0:
                lost = {f.id for n in dataset_map.nodes if n.id in gone for f in n.facts}
                dataset_map.nodes = [n for n in dataset_map.nodes if n.id not in gone]
                for node in dataset_map.nodes:  # transfer probes that needed their facts
                    node.probes = [p for p in node.probes if not lost & set(p.fact_ids)]
                dataset_map.anchors = [a for a in dataset_map.anchors
                                       if a.src not in gone and a.dst not in gone]
                changes.append(f"- nodes {', '.join(sorted(gone))}: sources gone, removed by {who}")
            else:
                for node in dataset_map.nodes:
                    if node.id in gone:
                        node.status = KEPT
                changes.append(f"nodes {', '.join(sorted(gone))}: sources gone, kept by {who}")
        elif fork.kind == ForkKind.contradiction:
            if decision.choice in (0, 1):
                drop = fork.options[1 - decision.choice].example_id
                for node in dataset_map.nodes:  # transfer probes elsewhere may cite it too
                    node.facts = [f for f in node.facts if f.id != drop]
                    node.probes = [p for p in node.probes if drop not in p.fact_ids]
                kept = fork.options[decision.choice].example_id
                changes.append(f"- fact {drop}: contradicts {kept}; {who} kept {kept}")
            else:
                a, b = (o.example_id for o in fork.options[:2])
                changes.append(f"facts {a} and {b}: {who} kept both")
            dataset_map.settled.append(fork.id)
    if changes:
        dataset_map.version += 1
        dataset_map.history.append(Revision(
            version=dataset_map.version, at=datetime.now(UTC).isoformat(timespec="seconds"),
            reason="forks on the map settled before generation", changes=changes))
    return changes


def example_forks(dataset_map: DatasetMap, accepted: list[Example], iteration: int) -> list[Fork]:
    """Return one fork per group of 2+ accepted alternatives, closest scores first."""
    groups: dict[str, list[Example]] = defaultdict(list)
    for ex in accepted:
        if ex.group:
            groups[ex.group].append(ex)
    forks = []
    titles = dataset_map.titles()
    for group, members in groups.items():
        if len(members) < 2:
            continue
        best = sorted(members, key=lambda e: -_score(e))[: len(LABELS)]
        title = titles.get(best[0].node_id, best[0].node_id)
        kind = ExampleKind(best[0].kind)
        forks.append(Fork(
            id=f"examples:{group}", kind=ForkKind.examples, node_id=best[0].node_id,
            iteration=iteration,
            question=f"{title}: which {kind} should the corpus keep? "
                     f"(asked: {_prompt_text(best[0])})",
            options=[ForkOption(label=LABELS[i], text=_reply_text(e), example_id=e.id,
                                score=_score(e)) for i, e in enumerate(best)]))
    return sorted(forks, key=lambda f: (_gap(f), f.id))


def _score(ex: Example) -> float:
    return ex.verdict.scores.get("score", 0.0) if ex.verdict else 0.0


def _gap(fork: Fork) -> float:
    scores = [o.score or 0.0 for o in fork.options]
    return scores[0] - scores[1] if len(scores) > 1 else 1.0


def _prompt_text(ex: Example) -> str:
    users = [m["content"] for m in ex.messages or [] if m["role"] == "user"]
    return users[0] if users else "(text)"


def _reply_text(ex: Example) -> str:
    if not ex.messages:
        return ex.text or ""
    return "\n".join(m["content"] for m in ex.messages if m["role"] == "assistant")


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
        gap = _gap(fork)
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
    from agentrun.workspace import load_examples, save_examples, write_jsonl

    accepted = load_examples(folder / "accepted.jsonl")
    rejected = load_examples(folder / "rejected.jsonl")
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
    save_examples(folder / "rejected.jsonl",
                  rejected + [e for e in accepted if e.id in dropped])
    save_examples(folder / "accepted.jsonl",
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


# ---------------------------------------------------------------- graph nodes


def review_node(state: State, runtime: Runtime[Context]) -> Command[Literal["dispatch", "__end__"]]:
    """The plan fork: before the first generation, approve the map (re-read) or stop."""
    from agentrun.services import resolve
    from agentrun.workspace import load_map, save_map, write_jsonl

    cfg, ws, run = resolve(runtime.context, state)
    if state.get("iteration", 1) > 1:
        return Command(goto="dispatch")
    policy = Policy(cfg.steering)
    fork = plan_fork(load_map(run.map_path))
    ask, why = policy.should_ask(fork, asked=0)
    decision = ask_person(fork, why, run) if ask else policy.decide(fork, why)
    _log_decision(fork, decision)
    _append_new(run.data_dir / "decisions.jsonl", [decision.model_dump(mode="json")],
                "fork_id", write_jsonl)
    if decision.choice != 0:
        run.update_meta(status="stopped")
        return Command(goto="__end__", update={"status": "stopped at plan review"})
    if decision.by == "human":  # the person may have edited the workspace's map meanwhile
        save_map(load_map(ws.map_path), run.map_path)  # a broken edit stops here, in one line
    # the map's own forks, frozen so that every resume replays the same questions
    frozen = run.root / "review-forks.json"
    if frozen.exists():
        forks = [Fork.model_validate(f) for f in json.loads(frozen.read_text())]
    else:
        forks = map_forks(load_map(run.map_path))
        frozen.write_text(json.dumps([f.model_dump(mode="json") for f in forks]))
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
    return Command(goto="dispatch", update=update)


def steer_node(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """The examples forks of this round: ask (within the budget) or decide, then apply."""
    from agentrun.agents.checker import _collect
    from agentrun.services import embedder, memory, resolve
    from agentrun.workspace import load_examples, load_map, save_examples

    cfg, ws, run = resolve(runtime.context, state)
    folder = run.round_dir(state["iteration"], state["round"])
    frozen = folder / "forks.json"
    if frozen.exists():  # the forks as first found: answers re-run against the same list
        forks = [Fork.model_validate(f) for f in json.loads(frozen.read_text())]
    else:
        forks = example_forks(load_map(run.map_path), load_examples(folder / "accepted.jsonl"),
                              state["iteration"])
        frozen.write_text(json.dumps([f.model_dump(mode="json") for f in forks]))
    if not forks:
        return {}
    policy = Policy(cfg.steering)
    asked = state.get("asked", 0) if state.get("asked_iteration") == state["iteration"] else 0
    decisions = []
    for fork in forks:
        ask, why = policy.should_ask(fork, asked)
        if ask:
            asked += 1
        decision = ask_person(fork, why, run) if ask else policy.decide(fork, why)
        _log_decision(fork, decision)
        decisions.append(decision)
    dropped, added = apply_decisions(folder, forks, decisions, run.data_dir)
    store = memory(str(ws.memory_dir))
    store.remove(dropped)  # the corpus remembers what it keeps
    if added:  # options kept in a person's words
        store.add(added, embedder(cfg).embed([e.content() for e in added]),
                  f"{run.id}/{folder.name}")
    accepted, rejected = _collect(run)
    save_examples(run.accepted_path, accepted)
    save_examples(run.rejected_path, rejected)
    return {"accepted": len(accepted), "rejected": len(rejected), "asked": asked,
            "asked_iteration": state["iteration"]}


def _log_decision(fork: Fork, decision: Decision) -> None:
    kept = "none" if decision.choice is None else fork.options[decision.choice].label
    log.info("fork %s: %s kept %s (%s)", fork.id, decision.by, kept, decision.reason)
