"""The run's context: what a person (or Studio's form) chooses before a run starts."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

WORKSPACE_ENV = "AGENTRUN_WORKSPACE"
"""Set by `agentrun studio DIR`: the workspace a run works on when the form leaves it out."""


def _default_workspace() -> str:
    return os.environ.get(WORKSPACE_ENV, "examples/orvane")


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
