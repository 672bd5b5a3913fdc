"""The `openai` backend: any OpenAI-compatible server (vLLM, transformers serve, OpenAI).

Requests run concurrently up to a limit per server with no barrier between them; each one
retries on 429, 5xx, timeouts, refused connections and 200 replies that are not a chat
completion (a proxy's HTML page, JSON without `choices`). A server that stays unreachable,
refuses the key or lacks the model stops the batch with one line (every request would fail
the same way); any other request that gets no usable reply, after its retries or on another
4xx (not retried: it will not fix itself), fails alone and the batch goes on (`BatchFaults`).

Several servers (`base_url` as a list: `vllm serve` replicas, or one router in front of them)
share a batch least-loaded first: each request goes to the server with the fewest requests in
flight, below its `max_concurrency`, so no server idles while requests wait. A request that
meets a fault is sent again to another server at once; a server that does not answer is set
aside for a while (doubling, up to a minute) and its requests go to the others. Backoff
sleeps only when no other server is there to take the retry.

Each try of a request ends by its deadline (`deadline_s`) and reads at most `max_reply_bytes`,
whatever the server does: a reply that trickles, never ends or is huge fails that request
with its reason, and the batch goes on.
"""

from __future__ import annotations

import logging
import math
import os
import random
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpcore2
import httpx2
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
    """A reply that gives no usable chat completion (retried like a transient error)."""


class ReplyTooSlow(ReplyFault):
    """A reply not complete by the request's deadline (retried like a timeout)."""


class ReplyTooLarge(ReplyFault):
    """A reply past `max_reply_bytes`: reading stopped at the cap (not retried)."""


class RequestFailed(Exception):
    """One request got no usable reply; the batch goes on without it."""


DOWN_S = 2.0
"""How long an unreachable server is first set aside; doubled at each failure in a row."""
MAX_DOWN_S = 60.0
FAULTS_IN_ROW = 3
"""Faulty replies in a row (5xx, 429, not a completion) after which a server is set aside."""
DEADLINE_TIMEOUTS = 3
"""An unset `deadline_s` is this many `timeout_s`: a completion that is not streamed comes in
one piece once generated, so a reply still coming after that is stuck, not slow."""
MAX_REPLY_BYTES = 8_000_000
"""Default `max_reply_bytes`: a completion of thousands of tokens is tens of kilobytes."""

T = TypeVar("T")


class ReplyBounds:
    """Hold each request of a backend to a deadline and a reply size, whatever the server does.

    httpx gives every socket read the read timeout afresh, so a server that sends a byte every
    half second is never timed out, and it reads a reply whole into memory. Under `request()`
    each connect, write and read waits at most what is left of the deadline, and the bytes read
    count against the cap. The client sends a request in its caller's thread (connect, send,
    every read of the reply), so the budget is kept per thread.
    """

    def __init__(self, deadline_s: float, max_bytes: int):
        self.deadline_s = deadline_s
        self.max_bytes = max_bytes
        self._now = threading.local()

    @contextmanager
    def request(self) -> Iterator[None]:
        """Bound the request this thread sends inside the block."""
        self._now.deadline, self._now.read = time.monotonic() + self.deadline_s, 0
        try:
            yield
        finally:
            self._now.deadline = math.inf

    def io(self, op: Callable[[float | None], T], timeout: float | None) -> T:
        """Run a network operation for at most its timeout and what is left of the deadline."""
        late = f"reply not complete within deadline_s ({self.deadline_s:g} s)"
        left = getattr(self._now, "deadline", math.inf) - time.monotonic()
        if left <= 0:
            raise ReplyTooSlow(late)
        if left == math.inf or (timeout is not None and timeout <= left):
            return op(timeout)  # its own timeout ends first: a silence stays a timeout
        try:
            return op(left)
        except httpcore2.TimeoutException as exc:
            raise ReplyTooSlow(late) from exc

    def count(self, data: bytes) -> bytes:
        """Count bytes read by this thread's request; past the cap, stop reading."""
        self._now.read = getattr(self._now, "read", 0) + len(data)
        if self._now.read > self.max_bytes:
            raise ReplyTooLarge(f"reply larger than max_reply_bytes ({self.max_bytes:,} bytes); "
                                "reading stopped there")
        return data


