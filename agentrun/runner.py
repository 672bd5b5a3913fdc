"""The Python API: plan a workspace, run the loop durably, resume a run, read its status.

from agentrun.runner import start_run
run, state = start_run("examples/orvane", cycles=1)
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agentrun.config import AgentrunConfig
from agentrun.errors import AgentrunError
from agentrun.graphs.context import Context
from agentrun.schemas import DatasetMap
from agentrun.workspace import Run, Workspace, atomic_write_text


def preflight(workspace: str | Path, context: Context) -> tuple[Workspace, AgentrunConfig]:
    """Check everything a user can get wrong before any run folder is created."""
    from agentrun.services import settings, student_dir
    from agentrun.sources import read_sources

    ws = Workspace.open(workspace)
    cfg = settings(str(ws.root), context.settings_overrides())
    read_sources(ws.sources_dir)  # a folder without one readable note fails here, clearly
    student_dir(cfg)
    return ws, cfg


def plan(workspace: str | Path, use_model: bool = True,
         overrides: dict[str, Any] | None = None) -> DatasetMap:
    """Plan (or reuse) the workspace's map and return it."""
    from agentrun.agents.architect import plan_workspace
    from agentrun.services import settings

    ws = Workspace.open(workspace)
    return plan_workspace(ws, settings(str(ws.root), overrides or {}), use_model)


def start_run(workspace: str | Path, cycles: int | None = None, max_examples: int | None = None,
              overrides: dict[str, Any] | None = None) -> tuple[Run, dict[str, Any]]:
    """Create a run and drive the graph to its end (or to an error, leaving it resumable)."""
    context = Context(workspace=str(Path(workspace).resolve()), cycles=cycles,
                      max_examples=max_examples, overrides=overrides or {})
    ws, _ = preflight(workspace, context)
    run = ws.new_run()
    _write_meta(run, {"workspace": context.workspace, "cycles": cycles,
                      "max_examples": max_examples, "overrides": overrides or {},
                      "status": "running"})
    return run, _drive(run, context, {"run_dir": str(run.root)})


def resume_run(ref: str | Path) -> tuple[Run, dict[str, Any]]:
    """Continue an interrupted run from its last checkpoint."""
    run = Run.find(ref)
    meta = read_meta(run)
    if meta.get("status") == "done":
        raise AgentrunError(f"{run.root}: this run already finished; start a new one with "
                            "`agentrun run`")
    context = Context(workspace=meta["workspace"], cycles=meta.get("cycles"),
                      max_examples=meta.get("max_examples"), overrides=meta.get("overrides", {}))
    _write_meta(run, {**meta, "status": "running"})
    return run, _drive(run, context, None)


@contextmanager
def checkpointed_graph(run: Run) -> Iterator[Any]:
    """Yield the orchestrator compiled with the run's SQLite checkpointer."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    from agentrun.graphs.orchestrator import compile_graph

    conn = sqlite3.connect(run.checkpoints, check_same_thread=False)
    try:
        yield compile_graph(SqliteSaver(conn))
    finally:
        conn.close()


def _drive(run: Run, context: Context, graph_input: dict[str, Any] | None) -> dict[str, Any]:
    config = {"configurable": {"thread_id": run.id}, "recursion_limit": 200}
    with checkpointed_graph(run) as graph:
        try:
            state = graph.invoke(graph_input, config, context=context, durability="sync")
        except BaseException as exc:
            _write_meta(run, {**read_meta(run), "status": "failed",
                              "error": f"{type(exc).__name__}: {exc}"[:500]})
            raise
    _write_meta(run, {**read_meta(run), "status": "done", "error": None})
    return dict(state)


def run_state(run: Run) -> dict[str, Any]:
    """Return the run's last checkpointed state values and the node that runs next."""
    with checkpointed_graph(run) as graph:
        snap = graph.get_state({"configurable": {"thread_id": run.id}})
    return {"values": dict(snap.values), "next": list(snap.next)}


def read_meta(run: Run) -> dict[str, Any]:
    """Return the run's `run.json` (workspace, overrides, status)."""
    path = run.root / "run.json"
    return json.loads(path.read_text()) if path.exists() else {}


def _write_meta(run: Run, meta: dict[str, Any]) -> None:
    atomic_write_text(run.root / "run.json", json.dumps(meta, indent=2))
