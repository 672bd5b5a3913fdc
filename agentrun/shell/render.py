"""What the shell shows a person, for the CLI and the chat alike.

The map as a tree, forks, a run's status and summary, the rejections and the evaluation tables,
each printed to the console it is given.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from agentrun.schemas import DatasetMap, EvalReport, Example, RunMeta
from agentrun.workspace import Run, load_map

CONTROL = re.compile(r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"  # a terminal command (colour, clear)
                     r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # a title, a link
                     r"|\x1b[@-_]?|[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # any other C0/C1 control
"""Escape sequences and C0/C1 control characters (tab and newline apart)."""


def clean(value: object, lines: bool = False) -> str:
    """Return a value as text a terminal shows as is: no escape sequence, no control character.

    A note's file name or title, a model's words, a received run's record may carry codes
    that recolour, retitle or clear the terminal: every string the CLI prints passes here
    (`SafeConsole`). Newlines are kept where `lines`, else they become spaces.
    """
    text = CONTROL.sub("", str(value))
    return text if lines else text.replace("\n", " ")


def esc(value: object) -> str:
    """Return a value as one line that rich prints as is (`Lamp [/] oil` is no tag)."""
    return escape(clean(value))


class SafeConsole(Console):
    """A rich console that cleans every string it prints (`clean`), markup or not."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        """Render a string as rich does, once its control characters are gone."""
        return super().render_str(clean(text, lines=True), **kwargs)


class CleanLogs(logging.Filter):
    """A logging filter that cleans each record's message (`clean`) before a handler prints it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the record's message once, cleaned; always keep the record."""
        message = record.getMessage()
        shown = clean(message, lines=True)
        if shown != message:
            record.msg, record.args = shown, None
        return True


TREE_NODES = 60
"""Nodes a terminal shows of a map; a larger map's rest is in map.yaml (and `--show`)."""


def map_tree(dataset_map: DatasetMap, limit: int = TREE_NODES) -> Tree:
    """Render the map as a tree: nodes with level, facts, probes and anchors.

    A map of more than `limit` nodes shows its first `limit` and says how many more there are.
    """
    tree = Tree(f"[bold]dataset map[/] v{dataset_map.version}: {len(dataset_map.nodes)} nodes, "
                f"{len(dataset_map.anchors)} anchors, {len(dataset_map.probes())} probes")
    for node in dataset_map.nodes[:limit]:
        branch = tree.add(f"[bold]{esc(node.title)}[/] ({esc(node.id)}) [cyan]{node.level}[/] "
                          f"{len(node.facts)} facts, {len(node.probes)} probes")
        for a in dataset_map.neighbours(node.id):
            branch.add(f"→ {esc(a.dst)} [dim]{a.relation}[/]")
    if len(dataset_map.nodes) > limit:
        tree.add(f"[dim]… {len(dataset_map.nodes) - limit:,} more nodes (all in map.yaml)[/]")
    return tree


def show_fork(out: Console, pending: dict[str, Any]) -> None:
    """Print a fork: the question, why it is asked, and its options."""
    fork = pending["fork"]
    out.print(f"\n[bold]fork[/] {esc(fork['id'])} — {esc(pending.get('why', ''))}",
              highlight=False)
    if pending.get("error"):
        out.print(f"[red]{esc(pending['error'])}[/]")
    out.print(fork["question"], markup=False, highlight=False)
    for option in fork["options"]:
        score = f" (score {option['score']:.3f})" if option.get("score") is not None else ""
        out.print(f"  [bold]{esc(option['label'])}[/]{score}: ", end="")
        out.print(option["text"], markup=False, highlight=False)
    if fork["kind"] == "examples":
        out.print("  [bold]none[/]: reject every option")


