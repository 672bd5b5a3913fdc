"""Sentence embeddings for memory and near-duplicate checks (offline, from a local folder)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from agentrun.errors import BackendError
from agentrun.models.embedded import EMBEDDED, minilm_dir


class Embedder:
    """A sentence-transformers model that returns L2-normalized float32 vectors."""

    def __init__(self, folder: Path, batch_size: int = 64):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
        self.batch_size = batch_size

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed texts in batches; rows are unit vectors (cosine = dot product)."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        vectors = self.model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=2)
def load_embedder(name: str = EMBEDDED, batch_size: int = 64) -> Embedder:
    """Return the embedder a config names: `embedded` or a local sentence-transformers folder."""
    if name == EMBEDDED:
        return Embedder(minilm_dir(), batch_size)
    folder = Path(name).expanduser()
    if not folder.is_dir():
        raise BackendError(f"embedder.model: '{name}' is not a local folder; use 'embedded'")
    return Embedder(folder, batch_size)
