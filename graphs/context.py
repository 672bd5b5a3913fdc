"""The run's context: what a person (or Studio's form) chooses before a run starts.

The one place that reads the environment: the default workspace and the server a run is
served from come from it here, and the settings (defaults < agentrun.yaml < `AGENTRUN_…`
< these fields) are resolved from it once, when a run starts (`Context.resolve`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agentrun.config import AgentrunConfig, load_config
from agentrun.redact import redact_data

WORKSPACE_ENV = "AGENTRUN_WORKSPACE"
"""Set by `agentrun studio DIR`: the workspace a run works on when the form leaves it out."""
SERVER_ENV = "AGENTRUN_SERVER_URL"
"""Set by `agentrun studio`: the address of the LangGraph server that drives its runs."""
THREADS_ENV = "AGENTRUN_STUDIO_THREADS"
"""Set by `agentrun studio`: the SQLite file of the threads Studio starts itself."""


CALLER_SETTINGS = frozenset({"budgets", "steering", "generation", "planning", "checker",
                             "evaluation"})
"""Settings a server's caller may override: none of them names a backend, URL, key or path."""


def _default_workspace() -> str:
    return os.environ.get(WORKSPACE_ENV, "examples/orvane")


def served_workspace() -> str | None:
    """Return the workspace `agentrun studio` serves in this process, or None."""
    return os.environ.get(WORKSPACE_ENV) or None


def server_threads_file() -> str | None:
    """Return the server's own checkpoint file (threads Studio started), or None."""
    return os.environ.get(THREADS_ENV) or None


def named_server() -> str | None:
    """Return the LangGraph server the environment names (`AGENTRUN_SERVER_URL`), or None."""
    return os.environ.get(SERVER_ENV) or None


@dataclass(kw_only=True)
class Context:
    """Which workspace to work on and which settings to override for this run."""

    workspace: str = field(
        default_factory=_default_workspace,
        metadata={"description": "Path of the workspace (agentrun.yaml, sources/, map.yaml); "
                                 "`agentrun studio DIR` makes DIR the default."},
    )
    cycles: int | None = field(
        default=None,
        metadata={"description": "Full cycles generate → train → evaluate → revise (overrides "
                                 "budgets.cycles); 0: build and check the corpus only."},
    )
    max_examples: int | None = field(
        default=None,
        metadata={"description": "Accepted examples per run, at most (overrides "
                                 "budgets.max_examples)."},
    )
    auto: bool | None = field(
        default=None,
        metadata={"description": "Never wait for a person: settle every fork by the steering "
                                 "policy and log why (overrides steering.mode)."},
    )
    overrides: dict[str, Any] = field(
        default_factory=dict,
        metadata={"description": "Any other settings, nested like agentrun.yaml (highest "
                                 "precedence)."},
    )

    server: str | None = field(
        default=None,
        metadata={"description": "The LangGraph server that drives the run (set by "
                                 "`agentrun studio`)."},
    )

    def __post_init__(self) -> None:
        served = os.environ.get(SERVER_ENV)
        if served:  # in a LangGraph server's process: its callers are not trusted with more
            self._confine(served)
        elif self.server is None:
            self.server = served

    def _confine(self, served: str) -> None:
        """Refuse a server caller's context that reaches past budgets and steering.

        A caller of the server (Studio, the SDK, any local process) may pick a workspace inside
        the served one and the settings of `CALLER_SETTINGS`; never a backend, a URL, a key
        variable, a path or a training reporter, which would let it send the person's
        notes or keys elsewhere. The server address is the server's own.
        """
        self.server = served
        root = Path(os.environ.get(WORKSPACE_ENV) or ".").resolve()
        if not Path(self.workspace).resolve().is_relative_to(root):
            raise ValueError(f"context.workspace {self.workspace!r}: outside the served "
                             f"workspace {root}")
        refused = sorted(set(self.overrides) - CALLER_SETTINGS)
        if refused:
            raise ValueError(f"context.overrides: {', '.join(refused)} cannot be set through the "
                             f"server (only {', '.join(sorted(CALLER_SETTINGS))}); set them in "
                             "the workspace's agentrun.yaml")

    def record(self, workspace: Path) -> dict[str, Any]:
        """Return the context as a run records it (`run.json`): with the resolved workspace.

        Credentials in an overridden URL are masked: a run keeps no secret, so a resumed run
        takes them from agentrun.yaml or the environment (`restore_secrets`).
        """
        return redact_data({**asdict(self), "workspace": str(workspace)})

    def resolve(self) -> AgentrunConfig:
        """Resolve the run's settings: defaults < agentrun.yaml < environment < this context."""
        return load_config(Path(self.workspace).resolve(), self.settings_overrides())

    def settings_overrides(self) -> dict[str, Any]:
        """Return the overrides as one nested mapping (flags above `overrides`)."""
        merged: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v
                                  for k, v in self.overrides.items()}
        budgets = dict(merged.get("budgets", {}))
        if self.cycles is not None:
            budgets["cycles"] = self.cycles
        if self.max_examples is not None:
            budgets["max_examples"] = self.max_examples
        if budgets:
            merged["budgets"] = budgets
        if self.auto is not None:
            merged["steering"] = {**merged.get("steering", {}),
                                  "mode": "auto" if self.auto else "ask"}
        return merged
