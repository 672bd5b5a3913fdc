"""The `openai` backend: any OpenAI-compatible server (vLLM, transformers serve, OpenAI).

Requests run concurrently up to a limit with no barrier between them; each one retries with
exponential backoff on 429, 5xx, timeouts, refused connections and 200 replies that are not a
chat completion (a proxy's HTML page, JSON without `choices`). A server that stays unreachable,
refuses the key or lacks the model stops the batch with one line (every request would fail
the same way); any other request that gets no usable reply, after its retries or on another
4xx (not retried: it will not fix itself), fails alone and the batch goes on (`BatchFaults`).
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
from agentrun.models.base import BatchFaults, GenRequest, OnResult
from agentrun.redact import redact_url, remember_secret

log = logging.getLogger(__name__)

UNREACHABLE = (openai.APITimeoutError, openai.APIConnectionError)
"""Transient, but when retries run out the server is down: the batch stops."""
TRANSIENT = (openai.RateLimitError, openai.InternalServerError)
"""Retried; when retries run out only that request fails."""
FATAL_STATUS = frozenset({401, 403, 404})
"""A wrong key or model: every request would fail the same way, so the batch stops."""


class ReplyFault(Exception):
    """A 200 reply that is not a usable chat completion (retried like a transient error)."""


class RequestFailed(Exception):
    """One request got no usable reply; the batch goes on without it."""


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
        key = os.environ.get(api_key_env)
        remember_secret(key)  # sent as a Bearer token, never written anywhere
        self.client = openai.OpenAI(
            base_url=base_url,
            api_key=key or "not-needed",
            timeout=timeout_s,
            max_retries=0,  # retries are ours: backoff on transient errors only
        )

    def count_tokens(self, text: str) -> int:
        """Estimate tokens (servers do not expose their tokenizer): ~4 characters a token."""
        return max(1, len(text) // 4)

    def generate(self, requests: list[GenRequest], on_result: OnResult | None = None) -> list[str]:
        """Send all requests concurrently; results arrive in completion order.

        Every reply that arrives is passed to `on_result` before any error is raised, so a
        cache behind it keeps finished work even when the batch stops.
        """
        results: list[str] = [""] * len(requests)
        faults: dict[int, str] = {}
        stop: BackendError | None = None
        workers = min(self.max_concurrency, max(1, len(requests)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(self._complete, r): i for i, r in enumerate(requests)}
            try:
                for fut in as_completed(futures):
                    i = futures[fut]
                    if fut.cancelled():
                        continue
                    try:
                        results[i] = fut.result()
                    except RequestFailed as exc:
                        faults[i] = str(exc)
                        continue
                    except BackendError as exc:
                        stop = stop or exc
                        for f in futures:
                            f.cancel()
                        continue
                    if on_result is not None:
                        on_result(i, results[i])
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
        if stop is not None:
            raise stop
        if faults:
            raise BatchFaults(results, faults)
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
                return _reply_text(self._create(kwargs))
            except UNREACHABLE as exc:
                if attempt == self.max_retries:
                    raise BackendError(self._describe(exc)) from exc
                fault: Exception = exc
            except (*TRANSIENT, ReplyFault) as exc:
                if attempt == self.max_retries:
                    raise RequestFailed(self._describe(exc)) from exc
                fault = exc
            except openai.APIStatusError as exc:
                if exc.status_code in FATAL_STATUS:
                    raise BackendError(self._describe(exc)) from exc
                raise RequestFailed(self._describe(exc)) from exc
            delay = min(30.0, 0.5 * 2**attempt) * (0.5 + random.random())
            log.warning("retrying after %s (attempt %d): %s", type(fault).__name__,
                        attempt + 1, redact_url(str(fault)))
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _create(self, kwargs: dict[str, Any]) -> Any:
        """Send one request; a body the client cannot read as a completion is a ReplyFault."""
        try:
            return self.client.chat.completions.create(**kwargs)
        except openai.APIResponseValidationError as exc:
            raise ReplyFault(f"reply is not a chat completion: {exc.message[:120]}") from exc
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # the client parses the body before we see it: non-JSON or a JSON of another shape
            raise ReplyFault(f"reply is not a chat completion ({type(exc).__name__})") from exc

    def _describe(self, exc: Exception) -> str:
        where = f"{self.setting}: {redact_url(self.base_url)}"
        if isinstance(exc, UNREACHABLE):
            return f"{where}: server not reachable ({type(exc).__name__}); start it or fix base_url"
        if isinstance(exc, openai.NotFoundError):
            return (f"{where}: model '{self.model_id}' not found on the server; "
                    f"fix {self.setting}.model")
        if isinstance(exc, ReplyFault):
            return f"{where}: {exc}"
        status = getattr(exc, "status_code", "?")
        if status in (401, 403):
            return (f"{where}: the server refused the key (HTTP {status}); "
                    f"fix {self.setting}.api_key_env")
        return f"{where}: request failed with HTTP {status}: {redact_url(str(exc))[:200]}"


def _reply_text(resp: Any) -> str:
    """Return a completion's text; a reply without a message is a ReplyFault."""
    choices = getattr(resp, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise ReplyFault("reply has no choices")
    content = getattr(getattr(choices[0], "message", None), "content", None)
    if not isinstance(content, str):
        raise ReplyFault("reply has no message content")
    return content.strip()
