"""B3: does the checker's time per example stay flat as the corpus grows?

python benchmarks/checker_scaling.py                 # corpus of 1k, 10k, 100k examples
python benchmarks/checker_scaling.py --sizes 1000 1000000

The corpus grows the way a real one does, with the material: about 30 examples per node, so
a corpus of 100k examples comes from a synthetic vault of ~3,300 notes (the checker's map has
as many nodes). For each size the workspace memory's MinHash index holds that many examples,
then batches of fresh candidates go through every check except the embedding one (schema, exact
hash, MinHash-LSH near duplicates and containment, anchors, probe leakage, fact consistency,
invented names, off-node). Reported: microseconds per example (median of the batches), the
ratio to the smallest corpus (goal ≤ 1.5), examples per second (goal ≥ 1,000), and the
embedder's sentences per second (goal ≥ 300 on 2 CPU cores).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import append_results, table  # noqa: E402

from agentrun.agents.checker import Checker  # noqa: E402
from agentrun.agents.planning import plan_map  # noqa: E402
from agentrun.config import CheckerSettings  # noqa: E402
from agentrun.examples.synthetic import write_vault  # noqa: E402
from agentrun.memory.embeddings import Embedder, load_embedder  # noqa: E402
from agentrun.memory.store import Memory  # noqa: E402
from agentrun.schemas import DatasetMap, Example, ExampleKind, Provenance  # noqa: E402
from agentrun.sources import read_sources  # noqa: E402

PROV = Provenance(role="contractor", generator="benchmark", run="bench", iteration=1)
ASKS = ["What do the notes on {t} say?", "Tell me about {t}.", "Summarize {t}.",
        "What should I know about {t}?"]


def candidate(node: object, facts: list[str], ask: str, tag: int) -> Example:
    """Return a chat example restating two facts of a node."""
    return Example(node_id=node.id, kind=ExampleKind.rephrasing, provenance=PROV,  # type: ignore[attr-defined]
                   messages=[{"role": "user", "content": ask.format(t=node.title)},  # type: ignore[attr-defined]
                             {"role": "assistant", "content": f"{' '.join(facts)} ({tag})"}]
                   ).with_id()


def examples(dataset_map: DatasetMap, count: int, rng: random.Random, start: int) -> list[Example]:
    """Return `count` distinct examples, each two facts of one node and a serial number."""
    out = []
    for i in range(start, start + count):
        node = dataset_map.nodes[rng.randrange(len(dataset_map.nodes))]
        facts = rng.sample([f.text for f in node.facts], 2)
        out.append(candidate(node, facts, ASKS[i % len(ASKS)], i))
    return out


PER_NODE = 30


def per_example_us(size: int, batches: int, batch: int) -> tuple[float, int]:
    """Seed the memory's index with `size` examples; return µs per checked candidate, nodes."""
    rng = random.Random(size)
    with tempfile.TemporaryDirectory() as tmp:
        notes = read_sources(write_vault(Path(tmp) / "vault", max(50, size // PER_NODE))).notes
        dataset_map = plan_map(notes, {ExampleKind.rephrasing: 2})
        memory = Memory(Path(tmp) / "chroma")
        settings = CheckerSettings()
        index = memory.near_index(settings.minhash_threshold, settings.num_perm)
        for ex in examples(dataset_map, size, rng, start=0):
            index.add(ex.id, ex.content(), "seed")
        # B3 times the checker without embedding: an embedder of zero vectors stands in
        checker = Checker(dataset_map, memory, cast(Embedder, _NoEmbedder()), settings)
        times = []
        for b in range(batches):
            cands = examples(dataset_map, batch, rng, start=10_000_000 + b * batch)
            start = time.perf_counter()
            checker.check(cands, f"bench/{b}")
            times.append((time.perf_counter() - start) / batch * 1e6)
        return statistics.median(times), len(dataset_map.nodes)


class _NoEmbedder:
    """Stands in for the embedder so the timing excludes embedding (measured separately)."""

    def embed(self, texts: list[str]) -> object:
        import numpy as np

        return np.zeros((len(texts), 8), dtype=np.float32)


def embedding_rate(sentences: int) -> float:
    """Return the embedder's sentences per second on this machine."""
    embedder = load_embedder()
    texts = [f"The lantern guild keeps lighthouse number {i} lit through the winter."
             for i in range(sentences)]
    embedder.embed(texts[:64])  # warm up
    start = time.perf_counter()
    embedder.embed(texts)
    return sentences / (time.perf_counter() - start)


def main() -> None:
    """Measure, print, append to docs/BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()

    rows, base = [], None
    for size in args.sizes:
        us, nodes = per_example_us(size, args.batches, args.batch)
        base = base or us
        rows.append([f"{size:,}", f"{nodes:,}", f"{us:.0f} µs", f"{us / base:.2f}",
                     f"{1e6 / us:,.0f}"])
        print(rows[-1], flush=True)
    rate = embedding_rate(args.sentences)
    body = (table(["corpus", "map nodes", "check time per example (no embedding)",
                   "ratio to smallest", "examples/s"], rows)
            + f"\n\nEmbedding (all-MiniLM-L6-v2, CPU): {rate:,.0f} sentences/s "
              f"({args.sentences} sentences).")
    print(body)
    if not args.no_append:
        append_results("B3 checker scaling",
                       f"{args.batches} batches of {args.batch} candidates per size, "
                       f"~{PER_NODE} examples per node", body)


if __name__ == "__main__":
    main()
