"""A run killed with SIGKILL during generation resumes with no duplicated or lost examples."""

import sqlite3

import pytest

from agentrun.memory.store import Memory
from agentrun.workspace import load_examples
from tests.integration.conftest import agentrun, kill_when

pytestmark = pytest.mark.integration


def cached_responses(ws):
    db = ws / "memory" / "llm_cache.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*) FROM responses").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_sigkill_during_generation_then_resume(fast_workspace):
    proc = agentrun("run", str(fast_workspace), "--auto")
    # 3 architect summaries arrive at once; contractor outputs arrive 2 at a time after them.
    kill_when(proc, lambda: cached_responses(fast_workspace) >= 5, 600)
    (run,) = (fast_workspace / "runs").iterdir()
    assert not (run / "data" / "rounds" / "01-01" / "candidates.jsonl").exists(), \
        "the kill came after generation; nothing was interrupted"
    before = cached_responses(fast_workspace)

    resumed = agentrun("resume", str(run))
    out, _ = resumed.communicate(timeout=900)
    assert resumed.returncode == 0, out

    candidates = load_examples(run / "data" / "rounds" / "01-01" / "candidates.jsonl")
    accepted = load_examples(run / "data" / "accepted.jsonl")
    rejected = load_examples(run / "data" / "rejected.jsonl")
    ids = [e.id for e in accepted]
    assert len(ids) == len(set(ids)), "duplicated examples"
    assert sorted(ids + [e.id for e in rejected]) == sorted(e.id for e in candidates), \
        "every candidate has exactly one verdict"
    memory = Memory(fast_workspace / "memory" / "chroma")
    assert memory.count() == len(accepted)
    assert set(memory.existing(ids)) == set(ids)
    # generation already paid for before the kill was served from the cache
    assert cached_responses(fast_workspace) >= before
