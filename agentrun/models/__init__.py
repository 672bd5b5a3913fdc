"""Model backends behind one factory: `load_model(role_spec)`."""

from __future__ import annotations

from functools import lru_cache

from agentrun.config import RoleSpec
from agentrun.models.base import Backend, GenRequest, Messages, OnResult
from agentrun.models.embedded import EMBEDDED, resolve_local_model

__all__ = ["Backend", "GenRequest", "Messages", "OnResult", "load_model", "EMBEDDED"]


def load_model(spec: RoleSpec, role: str = "contractor") -> Backend:
    """Return the backend a role names; roles that name the same model share one instance."""
    return _load(spec.backend, spec.model, spec.base_url, spec.api_key_env, spec.max_concurrency,
                 spec.timeout_s, spec.max_retries, spec.batch_size, spec.device, f"roles.{role}")


@lru_cache(maxsize=8)
def _load(backend: str, model: str, base_url: str, api_key_env: str, max_concurrency: int,
          timeout_s: float, max_retries: int, batch_size: int, device: str,
          setting: str) -> Backend:
    if backend == "local":
        from agentrun.models.local import LocalBackend

        return LocalBackend(resolve_local_model(model, f"{setting}.model"), batch_size, device)
    if backend == "openai":
        from agentrun.models.openai_backend import OpenAIBackend

        return OpenAIBackend(model, base_url, api_key_env, max_concurrency, timeout_s,
                             max_retries, setting)
    from agentrun.models.vllm_backend import VLLMBackend

    return VLLMBackend(model, setting)
