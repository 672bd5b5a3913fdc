"""Model backends behind one factory, `load_model(spec)`, and the role that calls them.

A backend is loaded once per model: roles that name the same model on the same backend share
one instance. Each role calls it through a `RoleModel`, which gives every request the role's
`temperature` and caps it at the role's `max_new_tokens`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from agentrun.config import RoleSpec
from agentrun.models.base import Backend, GenRequest, Messages, OnResult
from agentrun.models.embedded import EMBEDDED, resolve_local_model

__all__ = ["Backend", "GenRequest", "Messages", "OnResult", "RoleModel", "load_model",
           "EMBEDDED"]


def load_model(spec: RoleSpec, role: str = "contractor") -> Backend:
    """Return the backend a role names, shared with every role naming the same model.

    The key is what loads a model and nothing else: sampling settings belong to the role
    (`RoleModel`), and `role` only names the setting in an error.
    """
    key = spec.model_dump(exclude={"temperature", "max_new_tokens"})
    frozen = tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in key.items()))
    if frozen not in _LOADED:
        _LOADED[frozen] = _load(spec, f"roles.{role}")
    return _LOADED[frozen]


_LOADED: dict[tuple[tuple[str, object], ...], Backend] = {}
"""Loaded backends by what loads them (a model is loaded once per process)."""


def _load(spec: RoleSpec, setting: str) -> Backend:
    if spec.backend == "local":
        from agentrun.models.local import LocalBackend

        return LocalBackend(resolve_local_model(spec.model, f"{setting}.model"), spec.batch_size,
                            spec.device)
    if spec.backend == "openai":
        from agentrun.models.openai_backend import OpenAIBackend

        return OpenAIBackend(spec.model, spec.base_url, spec.api_key_env, spec.max_concurrency,
                             spec.timeout_s, spec.max_retries, setting,
                             deadline_s=spec.deadline_s, max_reply_bytes=spec.max_reply_bytes)
    if spec.backend == "ray":
        from agentrun.models.ray_backend import RayBackend

        return RayBackend(spec.model, spec.base_url, spec.api_key_env, spec.max_concurrency,
                          spec.timeout_s, spec.max_retries, spec.ray_address, setting,
                          deadline_s=spec.deadline_s, max_reply_bytes=spec.max_reply_bytes)
    from agentrun.models.vllm_backend import VLLMBackend

    return VLLMBackend(spec.model, setting)


@dataclass
class RoleModel:
    """A role's view of a shared backend: its sampling settings on every request."""

    backend: Backend
    temperature: float
    max_new_tokens: int
    model_id: str = field(init=False)
    """The backend's model id."""

    def __post_init__(self) -> None:
        self.model_id = self.backend.model_id

    @classmethod
    def of(cls, backend: Backend, spec: RoleSpec) -> RoleModel:
        """Return the role's model: `backend` called with `spec`'s sampling settings."""
        assert spec.temperature is not None and spec.max_new_tokens is not None  # Roles fills them
        return cls(backend, spec.temperature, spec.max_new_tokens)

    def complete(self, request: GenRequest) -> GenRequest:
        """Return the request with the role's temperature and at most its max_new_tokens."""
        cap = self.max_new_tokens if request.max_new_tokens is None else min(
            request.max_new_tokens, self.max_new_tokens)
        return replace(request, temperature=self.temperature, max_new_tokens=cap)

    def generate(self, requests: list[GenRequest], on_result: OnResult | None = None) -> list[str]:
        """Generate every request with the role's settings, in the backend's batches."""
        return self.backend.generate([self.complete(r) for r in requests], on_result)

    def count_tokens(self, text: str) -> int:
        """Return the backend's token count of `text`."""
        return self.backend.count_tokens(text)
