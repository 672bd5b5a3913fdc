"""The graph and the checkpointer `agentrun studio`'s server runs on: the workspace's own.

A LangGraph server keeps the checkpoints of its threads in its own store; this module gives it
the workspace's instead (langgraph.json's `checkpointer.path`), so a run the CLI started is a
thread of the server with its state and its pending fork, and whatever the server writes to it
(a fork answered in Studio) is what `agentrun status` and `resume` read next.

- A workspace that keeps its checkpoints in PostgreSQL (`checkpointer: postgresql://…`): the
  server uses that database, for its own threads and the CLI's runs alike.
- The embedded default, SQLite in each run folder: a CLI run's thread reads and writes
  `runs/<id>/checkpoints.sqlite`; any other thread (one Studio started) lives in the server's
  own file (`AGENTRUN_STUDIO_THREADS`), outside the workspace.

A server's thread ids are UUIDs: a CLI run's is `thread_of(run id)` (a name-based UUID), and
the saver speaks to the checkpoints underneath in the run id, as the CLI does.

While the server drives a run it holds the writer lock of the workspace's local memory, and of
a CLI run the run's own (`graph`, the factory the server calls for every run), so a CLI run or
resume beside it is refused in one line, and the server refuses to run a thread while the CLI
writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)
from langgraph_sdk.runtime import ServerRuntime

from agentrun.config import load_config
from agentrun.errors import ConfigError
from agentrun.graphs.checkpoints import SQLITE, owner_only, thread_of
from agentrun.graphs.context import THREADS_ENV, served_workspace, server_threads_file
from agentrun.graphs.orchestrator import compile_graph
from agentrun.workspace import Run, Workspace


def cli_run(thread_id: str | None, root: str | Path | None = None) -> Run | None:
    """Return the CLI run whose thread id is `thread_id` in the workspace (the served one)."""
    root = root or served_workspace()
    runs = Path(root).resolve() / "runs" if root else None
    if runs is None or not thread_id or not runs.is_dir():
        return None
    for folder in runs.iterdir():
        if thread_of(folder.name) == thread_id:
            run = Run(folder)
            return run if started_by_cli(run) else None
    return None


def started_by_cli(run: Run) -> bool:
    """Whether a run folder holds a run the CLI (or the Python API) started."""
    return run.has_meta() and run.meta().driver != "langgraph server"


def _with_thread(config: Any, thread: str) -> Any:
    return {**config, "configurable": {**config.get("configurable", {}), "thread_id": thread}}


class WorkspaceSaver(BaseCheckpointSaver[str]):
    """Async checkpoints by thread: a CLI run's own (under its run id), else the server's own.

    `inner(path)` opens the saver a file of checkpoints needs; with PostgreSQL one saver holds
    every thread, and `inner` ignores the path.
    """

    def __init__(self, threads_file: Path, inner: Any, versions: type[BaseCheckpointSaver[str]]):
        super().__init__()
        self.threads_file = threads_file
        self.inner = inner
        self.versions = versions
        self.savers: dict[Path, Any] = {}

    async def _route(self, config: Any) -> tuple[Any, Any, str | None]:
        """Return the saver, the config it takes and the server's thread id to give back."""
        thread = (config or {}).get("configurable", {}).get("thread_id")
        run = cli_run(str(thread)) if thread else None
        path = run.checkpoints if run is not None else self.threads_file
        if path not in self.savers:
            self.savers[path] = await self.inner(path)
        if run is None:
            return self.savers[path], config, None
        return self.savers[path], _with_thread(config, run.id), str(thread)

    @staticmethod
    def _back(item: CheckpointTuple, thread: str | None) -> CheckpointTuple:
        if thread is None:
            return item
        parent = item.parent_config and _with_thread(item.parent_config, thread)
        return item._replace(config=_with_thread(item.config, thread), parent_config=parent)

    async def aget_tuple(self, config: Any) -> CheckpointTuple | None:
        """Return the thread's last (or named) checkpoint."""
        saver, inner, thread = await self._route(config)
        item = await saver.aget_tuple(inner)
        return None if item is None else self._back(item, thread)

    async def alist(self, config: Any, *, filter: dict[str, Any] | None = None,  # noqa: A002
                    before: Any = None, limit: int | None = None) -> AsyncIterator[CheckpointTuple]:
        """List the thread's checkpoints, newest first."""
        saver, inner, thread = await self._route(config)
        before = before and (await self._route(before))[1]
        async for item in saver.alist(inner, filter=filter, before=before, limit=limit):
            yield self._back(item, thread)

    async def aput(self, config: Any, checkpoint: Checkpoint, metadata: CheckpointMetadata,
                   new_versions: ChannelVersions) -> Any:
        """Write a checkpoint where the thread keeps them; return its config as the server's."""
        saver, inner, thread = await self._route(config)
        saved = await saver.aput(inner, checkpoint, metadata, new_versions)
        return saved if thread is None else _with_thread(saved, thread)

    async def aput_writes(self, config: Any, writes: Sequence[tuple[str, Any]], task_id: str,
                          task_path: str = "") -> None:
        """Write a step's pending writes where the thread keeps them."""
        saver, inner, _ = await self._route(config)
        await saver.aput_writes(inner, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """Forget a thread Studio started; a CLI run's checkpoints are the run's, never deleted."""
        if cli_run(thread_id) is None:
            saver, _, _ = await self._route({"configurable": {"thread_id": thread_id}})
            await saver.adelete_thread(thread_id)

    def get_next_version(self, current: str | None, channel: None = None) -> str:
        """Version channels as the savers underneath do (the checkpoints are theirs)."""
        return self.versions.get_next_version(self, current, channel)  # type: ignore[arg-type]


@asynccontextmanager
async def checkpointer() -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """Yield the served workspace's checkpointer (langgraph.json's `checkpointer.path`)."""
    root = Path(served_workspace() or ".").resolve()
    where = load_config(root).checkpointer
    threads = server_threads_file()
    if not threads:  # never in the workspace: what a server keeps there, a stranger could plant
        raise ConfigError(f"{THREADS_ENV} is not set; serve the workspace with `agentrun studio`")
    async with AsyncExitStack() as stack:
        if where != SQLITE:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

            shared = await stack.enter_async_context(AsyncPostgresSaver.from_conn_string(where))
            await shared.setup()

            async def database(path: Path) -> Any:
                return shared

            yield WorkspaceSaver(Path(threads), database, AsyncPostgresSaver)
            return
        from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

        async def sqlite_file(path: Path) -> Any:
            owner_only(path)
            return await stack.enter_async_context(AsyncSqliteSaver.from_conn_string(str(path)))

        yield WorkspaceSaver(Path(threads), sqlite_file, AsyncSqliteSaver)


_GRAPH = compile_graph()


@asynccontextmanager
async def graph(config: RunnableConfig, runtime: ServerRuntime) -> AsyncIterator[Any]:
    """Yield the orchestrator; while it runs a CLI run's thread, hold that run's writer lock."""
    thread = config.get("configurable", {}).get("thread_id")
    if runtime.access_context == "threads.create_run":
        with driving(str(thread) if thread else None):
            yield _GRAPH
    else:
        yield _GRAPH


@contextmanager
def driving(thread_id: str | None) -> Iterator[None]:
    """Hold what a run on the server writes: a CLI run's writer lock, a local memory's.

    One line naming the holder if another process has either: a CLI run of the workspace
    writing its local memory refuses the server's run, as it refuses a second CLI run.
    """
    root = Path(served_workspace() or ".").resolve()
    with ExitStack() as held:
        run = cli_run(thread_id, root)
        if run is not None:
            held.enter_context(run.writer("agentrun studio"))
        if load_config(root).memory.server is None:
            held.enter_context(Workspace(root).memory_writer("agentrun studio"))
        yield
