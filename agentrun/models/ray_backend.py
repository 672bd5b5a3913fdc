"""The `ray` backend: a round's requests as one Ray Data job (optional extra `agentrun[ray]`).

The same OpenAI-compatible servers as the `openai` backend (`base_url`, one or several), called
from an actor pool on a Ray cluster instead of from this process: each actor holds an `openai`
client over every server (least-loaded dispatch, a fault retried on another server, a server
that does not answer set aside), and Ray Data streams the batches to the actors as slots free,
several at once per actor, so no batch waits for another. The contract is the `openai`
backend's: structured output per request, every reply passed to `on_result` as its batch comes
back (the response cache keeps it even when the job stops), `BatchFaults` for requests without
a usable reply, one `BackendError` line for a setting that cannot work.

Requests and replies travel as JSON strings: Ray Data stores rows as Arrow tables, which
merge the differing JSON schemas of a batch's requests into one struct type (and fail on
them), so nothing but flat columns crosses the cluster. The actors import agentrun: on a
cluster of several machines, install it on every node or give `runtime_env` when starting Ray.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import socket
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from agentrun.errors import BackendError
from agentrun.models.base import BatchFaults, GenRequest, OnResult
from agentrun.models.openai_backend import MAX_REPLY_BYTES, OpenAIBackend
from agentrun.redact import redact_url, remember_secret

log = logging.getLogger(__name__)

BATCHES_PER_ACTOR = 4
"""Batches an actor runs at once (Ray Data's default for an async UDF): a slow request holds
a quarter of an actor's slots, not all of them."""
ACTOR_CPUS = 0.25
"""CPUs Ray reserves per actor: they wait on the network, not on a core."""


def _import_ray(setting: str) -> Any:
    try:
        import ray
    except ImportError as exc:
        raise BackendError(f"{setting}.backend: 'ray' is not installed; "
                           "`pip install agentrun[ray]`") from exc
    return ray


def check_cluster(address: str | None, setting: str) -> None:
    """Fail in one line if Ray is missing or the cluster at `address` does not answer."""
    _import_ray(setting)
    if address not in (None, "", "auto", "local"):
        _probe(address, f"{setting}.ray_address")


def connect(address: str | None, setting: str) -> Any:
    """Join the Ray cluster at `address` (or start a local one); return the `ray` module.

    An address that does not answer is one line naming `<setting>.ray_address`, after a
    two-second probe rather than Ray's own minute of retries.
    """
    check_cluster(address, setting)
    ray = _import_ray(setting)
    if ray.is_initialized():  # one cluster per process: the first role to connect chose it
        return ray
    try:
        ray.init(address=address or None, num_cpus=None if address else os.cpu_count(),
                 include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                 ignore_reinit_error=True)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError alike
        where = f"{setting}.ray_address: {address}" if address else f"{setting}: a local Ray"
        raise BackendError(f"{where} could not start ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0][:160] if str(exc) else ''})") from exc
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # a line per job is the run's, not Ray's
    return ray


def _probe(address: str, setting: str) -> None:
    parts = urlsplit(address if "://" in address else f"ray://{address}")
    host, port = parts.hostname, parts.port
    if not host or not port:
        raise BackendError(f"{setting}: '{redact_url(address)}' is not HOST:PORT, "
                           "ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError as exc:
        raise BackendError(f"{setting}: no Ray cluster answers at {redact_url(address)} "
                           f"({type(exc).__name__}); start it (`ray start --head`) or fix "
                           "the address") from exc


class RayBackend:
    """Chat completions from an actor pool on a Ray cluster, one Ray Data job per batch."""

    def __init__(
        self,
        model: str,
        base_url: str | list[str],
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 16,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        address: str | None = None,
        setting: str = "roles.contractor",
        deadline_s: float | None = None,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ):
        self.model_id = model
        self.setting = setting
        self.urls = [base_url] if isinstance(base_url, str) else list(base_url)
        self.ray = connect(address, setting)
        key = os.environ.get(api_key_env)
        remember_secret(key)
        # Every actor reaches every server; the pool's slots per server add up to at most
        # `max_concurrency`, as with the `openai` backend.
        self.actors = max(1, min(len(self.urls), max_concurrency))
        capacity = max(1, max_concurrency // self.actors)
        self.batch_size = max(1, math.ceil(capacity * len(self.urls) / BATCHES_PER_ACTOR))
        self._caller_args = dict(model=model, urls=self.urls, api_key=key, capacity=capacity,
                                 timeout_s=timeout_s, max_retries=max_retries, setting=setting,
                                 deadline_s=deadline_s, max_reply_bytes=max_reply_bytes)

    def count_tokens(self, text: str) -> int:
        """Estimate tokens (servers do not expose their tokenizer): ~4 characters a token."""
        return max(1, len(text) // 4)

    def generate(self, requests: list[GenRequest], on_result: OnResult | None = None) -> list[str]:
        """Run the batch as one Ray Data job; replies reach `on_result` batch by batch."""
        if not requests:
            return []
        from ray.data import ActorPoolStrategy

        rows = [{"i": i, "request": json.dumps(_wire(r))} for i, r in enumerate(requests)]
        blocks = max(1, math.ceil(len(rows) / self.batch_size))
        ds = self.ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
            Caller, fn_constructor_kwargs=self._caller_args, batch_size=self.batch_size,
            batch_format="pandas", compute=ActorPoolStrategy(
                min_size=1, max_size=min(self.actors, blocks),
                max_tasks_in_flight_per_actor=2 * BATCHES_PER_ACTOR),
            num_cpus=ACTOR_CPUS, max_concurrency=BATCHES_PER_ACTOR)
        results: list[str] = [""] * len(requests)
        faults: dict[int, str] = {}
        stop = ""
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="pandas"):
                for i, text, fault, fatal in zip(batch["i"], batch["text"], batch["fault"],
                                                 batch["fatal"], strict=True):
                    i = int(i)
                    if fatal:
                        stop = stop or str(fault)
                    elif fault:
                        faults[i] = str(fault)
                    else:
                        results[i] = str(text)
                        if on_result is not None:
                            on_result(i, results[i])
        except Exception as exc:  # the job itself failed: an actor died, the cluster went
            first = redact_url(str(exc)).strip().splitlines()
            raise BackendError(f"{self.setting}: the Ray job stopped ({type(exc).__name__}: "
                               f"{first[-1][:160] if first else ''})") from exc
        if stop:
            raise BackendError(stop)
        if faults:
            raise BatchFaults(results, faults)
        return results


def _wire(req: GenRequest) -> dict[str, Any]:
    """Return what a worker needs to rebuild the request (its tags stay here)."""
    body = asdict(req)
    body.pop("tags")
    return body


class Caller:
    """A Ray Data actor: an `openai` backend over the role's servers, for batches of requests.

    Its `__call__` is a coroutine, so Ray Data runs several batches on one actor at once; they
    share the actor's servers and slots.
    """

    def __init__(self, model: str, urls: list[str], api_key: str | None, capacity: int,
                 timeout_s: float, max_retries: int, setting: str, deadline_s: float | None,
                 max_reply_bytes: int):
        remember_secret(api_key)
        self.backend = OpenAIBackend(model, urls, max_concurrency=capacity, timeout_s=timeout_s,
                                     max_retries=max_retries, setting=setting, api_key=api_key,
                                     deadline_s=deadline_s, max_reply_bytes=max_reply_bytes)

    async def __call__(self, batch: Any) -> dict[str, list[Any]]:
        """Return each request's text, or its fault, and whether the fault stops the job."""
        return await asyncio.to_thread(self._run, [json.loads(s) for s in batch["request"]],
                                       [int(i) for i in batch["i"]])

    def _run(self, bodies: list[dict[str, Any]], ids: list[int]) -> dict[str, list[Any]]:
        requests = [GenRequest(**b) for b in bodies]
        texts, faults, fatal = [""] * len(requests), [""] * len(requests), False
        try:
            texts = self.backend.generate(requests)
        except BatchFaults as exc:
            texts = exc.texts
            faults = [exc.faults.get(j, "") for j in range(len(requests))]
        except BackendError as exc:  # every request would fail the same way
            faults, fatal = [str(exc)] * len(requests), True
        return {"i": ids, "text": texts, "fault": faults, "fatal": [fatal] * len(requests)}
