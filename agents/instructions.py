"""The architect's side of a conversation: a person's words become a map edit, shown as a diff.

Understood without a model ("more dialogues on Kelpwax", "3 fewer exercises for Brinefire",
"merge Kelpwax and Brinefire", "stop generating for Fenwick Reef", "resume Fenwick Reef",
"focus the next cycle on transfer"); anything else goes to the architect model when it is not
the embedded one, which answers with the same `MapEdit` schema, checked against the map. An
instruction neither understands is refused with examples of what works, and nothing changes.

An edit is applied to a copy of the map first: the person sees the YAML diff and approves it;
the map's version goes up and its history records the instruction and every change.
"""

from __future__ import annotations

import difflib
import re
from typing import Literal

from pydantic import BaseModel, Field

from agentrun.agents.revision import REMEDY
from agentrun.models.base import Backend, GenRequest
from agentrun.models.structured import generate_structured
from agentrun.prompts import localized, render_chat
from agentrun.schemas import (
    Anchor,
    DatasetMap,
    ExampleKind,
    NodeStatus,
    ProbeKind,
    Revision,
)
from agentrun.workspace import map_yaml

EXAMPLES = ("more dialogues on NODE", "2 fewer exercises for NODE", "merge NODE and NODE",
            "stop generating for NODE", "resume NODE", "focus the next cycle on transfer")
KIND_WORDS = {"exercise": ExampleKind.exercise, "question": ExampleKind.exercise,
              "example": ExampleKind.exercise, "dialogue": ExampleKind.dialogue,
              "conversation": ExampleKind.dialogue, "rephrasing": ExampleKind.rephrasing,
              "rephrase": ExampleKind.rephrasing, "paraphrase": ExampleKind.rephrasing,
              "synthesis": ExampleKind.synthesis, "syntheses": ExampleKind.synthesis}


class MapEdit(BaseModel):
    """One edit of the map, as a person asked for it."""

    op: Literal["quota", "merge", "stop", "resume", "focus"]
    nodes: list[str] = Field(default_factory=list, max_length=2)
    """Node ids or titles: one node, or for `merge` the node kept then the one merged in."""
    kind: ExampleKind | None = None
    """For `quota`: which kind of example."""
    amount: int = Field(default=2, ge=-50, le=50)
    """For `quota`: how many more (negative: fewer)."""
    probe_kind: ProbeKind | None = None
    """For `focus`: which probe kind the next cycle should serve."""


class InstructionError(ValueError):
    """An instruction that maps to no edit of this map (the message says why and what works)."""


def understand(text: str, dataset_map: DatasetMap, model: Backend | None = None,
               language: str = "en") -> MapEdit:
    """Return the edit an instruction asks for, nodes resolved to ids (InstructionError if none).

    The model is asked in the instruction's `language` (its prompt file in that language).
    """
    edit = parse_rules(text)
    if edit is None and model is not None:
        edit = _ask_model(text, dataset_map, model, language)
    if edit is None:
        raise InstructionError(
            f"cannot turn {text.strip()!r} into a map edit; try: " + "; ".join(EXAMPLES))
    return edit.model_copy(update={"nodes": [resolve_node(dataset_map, n) for n in edit.nodes]})


def parse_rules(text: str) -> MapEdit | None:
    """Return the edit the words ask for in the patterns understood without a model, or None."""
    t = " ".join(text.strip().rstrip(".!").split())
    kinds = "|".join(sorted(KIND_WORDS, key=len, reverse=True))
    m = re.fullmatch(rf"(?i)(?:add |make |generate |write )?(\d+ )?(more|fewer|less) "
                     rf"({kinds})(?:e?s)? (?:on|for|about|of|in) (.+)", t)
    if m:
        n = int(m.group(1) or 2)
        kind = KIND_WORDS[m.group(3).lower()]
        return MapEdit(op="quota", nodes=[m.group(4)], kind=kind,
                       amount=n if m.group(2).lower() == "more" else -n)
    m = re.fullmatch(r"(?i)merge (.+?) (?:and|with|into) (.+)", t)
    if m:
        return MapEdit(op="merge", nodes=[m.group(1), m.group(2)])
    m = re.fullmatch(r"(?i)(?:stop|pause|no more)(?: generating| generation| examples)?"
                     r"(?: (?:for|on|about))? (.+)", t)
    if m:
        return MapEdit(op="stop", nodes=[m.group(1)])
    m = re.fullmatch(r"(?i)(?:resume|restart|continue)(?: generating| generation)?"
                     r"(?: (?:for|on))? (.+)", t)
    if m:
        return MapEdit(op="resume", nodes=[m.group(1)])
    m = re.fullmatch(r"(?i)focus(?: the next cycle| next cycle)? on (absorption|generalization|"
                     r"generalisation|transfer)", t)
    if m:
        word = m.group(1).lower().replace("generalisation", "generalization")
        return MapEdit(op="focus", probe_kind=ProbeKind(word))
    return None


