"""A batch file is checked before anything runs: each mistake is one line naming the file and
the job; a saved queue marks which jobs are still to run."""

import json
import shutil

import pytest

from agentrun.errors import ConfigError
from agentrun.shell.batch import _next_job, load_batch, one_at_a_time, pending
from tests.conftest import EXAMPLE


@pytest.fixture()
def root(tmp_path):
    shutil.copytree(EXAMPLE / "sources", tmp_path / "ws" / "sources")
    return tmp_path


@pytest.mark.parametrize(("text", "problem"), [
    ("jobs:\n  - {name: a, workspace: ws, budgets: {max_exmples: 3}}\n",
     "jobs[0] (a): configuration: unknown key 'budgets.max_exmples'"),
    ("jobs:\n  - {name: a, workspace: nowhere}\n", "jobs[0] (a): "),
    ("jobs:\n  - {name: a, workspace: ws}\n  - {name: a, workspace: ws}\n",
     "job names must be unique: a repeated"),
    ("jobs: []\n", "jobs: List should have at least 1 item"),
    ("parallel: 0\njobs:\n  - {name: a, workspace: ws}\n", "parallel: Input should be"),
    ("jobs:\n  - {name: a, workspace: ws, color: red}\n", "jobs.0.color: Extra inputs"),
    ("jobs:\n  - {name: a, workspace: ws\n", "line 3"),
])
def test_mistakes_are_one_line_naming_the_file(root, text, problem):
    path = root / "jobs.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_batch(path)
    assert str(err.value).startswith(f"{path}: ") and problem in str(err.value)
    assert "\n" not in str(err.value)


def test_settings_merge_and_the_queue_says_what_is_left(root):
    path = root / "jobs.yaml"
    path.write_text("defaults: {budgets: {cycles: 0}, generation: {seed: 3}}\njobs:\n"
                    "  - {name: a, workspace: ws, budgets: {max_examples: 9}}\n"
                    "  - {name: b, workspace: ws, settings: {generation: {seed: 4}}}\n")
    batch = load_batch(path)
    a, b = batch.jobs
    assert a.overrides == {"budgets": {"cycles": 0, "max_examples": 9}, "generation": {"seed": 3}}
    assert b.overrides == {"budgets": {"cycles": 0}, "generation": {"seed": 4}}
    assert [j.spec.name for j in pending(batch)] == ["a", "b"]
    batch.queue_path.write_text(json.dumps({"jobs": {"a": {"status": "done"},
                                                     "b": {"status": "failed"}}}))
    assert [j.spec.name for j in pending(load_batch(path))] == ["b"]
    batch.queue_path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a queue file"):
        load_batch(path)


def test_jobs_sharing_a_local_memory_run_one_after_another(root):
    shutil.copytree(root / "ws", root / "other")
    path = root / "jobs.yaml"
    path.write_text("parallel: 4\njobs:\n  - {name: a, workspace: ws}\n"
                    "  - {name: b, workspace: ws}\n"
                    "  - {name: c, workspace: ws, settings: {memory: {server: "
                    "'http://127.0.0.1:8000'}}}\n"
                    "  - {name: d, workspace: other}\n")
    batch = load_batch(path)
    a, b, c, d = batch.jobs
    assert one_at_a_time(batch.jobs) == [["a", "b"]]
    assert _next_job([b, c, d], [a]) is c  # b waits for a; c's memory is on a server
    assert _next_job([b, d], [a, c]) is d
    assert _next_job([b], [a, c, d]) is None
    assert _next_job([b], [c, d]) is b  # a ended
