"""LangGraph Studio for a workspace: a `langgraph dev` server whose default workspace is it.

`agentrun studio DIR` writes a `langgraph.json` (the installed orchestrator graph,
`AGENTRUN_WORKSPACE=DIR`) into a server folder of agentrun's cache, outside the workspace, and
runs `langgraph dev` from that folder, on 127.0.0.1 by default. The server keeps its own
records there (the in-memory server unpickles what it finds in its folder at start, and a
workspace someone else sends must not be able to run code that way), but its checkpoints are
the workspace's (graphs/served.py): every run the CLI started is registered as a thread of the
same id, so Studio opens it with its state and its pending fork, and what Studio answers is
what `agentrun status` and `resume` read next. The runs Studio starts write their folders to
`DIR/runs/` like the CLI's, marked `driver: langgraph server` in their `run.json`.

The server is Studio's and this machine's alone: CORS allows LangGraph Studio's origin and
loopback pages, a guard before every route refuses a foreign `Host`, `Origin` or a body that is
not JSON (studio_guard.py), and a caller's context may choose only budgets and steering-like
settings of a workspace inside DIR (graphs/context.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from agentrun.agents.steering import check_answer
from agentrun.errors import AgentrunError, DamagedFileError
from agentrun.graphs.context import SERVER_ENV, THREADS_ENV, WORKSPACE_ENV, named_server
from agentrun.graphs.served import started_by_cli, thread_of
from agentrun.models.embedded import cache_root
from agentrun.shell.render import clean
from agentrun.shell.studio_guard import HOSTS_ENV, LOOPBACK_ORIGIN, STUDIO_ORIGINS
from agentrun.workspace import Run, Workspace, atomic_write_text

GRAPH = "agentrun.graphs.served:graph"
CHECKPOINTER = "agentrun.graphs.served.checkpointer"  # langgraph-api: module.name
SYNC_S = 2.0
"""How often the workspace's new CLI runs are registered as threads of the server."""
STUDIO_URL = "https://smith.langchain.com/studio/?baseUrl=http://{host}:{port}"


def server_folder(ws: Workspace) -> Path:
    """Return the folder a workspace's server runs in (agentrun's cache, never the workspace)."""
    key = hashlib.sha256(str(ws.root).encode()).hexdigest()[:16]
    return cache_root() / "studio" / f"{ws.root.name}-{key}"


def write_config(ws: Workspace, url: str = "http://127.0.0.1:2024",
                 host: str = "127.0.0.1") -> Path:
    """Write the server's `langgraph.json` for this workspace and return its folder."""
    folder = server_folder(ws)
    hosts = "*" if host in ("0.0.0.0", "::") else host
    config = {"dependencies": ["."], "graphs": {"agentrun": GRAPH},
              "checkpointer": {"path": CHECKPOINTER},
              "env": {WORKSPACE_ENV: str(ws.root), SERVER_ENV: url, HOSTS_ENV: hosts,
                      THREADS_ENV: str(folder / "threads.sqlite")},
              "http": {"app": "agentrun.shell.studio_guard:app",
                       "cors": {"allow_origins": list(STUDIO_ORIGINS),
                                "allow_origin_regex": LOOPBACK_ORIGIN,
                                "allow_methods": ["GET", "POST", "PUT", "PATCH", "DELETE"],
                                "allow_headers": ["*"],
                                "allow_credentials": False,
                                "expose_headers": ["x-pagination-total", "x-pagination-next",
                                                   "content-location"]}}}
    atomic_write_text(folder / "langgraph.json", json.dumps(config, indent=2) + "\n")
    return folder


def langgraph_cli() -> str:
    """Return the `langgraph` executable installed beside this Python, or fail in one line."""
    beside = Path(sys.executable).parent / "langgraph"
    found = str(beside) if beside.exists() else shutil.which("langgraph")
    if found is None:
        raise AgentrunError("langgraph: command not found; install it with "
                            "`pip install \"langgraph-cli[inmem]\"`")
    return found


def dev_command(port: int, host: str, browser: bool) -> list[str]:
    """Return the `langgraph dev` command line (no reload: the graph is an installed package)."""
    cmd = [langgraph_cli(), "dev", "--host", host, "--port", str(port), "--no-reload",
           "--allow-blocking"]
    return cmd if browser else [*cmd, "--no-browser"]


