"""The Python API: plan a workspace, run the loop durably, resume a run, read its status.

from agentrun.runner import start_run
run, state = start_run("examples/orvane", cycles=1)
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from agentrun.config import AgentrunConfig
from agentrun.errors import AgentrunError
from agentrun.graphs.context import Context
from agentrun.schemas import DatasetMap
from agentrun.workspace import Run, Workspace


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
              overrides: dict[str, Any] | None = None, auto: bool | None = None
              ) -> tuple[Run, dict[str, Any]]:
    """Create a run and drive the graph to its end, a fork or an error (resumable).

    At a fork that waits for a person the run's status is `waiting` (see `pending_fork`).

    `auto=True` never waits: every fork is settled by the steering policy.
    """
    run = prepare_run(workspace, cycles, max_examples, overrides, auto)
    return resume_run(run.root)


def prepare_run(workspace: str | Path, cycles: int | None = None,
                max_examples: int | None = None, overrides: dict[str, Any] | None = None,
                auto: bool | None = None) -> Run:
    """Check the workspace and settings, create a run folder (status `created`), and return it.

    `resume_run` starts it; `agentrun batch` prepares its jobs' runs this way, then starts each
    in a child process.
    """
    context = Context(workspace=str(Path(workspace).resolve()), cycles=cycles,
                      max_examples=max_examples, overrides=overrides or {}, auto=auto)
    ws, _ = preflight(workspace, context)
    run = ws.new_run()
    run.update_meta(workspace=context.workspace, context=asdict(context), status="created",
                    driver="cli")
    return run


def resume_run(ref: str | Path, answer: Any = None, should_stop: Callable[[], bool] | None = None,
               on_step: Callable[[str, dict[str, Any]], None] | None = None,
               who: str = "agentrun resume") -> tuple[Run, dict[str, Any]]:
    """Continue a run from its last checkpoint; `answer` settles the fork it waits at.

    An answer that is not one of the fork's options is refused before anything runs. The run's
    writer lock is held meanwhile (a second writer is refused in one line). `should_stop()` is
    asked after each node: True pauses the run there (status `paused`, resumable); `on_step`
    receives each node's name and update as it finishes.
    """
    run = Run.find(ref)
    meta = run.meta()
    if meta.get("status") in ("done", "stopped"):
        raise AgentrunError(f"{run.root}: this run already finished; start a new one with "
                            "`agentrun run`")
    if meta.get("driver") == "langgraph server":  # its checkpoints live in the server
        from agentrun.studio import resume_on_server

        return run, resume_on_server(meta, answer)
    with run.writer(who):
        return run, _resume(run, answer, should_stop, on_step)


def _resume(run: Run, answer: Any, should_stop: Callable[[], bool] | None,
            on_step: Callable[[str, dict[str, Any]], None] | None) -> dict[str, Any]:
    from langgraph.types import Command

    from agentrun.agents.steering import parse_answer

    meta = run.meta()  # read again under the writer lock
    if meta.get("status") in ("done", "stopped"):
        raise AgentrunError(f"{run.root}: this run already finished; start a new one with "
                            "`agentrun run`")
    snap = _snapshot(run)
    fork = _fork_of(snap)
    if fork is not None and answer is None:
        raise AgentrunError(f"{run.id} waits at fork {fork['fork']['id']}: answer it with "
                            "`agentrun resume RUN --answer LABEL`")
    if fork is None and answer is not None:
        raise AgentrunError(f"{run.id} waits at no fork; resume it without --answer")
    if fork is not None:
        from agentrun.schemas import Fork

        try:
            parse_answer(Fork.model_validate(fork["fork"]), answer)
        except ValueError as exc:
            raise AgentrunError(f"fork {fork['fork']['id']}: {exc}") from None
    context = Context(**meta["context"]) if "context" in meta else Context(  # older runs
        workspace=meta["workspace"], cycles=meta.get("cycles"), auto=meta.get("auto"),
        max_examples=meta.get("max_examples"), overrides=meta.get("overrides", {}))
    graph_input: Any = None if fork is None else Command(resume=answer)
    if not snap.values:  # no checkpoint yet: the graph begins at ingest
        graph_input = {"run_dir": str(run.root)}
    run.update_meta(status="running")
    return _drive(run, context, graph_input, should_stop, on_step)


def pending_fork(run: Run) -> dict[str, Any] | None:
    """Return the fork a run waits at (`{"fork": …, "why": …, "error"?: …}`), or None."""
    return _fork_of(_snapshot(run))


def _snapshot(run: Run) -> Any:
    """Return the run's last checkpointed LangGraph state snapshot."""
    with checkpointed_graph(run) as graph:
        return graph.get_state({"configurable": {"thread_id": run.id}})


def _fork_of(snap: Any) -> dict[str, Any] | None:
    interrupts = getattr(snap, "interrupts", ()) or ()
    return dict(interrupts[0].value) if interrupts else None


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


def _drive(run: Run, context: Context, graph_input: Any,
           should_stop: Callable[[], bool] | None = None,
           on_step: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    config = {"configurable": {"thread_id": run.id}, "recursion_limit": 200}
    with checkpointed_graph(run) as graph:
        try:
            for update in graph.stream(graph_input, config, context=context, durability="sync",
                                       stream_mode="updates"):
                for node, values in update.items():
                    if on_step is not None and not node.startswith("__"):
                        on_step(node, dict(values or {}))
                if should_stop is not None and should_stop():
                    break  # the checkpoint of the last finished node is kept
            snap = graph.get_state(config)
        except BaseException as exc:
            run.update_meta(status="failed", error=f"{type(exc).__name__}: {exc}"[:500])
            raise
    state = dict(snap.values)
    fork = _fork_of(snap)
    if fork is not None:
        run.update_meta(status="waiting", error=None, fork=fork["fork"]["id"])
        state["pending_fork"] = fork
        return state
    if snap.next:  # stopped between nodes on request
        run.update_meta(status="paused", error=None, fork=None)
        state["paused_before"] = list(snap.next)
        return state
    status = "stopped" if str(state.get("status", "")).startswith("stopped") else "done"
    run.update_meta(status=status, error=None, fork=None)
    return state


def run_state(run: Run) -> dict[str, Any]:
    """Return the run's last checkpointed state values and the node that runs next."""
    snap = _snapshot(run)
    return {"values": dict(snap.values), "next": list(snap.next)}