def resolve_node(dataset_map: DatasetMap, name: str) -> str:
    """Return the id of the node a person named (id or title, any case, or a close spelling)."""
    names = {n.id.lower(): n.id for n in dataset_map.nodes}
    names.update({n.title.lower(): n.id for n in dataset_map.nodes})
    key = name.strip().strip("\"'").lower()
    key = re.sub(r"^(?:the )?(?:node )?", "", key)
    if key in names:
        return names[key]
    close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.8)
    if close:
        return names[close[0]]
    hint = difflib.get_close_matches(key, list(names), n=3, cutoff=0.4)
    ids = [names[h] for h in hint] or [n.id for n in dataset_map.nodes]
    raise InstructionError(f"no node called {name.strip()!r}; "
                           + ("did you mean " if hint else "nodes: ") + ", ".join(ids))


def _ask_model(text: str, dataset_map: DatasetMap, model: Backend,
               language: str) -> MapEdit | None:
    nodes = [f"{n.id}: {n.title}" for n in dataset_map.nodes]
    prompt = localized("architect.instruction.md", language)
    request = GenRequest(messages=render_chat(prompt, instruction=text,
                                              nodes=nodes[:200], kinds=[k.value for k in
                                                                        ExampleKind]),
                         max_new_tokens=120, seed=0)
    (edit,) = generate_structured(model, [request], MapEdit, retries=1)
    return edit


def apply_edit(dataset_map: DatasetMap, edit: MapEdit, instruction: str) -> Revision:
    """Apply an edit in place (a new map version, recorded in history) and return the revision."""
    revision = dataset_map.revise(f"a person asked: {instruction.strip()}")
    if edit.op == "quota":
        node, kind = dataset_map.node(edit.nodes[0]), edit.kind or ExampleKind.exercise
        before = node.quota.get(kind, 0)
        node.quota[kind] = max(before + edit.amount, 0)
        revision.quotas[node.id] = {kind: [before, node.quota[kind]]}
        revision.changes.append(f"{node.id}: quota {kind} {before} → {node.quota[kind]}")
    elif edit.op in ("stop", "resume"):
        node = dataset_map.node(edit.nodes[0])
        node.status = NodeStatus.stopped if edit.op == "stop" else NodeStatus.planned
        revision.changes.append(f"{node.id}: generation {edit.op}"
                                + ("ped (quotas kept)" if edit.op == "stop" else "d"))
    elif edit.op == "focus":
        target = edit.probe_kind or ProbeKind.transfer
        for node in dataset_map.nodes:
            if node.status == NodeStatus.stopped or not node.facts:
                continue
            for ex_kind, extra in REMEDY[target].items():
                before = node.quota.get(ex_kind, 0)
                node.quota[ex_kind] = before + extra
                revision.quotas.setdefault(node.id, {})[ex_kind] = [before, before + extra]
        raised = ", ".join(f"{k} +{v}" for k, v in REMEDY[target].items())
        revision.changes.append(f"every node: quota {raised} (what teaches {target})")
    elif edit.op == "merge":
        revision.changes.append(merge_nodes(dataset_map, *edit.nodes))
    return revision


def merge_nodes(dataset_map: DatasetMap, keep_id: str, gone_id: str) -> str:
    """Move a node's facts, sources, probes, quotas and anchors into another; drop it."""
    if keep_id == gone_id:
        raise InstructionError(f"cannot merge {keep_id} with itself")
    keep, gone = dataset_map.node(keep_id), dataset_map.node(gone_id)
    keep.facts += gone.facts
    keep.sources += [s for s in gone.sources if s not in keep.sources]
    keep.probes += [p.model_copy(update={"node_id": keep.id}) for p in gone.probes]
    for kind, q in gone.quota.items():
        keep.quota[kind] = keep.quota.get(kind, 0) + q
    anchors: dict[tuple[str, str], Anchor] = {}
    for a in dataset_map.anchors:
        src = keep.id if a.src == gone.id else a.src
        dst = keep.id if a.dst == gone.id else a.dst
        if src != dst:
            anchors.setdefault((src, dst), a.model_copy(update={"src": src, "dst": dst}))
    dataset_map.anchors = list(anchors.values())
    dataset_map.nodes.remove(gone)
    return (f"{gone.id} merged into {keep.id}: {len(gone.facts)} facts, {len(gone.probes)} "
            f"probes, its quotas and anchors moved")


def map_diff(before: DatasetMap, after: DatasetMap) -> str:
    """Return the unified diff of the two maps' YAML (what a person approves)."""
    a, b = (map_yaml(m.model_copy(update={"history": []})) for m in (before, after))
    return "".join(difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                        "map.yaml", "map.yaml (edited)", n=1))

