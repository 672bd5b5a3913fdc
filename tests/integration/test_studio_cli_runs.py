"""Studio opens the runs the CLI started: `agentrun studio` serves the workspace's own
checkpoints, a CLI run waiting at its plan fork is a thread of the server with that fork, an
answer given through the SDK (what Studio sends) moves the run the CLI then sees, and a run
whose writer lock another process holds is not driven by the server meanwhile."""

import json
import time

import pytest

from agentrun.graphs.served import thread_of
from agentrun.workspace import Run, Workspace
from tests.integration.conftest import FAST_CONFIG, agentrun, free_port
from tests.integration.test_studio import serve, stop

pytestmark = pytest.mark.integration

# the structural generators only: this test is about where the state lives, not the contractor
CONFIG = FAST_CONFIG.replace("generation:\n", "generation:\n  model_generators: false\n")


def cli_run_at_fork(ws):
    """Start a run from the CLI; it stops at the plan fork (no terminal to ask in)."""
    out, _ = agentrun("run", str(ws), "--cycles", "0").communicate(timeout=300)
    (run_dir,) = [p for p in (ws / "runs").iterdir()
                  if p.is_dir() and json.loads((p / "run.json").read_text())["status"]
                  == "waiting" and p.name not in SEEN]
    SEEN.add(run_dir.name)
    return run_dir, out


SEEN: set[str] = set()


def registered(client, run_id, timeout_s=60.0):
    """Wait until `agentrun studio` has made the CLI run a thread of its server."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            return client.threads.get(run_id)
        except Exception:  # noqa: BLE001 - 404 until the next registration round
            time.sleep(0.5)
    raise AssertionError(f"run {run_id} never became a thread of the server")


def test_studio_opens_and_answers_a_cli_run(fast_workspace):
    from langgraph_sdk import get_sync_client

    (fast_workspace / "agentrun.yaml").write_text(CONFIG)
    run_dir, out = cli_run_at_fork(fast_workspace)
    assert "fork plan" in out or "plan" in out, out
    port = free_port()
    server = serve(fast_workspace, port)
    try:
        client = get_sync_client(url=f"http://127.0.0.1:{port}")
        tid = thread_of(run_dir.name)
        thread = registered(client, tid)
        assert thread["metadata"]["run"] == run_dir.name
        assert thread["metadata"]["driver"] == "cli"
        # the server reads the run's own checkpoints: its state and the fork it waits at
        state = client.threads.get_state(tid)
        (waiting,) = state["interrupts"]
        assert waiting["value"]["fork"]["kind"] == "plan" and state["next"] == ["review"]
        assert state["values"]["run_dir"].endswith(run_dir.name)
        assert waiting["value"]["fork"]["id"] == json.loads(
            (run_dir / "run.json").read_text())["fork"]

        # a run whose writer lock another process holds is refused, and nothing moves
        with Run(run_dir).writer("a test holding the run"):
            with pytest.raises(Exception, match="AgentrunError"):  # the server hides the line
                client.runs.wait(tid, "agentrun", command={"resume": {"choice": "A"}},
                                 raise_error=True)
        # so is any run while another process writes the workspace's local memory
        with Workspace(fast_workspace).memory_writer("a test writing the memory"):
            with pytest.raises(Exception, match="AgentrunError"):
                client.runs.wait(tid, "agentrun", command={"resume": {"choice": "A"}},
                                 raise_error=True)
        assert not (run_dir / "data" / "rounds").exists()
        assert client.threads.get_state(tid)["interrupts"][0]["value"]["fork"]["kind"] == "plan"

        # answered through the SDK, as Studio answers: the run goes on in its own folder
        client.runs.wait(tid, "agentrun", command={"resume": {"choice": "A"}})
        state = client.threads.get_state(tid)
        assert (run_dir / "data" / "rounds").is_dir()  # generation began after the approval
        assert not state["interrupts"]  # cycles 0, structural generators: no later fork
        accepted = (run_dir / "data" / "accepted.jsonl").read_text().count("\n")
        assert accepted > 0 and state["values"]["accepted"] == accepted
        # the CLI sees where the server took the run: done, with its examples
        assert json.loads((run_dir / "run.json").read_text())["status"] == "done"
        shown, _ = agentrun("status", str(run_dir)).communicate(timeout=120)
        assert f"{run_dir.name}: done" in shown and f"{accepted} accepted" in shown, shown
        again, _ = agentrun("resume", str(run_dir), "--answer", "A").communicate(timeout=120)
        assert "already finished" in again and "Traceback" not in again, again

        # a run the CLI starts while the server runs becomes a thread too; answered from the
        # CLI, Studio sees it end from the same checkpoints
        second, _ = cli_run_at_fork(fast_workspace)
        tid2 = thread_of(second.name)
        registered(client, tid2)
        assert client.threads.get_state(tid2)["interrupts"][0]["value"]["fork"]["kind"] == "plan"
        done, _ = agentrun("resume", str(second), "--answer", "A").communicate(timeout=600)
        assert "Traceback" not in done and json.loads(
            (second / "run.json").read_text())["status"] == "done", done
        final = client.threads.get_state(tid2)
        assert not final["interrupts"] and final["next"] == []
        # the workspace's first run already covered the map: the second needs nothing more
        assert final["values"]["status"] == "done" and final["values"]["needed"] == 0
        assert not (fast_workspace / ".langgraph_api").exists()
        assert not list(fast_workspace.rglob("threads.sqlite"))  # the server's stay its own
    finally:
        stop(server)


@pytest.mark.slow  # the SQLite case above runs by default; CI runs both
def test_studio_opens_a_cli_run_checkpointed_in_postgres(fast_workspace, tmp_path, monkeypatch):
    """The same with the workspace's checkpoints in PostgreSQL: one database for both."""
    from langgraph_sdk import get_sync_client

    from tests.integration.postgres import postgres_cluster

    (fast_workspace / "agentrun.yaml").write_text(CONFIG)
    with postgres_cluster() as database:
        monkeypatch.setenv("AGENTRUN_CHECKPOINTER", database)
        run_dir, _ = cli_run_at_fork(fast_workspace)
        assert not (run_dir / "checkpoints.sqlite").exists()
        port = free_port()
        server = serve(fast_workspace, port)
        try:
            client = get_sync_client(url=f"http://127.0.0.1:{port}")
            tid = thread_of(run_dir.name)
            registered(client, tid)
            state = client.threads.get_state(tid)
            assert state["interrupts"][0]["value"]["fork"]["kind"] == "plan"
            client.runs.wait(tid, "agentrun", command={"resume": {"choice": "A"}})
            accepted = (run_dir / "data" / "accepted.jsonl").read_text().count("\n")
            assert json.loads((run_dir / "run.json").read_text())["status"] == "done"
            assert accepted > 0 and client.threads.get_state(tid)["values"]["accepted"] == accepted
            assert not (run_dir / "checkpoints.sqlite").exists()  # the database held them
            shown, _ = agentrun("status", str(run_dir)).communicate(timeout=120)
            assert f"{run_dir.name}: done" in shown, shown
        finally:
            stop(server)