def status_line(run: Run, meta: RunMeta, snap: dict[str, Any] | None = None) -> str:
    """Return a run's status in one line: status, the fork or next node, and its counts."""
    line = f"run {esc(run.id)}: [bold]{meta.status}[/]"
    if meta.driver == "langgraph server":
        return (line + (f" at fork {meta.fork}" if meta.fork else "")
                + f"; it runs on the LangGraph server {esc(meta.server or '')} "
                "(`agentrun studio`)")
    if snap is None:
        return line
    values = snap["values"]
    return (line + (f", next: {esc(', '.join(snap['next']))}" if snap["next"] else "")
            + f"; cycle {values.get('iteration', '-')}, round {values.get('round', '-')}, "
            f"{values.get('accepted', 0)} accepted, {values.get('rejected', 0)} rejected")


def rejections(out: Console, rejected: list[Example]) -> None:
    """Print rejected examples grouped by their first reason."""
    groups: dict[str, list[Example]] = {}
    for ex in rejected:
        code = ex.verdict.reasons[0].code.value if ex.verdict and ex.verdict.reasons else "?"
        groups.setdefault(code, []).append(ex)
    for code, rows in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        out.print(f"\n[bold]{code}[/] ({len(rows)})")
        for ex in rows:
            assert ex.verdict is not None
            reason = ex.verdict.reasons[0]
            clash = f" ↔ {reason.other}" if reason.other else ""
            out.print(f"  {ex.id} {ex.node_id}/{ex.kind}: {reason.detail}{clash}",
                      markup=False, highlight=False)


def eval_tables(out: Console, report: EvalReport, titles: dict[str, str]) -> None:
    """Print probe scores before → after, per kind and per node, and the forgetting guard."""
    for key, label in (("kind", "kind"), ("node_id", "node")):
        t = Table(title=f"probes per {label}, before → after", show_edge=False)
        rows = report.summary(key)
        strict = all("strict_after" in s for s in rows.values())
        for col in (label, "n", "accuracy", "Δ acc", *(["word for word"] if strict else []),
                    "mean log-prob", "Δ log-prob"):
            t.add_column(col, justify="left" if col == label else "right")
        gain = {k: s["logprob_after"] - s["logprob_before"] for k, s in rows.items()}
        for name in (sorted(rows, key=gain.__getitem__) if key == "node_id" else rows):
            s = rows[name]
            t.add_row(esc(titles.get(name, name)[:36]), str(int(s["n"])),
                      f"{s['acc_before']:.2f} → {s['acc_after']:.2f}",
                      f"{s['acc_after'] - s['acc_before']:+.2f}",
                      *([f"{s['strict_before']:.2f} → {s['strict_after']:.2f}"] if strict else []),
                      f"{s['logprob_before']:.2f} → {s['logprob_after']:.2f}", f"{gain[name]:+.2f}")
        out.print(t)
    if report.guard:
        f = report.forgetting()
        kept = f", {f['still_answered'] / f['answered_before']:.0%} kept" \
            if f["answered_before"] else ""
        out.print(f"general questions: {f['still_answered']} of the {f['answered_before']} "
                  f"answered before training still answered{kept} "
                  f"({f['answered_after']}/{f['questions']} after)")


def summary(out: Console, run: Run, state: dict[str, Any], header: bool = True) -> None:
    """Print a run's counts, training loss and evaluation tables."""
    if header and not state.get("pending_fork"):
        out.print(f"\n[bold]run {esc(run.id)}[/] {esc(state.get('status') or 'finished')}: "
                  f"{esc(str(run.root))}")
    table = Table(title="examples", show_edge=False)
    table.add_column("accepted", justify="right")
    table.add_column("rejected", justify="right")
    table.add_column("by reason")
    reasons = state.get("rejected_by_reason") or {}
    table.add_row(str(state.get("accepted", 0)), str(state.get("rejected", 0)),
                  ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "-")
    out.print(table)
    if state.get("train_loss") is not None:
        out.print(f"training loss: {state['train_loss']:.3f}")
    if state.get("report") and run.inside(state["report"]).exists():
        report = EvalReport.model_validate_json(run.inside(state["report"]).read_text())
        eval_tables(out, report, load_map(run.map_path).titles())
        out.print(f"report: {esc(state['report'])} (chart: "
                  f"{esc(Path(state['report']).with_suffix('.png').name)})")
