"""`agentrun batch`: jobs run without waiting, a failing job does not stop the others, the
queue resumes where it stopped, and the summary reads from each run's files."""

import json
import shutil
from pathlib import Path

import pytest

from tests.integration.conftest import agentrun

pytestmark = pytest.mark.integration

JOBS = """
parallel: 2
defaults: {generation: {model_generators: false}}   # structural examples: fast and exact
jobs:
  - name: small
    workspace: one
    budgets: {cycles: 0, max_examples: 5}
  - name: whole
    workspace: two
    budgets: {cycles: 0}
  - name: no-student
    workspace: one
    budgets: {cycles: 0}
    settings: {roles: {student: {model: /nowhere/model}}}
"""


def test_batch_runs_jobs_records_failures_and_resumes_the_queue(fast_workspace, tmp_path):
    root = tmp_path / "batch"
    root.mkdir()
    for name in ("one", "two"):
        shutil.copytree(fast_workspace, root / name)
    jobs = root / "jobs.yaml"
    jobs.write_text(JOBS)
    proc = agentrun("batch", str(jobs))
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 1, out  # one job failed; the others ran to the end
    assert "failed: no-student" in out and "Traceback" not in out
    queue = json.loads((root / "jobs.queue.json").read_text())["jobs"]
    assert queue["small"]["status"] == queue["whole"]["status"] == "done"
    assert queue["small"]["results"]["accepted"] == 5  # its example budget
    assert queue["whole"]["results"]["accepted"] > 5
    assert "/nowhere/model" in queue["no-student"]["error"]
    small = root / "one" / "runs" / queue["small"]["run"].rsplit("/", 1)[1]
    meta = json.loads((small / "run.json").read_text())
    assert meta["context"]["auto"] is True  # batch jobs never wait for a person
    decisions = (small / "data" / "decisions.jsonl").read_text()
    assert '"by": "policy"' in decisions and '"by": "human"' not in decisions
    assert (root / "jobs.logs" / "small.log").stat().st_size > 0
    for line in ("small", "whole", "no-student"):
        assert line in out

    # fixed, the batch goes on: done jobs are skipped, only the failed one runs
    jobs.write_text(JOBS.replace("/nowhere/model", "embedded"))
    proc = agentrun("batch", str(jobs))
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "3 jobs, 1 to run (2 done before: skipped)" in out
    queue2 = json.loads((root / "jobs.queue.json").read_text())["jobs"]
    assert queue2["small"] == queue["small"] and queue2["no-student"]["status"] == "done"
    assert len(list((root / "one" / "runs").iterdir())) == 2  # nothing re-ran


ONE_MEMORY = """
parallel: 2
defaults: {generation: {model_generators: false}}
jobs:
  - {name: first, workspace: one, budgets: {cycles: 0}}
  - {name: second, workspace: one, budgets: {cycles: 0}}
"""


def test_jobs_on_one_local_memory_run_in_turn_and_accept_nothing_twice(fast_workspace,
                                                                       tmp_path):
    from agentrun.workspace import Run, load_examples

    root = tmp_path / "batch"
    root.mkdir()
    shutil.copytree(fast_workspace, root / "one")
    jobs = root / "jobs.yaml"
    jobs.write_text(ONE_MEMORY)
    proc = agentrun("batch", str(jobs))
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "one after another" in out and "writers): first, second" in " ".join(out.split())
    queue = json.loads((root / "jobs.queue.json").read_text())["jobs"]
    first, second = queue["first"], queue["second"]
    assert first["status"] == second["status"] == "done"
    assert second["started"] >= first["ended"]  # never two writers of one local memory
    accepted = [{ex.id for ex in load_examples(Run(Path(job["run"])).accepted_path)}
                for job in (first, second)]
    assert accepted[0] and not accepted[0] & accepted[1]  # no example accepted twice
