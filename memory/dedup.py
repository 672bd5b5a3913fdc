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
    """MinHash-LSH over word 3-grams: finds stored texts a new one nearly repeats.

    Candidates are retrieved at `retrieve` (a lower Jaccard than the decision threshold) so
    that a text which contains a stored one almost whole, plus a little filler, is found too:
    `query` reports both the Jaccard and the containment of the smaller text in the larger.
    """

    def __init__(self, threshold: float = 0.85, num_perm: int = 128, retrieve: float = 0.5):
        self.num_perm = num_perm
        self.lsh = MinHashLSH(threshold=min(threshold, retrieve), num_perm=num_perm)
        self._hashes: dict[str, MinHash] = {}
        self._sizes: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._hashes)

    def minhash(self, text: str) -> tuple[MinHash, int]:
        """Return the MinHash of a text's shingles and their number."""
        grams = shingles(text)
        mh = MinHash(num_perm=self.num_perm)
        mh.update_batch([s.encode("utf-8") for s in grams])
        return mh, len(grams)

    def query(self, text: str) -> tuple[str, float, float] | None:
        """Return the most similar stored key, the Jaccard and the containment, or None.

        Containment is the share of the smaller text's shingles found in the larger one,
        estimated from the Jaccard and both sizes: |A∩B| = J·(|A|+|B|)/(1+J).
        """
        mh, size = self.minhash(text)
        best: tuple[str, float, float] | None = None
        for key in self.lsh.query(mh):
            jac = mh.jaccard(self._hashes[key])
            other = self._sizes[key]
            inter = jac * (size + other) / (1 + jac)
            contained = min(1.0, inter / max(1, min(size, other)))
            if max(size, other) > 2 * min(size, other):
                contained = 0.0  # a long text quoting a short one is not its duplicate
            if best is None or (jac, contained) > best[1:]:
                best = (key, jac, contained)
        return best

    def add(self, key: str, text: str) -> None:
        """Index a text under `key` (ignored if the key is already present)."""
        if key in self._hashes:
            return
        mh, size = self.minhash(text)
        self._hashes[key] = mh
        self._sizes[key] = size
        self.lsh.insert(key, mh)
