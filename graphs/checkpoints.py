"""Where a run's checkpoints live: its folder's SQLite file, or a PostgreSQL database.

`checkpointer: postgresql://…` in agentrun.yaml (or `AGENTRUN_CHECKPOINTER`) puts every run of
the workspace in that database, keyed by run id, so a run killed on one machine resumes from
another working copy of the workspace. The run records where its checkpoints are (the URL
without its password); a resume takes the password from the settings again.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from agentrun.config import load_config
from agentrun.errors import ConfigError
from agentrun.redact import redact
from agentrun.workspace import Run

SQLITE = "sqlite"

RUN_THREADS = uuid.UUID("5b0d7c38-54a1-4b0e-9b44-4f6a2b9f1e07")
"""Namespace of the thread ids of CLI runs: a LangGraph server's thread ids are UUIDs."""


def thread_of(run_id: str) -> str:
    """Return the server's thread id of a CLI run (the same on every server and machine)."""
    return str(uuid.uuid5(RUN_THREADS, run_id))


def threads_of(run: Run) -> set[str]:
    """Return the thread ids that may drive a run.

    Its id (the CLI's thread), its thread on a server (`thread_of`), and the thread a LangGraph
    server started it in (`run.json`).
    """
    meta = run.meta() if run.has_meta() else None
    return {run.id, thread_of(run.id)} | ({meta.thread} if meta and meta.thread else set())


@contextmanager
def open_checkpointer(where: str, run: Run | None = None) -> Iterator[Any]:
    """Yield the checkpoint saver of a run: SQLite in its folder, or the PostgreSQL database.

    The SQLite file is the owner's alone, like run.json (checkpoints hold the run's settings).
    A database that cannot be reached, or refuses the login, is one line naming the setting.
    """
    if where == SQLITE:
        from langgraph.checkpoint.sqlite import SqliteSaver

        assert run is not None, "SQLite checkpoints live in a run's folder"
        owner_only(run.checkpoints)
        conn = sqlite3.connect(run.checkpoints, check_same_thread=False)
        try:
            yield SqliteSaver(conn)
        finally:
            conn.close()
        return
    import psycopg
    from langgraph.checkpoint.postgres import PostgresSaver

    try:
        with PostgresSaver.from_conn_string(where) as saver:
            saver.setup()  # creates the tables once; later calls find them
            yield saver
    except psycopg.OperationalError as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__  # psycopg's lines, as one
        raise ConfigError(f"checkpointer: {redact(where)}: {redact(reason)[:240]}") from exc


def owner_only(path: Path) -> None:
    """Create a checkpoint file readable by its owner alone (checkpoints hold settings)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))


def check_checkpointer(where: str) -> None:
    """Fail in one line, before any run folder exists, when the database cannot be used."""
    if where != SQLITE:
        with open_checkpointer(where):
            pass


def checkpointer_of(run: Run) -> str:
    """Return where a run's checkpoints are, with the database's password from the settings.

    A run started against a database resumes against the same one: the workspace's settings
    (agentrun.yaml, the environment) must name it, else one line says which.
    """
    recorded = run.meta().checkpointer
    if recorded == SQLITE:
        return SQLITE
    live = load_config(run.workspace.root).checkpointer
    if redact(live) != recorded:
        raise ConfigError(f"checkpointer: run {run.id} keeps its checkpoints in {recorded}; "
                          "name that database in agentrun.yaml or AGENTRUN_CHECKPOINTER to "
                          "go on with it")
    return live
