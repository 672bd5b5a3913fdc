"""The graph state: small, JSON-friendly values only.

Examples live in the run folder and in Chroma; the state holds ids, paths, counts and metric
summaries, so checkpoints do not grow with the corpus. The run's frozen settings live in its
folder (`settings.json`, see `Run.settings_path`), not here: a server's caller can write the
state.
"""

from __future__ import annotations

from typing import TypedDict


class InputState(TypedDict, total=False):
    """What a caller may pass in: an existing run folder (else a new run is created)."""

    run_dir: str


class State(InputState, total=False):
    """Where the run stands."""

    sources_digest: str
    map_version: int
    iteration: int
    round: int
    started_at: float
    accepted: int
    rejected: int
    rejected_by_reason: dict[str, int]
    adapter: str
    train_loss: float
    report: str
    scores: dict[str, dict[str, float]]
    revisions: list[str]
    asked: int
    """Questions put to a person in the cycle `asked_iteration` (the steering budget)."""
    asked_iteration: int
    status: str
    needed: int
    """Examples the map still needs within the example budget (set by dispatch)."""
    tokens_spent: int
    """Contractor tokens the run generated so far (set by dispatch)."""
