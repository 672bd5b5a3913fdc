"""The forks: the questions a run may put to a person, built from the map and the round.

`plan` approves the map before generation; the map's own forks ask whether to remove nodes
whose sources are gone and which of two disagreeing notes to teach; `examples` keeps one of
a node's alternatives. Settling a map fork edits the map and records a revision.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from agentrun.agents.text import FactIndex, key_parts
from agentrun.prompts import phrase
from agentrun.schemas import (
    DatasetMap,
    Decision,
    Example,
    ExampleKind,
    Fork,
    ForkKind,
    ForkOption,
    NodeStatus,
)

LABELS = "ABC"
FORKS = "steering.forks.md"
"""The wording of the forks' questions and options, per language."""


def plan_fork(dataset_map: DatasetMap) -> Fork:
    """Return the plan-approval fork: the map's size in one line, approve or stop."""
    say = _wording(dataset_map)
    question = say("plan", nodes=len(dataset_map.nodes), anchors=len(dataset_map.anchors),
                   facts=sum(len(n.facts) for n in dataset_map.nodes),
                   quota=sum(sum(n.quota.values()) for n in dataset_map.nodes),
                   probes=sum(len(n.probes) for n in dataset_map.nodes),
                   problems=len(dataset_map.problems))
    return Fork(
        id=f"plan:v{dataset_map.version}:{dataset_map.sources_digest[:12]}", kind=ForkKind.plan,
        question=question, options=[ForkOption(label="A", text=say("plan_approve")),
                                    ForkOption(label="B", text=say("plan_stop"))])


def _wording(dataset_map: DatasetMap) -> Callable[..., str]:
    """Return the forks' wording in the language most of the map's notes are in."""
    languages = Counter(n.language for n in dataset_map.nodes)
    language = languages.most_common(1)[0][0] if languages else "en"
    return lambda form, **variables: phrase(FORKS, form, language, **variables)


def map_forks(dataset_map: DatasetMap) -> list[Fork]:
    """Return the forks on the map itself: nodes a re-plan would remove, sources that disagree."""
    forks = []
    say = _wording(dataset_map)
    gone = [n for n in dataset_map.nodes if n.status == NodeStatus.source_gone]
    if gone:
        names = ", ".join(n.title for n in gone[:6]) + (" …" if len(gone) > 6 else "")
        facts = sum(len(n.facts) for n in gone)
        forks.append(Fork(
            id=f"removal:v{dataset_map.version}:" + ",".join(sorted(n.id for n in gone))[:80],
            kind=ForkKind.removal,
            question=say("removal", count=len(gone), names=names, facts=facts),
            options=[ForkOption(label="A", text=say("removal_remove")),
                     ForkOption(label="B", text=say("removal_keep"))]))
    return forks + contradiction_forks(dataset_map)


def contradiction_forks(dataset_map: DatasetMap) -> list[Fork]:
    """One fork per pair of facts of anchored nodes where one changes the other's values.

    Linear: each fact is looked up (inverted index) among the facts of its node's neighbours.
    """
    index = FactIndex(dataset_map)
    say = _wording(dataset_map)
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
                question=say("contradiction", how=how, **dict(zip(
                    ("mine", "theirs"), _values(fact.text, facts[other.fact_id].text),
                    strict=True))),
                options=[ForkOption(label="A", text=_cited(fact), example_id=fact.id),
                         ForkOption(label="B", text=_cited(facts[other.fact_id]),
                                    example_id=other.fact_id),
                         ForkOption(label="C", text=say("contradiction_both"))])
    return list(forks.values())


def _values(one: str, other: str) -> tuple[str, str]:
    """Return what two disagreeing sources say: their numbers where these differ, else both."""
    a, b = key_parts(one)[1], key_parts(other)[1]
    if a and b and a != b:
        return ", ".join(a), ", ".join(b)
    return f"«{one}»", f"«{other}»"


def _numbered_name(text: str) -> bool:
    """Whether a number in the sentence belongs to a name ("Breash 78", "Route 9", «Маршрут 9»)."""
    return re.search(r"\b[A-ZА-ЯЁ][a-zа-яё]+ \d+\b", text) is not None  # also «Маршрут 9»


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
            gone = {n.id for n in dataset_map.nodes if n.status == NodeStatus.source_gone}
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
                        node.status = NodeStatus.kept
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
        dataset_map.revise("forks on the map settled before generation", changes)
    return changes


def example_forks(dataset_map: DatasetMap, accepted: list[Example], iteration: int) -> list[Fork]:
    """Return one fork per group of 2+ accepted alternatives, closest scores first."""
    groups: dict[str, list[Example]] = defaultdict(list)
    for ex in accepted:
        if ex.group:
            groups[ex.group].append(ex)
    forks = []
    titles, say = dataset_map.titles(), _wording(dataset_map)
    for group, members in groups.items():
        if len(members) < 2:
            continue
        best = sorted(members, key=lambda e: -_score(e))[: len(LABELS)]
        title = titles.get(best[0].node_id, best[0].node_id)
        kind = ExampleKind(best[0].kind)
        forks.append(Fork(
            id=f"examples:{group}", kind=ForkKind.examples, node_id=best[0].node_id,
            iteration=iteration,
            question=say("examples", title=title, kind=kind.value, asked=_prompt_text(best[0])),
            options=[ForkOption(label=LABELS[i], text=_reply_text(e), example_id=e.id,
                                score=_score(e)) for i, e in enumerate(best)]))
    return sorted(forks, key=lambda f: (score_gap(f), f.id))


def _score(ex: Example) -> float:
    return ex.verdict.scores.get("score", 0.0) if ex.verdict else 0.0


def score_gap(fork: Fork) -> float:
    """Return how far apart the two best options of a fork score."""
    scores = [o.score or 0.0 for o in fork.options]
    return scores[0] - scores[1] if len(scores) > 1 else 1.0


def _prompt_text(ex: Example) -> str:
    users = [m["content"] for m in ex.messages or [] if m["role"] == "user"]
    return users[0] if users else "(text)"


def _reply_text(ex: Example) -> str:
    if not ex.messages:
        return ex.text or ""
    return "\n".join(m["content"] for m in ex.messages if m["role"] == "assistant")
