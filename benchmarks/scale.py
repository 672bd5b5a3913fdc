"""B7: generation throughput over replicas of an OpenAI-compatible server; checkpoint cost.

python benchmarks/scale.py                                  # 512 requests, 250 ms, 4 slots each
python benchmarks/scale.py --requests 2048 --replicas 1 2 4 8 16 --latency 0.5
python benchmarks/scale.py --backends openai ray --ray-requests 1024  # also through local Ray

Each replica is a fake server on 127.0.0.1, in a process of its own, that holds a request for
a fixed time and serves at most `--slots` at once (further requests queue at the server, as
`vllm serve` queues past its batch), so the replicas, not this machine's cores, bound the
throughput. The same requests go through the `openai` backend with every replica in its
`base_url` list, and with `--backends ... ray` through the `ray` backend on a local Ray (one
Ray Data job per batch, as a run sends a round; `--ray-requests` per job). Reported per
replica count: requests per second over the whole batch and in its steady part (between the
10th and the 90th percentile reply), each as a ratio to linear (N × one replica's rate); the
seconds to the first reply (a Ray job starts its actor pool first); and how busy the least
busy replica was (the share of its slot-time spent on requests while the batch ran; goal: no
replica idle while requests wait). The counts run in alternating order, twice, and the better
of each is kept (noise from this machine only slows a run down).

Then the cost of checkpoints in PostgreSQL against SQLite: the orchestrator with instant nodes
(benchmarks/orchestration.py) to `--examples` examples on each, in `--pairs` alternating
pairs, as the engine's time per step; and the time to read a run's last state back. PostgreSQL
is `--database`, or a throwaway cluster on 127.0.0.1 (Debian's postgresql).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import append_results, machine, postgres_cluster, serve_http, table  # noqa: E402


class Replica:
    """A fake chat-completions server: fixed latency, at most `slots` requests at once."""

    def __init__(self, latency_s: float, slots: int):
        self.latency_s = latency_s
        self.slots = threading.BoundedSemaphore(slots)
        self.lock = threading.Lock()
        self.busy_s = 0.0
        self.httpd, self.url = serve_http(self.answer)

    def answer(self, body: dict[str, Any]) -> tuple[int, str, bytes]:
        """Hold the request for the latency in one of the slots, then answer it."""
        with self.slots:
            start = time.perf_counter()
            threading.Event().wait(self.latency_s)
            with self.lock:
                self.busy_s += time.perf_counter() - start
        return 200, "application/json", json.dumps({
            "id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "ok"}}]}).encode()

    def close(self) -> None:
        """Stop the server."""
        self.httpd.shutdown()
        self.httpd.server_close()


def serve_replicas(count: int, latency_s: float, slots: int, conn: Any) -> None:
    """In a child process: serve `count` replicas, send their URLs, then their busy seconds."""
    replicas = [Replica(latency_s, slots) for _ in range(count)]
    conn.send([r.url for r in replicas])
    conn.recv()  # the batch is over
    conn.send([r.busy_s for r in replicas])
    for r in replicas:
        r.close()


def one_batch(backend_name: str, count: int, requests: int, latency_s: float,
              slots: int) -> dict[str, float]:
    """Send `requests` through `count` replicas; return the rates, the start and the busy share.

    `rate` is requests over the whole batch; `steady` the rate between the 10th and the 90th
    percentile reply (what the replicas sustain once the batch runs); `first` the seconds to
    the first reply (a Ray job's start-up); `busy` the least busy replica's slot-time share.

    The replicas run in a process of their own, as servers would on other machines: the
    client's work (and Ray's, for the `ray` backend) does not slow their answers down.
    """
    import multiprocessing

    from agentrun.models.base import GenRequest
    from agentrun.models.openai_backend import OpenAIBackend
    from agentrun.models.ray_backend import RayBackend

    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    child = ctx.Process(target=serve_replicas, args=(count, latency_s, slots, there),
                        daemon=True)
    child.start()
    try:
        urls = here.recv()
        kind = RayBackend if backend_name == "ray" else OpenAIBackend
        backend = kind("m", urls, max_concurrency=slots, max_retries=0, timeout_s=60)
        asks = [GenRequest(messages=[{"role": "user", "content": f"q{i}"}], max_new_tokens=8,
                           temperature=0.0, seed=i) for i in range(requests)]
        start = time.perf_counter()
        done: list[float] = []
        backend.generate(asks, lambda i, text: done.append(time.perf_counter() - start))
        wall = time.perf_counter() - start
        here.send("done")
        busy = here.recv()
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
    p10, p90 = done[len(done) // 10], done[9 * len(done) // 10]
    return {"rate": requests / wall, "steady": 0.8 * len(done) / (p90 - p10), "first": done[0],
            "busy": min(b / (slots * wall) for b in busy)}


def checkpoint_cost(database: str, examples: int, pairs: int) -> str:
    """Time the orchestrator with instant nodes on SQLite and on PostgreSQL, in pairs.

    Returns a table: the engine's milliseconds per step (node time excluded) on each, their
    median ratio, and the time to read a run's last state back (what a resume does first).
    """
    import statistics
    import tempfile

    from common import median_ratio
    from orchestration import fake_run

    times: dict[str, list[float]] = {"sqlite": [], database: []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(pairs):
            for where in times:
                r = fake_run(Path(tmp), examples, where)
                times[where].append((r["wall"] - r["nodes"]) / r["steps"])
        reads = {where: read_back(Path(tmp), where) for where in times}
    names = {"sqlite": "SQLite (run folder)", database: "PostgreSQL (127.0.0.1)"}
    rows = [[names[w], f"{1000 * statistics.median(t):.2f}", f"{1000 * reads[w]:.1f}"]
            for w, t in times.items()]
    ratio = median_ratio(times["sqlite"], times[database])
    return (table(["checkpointer", "engine + checkpoint ms / step (median)",
                   "last state read back, ms"], rows)
            + f"\n\nPostgreSQL / SQLite per step: {ratio:.2f} (median of {pairs} pairs, "
              f"{examples:,} fake examples a run).")


def read_back(folder: Path, where: str) -> float:
    """Time opening a run's checkpoints and reading its last state (a resume's first step)."""
    from orchestration import fake_run

    from agentrun.graphs.checkpoints import open_checkpointer
    from agentrun.graphs.orchestrator import compile_graph
    from agentrun.workspace import Run

    fake_run(folder, 200, where)
    run = max((p for p in folder.iterdir() if p.name.startswith("fake-200-")),
              key=lambda p: p.stat().st_mtime)
    start = time.perf_counter()
    with open_checkpointer(where, Run(run)) as saver:
        compile_graph(saver).get_state({"configurable": {"thread_id": run.name}})
    return time.perf_counter() - start


def main() -> None:
    """Measure throughput per replica count, print the table, append it to docs/BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=512)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--backends", nargs="+", default=["openai"], choices=["openai", "ray"])
    parser.add_argument("--ray-requests", type=int, default=1024,
                        help="requests per Ray Data job (the ray backend's batch)")
    parser.add_argument("--latency", type=float, default=0.25, help="seconds per request")
    parser.add_argument("--slots", type=int, default=4, help="requests a replica serves at once")
    parser.add_argument("--database", help="a PostgreSQL URL for the checkpoint cost "
                                           "(default: a throwaway local cluster)")
    parser.add_argument("--examples", type=int, default=1000,
                        help="fake examples per run for the checkpoint cost")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--no-append", action="store_true", help="print only")
    args = parser.parse_args()
    rows = []
    for name in args.backends:
        requests = args.ray_requests if name == "ray" else args.requests
        best: dict[int, dict[str, float]] = {}
        for order in (args.replicas, list(reversed(args.replicas))):
            for n in order:
                got = one_batch(name, n, requests, args.latency, args.slots)
                if n not in best or got["rate"] > best[n]["rate"]:
                    best[n] = got
        one = min(best)
        base, steady = best[one]["rate"] / one, best[one]["steady"] / one
        rows += [[name, f"{requests:,}", n, f"{b['rate']:.1f}", f"{b['rate'] / (n * base):.2f}",
                  f"{b['steady']:.1f}", f"{b['steady'] / (n * steady):.2f}",
                  f"{b['first']:.1f}", f"{b['busy']:.0%}"] for n, b in sorted(best.items())]
    ideal = args.slots / args.latency
    body = (table(["backend", "requests a batch", "replicas", "requests/s", "× linear",
                   "steady requests/s", "steady × linear (goal ≥ 0.9 at 8)",
                   "first reply, s", "least busy replica (slot-time)"], rows)
            + f"\n\nOne replica's ceiling: {ideal:.1f} requests/s ({args.slots} slots, "
              f"{args.latency * 1000:.0f} ms). {machine()}.")
    with ExitStack() as stack:
        database = args.database or stack.enter_context(postgres_cluster("bench-only"))
        body += "\n\n" + checkpoint_cost(database, args.examples, args.pairs)
    print(body)
    if not args.no_append:
        append_results(f"B7 scale-out: {' and '.join(args.backends)} over replicas; checkpoints",
                       f"`python benchmarks/scale.py --requests {args.requests} --replicas "
                       f"{' '.join(map(str, args.replicas))} --latency {args.latency} "
                       f"--slots {args.slots} --backends {' '.join(args.backends)} "
                       f"--ray-requests {args.ray_requests}`", body)


if __name__ == "__main__":
    main()
