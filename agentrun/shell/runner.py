"""The Python API: plan a workspace, run the loop durably, resume a run, read its status.

from agentrun.shell.runner import start_run
run, state = start_run("examples/orvane", cycles=1)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from langgraph.types import Command

from agentrun.agents.planning import plan_workspace
from agentrun.agents.steering import check_answer
from agentrun.config import AgentrunConfig
from agentrun.errors import AgentrunError, os_error_line, sqlite_file
from agentrun.graphs.checkpoints import (
    SQLITE,
    check_checkpointer,
    checkpointer_of,
    open_checkpointer,
)
from agentrun.graphs.context import Context
from agentrun.graphs.deps import Deps, settings_of
from agentrun.graphs.orchestrator import compile_graph
from agentrun.schemas import DatasetMap, RunMeta, RunStatus
from agentrun.shell.studio import resume_on_server
from agentrun.sources import read_sources
from agentrun.workspace import Run, Workspace

log = logging.getLogger(__name__)


def preflight(workspace: str | Path, context: Context) -> tuple[Workspace, AgentrunConfig]:
    """Check everything a user can get wrong before any run folder is created."""
    ws = Workspace.open(workspace)
    cfg = context.resolve()
    if cfg.memory.server is None:  # a local memory another run writes: one line naming it
        with ws.memory_writer("agentrun, starting a run"):
            pass
    read_sources(ws.sources_dir, cfg.planning.max_note_mb)  # no readable note: fails here
    _ = Deps(cfg, ws).student_dir  # a missing student model fails here, in one line
    check_checkpointer(cfg.checkpointer)  # so does a database that cannot be reached
    if cfg.memory.server is not None:  # and a memory server that does not answer
        _ = Deps(cfg, ws).memory
    for role in ("architect", "contractor", "checker"):  # and a Ray cluster that does not
        spec = getattr(cfg.roles, role)
        if spec.backend == "ray":
            from agentrun.models.ray_backend import check_cluster

            check_cluster(spec.ray_address, f"roles.{role}")
    return ws, cfg


def plan(workspace: str | Path, use_model: bool = True,
         overrides: dict[str, Any] | None = None) -> DatasetMap:
    """Plan (or reuse) the workspace's map and return it."""
    ws = Workspace.open(workspace)
    cfg = Context(workspace=str(ws.root), overrides=overrides or {}).resolve()
    model = Deps(cfg, ws).model("architect") if use_model and cfg.generation.model_generators \
        else None
    return plan_workspace(ws, cfg, model)


def start_run(workspace: str | Path, cycles: int | None = None, max_examples: int | None = None,
              overrides: dict[str, Any] | None = None, auto: bool | None = None,
              on_step: Callable[[str, dict[str, Any]], None] | None = None,
              ) -> tuple[Run, dict[str, Any]]:
    """Create a run and drive the graph to its end, a fork or an error (resumable).

    At a fork that waits for a person the run's status is `waiting` (see `pending_fork`).

    `auto=True` never waits: every fork is settled by the steering policy. `on_step`
    receives each node's name and update as it finishes.
    """
    run = prepare_run(workspace, cycles, max_examples, overrides, auto)
    return resume_run(run.root, on_step=on_step, who="agentrun run")


def prepare_run(workspace: str | Path, cycles: int | None = None,
                max_examples: int | None = None, overrides: dict[str, Any] | None = None,
                auto: bool | None = None) -> Run:
    """Check the workspace and settings, create a run folder (status `created`), and return it.

    `resume_run` starts it; `agentrun batch` prepares its jobs' runs this way, then starts each
    in a child process.
    """
    context = Context(workspace=str(Path(workspace).resolve()), cycles=cycles,
                      max_examples=max_examples, overrides=overrides or {}, auto=auto)
    ws, cfg = preflight(workspace, context)
    run = ws.new_run()
    run.update_meta(workspace=context.workspace, context=context.record(ws.root),
                    status=RunStatus.created, driver="cli", checkpointer=cfg.checkpointer)
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
    meta = _unfinished(run)
    if meta.driver == "langgraph server":  # its checkpoints live in the server
        return run, resume_on_server(run, answer)
    with run.writer(who), _memory_writer(run, meta, who):
        return run, _resume(run, answer, should_stop, on_step)


@contextmanager
def _memory_writer(run: Run, meta: RunMeta, who: str) -> Iterator[None]:
    """Hold the workspace memory's writer lock while the run writes a local memory.

    Runs of one workspace share its memory; a local one takes one writer at a time (a second
    run is refused in one line naming the first), a Chroma server (`memory.server`) several.
    """
    if settings_of({"run_dir": str(run.root)}, _context_of(run, meta)).memory.server is not None:
        yield
        return
    with run.workspace.memory_writer(f"{who}, run {run.id}"):
        yield


def _unfinished(run: Run) -> RunMeta:
    """Return a run's record; a finished run is refused in one line."""
    meta = run.meta()
    if meta.finished:
        raise AgentrunError(f"{run.root}: this run already finished; start a new one with "
                            "`agentrun run`")
    return meta


