"""B5: what the graph engine and its checkpoints cost, and whether the state grows.

python benchmarks/orchestration.py            # 1k and 10k examples with fakes, one real run
python benchmarks/orchestration.py --sizes 1000 10000 100000

Two measurements:

1. The share of a real run's wall time spent outside the nodes (LangGraph's engine and the
   SQLite checkpoints, `durability="sync"`): the bundled example, corpus only (`cycles: 0`,
   structural generators, the real checker with embeddings and Chroma), driven by the runner
   exactly as `agentrun run --auto` drives it, each node timed where the graph calls it.
   Without the model the nodes do the least work a real run does, so the share is an upper
   bound for runs with a model and training.
2. The orchestrator's own wiring with every node replaced by an instant fake that updates the
   state as the real node does (counts, reasons, scores), at 1k and 10k accepted examples in
   rounds of 50: checkpoint bytes per step (the state must not grow with the corpus) and the
   engine's time per step.
"""

from __future__ import annotations

import argparse
import inspect
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import append_results, table  # noqa: E402

from agentrun.graphs import nodes  # noqa: E402
from agentrun.graphs.context import Context  # noqa: E402
from agentrun.graphs.deps import freeze  # noqa: E402
from agentrun.graphs.orchestrator import compile_graph  # noqa: E402
from agentrun.workspace import Run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NODES = ("ingest", "architect", "review", "dispatch", "contractors", "checker", "steer",
         "train", "evaluate", "revise", "next_cycle", "export")
BATCH = 50
"""Examples accepted per fake round."""


