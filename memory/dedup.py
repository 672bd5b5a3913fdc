"""Exact and near-duplicate indexes: content hashes and MinHash-LSH over word 3-grams."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
from datasketch import MinHash, MinHashLSH

from agentrun.errors import sqlite_file
from agentrun.languages import keyed

SHINGLING = "lemmas-1"
"""How texts are cut into shingles; a signature made another way is made again."""


def shingles(text: str, n: int = 3) -> set[str]:
    """Return the word n-grams of a text read as lemmas (the words themselves for short texts).

    Lemmas, so that a Russian sentence that repeats another in other cases («маяк построен
    инженером» / «маяка, построенного инженером») is as near as it reads.
    """
    words = keyed(text)
    if len(words) < n:
        return set(words)
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


class NearDuplicateIndex:
    """MinHash-LSH over word 3-grams: finds stored texts a new one nearly repeats.

    Candidates are retrieved at `retrieve` (a lower Jaccard than the decision threshold) so
    that a text which contains a stored one almost whole, plus a little filler, is found too:
    `query` reports both the Jaccard and the containment of the smaller text in the larger.
    """

    def __init__(self, threshold: float = 0.85, num_perm: int = 128, retrieve: float = 0.6):
        self.num_perm = num_perm
        self.lsh = MinHashLSH(threshold=min(threshold, retrieve), num_perm=num_perm)
        self._hashes: dict[str, MinHash] = {}
        self._sizes: dict[str, int] = {}
        self._tags: dict[str, str] = {}
        # datasketch draws its permutations for every new MinHash (~0.2 ms); share them
        template = MinHash(num_perm=num_perm)
        self._dtype = template.hashvalues.dtype
        self._same_hashing = {"permutations": template.permutations}
        if getattr(template, "scheme", None):
            self._same_hashing["scheme"] = template.scheme

    def __len__(self) -> int:
        return len(self._hashes)

    def __contains__(self, key: object) -> bool:
        return key in self._hashes

    def minhash(self, text: str) -> tuple[MinHash, int]:
        """Return the MinHash of a text's shingles and their number."""
        grams = shingles(text)
        mh = MinHash(num_perm=self.num_perm, **self._same_hashing)
        mh.update_batch([s.encode("utf-8") for s in grams])
        return mh, len(grams)

    def query(self, text: str, skip_tag: str | None = None) -> tuple[str, float, float] | None:
        """Return the most similar stored key, the Jaccard and the containment, or None.

        Containment is the share of the smaller text's shingles found in the larger one,
        estimated from the Jaccard and both sizes: |A∩B| = J·(|A|+|B|)/(1+J). Entries added
        with the tag `skip_tag` are ignored.
        """
        mh, size = self.minhash(text)
        best: tuple[str, float, float] | None = None
        for key in self.lsh.query(mh):
            if skip_tag is not None and self._tags.get(key) == skip_tag:
                continue
            jac = mh.jaccard(self._hashes[key])
            other = self._sizes[key]
            inter = jac * (size + other) / (1 + jac)
            contained = min(1.0, inter / max(1, min(size, other)))
            if max(size, other) > 2 * min(size, other):
                contained = 0.0  # a long text quoting a short one is not its duplicate
            if best is None or (jac, contained) > best[1:]:
                best = (key, jac, contained)
        return best

    def add(self, key: str, text: str, tag: str = "") -> None:
        """Index a text under `key` (ignored if the key is already present)."""
        if key not in self._hashes:
            mh, size = self.minhash(text)
            self._insert(key, mh, size, tag)

    def _insert(self, key: str, mh: MinHash, size: int, tag: str) -> None:
        self._hashes[key] = mh
        self._sizes[key] = size
        self._tags[key] = tag
        self.lsh.insert(key, mh)

    def add_signature(self, key: str, meta: dict[str, object], text: str) -> None:
        """Index a shared memory's entry from the signature in its metadata, else its text."""
        hexed, size = meta.get("minhash"), meta.get("shingles")
        tag = str(meta.get("round_key", ""))
        if isinstance(hexed, str) and isinstance(size, int) and meta.get("num_perm") == \
                self.num_perm and meta.get("shingling") == SHINGLING:
            values = np.frombuffer(bytes.fromhex(hexed), dtype=self._dtype)
            self._insert(key, MinHash(num_perm=self.num_perm, hashvalues=values,
                                      **self._same_hashing), size, tag)
        else:
            self.add(key, text, tag)

    def tag(self, key: str, tag: str) -> None:
        """Set the tag of an indexed key (the round that committed it)."""
        self._tags[key] = tag

    def remove(self, key: str) -> None:
        """Forget a key (an example indexed while checking, then rejected)."""
        if key in self._hashes:
            self.lsh.remove(key)
            del self._hashes[key], self._sizes[key], self._tags[key]

    def signature(self, key: str) -> tuple[np.ndarray, int, str]:
        """Return what `SignatureStore` keeps of a key: hash values, size and tag."""
        return self._hashes[key].hashvalues, self._sizes[key], self._tags[key]


