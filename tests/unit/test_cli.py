"""Bad input gets one clear line naming the file or setting, exit code 2, and no run folder."""

import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from agentrun.shell.cli import app
from agentrun.workspace import load_map

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    text = result.output.strip()
    assert "Traceback" not in text
    return result.exit_code, text


def test_help_lists_every_command():
    code, text = invoke("--help")
    assert code == 0
    for command in ("init", "plan", "run", "resume", "status", "export", "chat", "batch",
                    "studio"):
        assert command in text


def test_init_creates_a_workspace_and_refuses_a_full_folder(tmp_path):
    code, _ = invoke("init", tmp_path / "ws")
    assert code == 0 and len(list((tmp_path / "ws" / "sources").glob("*.md"))) == 11
    code, text = invoke("init", tmp_path / "ws")
    assert code == 2 and "not empty" in text


def test_missing_workspace(tmp_path):
    code, text = invoke("run", tmp_path / "nope")
    assert code == 2 and "no such workspace" in text and "agentrun init" in text


@pytest.mark.parametrize("yaml_text, expected", [
    ("budgets: [\n", "agentrun.yaml: line"),
    ("budgets:\n  cycels: 2\n", "unknown key 'budgets.cycels'"),
    ("roles:\n  student: {model: /no/such/model}\n", "roles.student.model: model '/no/such/model'"),
])
def test_bad_config_is_one_line_and_leaves_no_run(workspace, yaml_text, expected):
    (workspace / "agentrun.yaml").write_text(yaml_text)
    code, text = invoke("run", workspace)
    assert code == 2 and expected in text and len(text.splitlines()) == 1
    assert not (workspace / "runs").exists()


@pytest.mark.parametrize("name, content, expected", [
    ("blob.md", b"\x00\x01\x02", "looks binary"),
    ("empty.md", b"", "empty file"),
])
def test_bad_source_file_is_named_and_planning_goes_on(workspace, name, content, expected):
    (workspace / "sources" / name).write_bytes(content)
    code, text = invoke("plan", workspace, "--no-model")
    flat = " ".join(text.split())  # the console wraps long lines
    assert code == 0 and f"sources/{name}: {expected}" in flat and "(skipped)" in flat
    dataset_map = load_map(workspace / "map.yaml")
    assert len(dataset_map.nodes) == 11 and any(name in p for p in dataset_map.problems)
    # alone in the folder, the same file stops a run before any run folder exists
    for note in (workspace / "sources").iterdir():
        if note.name != name:
            note.unlink()
    code, text = invoke("run", workspace)
    assert code == 2 and name in text and expected in text and len(text.splitlines()) == 1
    assert not (workspace / "runs").exists()


def test_empty_sources(workspace):
    for f in (workspace / "sources").iterdir():
        f.unlink()
    code, text = invoke("plan", workspace)
    assert code == 2 and "no source files" in text


def test_server_down_names_the_role(workspace):
    (workspace / "agentrun.yaml").write_text(
        "roles:\n  architect: {backend: openai, model: m, base_url: 'http://127.0.0.1:9/v1',"
        " max_retries: 0, timeout_s: 2}\n")
    code, text = invoke("plan", workspace)
    assert code == 2 and "roles.architect" in text and "not reachable" in text
    assert not (workspace / "map.yaml").exists()


def test_unknown_run_and_export_format(tmp_path):
    code, text = invoke("status", tmp_path / "nope")
    assert code == 2 and "no such run" in text
    code, text = invoke("resume", tmp_path)
    assert code == 2 and "no such run" in text


