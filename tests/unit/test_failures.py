"""A damaged file, a full disk, a path in the way or Ctrl-C: one line naming the file and the fix.

Nothing is lost: one run's damaged file blocks no other run, a failed write leaves no temp
file, and a stopped run says truthfully in run.json how it stopped.
"""

import errno
import json
import os
from contextlib import contextmanager

import pytest
from typer.testing import CliRunner

from agentrun.errors import DamagedFileError
from agentrun.schemas import RunStatus
from agentrun.shell import runner
from agentrun.shell.cli import app
from agentrun.workspace import CANDIDATES, Run, Workspace, save_examples, save_map
from tests.unit.test_architect import example_map
from tests.unit.test_checker import GOOD, GOOD2

ROOT = os.geteuid() == 0
"""Root ignores file permissions: those cases are then checked with a folder in the way."""


def invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    text = " ".join(result.output.split())  # the console wraps long lines
    assert result.exception is None or isinstance(result.exception, SystemExit), text
    assert "Traceback" not in text
    return result.exit_code, text


def new_run(workspace, accepted=()):
    """A run of the workspace, created (not started), holding `accepted` examples."""
    run = Workspace.open(workspace).new_run()
    run.update_meta(workspace=str(workspace), status=RunStatus.created, driver="cli")
    if accepted:
        save_examples(run.accepted_path, accepted)
        save_map(example_map(), run.map_path)
    return run


def truncate(path, keep=40):
    """Cut a file short, as a crash or a full disk during a plain write would."""
    path.write_bytes(path.read_bytes()[:-keep])


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_damaged_ledger_of_one_run_blocks_no_other(workspace, caplog):
    old = new_run(workspace, [GOOD, GOOD2])
    truncate(old.accepted_path)
    other = new_run(workspace, [GOOD2])
    # a new run's corpus keeps every intact example and warns about the damaged line
    corpus = Workspace.open(workspace).corpus()
    assert {e.id for e in corpus} == {GOOD.id, GOOD2.id}
    assert f"{old.accepted_path}: line 2 is damaged" in caplog.text
    # the other run exports; the damaged one names its file and line
    code, _ = invoke("export", other.root)
    assert code == 0 and (other.root / "export" / "sft.jsonl").exists()
    code, text = invoke("export", old.root)
    assert code == 2 and f"{old.accepted_path}: line 2 is damaged" in text
    assert "delete that line" in text and len(text.splitlines()) == 1


def test_a_damaged_run_json_is_named_and_the_workspace_lists_the_other_runs(workspace):
    damaged, fine = new_run(workspace), new_run(workspace)
    truncate(damaged.root / "run.json")
    for command in ("status", "resume"):
        code, text = invoke(command, damaged.root)
        assert code == 2 and f"{damaged.root / 'run.json'}: damaged, not a run record" in text
    code, text = invoke("status", workspace)
    assert code == 0 and f"{damaged.root / 'run.json'}: damaged" in text
    assert fine.id in text and "created" in text and "damaged" in text


def test_studio_serves_the_other_runs_beside_a_damaged_run_json(workspace, capsys):
    from agentrun.shell.studio import register_runs

    damaged = new_run(workspace)
    (damaged.root / "run.json").write_text("{")
    settled = register_runs("http://127.0.0.1:9", Workspace.open(workspace), set())
    assert damaged.id in settled  # said once, not every round
    assert f"{damaged.root / 'run.json'}: damaged" in capsys.readouterr().err


def test_a_corrupt_checkpoint_database_is_named_with_what_to_do(workspace):
    run = new_run(workspace)
    run.checkpoints.write_bytes(b"not a database" * 100)
    code, text = invoke("status", run.root)
    assert code == 2 and f"{run.checkpoints}: the run's checkpoint database is damaged" in text
    assert "move it aside" in text


def test_corrupt_memory_databases_are_named_with_what_to_do(tmp_path):
    from agentrun.memory.cache import ResponseCache
    from agentrun.memory.dedup import SignatureStore
    from agentrun.memory.store import Memory

    chroma = tmp_path / "memory" / "chroma"
    chroma.mkdir(parents=True)
    (chroma / "chroma.sqlite3").write_bytes(b"garbage" * 100)
    with pytest.raises(DamagedFileError, match="Chroma database cannot be opened.*move"):
        Memory(chroma)
    for path, opener in ((tmp_path / "llm_cache.sqlite", ResponseCache),
                         (tmp_path / "minhash.sqlite", lambda p: SignatureStore(p, 64))):
        path.write_bytes(b"garbage" * 100)
        with pytest.raises(DamagedFileError, match=f"{path}: .* is damaged .*move it aside"):
            opener(path)


def test_a_full_disk_while_planning_is_one_line_and_leaves_no_temp_file(workspace, monkeypatch):
    monkeypatch.setattr(os, "fsync", no_space)
    code, text = invoke("plan", workspace, "--no-model")
    assert code == 2 and len(text.splitlines()) == 1
    assert f"{workspace / 'map.yaml'}: No space left on device; free some space" in text
    assert not (workspace / "map.yaml").exists()
    assert not list(workspace.rglob("*.tmp"))


