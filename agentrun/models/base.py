"""What every backend offers: batched chat generation, optionally constrained by a JSON schema."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentrun.errors import BackendError

Messages = list[dict[str, str]]
OnResult = Callable[[int, str], None]


@dataclass(frozen=True)
class GenRequest:
    """One generation: a chat, an optional JSON schema, and sampling settings.

    A call leaves `temperature` to its role and may set `max_new_tokens` as a cap for a short
    output; the role's model (`RoleModel`) fills both from `roles.<role>` before a backend
    sees the request.
    """

    messages: Messages
    schema: dict[str, Any] | None = None
    max_new_tokens: int | None = None
    temperature: float | None = None
    seed: int = 0
    tags: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    """What the caller needs back (node, kind, …), never part of the output or the cache key;
    `origin` names the unit of work that asked (a run's round), by which the response cache
    counts the tokens spent on it."""

    @property
    def sampling(self) -> tuple[float, int]:
        """Return (temperature, max_new_tokens); a backend only takes a filled request."""
        if self.temperature is None or self.max_new_tokens is None:
            raise ValueError("a request reaches a backend through its role's RoleModel, which "
                             "sets temperature and max_new_tokens")
        return self.temperature, self.max_new_tokens

    def params(self) -> dict[str, Any]:
        """Return the sampling parameters that determine the output (for caching)."""
        return {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
        }


class BatchFaults(BackendError):
    """Some requests of a batch got no usable reply after the backend's own retries.

    Raised once the whole batch has run, so every reply that did arrive was already passed to
    `on_result`; `texts` holds them all ("" where a request failed) and `faults` the reason of
    each failed request by index. Callers record the failures and keep the rest.
    """

    def __init__(self, texts: list[str], faults: dict[int, str]):
        first = faults[min(faults)]
        super().__init__(f"{len(faults)} of {len(texts)} requests got no usable reply ({first})")
        self.texts = texts
        self.faults = faults


class Backend(Protocol):
    """A model that turns many requests into texts in as few calls as it can."""

    model_id: str

    def generate(self, requests: list[GenRequest], on_result: OnResult | None = None) -> list[str]:
        """Generate one text per request, calling `on_result(index, text)` as each arrives.

        A request that gets no usable reply ends the batch in `BatchFaults` (after the others
        have run); a backend that cannot serve at all raises `BackendError` at once.
        """
        ...

    def count_tokens(self, text: str) -> int:
        """Return the number of tokens of `text` for this model (an estimate is allowed)."""
        ...