def test_plan_show_draws_the_map(workspace):
    code, text = invoke("plan", workspace, "--no-model", "--show")
    assert code == 0 and "drawn:" in text
    page = (workspace / "map.html").read_text()
    dataset_map = load_map(workspace / "map.yaml")
    # every node and every anchor is drawn, and the table carries every node's load
    assert page.count("<circle") == len(dataset_map.nodes)
    assert page.count("<line") == len(dataset_map.anchors)
    assert page.count("<tr>") == len(dataset_map.nodes) + 1
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # works offline
    png = (workspace / "map.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_steering_commands_refuse_bad_targets_in_one_line(workspace, tmp_path):
    code, text = invoke("chat", workspace / "runs" / "20260101-000000-dead")
    assert code == 2 and "no such run" in text
    code, text = invoke("chat", tmp_path / "nowhere")
    assert code == 2 and "no such workspace" in text
    code, text = invoke("studio", tmp_path / "nowhere")
    assert code == 2 and "no such workspace" in text
    code, text = invoke("batch", tmp_path / "jobs.yaml")
    assert code == 2 and "no such batch file" in text
    code, text = invoke("resume", workspace / "runs" / "x", "--edit", "words")
    assert code == 2 and "--edit needs --answer" in text


def test_a_killed_run_shows_interrupted_and_status_creates_nothing(workspace):
    from agentrun.schemas import RunStatus
    from agentrun.workspace import Workspace

    run = Workspace.open(workspace).new_run()
    run.update_meta(workspace=str(workspace), status=RunStatus.running, driver="cli")
    assert run.shown_meta().status == RunStatus.interrupted  # no process drives it
    with run.writer("agentrun resume"):
        assert run.shown_meta().status == RunStatus.running
    code, text = invoke("status", run.root)
    assert code == 0 and "interrupted" in text
    assert not run.checkpoints.exists()  # looking at a run writes nothing
    code, text = invoke("status", workspace)
    assert code == 0 and "interrupted" in text


CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_escape_codes_in_notes_never_reach_the_terminal(tmp_path):
    sources = tmp_path / "ws" / "sources"
    sources.mkdir(parents=True)
    (sources / "Oil\x1b[31m lamp\x1b[0m.md").write_text(
        "The oil lamp burns kelpwax all night long. Keepers trim its wick at dusk.\n")
    (sources / "wick.md").write_text(
        "# Wick \x1b]0;pwned\x07trimming\x9b2J\n\nThe wick is trimmed every evening by hand. "
        "It links to [[Gone\x1b[5m]] which does not exist.\n")
    (sources / "empty\x1b[2J.md").write_text("")
    code, text = invoke("plan", tmp_path / "ws", "--no-model")
    assert code == 0, text
    assert not CONTROL.search(text), repr(text)
    flat = " ".join(text.split())
    assert "Oil lamp" in flat and "Wick trimming" in flat  # the words are kept
    assert "empty.md: empty file" in flat and "Gone" in flat  # so are the problems naming them


HOLDER = """
import sys, time
from pathlib import Path
from agentrun.workspace import Workspace
with Workspace(Path(sys.argv[1])).memory_writer("agentrun run, run 20260101-000000-aaaaaa"):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_writer_of_a_local_memory_is_refused_in_one_line(workspace):
    from agentrun.schemas import RunStatus
    from agentrun.shell.runner import _memory_writer
    from agentrun.workspace import Workspace

    ws = Workspace.open(workspace)
    run = ws.new_run()  # a run prepared before the other process started writing
    run.update_meta(workspace=str(workspace), status=RunStatus.created, driver="cli",
                    context={"workspace": str(workspace), "cycles": 0})
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(workspace)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        record = f"pid {holder.pid}: agentrun run, run 20260101-000000-aaaaaa"
        code, text = invoke("run", workspace, "--cycles", "0")
        assert code == 2 and len(text.splitlines()) == 1, text
        assert "memory already has a writer" in text and record in text
        assert [p.name for p in ws.runs_dir.iterdir()] == [run.id]  # no run folder more
        code, text = invoke("resume", run.root)
        assert code == 2 and record in text and run.meta().status == RunStatus.created
        # a memory on a Chroma server takes several writers: nothing waits for the holder
        run.freeze_settings({"memory": {"server": "http://127.0.0.1:8000"}})
        with _memory_writer(run, run.meta(), "agentrun resume"):
            pass
    finally:
        holder.kill()
        holder.wait()
    with ws.memory_writer("agentrun run"):  # the holder is gone: the memory is free again
        pass
