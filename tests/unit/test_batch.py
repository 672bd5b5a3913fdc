"""A batch file is checked before anything runs: each mistake is one line naming the file and
the job; a saved queue marks which jobs are still to run."""

import json
import shutil

import pytest

from agentrun.errors import ConfigError
from agentrun.shell.batch import load_batch, pending
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
