"""Shared helpers of the benchmarks: timing pairs side by side and appending results to docs."""

from __future__ import annotations

import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"
HEADER = """# Benchmarks

Each section is appended by a script in `benchmarks/` (run it with `python benchmarks/<name>.py
--help` for its options). Timings on shared machines are noisy: ratios are measured side by
side (A, B, A, B …) and reported as medians.
"""


def paired_times(a: Callable[[], object], b: Callable[[], object], pairs: int
                 ) -> tuple[list[float], list[float]]:
    """Time `a` and `b` alternately `pairs` times; return both lists of seconds."""
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(pairs):
        for fn, out in ((a, ta), (b, tb)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return ta, tb


def median_ratio(ta: list[float], tb: list[float]) -> float:
    """Return the median of the per-pair ratios b/a."""
    return statistics.median(y / x for x, y in zip(ta, tb, strict=True))


def machine() -> str:
    """Describe the machine and the versions that matter, in one line."""
    versions = ", ".join(f"{p} {version(p)}" for p in ("agentrun", "torch", "transformers"))
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"{versions}")


def table(head: list[str], rows: Sequence[Sequence[object]]) -> str:
    """Return a markdown table."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def append_results(title: str, settings: str, body: str) -> None:
    """Append a dated section to docs/BENCHMARKS.md (created with its header if missing)."""
    if not DOCS.exists():
        DOCS.write_text(HEADER, encoding="utf-8")
    stamp = time.strftime("%Y-%m-%d %H:%M")
    section = f"\n## {title} ({stamp})\n\n{machine()}; {settings}\n\n{body}\n"
    with DOCS.open("a", encoding="utf-8") as f:
        f.write(section)


def build_dataset(ws: Path) -> list[Any]:
    """Run agentrun's pipeline on a workspace (no training: cycles 0); return what it accepted."""
    import sys

    from agentrun.shell.runner import start_run
    from agentrun.workspace import load_examples

    run, state = start_run(ws, cycles=0, auto=True)
    if state.get("status") != "done":
        sys.exit(f"the pipeline stopped before the end: {state.get('status')}; see {run.root}")
    return load_examples(run.accepted_path)


def trained_tokens(tokenizer: Any, examples: list[Any], fmt: str) -> list[int]:
    """Return each example's length in tokens as the trainer sees it in `fmt` (rows summed)."""
    from agentrun.training.export import to_text
    from agentrun.training.sft import masked_turns

    if fmt == "text":
        return [len(tokenizer(to_text(e)["text"]).input_ids) + 1 for e in examples]  # + EOS
    return [sum(len(row["input_ids"]) for row in masked_turns(e.messages, tokenizer))
            if e.messages else len(tokenizer(e.text or "").input_ids) + 1
            for e in examples]


def repeated(rows: list[Any], sizes: list[int], total: int, seed: int) -> list[Any]:
    """Repeat rows (shuffled each pass) until they hold `total` training tokens."""
    rng, out, tokens = random.Random(seed), [], 0
    order = list(range(len(rows)))
    while tokens < total:
        rng.shuffle(order)
        for i in order:
            out.append(rows[i])
            tokens += sizes[i]
            if tokens >= total:
                break
    return out


def postgres_bin() -> Path | None:
    """Return the folder of PostgreSQL's server programs (initdb, pg_ctl), if installed."""
    import glob
    import shutil

    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(folders[-1]).parent if folders else None


@contextmanager
def postgres_cluster(password: str) -> Iterator[str]:
    """Yield the URL of a throwaway PostgreSQL cluster on 127.0.0.1 (stopped and removed after).

    initdb in a temp folder, password login, pg_ctl on a free port. PostgreSQL refuses to run
    as root, so as root the cluster belongs to the `postgres` user of Debian's package.
    """
    import shutil
    import socket
    import subprocess
    import tempfile

    folder = postgres_bin()
    if folder is None:
        raise RuntimeError("PostgreSQL is not installed (Debian's postgresql package)")
    root = Path(tempfile.mkdtemp(prefix="agentrun-pg-"))
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    (root / "pw").write_text(password)
    if as_owner:
        shutil.chown(root, "postgres")
        shutil.chown(root / "pw", "postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    data = root / "data"

    def pg(*args: str) -> None:
        subprocess.run([*as_owner, *args], check=True, capture_output=True, text=True)

    try:
        pg(str(folder / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256",
           f"--pwfile={root / 'pw'}", "-E", "UTF8")
        pg(str(folder / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
           f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start")
        yield f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_owner, str(folder / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def free_port() -> int:
    """Return a TCP port of 127.0.0.1 that nothing listens on now."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_http(answer: Callable[[dict[str, Any]], tuple[int, str, bytes]]) -> tuple[Any, str]:
    """Serve `answer(body) -> (status, content type, bytes)` for POSTs on 127.0.0.1.

    Returns the server (stop it with `shutdown()` and `server_close()`) and its `/v1` URL: a
    stand-in for an OpenAI-compatible endpoint, keep-alive like a real one.
    """
    import json
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            status, kind, data = answer(json.loads(
                self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            if not isinstance(sys.exc_info()[1], ConnectionError):  # a client killed mid-request
                super().handle_error(request, client_address)

    httpd = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
