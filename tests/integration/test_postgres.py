"""Checkpoints in PostgreSQL: a run killed with SIGKILL mid-generation resumes from a second
working copy of its workspace, with no lost and no duplicated examples; a database that
cannot be reached is one line and no run folder."""

import shutil

import pytest

from agentrun.memory.store import Memory
from agentrun.workspace import CANDIDATES, Run, load_examples
from tests.integration.conftest import agentrun, kill_when
from tests.integration.postgres import PASSWORD, postgres_cluster
from tests.unit.test_benchmarks import load

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def database():
    with postgres_cluster() as url:
        yield url


def responses_in(database):
    """Count the responses the workspace's cache holds in the database."""
    import psycopg

    with psycopg.connect(database) as db:
        try:
            return db.execute("SELECT count(*) FROM agentrun_responses").fetchone()[0]
        except psycopg.errors.UndefinedTable:
            return 0


@pytest.fixture()
def served(tmp_path, monkeypatch):
    """A workspace of three notes, every role behind a fake server (50 ms a reply)."""
    reliability = load("reliability", monkeypatch)
    server = reliability.FaultyServer(0.0, 0, latency_s=0.05, invalid_rate=0.0)
    yield lambda folder: reliability.served_workspace(folder, server.url, 3)
    server.close()


def test_a_run_killed_on_one_copy_resumes_on_another_from_postgres(tmp_path, database,
                                                                   served, monkeypatch):
    first = served(tmp_path / "machine-a" / "ws")
    monkeypatch.setenv("AGENTRUN_CHECKPOINTER", database)
    proc = agentrun("run", str(first), "--auto", "--cycles", "0")
    kill_when(proc, lambda: responses_in(database) >= 5, 300)
    (started,) = (first / "runs").iterdir()
    # the checkpoints and the response cache are in Postgres
    assert not (started / "checkpoints.sqlite").exists()
    assert not (first / "memory" / "llm_cache.sqlite").exists()
    before = responses_in(database)
    assert not (started / "data" / "rounds" / "01-01" / CANDIDATES).exists(), \
        "the kill came after generation; nothing was interrupted"

    # a second working copy (another machine's), and the first one gone
    second = tmp_path / "machine-b" / "ws"
    shutil.copytree(first, second)
    shutil.rmtree(tmp_path / "machine-a")
    run = second / "runs" / started.name
    resumed = agentrun("resume", str(run))
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out
    assert not (tmp_path / "machine-a").exists()  # nothing was written to the first copy

    r = Run(run)
    assert r.meta().status == "done"
    candidates = [e.id for p in r.round_files(CANDIDATES) for e in load_examples(p)]
    accepted = [e.id for e in load_examples(r.accepted_path)]
    rejected = [e.id for e in load_examples(r.rejected_path)]
    assert accepted and len(accepted) == len(set(accepted)), "duplicated examples"
    assert sorted(accepted + rejected) == sorted(candidates), "a candidate without one verdict"
    memory = Memory(second / "memory" / "chroma")
    assert memory.count() == len(accepted) and set(memory.existing(accepted)) == set(accepted)
    # the database's password is taken from the settings, never written
    assert not [p for p in second.rglob("*") if p.is_file() and PASSWORD.encode() in
                p.read_bytes()]
    assert PASSWORD not in out
    assert responses_in(database) >= before  # what was generated before the kill was kept


def test_workers_share_the_response_cache_in_postgres(database):
    from dataclasses import replace

    from agentrun.memory.cache import CachedBackend, PostgresResponseCache
    from agentrun.models.base import GenRequest

    class Echo:
        model_id = "echo"

        def __init__(self):
            self.calls = 0

        def generate(self, requests, on_result=None):
            self.calls += len(requests)
            out = [r.messages[-1]["content"].upper() for r in requests]
            for i, text in enumerate(out):
                if on_result:
                    on_result(i, text)
            return out

        def count_tokens(self, text):
            return len(text.split())

    asks = [replace(GenRequest(messages=[{"role": "user", "content": f"shared {i} words"}],
                               max_new_tokens=8, temperature=0.0), tags={"origin": "r/1.1"})
            for i in range(5)]
    one, two = Echo(), Echo()
    first = CachedBackend(one, PostgresResponseCache(database))
    second = CachedBackend(two, PostgresResponseCache(database))  # another worker
    assert first.generate(asks) == second.generate(asks)
    assert one.calls == 5 and two.calls == 0 and second.hits == 5
    # the same round on the other worker counts the tokens the first one spent
    assert second.fresh_tokens == first.fresh_tokens == 15


def test_a_database_that_cannot_be_reached_is_one_line_and_no_run(tmp_path, served,
                                                                  monkeypatch):
    ws = served(tmp_path / "ws")
    monkeypatch.setenv("AGENTRUN_CHECKPOINTER", f"postgresql://u:{PASSWORD}@127.0.0.1:9/db")
    proc = agentrun("run", str(ws), "--auto", "--cycles", "0")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 2, out
    lines = out.strip().splitlines()
    assert lines[-1].startswith("error: checkpointer: postgresql://***@127.0.0.1:9/db: "), out
    assert "Connection refused" in lines[-1]
    assert "Traceback" not in out and PASSWORD not in out
    assert not (ws / "runs").exists() or not any((ws / "runs").iterdir())
