"""What a node works with, as one typed object (`Deps`).

The run's settings and folders, and the models, memory and embedder they name. Built per node
from the run's frozen settings (its `settings.json`, kept by ingest); the expensive parts
are loaded once per process by their own factories (a model per model, a memory per folder), so
building `Deps` costs nothing. Tests swap it with `override`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

from langgraph.config import get_config

from agentrun.config import AgentrunConfig, frozen_config
from agentrun.errors import AgentrunError, ConfigError
from agentrun.graphs.checkpoints import SQLITE, threads_of
from agentrun.graphs.context import Context
from agentrun.memory.cache import CachedBackend, open_cache
from agentrun.memory.embeddings import Embedder, load_embedder
from agentrun.memory.store import Memory, open_memory
from agentrun.models import RoleModel, load_model
from agentrun.models.embedded import resolve_local_model
from agentrun.redact import MASK, redact, redact_data
from agentrun.workspace import Run, Workspace

Role = Literal["architect", "contractor", "checker"]


@dataclass
class Deps:
    """Settings and a workspace, and the resources the settings name.

    Alone, for work outside a run (planning, `agentrun train`, a chat's instructions); a
    node gets `RunDeps`, the same with its run.
    """

    settings: AgentrunConfig
    workspace: Workspace

    def model(self, role: Role) -> RoleModel:
        """Return a role's model behind the workspace's response cache, with its sampling."""
        spec = getattr(self.settings.roles, role)
        shared = None if self.settings.checkpointer == SQLITE else self.settings.checkpointer
        cached = CachedBackend(load_model(spec, role),
                               open_cache(self.workspace.memory_dir, shared))
        return RoleModel.of(cached, spec)

    @cached_property
    def memory(self) -> Memory:
        """The workspace's long-term memory (one per folder and process)."""
        where = self.settings.memory
        return open_memory(self.workspace.memory_dir, where.server, where.collection)

    @cached_property
    def embedder(self) -> Embedder:
        """The configured embedder."""
        return load_embedder(self.settings.embedder.model, self.settings.embedder.batch_size)

    @cached_property
    def student_dir(self) -> Path:
        """The student's local model folder (the student trains in process)."""
        return resolve_local_model(self.settings.roles.student.model, "roles.student.model")


@dataclass
class RunDeps(Deps):
    """What a graph node works with: a run's frozen settings, its folders and resources."""

    run: Run = field(kw_only=True)


_override: ContextVar[RunDeps | None] = ContextVar("agentrun_deps_override", default=None)


@contextmanager
def override(deps: RunDeps) -> Iterator[RunDeps]:
    """Give every node `deps` instead of building them (tests: fakes for models and memory)."""
    token = _override.set(deps)
    try:
        yield deps
    finally:
        _override.reset(token)


def deps_for(state: Mapping[str, Any], context: Context | None = None) -> RunDeps:
    """Return a node's dependencies from the run's state (its frozen settings and folder)."""
    swapped = _override.get()
    if swapped is not None:
        return swapped
    run = run_of(state, context)
    return RunDeps(settings_of(state, context), run.workspace, run=run)


def run_of(state: Mapping[str, Any], context: Context | None = None) -> Run:
    """Return the run's folder: `runs/<name>` of the context's workspace, never elsewhere.

    The state's `run_dir` names the run; the folder is always the one of that name in the
    workspace the node works on, so a caller that writes the state cannot point a run at
    another workspace, and a run checkpointed in a shared database, resumed from another copy
    of the workspace (another machine, another path), works on that copy's run folder.
    """
    started = Path(state["run_dir"])
    if context is None:
        return Run(started)
    ws = Workspace(Path(context.workspace).resolve())
    run = ws.run_at(ws.runs_dir / started.name)
    if not run.root.is_dir():
        raise AgentrunError(f"run_dir {started}: no run {started.name!r} in {ws.runs_dir}")
    return owned(run)


def owned(run: Run) -> Run:
    """Return `run` if the thread running this node may drive it; else a one-line error.

    A caller can write `run_dir` into a thread's state: naming another run of the workspace
    would have this thread write that run's files past its writer lock.
    """
    try:
        thread = get_config().get("configurable", {}).get("thread_id")
    except RuntimeError:  # outside a graph step (the CLI reading a run): nothing to check
        return run
    if thread is None or str(thread) in threads_of(run):
        return run
    raise AgentrunError(f"run {run.id} is driven by another thread than {thread}; a thread "
                        "works on its own run only")


def settings_of(state: Mapping[str, Any], context: Context | None = None) -> AgentrunConfig:
    """Return the run's frozen settings (`settings.json` in its folder, kept by ingest).

    Never the graph state's: a server's caller can write the state. Runs started before
    settings were kept in the folder resolve them from the context the run started with
    (`run.json`), or else from the node's own context.
    """
    swapped = _override.get()
    if swapped is not None:
        return swapped.settings
    run = run_of(state, context)
    frozen = run.frozen_settings()
    if frozen is not None:
        if MASK in frozen:  # credentials are not kept with the run: take them again
            frozen = _with_secrets(frozen, run, context)
        return _thaw(frozen)
    context = _started(run) or context
    assert context is not None, "a node without frozen settings needs the run's context"
    return context.resolve()


_RESTORED: dict[tuple[str, str], str] = {}
"""Frozen settings with their credentials taken again, per run (once per process)."""


def _with_secrets(frozen: str, run: Run, context: Context | None) -> str:
    """Return a run's frozen settings (JSON) with their masked credentials restored."""
    key = (frozen, str(run.root))
    if key not in _RESTORED:
        live = (context or _started(run) or Context(workspace=str(run.workspace.root))).resolve()
        restored = restore_secrets(json.loads(frozen), live.model_dump(mode="json"))
        _RESTORED[key] = json.dumps(restored, sort_keys=True)
    return _RESTORED[key]


def restore_secrets(frozen: Any, live: Any, path: str = "") -> Any:
    """Return `frozen` with each masked string taken from `live`, where `live` masks to it.

    Frozen settings keep URLs without their credentials; a resumed run takes them from the
    settings it resolves now (agentrun.yaml, the environment). A URL that changed, or that
    has no credentials to give, is a one-line error naming the setting.
    """
    if isinstance(frozen, dict):
        return {k: restore_secrets(v, (live or {}).get(k) if isinstance(live, dict) else None,
                                   f"{path}.{k}" if path else k) for k, v in frozen.items()}
    if isinstance(frozen, list):
        return [restore_secrets(v, live[i] if isinstance(live, list) and i < len(live) else None,
                                f"{path}[{i}]") for i, v in enumerate(frozen)]
    if isinstance(frozen, str) and MASK in frozen:
        if not isinstance(live, str) or MASK in live or redact(live) != frozen:
            raise ConfigError(f"{path}: the run was started with credentials in this URL, and a "
                              "run keeps none; give the same URL in agentrun.yaml or the "
                              "environment (AGENTRUN_…), not as a flag, to resume it")
        return live
    return frozen


def _started(run: Run) -> Context | None:
    """Return the context a run recorded when it started (`run.json`), if it did."""
    started = run.meta().context
    return Context(**started) if started else None


@lru_cache(maxsize=16)
def _thaw(frozen: str) -> AgentrunConfig:
    """Rebuild frozen settings (once per distinct settings: every node asks for them)."""
    return frozen_config(json.loads(frozen))


def freeze(context: Context) -> dict[str, Any]:
    """Resolve a context's settings into the JSON a run keeps (`settings.json`, no credentials)."""
    return redact_data(context.resolve().model_dump(mode="json"))
