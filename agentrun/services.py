"""Process-wide resources that graph nodes share: config, backends, memory, embedder.

Resolved lazily from the run's Context and kept for the process, so a model or a Chroma
client is loaded once however many nodes use it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from agentrun.config import AgentrunConfig, load_config
from agentrun.memory.cache import CachedBackend, ResponseCache
from agentrun.memory.embeddings import Embedder, load_embedder
from agentrun.memory.store import Memory
from agentrun.models import Backend, load_model
from agentrun.workspace import Workspace


def settings(workspace: str, overrides: dict[str, Any]) -> AgentrunConfig:
    """Return the resolved configuration of a workspace (cached per process)."""
    return _settings(str(Path(workspace).resolve()), json.dumps(overrides, sort_keys=True))


@lru_cache(maxsize=8)
def _settings(workspace: str, overrides: str) -> AgentrunConfig:
    return load_config(Path(workspace), json.loads(overrides))


def backend(cfg: AgentrunConfig, ws: Workspace, role: str) -> Backend:
    """Return a role's backend behind the workspace's response cache."""
    spec = getattr(cfg.roles, role)
    return CachedBackend(load_model(spec, role), _cache(str(ws.memory_dir)))


@lru_cache(maxsize=4)
def _cache(folder: str) -> ResponseCache:
    return ResponseCache(Path(folder) / "llm_cache.sqlite")


@lru_cache(maxsize=4)
def memory(folder: str) -> Memory:
    """Return the workspace's Chroma memory (one client per folder and process)."""
    return Memory(Path(folder) / "chroma")


def embedder(cfg: AgentrunConfig) -> Embedder:
    """Return the configured embedder."""
    return load_embedder(cfg.embedder.model, cfg.embedder.batch_size)


def student_dir(cfg: AgentrunConfig) -> Path:
    """Return the student's local model folder (the student trains in process)."""
    from agentrun.models.embedded import resolve_local_model

    return resolve_local_model(cfg.roles.student.model, "roles.student.model")


def run_of(state: dict[str, Any]) -> Any:
    """Return the Run of a graph state."""
    from agentrun.workspace import Run

    return Run(Path(state["run_dir"]))


def resolve(context: Any, state: dict[str, Any]) -> tuple[AgentrunConfig, Workspace, Any]:
    """Return (config, workspace, run) for a node from its runtime context and state.

    A run keeps the context it started with (recorded in its `run.json`): a server resumes a
    fork with a new invocation whose context may be left out, and must not change settings.
    """
    from agentrun.graphs.context import Context

    run = run_of(state)
    started = run.meta().get("context")
    if started:
        context = Context(**started)
    ws = Workspace(Path(context.workspace).resolve())
    cfg = settings(str(ws.root), context.settings_overrides())
    return cfg, ws, run