class Timed:
    """Wraps the graph's node functions, adding up the seconds spent inside them."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0
        self.saved = {name: getattr(nodes, name) for name in NODES}

    def wrap(self, fn: Callable[..., Any], like: Callable[..., Any]) -> Callable[..., Any]:
        """Return `fn` timed, with the signature of the node it stands for (`like`)."""
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start
                self.calls += 1

        timed.__signature__ = inspect.signature(like)  # type: ignore[attr-defined]
        return timed

    def install(self, replace: dict[str, Callable[..., Any]] | None = None) -> None:
        """Put timed nodes (the real ones, or `replace`'s fakes) where the graph finds them."""
        for name, fn in self.saved.items():
            setattr(nodes, name, self.wrap((replace or {}).get(name, fn), fn))

    def restore(self) -> None:
        """Put the real nodes back."""
        for name, fn in self.saved.items():
            setattr(nodes, name, fn)


def checkpoint_bytes(path: Path) -> tuple[int, int]:
    """Return (checkpoints, their bytes with the writes) of a SQLite checkpoint file."""
    with sqlite3.connect(path) as db:
        count, size = db.execute("SELECT count(*), sum(length(checkpoint) + length(metadata)) "
                                 "FROM checkpoints").fetchone()
        writes = db.execute("SELECT coalesce(sum(length(value)), 0) FROM writes").fetchone()[0]
    return int(count), int(size or 0) + int(writes)


def real_run(workdir: Path, k: int, model: bool) -> dict[str, float]:
    """Run the bundled example's corpus through the runner; time the nodes and the whole."""
    from agentrun.shell.runner import start_run

    ws = workdir / f"real-{k}"  # a fresh workspace: its memory would reject a second corpus
    shutil.copytree(ROOT / "examples" / "orvane", ws)
    timer = Timed()
    timer.install()
    try:
        start = time.perf_counter()
        run, state = start_run(ws, cycles=0, auto=True, overrides={} if model else {
            "generation": {"model_generators": False}})
        wall = time.perf_counter() - start
    finally:
        timer.restore()
    steps, size = checkpoint_bytes(run.checkpoints)
    return {"wall": wall, "nodes": timer.seconds, "steps": timer.calls,
            "accepted": state.get("accepted", 0), "bytes_per_step": size / max(steps, 1)}


def fakes(total: int) -> dict[str, Callable[..., Any]]:
    """Instant nodes that move the state as the real ones do, up to `total` examples."""
    def ingest(state: dict[str, Any], runtime: Any) -> dict[str, Any]:
        Run(Path(state["run_dir"])).freeze_settings(SETTINGS)
        return {"run_dir": state["run_dir"], "sources_digest": "0" * 16,
                "started_at": time.time(), "iteration": 1, "round": 0, "accepted": 0,
                "rejected": 0, "rejected_by_reason": {}, "revisions": []}

    def dispatch(state: dict[str, Any], runtime: Any) -> dict[str, Any]:
        return {"needed": max(total - state["accepted"], 0), "tokens_spent": 0}

    def checker(state: dict[str, Any], runtime: Any) -> dict[str, Any]:
        reasons = {"near_duplicate_of": state["round"] % 7, "off_node": state["round"] % 3}
        return {"accepted": state["accepted"] + BATCH, "rejected": state["rejected"] + 10,
                "rejected_by_reason": reasons}

    def noop(state: dict[str, Any], runtime: Any) -> dict[str, Any]:
        return {}

    def contractors(state: dict[str, Any], runtime: Any) -> dict[str, Any]:
        return {"round": state["round"] + 1}

    return {"ingest": ingest, "architect": noop, "review": noop, "dispatch": dispatch,
            "contractors": contractors, "checker": checker, "steer": noop, "export": noop}


SETTINGS: dict[str, Any] = {}


def fake_run(workdir: Path, total: int, where: str = "sqlite") -> dict[str, float]:
    """Drive the orchestrator with instant nodes to `total` examples; checkpoint bytes, time.

    `where` is the checkpointer (`sqlite` in a fresh file, or a PostgreSQL URL: bytes are
    counted for SQLite only).
    """
    from agentrun.graphs.checkpoints import open_checkpointer

    SETTINGS.update(freeze(Context(workspace=str(ROOT / "examples" / "orvane"), overrides={
        "budgets": {"cycles": 0, "max_rounds": total // BATCH + 1, "max_examples": total}})))
    timer = Timed()
    timer.install(fakes(total))
    ws = Path(tempfile.mkdtemp(prefix=f"fake-{total}-", dir=workdir))
    run = Run(ws / "runs" / "run")  # nodes and routers find a run in its workspace's runs/
    run.root.mkdir(parents=True)
    try:
        with open_checkpointer(where, run) as saver:
            graph = compile_graph(saver)
            config = {"configurable": {"thread_id": run.root.name},
                      "recursion_limit": 10 * total}
            start = time.perf_counter()
            graph.invoke({"run_dir": str(run.root)}, config, context=Context(workspace=str(ws)),
                         durability="sync")
            wall = time.perf_counter() - start
    finally:
        timer.restore()
    steps, size = checkpoint_bytes(run.checkpoints) if where == "sqlite" else (timer.calls, 0)
    return {"wall": wall, "nodes": timer.seconds, "steps": timer.calls,
            "bytes_per_step": size / max(steps, 1), "checkpoints": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--no-real", action="store_true", help="skip the real runs")
    parser.add_argument("--repeats", type=int, default=5, help="real runs (median share)")
    parser.add_argument("--model", action="store_true",
                        help="real runs with the contractor model (the embedded one writes "
                             "rephrasings; minutes a run on 2 cores)")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sized = {n: fake_run(work, n) for n in args.sizes}
        runs = [] if args.no_real else [real_run(work, k, args.model)
                                        for k in range(args.repeats)]
    shares = [(r["wall"] - r["nodes"]) / r["wall"] for r in runs]
    real = runs[shares.index(statistics.median_low(shares))] if runs else None
    rows = []
    for n, r in sized.items():
        engine = r["wall"] - r["nodes"]
        rows.append([f"fakes, {n:,} examples", r["steps"], f"{r['bytes_per_step']:,.0f}",
                     f"{1000 * engine / r['steps']:.2f}", "-"])
    if real is not None:
        engine = real["wall"] - real["nodes"]
        how = "with the contractor model" if args.model else "structural generators"
        rows.append([f"real, bundled example, {how} ({real['accepted']} examples; median of "
                     f"{len(runs)} runs)", real["steps"], f"{real['bytes_per_step']:,.0f}",
                     f"{1000 * engine / real['steps']:.2f}",
                     f"{100 * engine / real['wall']:.2f}% of {real['wall']:.1f} s "
                     f"(range {100 * min(shares):.2f}–{100 * max(shares):.2f}%)"])
    small, large = min(sized), max(sized)
    growth = sized[large]["bytes_per_step"] / sized[small]["bytes_per_step"]
    body = table(["run", "steps", "checkpoint bytes / step", "engine ms / step",
                  "engine share of wall time"], rows)
    body += (f"\n\nCheckpoint bytes per step, {large:,} vs {small:,} examples: ratio "
             f"{growth:.3f} (goal ≤ 1.1)."
             + (f" Engine + checkpoints in a real run: "
                f"{100 * (real['wall'] - real['nodes']) / real['wall']:.2f}% of its wall time "
                "(goal ≤ 1%)." if real else ""))
    print(body)
    if not args.no_append:
        append_results("B5 orchestration overhead", f"`python benchmarks/orchestration.py "
                       f"{' '.join(sys.argv[1:])}`; rounds of {BATCH} fake examples; real runs: "
                       "the bundled example, cycles 0, --auto, SQLite checkpoints, durability "
                       "sync, one process (models warm after the first run)", body)


if __name__ == "__main__":
    main()
