"""Persistent Chroma memory of a workspace, shared by all its runs.

One collection, `examples`: every accepted example, with node, kind, run, iteration and round
in metadata. Writes are upserts by content hash, so re-running a step after a crash adds
nothing twice.

On a Chroma server (`memory.server`, `chroma run`), several workers share one corpus: an
upsert of an id is idempotent, so concurrent writers need no lock (two that accept the same
example write the same entry). Each entry carries its MinHash signature and the time it was
added, and a worker's near-duplicate index takes in what the others added before each check,
so a near duplicate one worker wrote is rejected for the other.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from agentrun.errors import ConfigError, DamagedFileError
from agentrun.memory.dedup import SHINGLING, NearDuplicateIndex, SignatureStore
from agentrun.redact import redact_url
from agentrun.schemas import Example


@dataclass(frozen=True)
class Neighbour:
    """The nearest stored example to a query, with its cosine similarity."""

    id: str
    similarity: float


SYNC_MARGIN_S = 300.0
"""How far back a shared memory's index looks for entries it may have missed (clocks of
workers on other machines, writes in flight)."""


class Memory:
    """Chroma collections of one workspace: in its folder, or on a Chroma server."""

    def __init__(self, folder: Path, server: str | None = None, collection: str = "examples"):
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=False)
        folder.mkdir(parents=True, exist_ok=True)
        self.shared = server is not None
        space = {"hnsw:space": "cosine"}
        if server is not None:
            self.client = _server_client(server, settings)
            self.examples = self.client.get_or_create_collection(collection, metadata=space)
        else:
            self.client, self.examples = _open_folder(folder, settings, collection, space)
        self.folder = folder
        self._near: NearDuplicateIndex | None = None
        self._signatures: SignatureStore | None = None
        self._synced_at: float | None = None

    def near_index(self, threshold: float, num_perm: int) -> NearDuplicateIndex:
        """Return the MinHash-LSH index of every stored example, loaded once per process.

        Signatures live beside Chroma (`minhash.sqlite`); a memory written before they were
        kept is indexed from its documents once. A shared memory keeps them in its entries
        and takes in, at every call, what other workers added since the last.
        """
        if self.shared:
            if self._near is None or self._near.num_perm != num_perm:
                self._near, self._synced_at = NearDuplicateIndex(threshold, num_perm), None
            self._sync(self._near)
            return self._near
        if self._near is None or self._near.num_perm != num_perm:
            self._signatures = SignatureStore(self.folder.parent / "minhash.sqlite", num_perm)
            self._near = NearDuplicateIndex(threshold, num_perm)
            self._signatures.load_into(self._near)
            if len(self._near) < self.count():
                missing = [(i, d, m) for i, d, m in self.documents() if i not in self._near]
                for key, doc, meta in missing:
                    self._near.add(key, doc, str(meta.get("round_key", "")))
                self._signatures.save(self._near, [k for k, _, _ in missing])
        return self._near

    def count(self) -> int:
        """Return how many examples the workspace remembers."""
        return int(self.examples.count())

    def existing(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """Return the metadata of those ids already stored."""
        if not ids:
            return {}
        got = self.examples.get(ids=sorted(set(ids)), include=["metadatas"])
        metas = got.get("metadatas") or [{}] * len(got["ids"])
        return {i: dict(m or {}) for i, m in zip(got["ids"], metas, strict=True)}

    def nearest(
        self, vectors: np.ndarray, exclude_round: str | None = None
    ) -> list[Neighbour | None]:
        """Return each vector's nearest stored example (skipping one round's own entries)."""
        if len(vectors) == 0 or self.count() == 0:
            return [None] * len(vectors)
        where: Any = {"round_key": {"$ne": exclude_round}} if exclude_round else None
        res = self.examples.query(
            query_embeddings=vectors.tolist(), n_results=1, where=where, include=["distances"]
        )
        out: list[Neighbour | None] = []
        for ids, dists in zip(res["ids"], res["distances"] or [], strict=True):
            out.append(Neighbour(ids[0], 1.0 - float(dists[0])) if ids else None)
        return out

    def add(self, examples: list[Example], vectors: np.ndarray, round_key: str) -> None:
        """Upsert accepted examples with their embeddings (and MinHash signatures)."""
        if not examples:
            return
        if self._near is not None:
            for e in examples:
                self._near.add(e.id, e.content(), round_key)
                self._near.tag(e.id, round_key)
            if self._signatures is not None:
                self._signatures.save(self._near, [e.id for e in examples])
        added = time.time()
        self.examples.upsert(
            ids=[e.id for e in examples],
            embeddings=vectors.tolist(),
            documents=[e.content() for e in examples],
            metadatas=[
                {
                    "node_id": e.node_id,
                    "kind": str(e.kind),
                    "run": e.provenance.run,
                    "iteration": e.provenance.iteration,
                    "round_key": round_key,
                    "added": added,
                    **(self._signature_of(e.id) if self.shared else {}),
                }
                for e in examples
            ],
        )

    def _signature_of(self, key: str) -> dict[str, Any]:
        """Return an entry's MinHash signature as metadata (a shared memory keeps it there)."""
        if self._near is None or key not in self._near:
            return {}  # indexed from its document by the workers that meet it
        values, size, _ = self._near.signature(key)
        return {"minhash": np.asarray(values).tobytes().hex(), "shingles": size,
                "num_perm": self._near.num_perm, "shingling": SHINGLING}

    def _sync(self, index: NearDuplicateIndex, page: int = 5000) -> None:
        """Take into the index the shared entries added since the last sync (all, at first)."""
        started = time.time()
        where: Any = (None if self._synced_at is None
                      else {"added": {"$gte": self._synced_at - SYNC_MARGIN_S}})
        offset = 0
        while True:
            got = self.examples.get(where=where, limit=page, offset=offset,
                                    include=["documents", "metadatas"])
            for key, doc, meta in zip(got["ids"], got.get("documents") or [],
                                      got.get("metadatas") or [], strict=True):
                if key not in index:
                    index.add_signature(key, dict(meta or {}), doc or "")
            if len(got["ids"]) < page:
                break
            offset += page
        self._synced_at = started

    def remove(self, ids: list[str]) -> None:
        """Forget examples (a fork kept another alternative); unknown ids are ignored."""
        if not ids:
            return
        self.examples.delete(ids=sorted(set(ids)))
        if self._near is not None:
            for key in ids:
                if key in self._near:
                    self._near.remove(key)
        if self._signatures is not None:
            self._signatures.delete(ids)
        elif (self.folder.parent / "minhash.sqlite").exists():
            with closing(sqlite3.connect(self.folder.parent / "minhash.sqlite")) as db, db:
                db.executemany("DELETE FROM sig WHERE id = ?", [(k,) for k in ids])

    def round_keys(self, page: int = 5000) -> dict[str, list[str]]:
        """Return the ids of the stored examples by the round that committed them."""
        out: dict[str, list[str]] = {}
        for offset in range(0, self.count(), page):
            got = self.examples.get(limit=page, offset=offset, include=["metadatas"])
            for i, m in zip(got["ids"], got.get("metadatas") or [], strict=True):
                out.setdefault(str((m or {}).get("round_key", "")), []).append(i)
        return out

    def documents(self, page: int = 5000) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Yield (id, document, metadata) of every stored example, a page at a time."""
        total = self.count()
        for offset in range(0, total, page):
            got = self.examples.get(
                limit=page, offset=offset, include=["documents", "metadatas"]
            )
            docs = got.get("documents") or []
            metas = got.get("metadatas") or []
            for i, d, m in zip(got["ids"], docs, metas, strict=True):
                yield i, d or "", dict(m or {})


def _server_client(url: str, settings: Any) -> Any:
    """Return a client of a Chroma server; one that does not answer is one line."""
    import chromadb

    where = urlsplit(url)
    try:
        client = chromadb.HttpClient(host=where.hostname or "127.0.0.1",
                                     port=where.port or (443 if where.scheme == "https" else 80),
                                     ssl=where.scheme == "https", settings=settings)
        client.heartbeat()
    except Exception as exc:  # the client raises several kinds for a server that is not there
        raise ConfigError(f"memory.server: {redact_url(url)}: the Chroma server does not answer "
                          f"({type(exc).__name__}); start it (`chroma run`) or fix the "
                          "address") from exc
    return client


def _open_folder(folder: Path, settings: Any, collection: str,
                 space: dict[str, str]) -> tuple[Any, Any]:
    """Open a Chroma folder and its collection; a damaged database is one line naming it."""
    import chromadb
    from chromadb.errors import ChromaError

    try:
        client = chromadb.PersistentClient(path=str(folder), settings=settings)
        return client, client.get_or_create_collection(collection, metadata=space)
    except (ChromaError, sqlite3.DatabaseError) as exc:
        if isinstance(exc, sqlite3.OperationalError):  # locked, full: not damage, not to move
            raise
        raise DamagedFileError(
            f"{folder}: the memory's Chroma database cannot be opened ({exc}); move the folder "
            "aside and run again (a new, empty memory starts: earlier runs' examples are no "
            "longer checked against)") from None


@lru_cache(maxsize=8)
def open_memory(memory_dir: Path, server: str | None = None,
                collection: str = "examples") -> Memory:
    """Return a workspace's memory (`chroma/`, or a server's), one client per place and process.

    One per place: its near-duplicate index lives in the process, and two clients of one
    folder would each miss what the other wrote.
    """
    return Memory(memory_dir / "chroma", server, collection)