class _BoundedStream(httpcore2.NetworkStream):
    """A connection whose reads and writes keep to the sending request's `ReplyBounds`."""

    def __init__(self, inner: httpcore2.NetworkStream, bounds: ReplyBounds):
        self.inner, self.bounds = inner, bounds

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self.bounds.count(self.bounds.io(lambda t: self.inner.read(max_bytes, t), timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.bounds.io(lambda t: self.inner.write(buffer, t), timeout)

    def close(self) -> None:
        self.inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore2.NetworkStream:
        return _BoundedStream(self.bounds.io(
            lambda t: self.inner.start_tls(ssl_context, server_hostname, t), timeout), self.bounds)

    def get_extra_info(self, info: str) -> Any:
        return self.inner.get_extra_info(info)


class _BoundedBackend(httpcore2.NetworkBackend):
    """Network I/O whose connections keep to the sending request's `ReplyBounds`."""

    def __init__(self, inner: httpcore2.NetworkBackend, bounds: ReplyBounds):
        self.inner, self.bounds = inner, bounds

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore2.NetworkStream:
        return _BoundedStream(self.bounds.io(lambda t: self.inner.connect_tcp(
            host, port, t, local_address, socket_options), timeout), self.bounds)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore2.NetworkStream:
        return _BoundedStream(self.bounds.io(lambda t: self.inner.connect_unix_socket(
            path, t, socket_options), timeout), self.bounds)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def _refuse_compressed(response: httpx2.Response) -> None:
    """Refuse a compressed reply: it was not asked for, and could unpack far past the cap."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        response.close()
        raise ReplyFault(f"reply compressed ({encoding}) though none was asked")


def bounded_http_client(timeout_s: float, bounds: ReplyBounds) -> httpx2.Client:
    """Return the SDK's HTTP client, its requests kept to `bounds` under `bounds.request()`."""
    client = openai.DefaultHttpx2Client(
        timeout=timeout_s, headers={"accept-encoding": "identity"},
        event_hooks={"response": [_refuse_compressed]})
    # httpx takes no network backend of ours: the backend of each of its connection pools
    # (a proxy's from the environment too) is wrapped in place
    for transport in (client._transport, *client._mounts.values()):
        if isinstance(transport, httpx2.HTTPTransport):
            pool = transport._pool
            pool._network_backend = _BoundedBackend(pool._network_backend, bounds)
    return client


@dataclass
class Replica:
    """One server of a role: its client, its load and whether it answers."""

    url: str
    client: openai.OpenAI
    in_flight: int = 0
    sent: int = 0
    down_until: float = 0.0
    failures_in_row: int = 0


@dataclass
class Replicas:
    """The servers of a role, each request sent to the least-loaded one that is up."""

    members: list[Replica]
    capacity: int
    """Requests in flight per server."""
    _ready: threading.Condition = field(default_factory=threading.Condition)

    def acquire(self, avoid: Replica | None = None) -> Replica:
        """Return the up server with the fewest requests in flight (waiting for room).

        `avoid` (the server that just failed this request) is taken only when no other is
        up. When every server is set aside, the one back soonest is returned at once: the
        caller's backoff waits for it.
        """
        with self._ready:
            while True:
                now = time.monotonic()
                live = [r for r in self.members if r.down_until <= now]
                free = [r for r in live if r.in_flight < self.capacity]
                others = [r for r in free if r is not avoid]
                if others or (free and all(r is avoid for r in live)):
                    chosen = min(others or free, key=lambda r: (r.in_flight, r.sent))
                    break
                if not live:
                    chosen = min(self.members, key=lambda r: r.down_until)
                    break
                self._ready.wait(0.05)  # the servers that are up are full: a slot frees soon
            chosen.in_flight += 1
            chosen.sent += 1
            return chosen

    def release(self, replica: Replica, outcome: str) -> None:
        """Free a slot after `outcome` (ok, fault, unreachable).

        An unreachable server is set aside at once, one that failed `FAULTS_IN_ROW` requests
        in a row too (it answers, but nothing usable); one that answered is back.
        """
        with self._ready:
            replica.in_flight -= 1
            if outcome == "ok":
                replica.failures_in_row = 0
            elif len(self.members) > 1:  # one server alone is never set aside: backoff waits
                replica.failures_in_row += 1
                if outcome == "unreachable" or replica.failures_in_row >= FAULTS_IN_ROW:
                    first = 1 if outcome == "unreachable" else FAULTS_IN_ROW
                    pause = min(MAX_DOWN_S,
                                DOWN_S * 2 ** max(0, replica.failures_in_row - first))
                    replica.down_until = time.monotonic() + pause
                    log.warning("%s: %s; set aside for %.0f s", redact_url(replica.url),
                                "no answer" if outcome == "unreachable"
                                else f"{replica.failures_in_row} faults in a row", pause)
            self._ready.notify_all()

    def another_is_up(self, replica: Replica) -> bool:
        """Whether a retry can go to another server now."""
        now = time.monotonic()
        return any(r is not replica and r.down_until <= now for r in self.members)


class OpenAIBackend:
    """Concurrent chat completions against an OpenAI-compatible server."""

    def __init__(
        self,
        model: str,
        base_url: str | list[str],
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 16,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        setting: str = "roles.contractor",
        api_key: str | None = None,
        deadline_s: float | None = None,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ):
        # `api_key`, when given, is used instead of `api_key_env`'s value: a Ray worker gets
        # the key from the driver, whose environment it may not share.
        self.model_id = model
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.setting = setting
        key = api_key if api_key is not None else os.environ.get(api_key_env)
        remember_secret(key)  # sent as a Bearer token, never written anywhere
        self.bounds = ReplyBounds(deadline_s or DEADLINE_TIMEOUTS * timeout_s, max_reply_bytes)
        self.replicas = Replicas([Replica(url, openai.OpenAI(
            base_url=url,
            api_key=key or "not-needed",
            timeout=timeout_s,
            max_retries=0,  # retries are ours: another server, or backoff
            http_client=bounded_http_client(timeout_s, self.bounds),
        )) for url in urls], max_concurrency)

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
        slots = self.max_concurrency * len(self.replicas.members)
        workers = min(slots, max(1, len(requests)))
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
        replica: Replica | None = None
        for attempt in range(self.max_retries + 1):
            replica = self.replicas.acquire(avoid=replica)
            outcome = "fault"
            try:
                text = _reply_text(self._create(replica.client, kwargs))
                outcome = "ok"
                return text
            except UNREACHABLE as exc:
                outcome = "unreachable"
                if attempt == self.max_retries:
                    alone = not self.replicas.another_is_up(replica)
                    raise (BackendError if alone else RequestFailed)(
                        self._describe(exc, replica)) from exc
                fault: Exception = exc
            except ReplyTooLarge as exc:
                # not retried: the same request would most likely get the same reply, each try
                # reading up to the cap; the request fails alone
                raise RequestFailed(self._describe(exc, replica)) from exc
            except (*TRANSIENT, ReplyFault) as exc:
                # a reply past its deadline (ReplyTooSlow) is retried like a timeout, but fails
                # only its request when retries run out, never the batch as "not reachable":
                # the server did answer, slowly, and its other replies may be fine
                if attempt == self.max_retries:
                    raise RequestFailed(self._describe(exc, replica)) from exc
                fault = exc
            except openai.APIStatusError as exc:
                outcome = "ok"  # the server answered: the request is at fault, not the server
                if exc.status_code in FATAL_STATUS:
                    raise BackendError(self._describe(exc, replica)) from exc
                raise RequestFailed(self._describe(exc, replica)) from exc
            finally:
                self.replicas.release(replica, outcome)
            log.warning("retrying after %s (attempt %d): %s", type(fault).__name__,
                        attempt + 1, redact_url(str(fault)))
            if not self.replicas.another_is_up(replica):  # nobody else to take it: back off
                time.sleep(min(30.0, 0.5 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    def _create(self, client: openai.OpenAI, kwargs: dict[str, Any]) -> Any:
        """Send one request held to `bounds`; a body that is no completion is a ReplyFault."""
        try:
            with self.bounds.request():
                return client.chat.completions.create(**kwargs)
        except openai.APIResponseValidationError as exc:
            raise ReplyFault(f"reply is not a chat completion: {exc.message[:120]}") from exc
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # the client parses the body before we see it: non-JSON or a JSON of another shape
            raise ReplyFault(f"reply is not a chat completion ({type(exc).__name__})") from exc

    def _describe(self, exc: Exception, replica: Replica) -> str:
        where = f"{self.setting}: {redact_url(replica.url)}"
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
