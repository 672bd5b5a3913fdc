"""B7: generation throughput against 1, 2, 4, 8 replicas of an OpenAI-compatible server.

python benchmarks/scale.py                                  # 512 requests, 250 ms, 4 slots each
python benchmarks/scale.py --requests 2048 --replicas 1 2 4 8 16 --latency 0.5

Each replica is a local fake server on 127.0.0.1 that holds a request for a fixed time and
serves at most `--slots` at once (further requests queue at the server, as `vllm serve` queues
past its batch), so the replicas, not this machine's cores, bound the throughput. The same
requests go through the `openai` backend with every replica in its `base_url` list. Reported
per replica count: requests per second, the ratio to linear (N × one replica's rate), and
how busy the least busy replica was (the share of its slot-time spent on requests while the
batch ran; goal: no replica idle while requests wait). The counts run in alternating order,
twice, and the better of each is kept (noise from this machine only slows a run down).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import append_results, machine, table  # noqa: E402


class Replica:
    """A fake chat-completions server: fixed latency, at most `slots` requests at once."""

    def __init__(self, latency_s: float, slots: int):
        self.latency_s = latency_s
        self.slots = threading.BoundedSemaphore(slots)
        self.lock = threading.Lock()
        self.busy_s = 0.0
        replica = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real server

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with replica.slots:
                    start = time.perf_counter()
                    threading.Event().wait(replica.latency_s)
                    with replica.lock:
                        replica.busy_s += time.perf_counter() - start
                data = json.dumps({"id": "x", "object": "chat.completion", "created": 0,
                                   "model": body["model"], "choices": [{
                                       "index": 0, "finish_reason": "stop", "message": {
                                           "role": "assistant", "content": "ok"}}]}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        """Stop the server."""
        self.httpd.shutdown()
        self.httpd.server_close()


def one_batch(count: int, requests: int, latency_s: float, slots: int) -> tuple[float, float]:
    """Send `requests` through `count` replicas; return (requests/s, least busy share)."""
    from agentrun.models.base import GenRequest
    from agentrun.models.openai_backend import OpenAIBackend

    with ExitStack() as stack:
        replicas = [Replica(latency_s, slots) for _ in range(count)]
        for r in replicas:
            stack.callback(r.close)
        backend = OpenAIBackend("m", [r.url for r in replicas], max_concurrency=slots,
                                max_retries=0, timeout_s=60)
        asks = [GenRequest(messages=[{"role": "user", "content": f"q{i}"}], max_new_tokens=8,
                           temperature=0.0, seed=i) for i in range(requests)]
        start = time.perf_counter()
        backend.generate(asks)
        wall = time.perf_counter() - start
    return requests / wall, min(r.busy_s / (slots * wall) for r in replicas)


def main() -> None:
    """Measure throughput per replica count, print the table, append it to docs/BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=512)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--latency", type=float, default=0.25, help="seconds per request")
    parser.add_argument("--slots", type=int, default=4, help="requests a replica serves at once")
    parser.add_argument("--no-append", action="store_true", help="print only")
    args = parser.parse_args()
    best: dict[int, tuple[float, float]] = {}
    for order in (args.replicas, list(reversed(args.replicas))):
        for n in order:
            rate, busy = one_batch(n, args.requests, args.latency, args.slots)
            if rate > best.get(n, (0.0, 0.0))[0]:
                best[n] = (rate, busy)
    base = best[min(best)][0] / min(best)
    rows = [[n, f"{best[n][0]:.1f}", f"{best[n][0] / (n * base):.2f}", f"{best[n][1]:.0%}"]
            for n in sorted(best)]
    ideal = args.slots / args.latency
    body = (table(["replicas", "requests/s", "× linear (goal ≥ 0.9 at 8)",
                   "least busy replica (slot-time)"], rows)
            + f"\n\nOne replica's ceiling: {ideal:.1f} requests/s ({args.slots} slots, "
              f"{args.latency * 1000:.0f} ms). {machine()}.")
    print(body)
    if not args.no_append:
        append_results("B7 scale-out: the openai backend over replicas",
                       f"`python benchmarks/scale.py --requests {args.requests} --replicas "
                       f"{' '.join(map(str, args.replicas))} --latency {args.latency} "
                       f"--slots {args.slots}`", body)


if __name__ == "__main__":
    main()