class SignatureStore:
    """The MinHash signatures of a workspace's corpus, on disk (SQLite), loaded once.

    Rebuilding the LSH index from the stored texts every round would cost O(corpus) per
    round; keeping the signatures makes a process's first load O(corpus) and every check
    after it O(candidates). Upserts by id, so a re-run commit adds nothing twice.
    """

    def __init__(self, path: Path, num_perm: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        # graph nodes may run on worker threads; one process writes (the checker node)
        self.db = sqlite3.connect(str(path), check_same_thread=False)
        self.num_perm = num_perm
        probe = MinHash(num_perm=num_perm)
        # datasketch's hashing scheme and value type (uint32 for its affine32 scheme)
        self.scheme, self.dtype = getattr(probe, "scheme", None), probe.hashvalues.dtype
        with sqlite_file(path, "the store of near-duplicate signatures", "move it aside; "
                         "the signatures are rebuilt from the memory"):
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
        self.db.execute("CREATE TABLE IF NOT EXISTS sig (id TEXT PRIMARY KEY, tag TEXT, "
                        "size INTEGER, hashes BLOB)")
        kind = f"{num_perm}/{self.scheme}/{self.dtype}/{SHINGLING}"
        row = self.db.execute("SELECT value FROM meta WHERE key = 'kind'").fetchone()
        if row is not None and row[0] != kind:
            self.db.execute("DELETE FROM sig")  # other settings: signatures are rebuilt
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('kind', ?)", (kind,))
        self.db.commit()

    def count(self) -> int:
        """Return how many signatures are stored."""
        return int(self.db.execute("SELECT COUNT(*) FROM sig").fetchone()[0])

    def load_into(self, index: NearDuplicateIndex) -> None:
        """Insert every stored signature into an index."""
        for key, tag, size, blob in self.db.execute("SELECT id, tag, size, hashes FROM sig"):
            if key not in index:
                values = np.frombuffer(blob, dtype=self.dtype)
                extra = {"scheme": self.scheme} if self.scheme else {}
                mh = MinHash(num_perm=self.num_perm, hashvalues=values, **extra)
                index._insert(key, mh, size, tag)

    def delete(self, keys: list[str]) -> None:
        """Drop the signatures of `keys`."""
        self.db.executemany("DELETE FROM sig WHERE id = ?", [(k,) for k in keys])
        self.db.commit()

    def save(self, index: NearDuplicateIndex, keys: list[str]) -> None:
        """Store the signatures of `keys` from the index."""
        rows = []
        for key in keys:
            values, size, tag = index.signature(key)
            rows.append((key, tag, size, np.asarray(values, dtype=self.dtype).tobytes()))
        self.db.executemany("INSERT OR IGNORE INTO sig VALUES (?, ?, ?, ?)", rows)
        self.db.commit()
