"""The `openai` backend: any OpenAI-compatible server (vLLM, transformers serve, OpenAI).

Requests run concurrently up to a limit with no barrier between them; each one retries with
exponential backoff on 429, 5xx, timeouts and refused connections, and fails at once on any
other 4xx (a wrong model name will not fix itself).
"""

from __future__ import annotations

import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

import openai

from agentrun.errors import BackendError
from agentrun.models.base import GenRequest, OnResult

log = logging.getLogger(__name__)

RETRYABLE = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,
)


class OpenAIBackend:
    """Concurrent chat completions against an OpenAI-compatible server."""

    def __init__(
        self,
        model: str,
        base_url: str,
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 16,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        setting: str = "roles.contractor",
    ):
        self.model_id = model
        self.base_url = base_url
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.setting = setting
        self.client = openai.OpenAI(
            base_url=base_url,
            api_key=os.environ.get(api_key_env) or "not-needed",
            timeout=timeout_s,
            max_retries=0,  # retries are ours: backoff on transient errors only
        )

    def count_tokens(self, text: str) -> int:
        """Estimate tokens (servers do not expose their tokenizer): ~4 characters a token."""
        return max(1, len(text) // 4)

    def generate(self, requests: list[GenRequest], on_result: OnResult | None = None) -> list[str]:
        """Send all requests concurrently; results arrive in completion order."""
        results: list[str] = [""] * len(requests)
        workers = min(self.max_concurrency, max(1, len(requests)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(self._complete, r): i for i, r in enumerate(requests)}
            try:
                for fut in as_completed(futures):
                    i = futures[fut]
                    results[i] = fut.result()
                    if on_result is not None:
                        on_result(i, results[i])
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        return results

    def _complete(self, req: GenRequest) -> str:
        temperature, max_tokens = req.sampling
        kwargs: dict[str, Any] = {
            "model": self.model_id,
            "messages": req.messages,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "seed": req.seed,
        }
        if req.schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": req.schema, "strict": True},
            }
        for attempt in range(self.max_retries + 1):
            try:
                resp = self.client.chat.completions.create(**kwargs)
                return (resp.choices[0].message.content or "").strip()
            except RETRYABLE as exc:
                if attempt == self.max_retries:
                    raise BackendError(self._describe(exc)) from exc
                delay = min(30.0, 0.5 * 2**attempt) * (0.5 + random.random())
                log.warning("retrying after %s (attempt %d): %s", type(exc).__name__,
                            attempt + 1, exc)
                time.sleep(delay)
            except openai.APIStatusError as exc:
                raise BackendError(self._describe(exc)) from exc
        raise AssertionError("unreachable")

    def _describe(self, exc: Exception) -> str:
        where = f"{self.setting}: {self.base_url}"
        if isinstance(exc, openai.APIConnectionError | openai.APITimeoutError):
            return f"{where}: server not reachable ({type(exc).__name__}); start it or fix base_url"
        if isinstance(exc, openai.NotFoundError):
            return (f"{where}: model '{self.model_id}' not found on the server; "
                    f"fix {self.setting}.model")
        status = getattr(exc, "status_code", "?")
        return f"{where}: request failed with HTTP {status}: {str(exc)[:200]}"
