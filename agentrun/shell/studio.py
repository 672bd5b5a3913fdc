"""LangGraph Studio for a workspace: a `langgraph dev` server whose default workspace is it.

`agentrun studio DIR` writes a `langgraph.json` (the installed orchestrator graph,
`AGENTRUN_WORKSPACE=DIR`) into a server folder of agentrun's cache, outside the workspace, and
replaces itself with `langgraph dev` run from that folder, on 127.0.0.1 by default. The server
keeps its threads and checkpoints there: the in-memory server unpickles what it finds in its
folder at start, and a workspace someone else sends must not be able to run code that way.
The runs it starts write their folders to `DIR/runs/` like the CLI's, marked
`driver: langgraph server` in their `run.json`.

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
import sys
from pathlib import Path
from typing import Any

from agentrun.agents.steering import check_answer
from agentrun.errors import AgentrunError
from agentrun.graphs.context import SERVER_ENV, WORKSPACE_ENV
from agentrun.models.embedded import cache_root
from agentrun.schemas import RunMeta
from agentrun.shell.studio_guard import HOSTS_ENV, LOOPBACK_ORIGIN, STUDIO_ORIGINS
from agentrun.workspace import Workspace, atomic_write_text

GRAPH = "agentrun.graphs.orchestrator:graph"
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
              "env": {WORKSPACE_ENV: str(ws.root), SERVER_ENV: url, HOSTS_ENV: hosts},
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
          browser: bool = False) -> None:
    """Replace this process with `langgraph dev` serving the workspace's graph."""
    ws = Workspace.open(directory)
    connect = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    folder = write_config(ws, f"http://{connect}:{port}", host)
    cmd = dev_command(port, host, browser)
    print(f"serving {ws.root} on http://{host}:{port}\n"
          f"open Studio: {STUDIO_URL.format(host=host, port=port)}", flush=True)
    os.chdir(folder)
    os.execv(cmd[0], cmd)


def server_thread(meta: RunMeta) -> tuple[Any, str]:
    """Return an SDK client for a server run's thread and its id; one-line error if unreachable."""
    from langgraph_sdk import get_sync_client

    url, thread = meta.server, meta.thread
    if not url or not thread:
        raise AgentrunError("this run was started on a LangGraph server that did not record its "
                            "address; steer it in Studio")
    client = get_sync_client(url=url)
    try:
        client.threads.get(thread)
    except Exception as exc:  # noqa: BLE001 - connection refused, 404: one line either way
        raise AgentrunError(f"the LangGraph server at {url} does not answer for thread "
                            f"{thread} ({type(exc).__name__}); start it with `agentrun studio "
                            f"{meta.workspace or 'DIR'}`") from None
    return client, thread


def server_fork(meta: RunMeta) -> dict[str, Any] | None:
    """Return the fork a server run's thread waits at, or None."""
    client, thread = server_thread(meta)
    interrupts = client.threads.get_state(thread).get("interrupts") or []
    return dict(interrupts[0]["value"]) if interrupts else None


def resume_on_server(meta: RunMeta, answer: Any, run_id: str) -> dict[str, Any]:
    """Answer a server run's fork through the SDK (what Studio does) and wait for the run."""
    client, thread = server_thread(meta)
    fork = server_fork(meta)
    if fork is None:
        raise AgentrunError("this server run waits at no fork; continue it in Studio")
    check_answer(fork, answer, run_id)
    client.runs.wait(thread, "agentrun", command={"resume": answer})
    state = dict(client.threads.get_state(thread)["values"])
    waiting = server_fork(meta)
    if waiting is not None:
        state["pending_fork"] = waiting
    return state
