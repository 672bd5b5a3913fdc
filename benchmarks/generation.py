"""B1 and B2: what the contractors' path and the schema constraint cost in generation speed.

python benchmarks/generation.py                  # embedded SmolLM2-135M on CPU
python benchmarks/generation.py --model /models/qwen3-0.6b --device cuda --nodes 40

B1: one contractor round's model work through agentrun (`candidates_for`: requests, one batch
per schema, validation, examples) vs the same prompts sent straight to the same backend in
one batch per schema. B2: the same prompts with the JSON-schema constraint (xgrammar) vs
without. Both as output tokens per second, measured in pairs whose order alternates (A B,
B A, …); the ratio is the median of the per-pair ratios. No response cache: every call generates.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import append_results, table  # noqa: E402

from agentrun.agents.briefs import BRIEFS, model_requests  # noqa: E402
from agentrun.agents.contractors import candidates_for  # noqa: E402
from agentrun.agents.planning import plan_map  # noqa: E402
from agentrun.agents.structural import Job  # noqa: E402
from agentrun.models import RoleModel  # noqa: E402
from agentrun.models.base import GenRequest  # noqa: E402
from agentrun.models.embedded import resolve_local_model  # noqa: E402
from agentrun.models.local import LocalBackend  # noqa: E402
from agentrun.models.structured import json_schema  # noqa: E402
from agentrun.schemas import ExampleKind  # noqa: E402
from agentrun.sources import read_sources  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


class Counting:
    """Wraps a backend and counts the tokens it generated."""

    def __init__(self, backend: LocalBackend):
        self.backend, self.tokens = backend, 0
        self.model_id = backend.model_id

    def count_tokens(self, text: str) -> int:
        """Count tokens with the wrapped backend's tokenizer."""
        return self.backend.count_tokens(text)

    def generate(self, requests: list[GenRequest], on_result: object = None) -> list[str]:
        """Generate with the wrapped backend and count the output tokens."""
        out = self.backend.generate(requests)
        self.tokens += sum(self.backend.count_tokens(t) for t in out)
        return out


def timed(fn: object, counter: Counting) -> float:
    """Run `fn` and return output tokens per second."""
    counter.tokens = 0
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return counter.tokens / (time.perf_counter() - start)


def pairs(a: object, b: object, counter: Counting, n: int) -> tuple[float, float, float]:
    """Median tokens/s of a and b and the median per-pair ratio b/a, alternating."""
    ra, rb = [], []
    for i in range(n):  # A B, B A, A B …: neither side always runs first
        if i % 2 == 0:
            ra.append(timed(a, counter))
            rb.append(timed(b, counter))
        else:
            rb.append(timed(b, counter))
            ra.append(timed(a, counter))
    ratios = sorted(y / x for x, y in zip(ra, rb, strict=True))
    return sorted(ra)[n // 2], sorted(rb)[n // 2], ratios[n // 2]


def main() -> None:
    """Measure B1 and B2, print, append to docs/BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--nodes", type=int, default=4, help="nodes per round")
    parser.add_argument("--per-node", type=int, default=1, help="requests per node and kind")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()

    notes = read_sources(ROOT / "examples" / "orvane" / "sources").notes
    dataset_map = plan_map(notes, {ExampleKind.rephrasing: 2})
    nodes = [n for n in dataset_map.nodes if dataset_map.neighbours(n.id)][: args.nodes]
    kinds = list(BRIEFS)  # every kind a model writes, each from its own prompt and schema
    deficits = {n.id: dict.fromkeys(kinds, args.per_node) for n in nodes}
    backend = LocalBackend(resolve_local_model(args.model, "--model"),
                           batch_size=len(nodes) * args.per_node, device=args.device)
    counter = Counting(backend)
    job = Job(run="bench", iteration=1, round=1, seed=0)
    limit = args.max_new_tokens
    # the contractor role's sampling on both paths: the same temperature and token cap
    role = RoleModel(counter, temperature=0.7, max_new_tokens=limit)  # type: ignore[arg-type]
    work = [(role.complete(replace(r, schema=json_schema(b.output))), b)
            for n in nodes for k in kinds
            for r, b in model_requests(n, k, args.per_node, job, dataset_map)]
    groups = [[r for r, b in work if b.output is out]
              for out in dict.fromkeys(b.output for _, b in work)]

    def through_agentrun() -> None:
        candidates_for(dataset_map, deficits, set(), job, role, retries=0,
                       model_share=dict.fromkeys(kinds, 1.0))

    def straight(constrained: bool = True) -> None:
        for group in groups:  # one batch per output schema, as the contractors send them
            counter.generate(group if constrained else [replace(r, schema=None) for r in group])

    straight()  # warm up: weights, grammar compilation caches
    b1 = pairs(straight, through_agentrun, counter, args.pairs)
    b2 = pairs(lambda: straight(False), straight, counter, args.pairs)
    n_req = len(work)
    body = table(["benchmark", "A tokens/s", "B tokens/s", "B/A (median of pairs)", "goal"], [
        ["B1 straight to the backend (A) vs through the contractors (B)",
         f"{b1[0]:.1f}", f"{b1[1]:.1f}", f"{b1[2]:.3f}", "≥ 0.95"],
        ["B2 unconstrained (A) vs JSON-schema constrained (B)",
         f"{b2[0]:.1f}", f"{b2[1]:.1f}", f"{b2[2]:.3f}", "≥ 0.90"],
    ])
    print(body)
    if not args.no_append:
        append_results("B1 generation efficiency, B2 structured-output cost",
                       f"model {args.model} on {args.device}, {n_req} requests per round "
                       f"({len(nodes)} nodes × {len(kinds)} kinds × {args.per_node}, {len(groups)} "
                       f"schemas), max_new_tokens "
                       f"{limit}, {args.pairs} pairs", body)


if __name__ == "__main__":
    main()
