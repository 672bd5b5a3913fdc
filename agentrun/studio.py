"""LangGraph Studio for a workspace: a `langgraph dev` server whose default workspace is it.

`agentrun studio DIR` writes `DIR/.studio/langgraph.json` (the installed orchestrator graph,
`AGENTRUN_WORKSPACE=DIR`) and replaces itself with `langgraph dev` run from that folder, on
127.0.0.1 by default. The server keeps its threads and checkpoints in `DIR/.studio/`;
the runs it starts write their folders to `DIR/runs/` like the CLI's, marked
`driver: langgraph server` in their `run.json`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from agentrun.errors import AgentrunError
from agentrun.graphs.context import WORKSPACE_ENV
from agentrun.workspace import Workspace, atomic_write_text

GRAPH = "agentrun.graphs.orchestrator:graph"
STUDIO_URL = "https://smith.langchain.com/studio/?baseUrl=http://{host}:{port}"


def write_config(ws: Workspace) -> Path:
    """Write the server's `langgraph.json` for this workspace and return its folder."""
    folder = ws.root / ".studio"
    config = {"dependencies": ["."], "graphs": {"agentrun": GRAPH},
              "env": {WORKSPACE_ENV: str(ws.root)}}
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
    folder = write_config(ws)
    cmd = dev_command(port, host, browser)
    print(f"serving {ws.root} on http://{host}:{port}\n"
          f"open Studio: {STUDIO_URL.format(host=host, port=port)}", flush=True)
    os.chdir(folder)
    os.execv(cmd[0], cmd)