def serve(directory: str | Path, port: int = 2024, host: str = "127.0.0.1",
          browser: bool = False) -> int:
    """Run `langgraph dev` serving the workspace's graph until it stops; return its exit code.

    Meanwhile every CLI run of the workspace becomes a thread of the server (`register_runs`,
    every `SYNC_S`). Ctrl-C or SIGTERM stops the server cleanly (it saves its records); the
    server dies with this process.
    """
    ws = Workspace.open(directory)
    connect = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{connect}:{port}"
    folder = write_config(ws, url, host)
    cmd = dev_command(port, host, browser)
    print(f"serving {clean(ws.root)} on http://{host}:{port}\n"
          f"open Studio: {STUDIO_URL.format(host=host, port=port)}", flush=True)
    proc = subprocess.Popen(cmd, cwd=folder, start_new_session=True, preexec_fn=_die_with_parent)
    stopping: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        stopping.append(signum)
        _signal_group(proc, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    registered: set[str] = set()
    try:
        while proc.poll() is None:
            if not stopping:
                registered |= register_runs(url, ws, registered)
            try:
                proc.wait(timeout=SYNC_S)
            except subprocess.TimeoutExpired:
                pass
    finally:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait()
    return 0 if stopping else proc.returncode


def register_runs(url: str, ws: Workspace, known: set[str]) -> set[str]:
    """Make each CLI run of the workspace not in `known` a thread of the server at `url`.

    The thread's id is `thread_of(run id)`, by which the server finds the run's own checkpoints
    (graphs/served.py); its metadata names the run. Returns the run folders settled now: the
    CLI runs registered, and the runs Studio started (never read again); a server not up yet
    registers none.
    """
    from langgraph_sdk import get_sync_client

    runs = ws.root / "runs"
    settled: set[str] = set()
    cli: list[str] = []
    for folder in sorted(runs.iterdir()) if runs.is_dir() else []:
        run = Run(folder)
        if folder.name in known or not run.has_meta():  # a run being created: the next round
            continue
        try:
            by_cli = started_by_cli(run)
        except DamagedFileError as exc:  # said once; the other runs are served
            print(clean(f"warning: {exc}; not shown in Studio"), file=sys.stderr, flush=True)
            settled.add(run.id)
            continue
        if by_cli:
            cli.append(run.id)
        else:
            settled.add(run.id)
    if not cli:
        return settled
    client = get_sync_client(url=url, timeout=10)
    for run_id in cli:
        try:
            client.threads.create(thread_id=thread_of(run_id), if_exists="do_nothing",
                                  graph_id="agentrun", metadata={"run": run_id, "driver": "cli"})
        except Exception:  # noqa: BLE001 - not up yet, or going down: the next round tries
            break
        settled.add(run_id)
    return settled


def _die_with_parent() -> None:
    """In the server's process before it starts: the kernel stops it if `agentrun studio` dies."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the finally clause above has to do
        pass


def _signal_group(proc: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


def trusted_servers(ws: Workspace) -> set[str]:
    """Return the LangGraph servers the person's own setup names for a workspace.

    The address `agentrun studio` last served it on (its config is in agentrun's cache, never
    in the workspace) and `AGENTRUN_SERVER_URL`. A run's `run.json` names the server that
    drove it, but a workspace someone sent may name any host there: only these are contacted.
    """
    named = [named_server()]
    try:
        named.append(json.loads((server_folder(ws) / "langgraph.json").read_text())["env"]
                     [SERVER_ENV])
    except (OSError, ValueError, KeyError, TypeError):  # never served here
        pass
    return {str(url).rstrip("/") for url in named if url}


def foreign_server(run: Run, url: str | None) -> str | None:
    """Return why a run's server is not contacted (one line), or None when it may be."""
    if not url or url.rstrip("/") in trusted_servers(run.workspace):
        return None
    return (f"run {run.id} was driven by the LangGraph server {url}, which your settings do not "
            f"name (`agentrun studio {run.workspace.root}`, {SERVER_ENV}); it was not contacted")


def server_thread(run: Run) -> tuple[Any, str]:
    """Return an SDK client for a server run's thread and its id; one-line error if unreachable.

    Only a server the person's own setup names is contacted (`trusted_servers`).
    """
    from langgraph_sdk import get_sync_client

    meta = run.meta()
    url, thread = meta.server, meta.thread
    if not url or not thread:
        raise AgentrunError("this run was started on a LangGraph server that did not record its "
                            "address; steer it in Studio")
    refused = foreign_server(run, url)
    if refused is not None:
        raise AgentrunError(refused)
    client = get_sync_client(url=url)
    try:
        client.threads.get(thread)
    except Exception as exc:  # noqa: BLE001 - connection refused, 404: one line either way
        raise AgentrunError(f"the LangGraph server at {url} does not answer for thread "
                            f"{thread} ({type(exc).__name__}); start it with `agentrun studio "
                            f"{run.workspace.root}`") from None
    return client, thread


def server_fork(run: Run) -> dict[str, Any] | None:
    """Return the fork a server run's thread waits at, or None."""
    client, thread = server_thread(run)
    interrupts = client.threads.get_state(thread).get("interrupts") or []
    return dict(interrupts[0]["value"]) if interrupts else None


def resume_on_server(run: Run, answer: Any) -> dict[str, Any]:
    """Answer a server run's fork through the SDK (what Studio does) and wait for the run."""
    client, thread = server_thread(run)
    fork = server_fork(run)
    if fork is None:
        raise AgentrunError("this server run waits at no fork; continue it in Studio")
    check_answer(fork, answer, run.id)
    client.runs.wait(thread, "agentrun", command={"resume": answer})
    state = dict(client.threads.get_state(thread)["values"])
    waiting = server_fork(run)
    if waiting is not None:
        state["pending_fork"] = waiting
    return state
