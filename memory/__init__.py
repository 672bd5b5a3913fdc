"""Long-term memory: Chroma stores, embeddings, near-duplicate indexes, the LLM response cache."""