def _resume(run: Run, answer: Any, should_stop: Callable[[], bool] | None,
            on_step: Callable[[str, dict[str, Any]], None] | None) -> dict[str, Any]:
    meta = _unfinished(run)  # read again under the writer lock
    snap = _snapshot(run)
    fork = _fork_of(snap)
    check_answer(fork, answer, run.id)
    context = _context_of(run, meta)
    graph_input: Any = None if fork is None else Command(resume=answer)
    if not snap.values:  # no checkpoint yet: the graph begins at ingest
        graph_input = {"run_dir": str(run.root)}
    run.update_meta(status=RunStatus.running)
    return _drive(run, context, graph_input, should_stop, on_step)


def _context_of(run: Run, meta: RunMeta) -> Context:
    """Return the context a run started with, in the workspace copy its folder is in."""
    extra = meta.model_extra or {}
    started = meta.context or {  # older runs
        "cycles": extra.get("cycles"), "auto": extra.get("auto"),
        "max_examples": extra.get("max_examples"), "overrides": extra.get("overrides", {})}
    # the workspace is the copy this run folder is in (another machine's copy may resume it)
    return Context(**{**started, "workspace": str(run.workspace.root)})


def pending_fork(run: Run) -> dict[str, Any] | None:
    """Return the fork a run waits at (`{"fork": …, "why": …, "error"?: …}`), or None."""
    return _fork_of(_snapshot(run))


def _snapshot(run: Run) -> Any:
    """Return the run's last checkpointed LangGraph state snapshot (empty before the first).

    Reading a run never creates its checkpoint file.
    """
    if run.meta().checkpointer == SQLITE and not run.checkpoints.exists():
        return SimpleNamespace(values={}, next=(), interrupts=())
    with checkpointed_graph(run) as graph:
        return graph.get_state({"configurable": {"thread_id": run.id}})


def _fork_of(snap: Any) -> dict[str, Any] | None:
    interrupts = getattr(snap, "interrupts", ()) or ()
    return dict(interrupts[0].value) if interrupts else None


@contextmanager
def checkpointed_graph(run: Run) -> Iterator[Any]:
    """Yield the orchestrator compiled with the run's checkpointer (graphs/checkpoints.py).

    A damaged SQLite file of checkpoints is one line naming it.
    """
    where = checkpointer_of(run)
    if where == SQLITE and run.checkpoints.exists():
        _check_sqlite(run.checkpoints)
    with open_checkpointer(where, run) as saver:
        yield compile_graph(saver)


def _check_sqlite(path: Path) -> None:
    """Read the checkpoint file's schema: a file that is no database fails here, named."""
    import sqlite3

    with sqlite_file(path, "the run's checkpoint database", "move it aside and start a new "
                     "run with `agentrun run` (or restore it from a backup)"):
        conn = sqlite3.connect(path)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            conn.close()


def _drive(run: Run, context: Context, graph_input: Any,
           should_stop: Callable[[], bool] | None = None,
           on_step: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    with _recording_failure(run):
        snap = _stream(run, context, graph_input, should_stop, on_step)
    state = dict(snap.values)
    fork = _fork_of(snap)
    if fork is not None:
        run.update_meta(status=RunStatus.waiting, error=None, fork=fork["fork"]["id"])
        state["pending_fork"] = fork
        return state
    if snap.next:  # stopped between nodes on request
        run.update_meta(status=RunStatus.paused, error=None, fork=None)
        state["paused_before"] = list(snap.next)
        return state
    stopped = str(state.get("status", "")).startswith("stopped")
    status = RunStatus.stopped if stopped else RunStatus.done
    run.update_meta(status=status, error=None, fork=None)
    return state


def _stream(run: Run, context: Context, graph_input: Any,
            should_stop: Callable[[], bool] | None,
            on_step: Callable[[str, dict[str, Any]], None] | None) -> Any:
    """Run the graph until it ends, waits at a fork or is asked to stop; return its snapshot."""
    config = {"configurable": {"thread_id": run.id}, "recursion_limit": 200}
    with checkpointed_graph(run) as graph:
        for update in graph.stream(graph_input, config, context=context, durability="sync",
                                   stream_mode="updates"):
            for node, values in update.items():
                if on_step is not None and not node.startswith("__"):
                    on_step(node, dict(values or {}))
            if should_stop is not None and should_stop():
                break  # the checkpoint of the last finished node is kept
        return graph.get_state(config)


@contextmanager
def _recording_failure(run: Run) -> Iterator[None]:
    """Record in `run.json` why the run stopped (Ctrl-C: `interrupted`; an error: `failed`).

    The exception goes on up unchanged. Where `run.json` cannot be written either (a full
    disk), it is left as it was: no process drives the run, so it shows as `interrupted`.
    """
    try:
        yield
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        try:
            run.update_meta(status=RunStatus.interrupted if interrupted else RunStatus.failed,
                            error=None if interrupted else failure_line(exc))
        except OSError as again:
            log.warning("%s", os_error_line(again))
        raise


def failure_line(exc: BaseException) -> str:
    """Return the line `run.json` keeps of the error a run failed on."""
    line = os_error_line(exc) if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
    return line[:500]


def run_state(run: Run) -> dict[str, Any]:
    """Return the run's last checkpointed state values and the node that runs next."""
    snap = _snapshot(run)
    return {"values": dict(snap.values), "next": list(snap.next)}

