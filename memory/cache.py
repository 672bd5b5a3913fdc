"""The LLM response cache: a re-executed graph node re-does no paid work.

Keyed by (model, messages, schema, sampling params); every response is written as it arrives,
so a run killed halfway through a batch keeps what was already generated. A workspace that
keeps its checkpoints in PostgreSQL keeps its responses there too, shared by its workers.
Each response keeps its token count and the unit of work that asked for it (a request's
`origin` tag, e.g. a run's round), so that unit, re-executed after a kill, still counts the
tokens it spent.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

from agentrun.errors import ConfigError, sqlite_file
from agentrun.models.base import Backend, BatchFaults, GenRequest, OnResult
from agentrun.redact import redact


class Cached(NamedTuple):
    """A stored response."""

    text: str
    tokens: int
    origin: str


class ResponseCache:
    """A small SQLite key-value store of generated texts."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        with sqlite_file(path, "the cache of model answers", "move it aside; a new, empty "
                         "cache starts (the models are asked again)"):
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, text TEXT)")
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(responses)")}
        for column, kind in (("tokens", "INTEGER NOT NULL DEFAULT 0"),
                             ("origin", "TEXT NOT NULL DEFAULT ''")):
            if column not in columns:  # a cache written by an earlier version
                self._db.execute(f"ALTER TABLE responses ADD COLUMN {column} {kind}")

    @staticmethod
    def key(model_id: str, req: GenRequest) -> str:
        """Return the cache key of a request to a model."""
        blob = json.dumps([model_id, req.messages, req.schema, req.params()], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def get_many(self, keys: list[str]) -> dict[str, Cached]:
        """Return the cached responses of those keys that are present."""
        found: dict[str, Cached] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                part = keys[start : start + 500]
                marks = ",".join("?" * len(part))
                rows = self._db.execute(
                    f"SELECT key, text, tokens, origin FROM responses WHERE key IN ({marks})", part
                )
                found.update((key, Cached(*rest)) for key, *rest in rows.fetchall())
        return found

    def put(self, key: str, text: str, tokens: int = 0, origin: str = "") -> None:
        """Store one response with its token count and the unit of work that asked for it."""
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO responses (key, text, tokens, origin) "
                             "VALUES (?, ?, ?, ?)", (key, text, tokens, origin))

    def close(self) -> None:
        """Close the database."""
        self._db.close()


class PostgresResponseCache:
    """The response cache in a PostgreSQL database, shared by every worker that names it."""

    def __init__(self, url: str):
        import psycopg

        self._lock = threading.Lock()
        try:
            self._db = psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError as exc:
            reason = " ".join(str(exc).split())[:200]
            raise ConfigError(f"checkpointer: {redact(url)}: {redact(reason)}") from exc
        self._db.execute("CREATE TABLE IF NOT EXISTS agentrun_responses (key TEXT PRIMARY KEY, "
                         "text TEXT NOT NULL, tokens INTEGER NOT NULL DEFAULT 0, "
                         "origin TEXT NOT NULL DEFAULT '')")

    def get_many(self, keys: list[str]) -> dict[str, Cached]:
        """Return the cached responses of those keys that are present."""
        with self._lock:
            rows = self._db.execute("SELECT key, text, tokens, origin FROM agentrun_responses "
                                    "WHERE key = ANY(%s)", (keys,)).fetchall()
        return {key: Cached(*rest) for key, *rest in rows}

    def put(self, key: str, text: str, tokens: int = 0, origin: str = "") -> None:
        """Store one response (a key two workers store at once keeps the first)."""
        with self._lock:
            self._db.execute("INSERT INTO agentrun_responses VALUES (%s, %s, %s, %s) "
                             "ON CONFLICT (key) DO NOTHING", (key, text, tokens, origin))

    def close(self) -> None:
        """Close the connection."""
        self._db.close()


class CachedBackend:
    """A backend wrapper that answers repeated requests from the cache."""

    def __init__(self, inner: Backend, cache: ResponseCache | PostgresResponseCache):
        self.inner = inner
        self.cache = cache
        self.model_id = inner.model_id
        self.hits = 0
        self.fresh_tokens = 0
        """Tokens the inner backend generated: for this call's misses, and for the hits that
        the same `origin` asked for before (a round re-executed after a kill spent them)."""

    def count_tokens(self, text: str) -> int:
        """Return the inner backend's token count."""
        return self.inner.count_tokens(text)

    def generate(self, requests: list[GenRequest], on_result: OnResult | None = None) -> list[str]:
        """Serve cached requests, send the rest to the inner backend as one batch."""
        keys = [ResponseCache.key(self.model_id, r) for r in requests]
        cached = self.cache.get_many(keys)
        results = [cached[k].text if k in cached else "" for k in keys]
        misses = [i for i, k in enumerate(keys) if k not in cached]
        self.hits += len(requests) - len(misses)
        for i, k in enumerate(keys):
            if k in cached:
                if cached[k].origin and cached[k].origin == _origin(requests[i]):
                    self.fresh_tokens += cached[k].tokens
                if on_result is not None:
                    on_result(i, cached[k].text)

        def store(j: int, text: str) -> None:
            i = misses[j]
            tokens = self.inner.count_tokens(text)
            self.cache.put(keys[i], text, tokens, _origin(requests[i]))
            self.fresh_tokens += tokens
            results[i] = text
            if on_result is not None:
                on_result(i, text)

        if misses:
            try:
                self.inner.generate([requests[i] for i in misses], on_result=store)
            except BatchFaults as exc:  # the replies that came are stored; a fault is not
                raise BatchFaults(results, {misses[j]: why for j, why in exc.faults.items()}
                                  ) from None
        return results


def _origin(request: GenRequest) -> str:
    return str(request.tags.get("origin", ""))


@lru_cache(maxsize=8)
def open_cache(memory_dir: Path, database: str | None = None
               ) -> ResponseCache | PostgresResponseCache:
    """Return a workspace's response cache, one connection per process.

    `llm_cache.sqlite` in the memory folder, or the PostgreSQL database the workspace keeps
    its checkpoints in (`database`), which every worker and machine of it then shares.
    """
    if database is not None:
        return PostgresResponseCache(database)
    return ResponseCache(memory_dir / "llm_cache.sqlite")