def test_a_folder_where_a_file_goes_is_one_line(workspace, tmp_path, monkeypatch):
    run = new_run(workspace)
    candidates = run.round_dir(1, 1) / CANDIDATES
    candidates.mkdir(parents=True)
    failing(monkeypatch, run, AssertionError("not reached"))
    code, text = invoke("resume", run.root)
    assert code == 2 and f"{candidates}: Is a directory; a folder is where a file goes" in text
    assert run.meta().status == RunStatus.failed
    (tmp_path / "notes.txt").write_text("mine")
    code, text = invoke("init", tmp_path / "notes.txt")
    assert code == 2 and "notes.txt: is a file, not a folder" in text
    assert (tmp_path / "notes.txt").read_text() == "mine"


@pytest.mark.skipif(ROOT, reason="root ignores file permissions")
def test_a_folder_without_permission_is_one_line(workspace):
    workspace.chmod(0o555)
    try:
        code, text = invoke("plan", workspace, "--no-model")
    finally:
        workspace.chmod(0o755)
    assert code == 2 and "map.yaml: Permission denied; give yourself access" in text


class FailingGraph:
    """A graph whose run writes a round's candidates, then fails or is interrupted."""

    def __init__(self, run, fault):
        self.run, self.fault = run, fault

    def stream(self, *args, **kwargs):
        save_examples(self.run.round_dir(1, 1) / CANDIDATES, [GOOD])
        yield {"contractors": {"round": 1}}
        raise self.fault


def failing(monkeypatch, run, fault):
    @contextmanager
    def graph(_run):
        yield FailingGraph(run, fault)

    monkeypatch.setattr(runner, "checkpointed_graph", graph)


def test_a_full_disk_during_generation_fails_the_run_in_one_line(workspace, monkeypatch):
    run = new_run(workspace)
    failing(monkeypatch, run, AssertionError("not reached"))
    calls = []

    def full_once(fd):  # run.json says `running`, the round's file finds the disk full,
        calls.append(fd)  # then run.json has room again
        if len(calls) == 2:
            no_space()

    monkeypatch.setattr(os, "fsync", full_once)
    code, text = invoke("resume", run.root)
    candidates = run.round_dir(1, 1) / CANDIDATES
    assert code == 2 and len(text.splitlines()) == 1
    assert f"{candidates}: No space left on device" in text
    meta = run.meta()
    assert meta.status == RunStatus.failed and f"{candidates}: No space" in meta.error
    assert not list(run.root.rglob("*.tmp"))


def test_a_run_json_the_full_disk_refuses_shows_interrupted(workspace, monkeypatch):
    run = new_run(workspace)
    failing(monkeypatch, run, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "x.jsonl"))
    original = Run.update_meta

    def update_meta(self, **fields):
        if fields.get("status") == RunStatus.failed:
            no_space()
        return original(self, **fields)

    monkeypatch.setattr(Run, "update_meta", update_meta)
    code, text = invoke("resume", run.root)
    assert code == 2 and "x.jsonl: No space left" in text
    assert run.shown_meta().status == RunStatus.interrupted  # not `running`: nobody drives it


def test_ctrl_c_leaves_a_run_interrupted_and_says_how_to_resume(workspace, monkeypatch):
    run = new_run(workspace)
    failing(monkeypatch, run, KeyboardInterrupt())
    code, text = invoke("resume", run.root)
    assert code == 130 and text.endswith(f"interrupted; the run goes on with `agentrun resume "
                                         f"{run.root}`")
    record = json.loads((run.root / "run.json").read_text())
    assert record["status"] == "interrupted" and record["error"] is None
    code, text = invoke("status", run.root)
    assert code == 0 and "interrupted" in text and "KeyboardInterrupt" not in text


def test_ctrl_c_while_planning_changes_nothing(workspace, monkeypatch):
    assert invoke("plan", workspace, "--no-model")[0] == 0
    before = (workspace / "map.yaml").read_bytes()
    (workspace / "sources" / "New.md").write_text("# New\n\nThe new note says something.\n")

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("agentrun.agents.planning.plan_map", interrupt)
    code, text = invoke("plan", workspace, "--no-model")
    assert code == 130 and text.startswith("plan interrupted; map.yaml was not changed")
    assert "resume" not in text and (workspace / "map.yaml").read_bytes() == before


@pytest.mark.parametrize("content", ['{"accepted": 3', "[1]", "5"])
def test_a_summary_that_is_not_an_object_is_one_line(workspace, content):
    damaged, fine = new_run(workspace), new_run(workspace)
    (damaged.root / "summary.json").write_text(content)
    with pytest.raises(DamagedFileError, match="summary.json: damaged"):
        damaged.summary()
    code, text = invoke("status", workspace)  # the workspace lists both, the damage named
    assert code == 0 and f"{damaged.root / 'summary.json'}: damaged" in text
    assert fine.id in text and "Traceback" not in text
