"""Exact and near-duplicate indexes: content hashes and MinHash-LSH over word 3-grams."""

from __future__ import annotations

import re

from datasketch import MinHash, MinHashLSH

WORD = re.compile(r"\w+")


def shingles(text: str, n: int = 3) -> set[str]:
    """Return the word n-grams of lower-cased text (the words themselves for short texts)."""
    words = WORD.findall(text.lower())
    if len(words) < n:
        return set(words)
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


class NearDuplicateIndex:
    """MinHash-LSH: finds stored texts whose estimated Jaccard similarity exceeds a threshold."""

    def __init__(self, threshold: float = 0.85, num_perm: int = 128):
        self.num_perm = num_perm
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self._hashes: dict[str, MinHash] = {}

    def __len__(self) -> int:
        return len(self._hashes)

    def minhash(self, text: str) -> MinHash:
        """Return the MinHash of a text's shingles."""
        mh = MinHash(num_perm=self.num_perm)
        mh.update_batch([s.encode("utf-8") for s in shingles(text)])
        return mh

    def query(self, text: str) -> tuple[str, float] | None:
        """Return the most similar stored key and its estimated Jaccard, or None."""
        mh = self.minhash(text)
        best: tuple[str, float] | None = None
        for key in self.lsh.query(mh):
            sim = mh.jaccard(self._hashes[key])
            if best is None or sim > best[1]:
                best = (key, sim)
        return best

    def add(self, key: str, text: str) -> None:
        """Index a text under `key` (ignored if the key is already present)."""
        if key in self._hashes:
            return
        mh = self.minhash(text)
        self._hashes[key] = mh
        self.lsh.insert(key, mh)
