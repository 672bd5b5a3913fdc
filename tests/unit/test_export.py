"""Exports: DPO pairs from the checker's near-misses, and a dataset card beside every export."""

import json
import os
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from agentrun.agents.checker import Checker
from agentrun.config import CheckerSettings
from agentrun.memory.store import Memory
from agentrun.shell.cli import app
from agentrun.training.export import preference_pairs
from agentrun.workspace import save_examples, save_map
from tests.unit.test_architect import example_map
from tests.unit.test_checker import GOOD, GOOD2, ex


def checked(tmp_path, embedder):
    m = example_map()
    wrong = ex("brinefire", "How long does refining take?",
               "It is slow work. Refining brinefire takes twelve days of slow boiling in "
               "copper vats.")
    invented = ex("kelpwax", "What is kelpwax?",
                  "Kelpwax is a grey wax pressed by Queen Adeltrude from brown kelp.")
    dup = ex("brinefire", "What is brinefire refined from?",
             "Brinefire is a lamp fuel refined from the oil of red kelp.")  # same as GOOD
    result = Checker(m, Memory(tmp_path / "chroma"), embedder, CheckerSettings()).check(
        [GOOD, GOOD2, wrong, invented, dup], "r1/a")
    return m, result


def test_near_misses_become_preference_pairs(tmp_path, embedder):
    m, result = checked(tmp_path, embedder)
    pairs = preference_pairs(result.accepted, result.rejected, m)
    # the contradiction is corrected in place; the invented name is ranked below the accepted
    # answer to the same prompt; a mere duplicate is no preference at all
    assert [p.source for p in pairs] == ["checker_ranking:contradicts",
                                         "checker_ranking:ungrounded"]
    fixed, better = pairs
    assert fixed.chosen[0]["content"] == ("It is slow work. Refining brinefire takes eleven days "
                                          "of slow boiling in copper vats.")
    assert "twelve" in fixed.rejected[0]["content"] and fixed.prompt[-1]["role"] == "user"
    assert better.chosen[0]["content"] == GOOD2.messages[-1]["content"]


def a_run(tmp_path, m, result):
    """A run folder holding the checked examples and the map."""
    run = tmp_path / "ws" / "runs" / "r1"
    (run / "data").mkdir(parents=True)
    (run / "checkpoints.sqlite").touch()
    save_map(m, run / "map.yaml")
    save_examples(run / "data" / "accepted.jsonl", result.accepted)
    save_examples(run / "data" / "rejected.jsonl", result.rejected)
    return run


def test_export_dpo_writes_trl_rows_and_a_dataset_card(tmp_path, embedder):
    m, result = checked(tmp_path, embedder)
    run = a_run(tmp_path, m, result)
    out = CliRunner().invoke(app, ["export", str(run), "--format", "dpo"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in (run / "export" / "dpo.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(set(r) == {"prompt", "chosen", "rejected"} for r in rows)
    card = (run / "export" / "README.md").read_text()
    assert "| dpo.jsonl | 2 |" in card and "2 accepted, 3 rejected" in card
    assert "| contradicts | 1 |" in card and "| duplicate_of | 1 |" in card
    assert f"version {m.version}" in card
    assert "| exercise | meso | 2 | " in card  # the length distribution, per kind and level
    bad = CliRunner().invoke(app, ["export", str(run), "--format", "orpo"])
    assert bad.exit_code == 2 and "unknown; choose one of sft, prompt-completion, text, dpo" \
        in bad.output


def test_export_never_replaces_a_file_it_did_not_write(tmp_path, embedder):
    m, result = checked(tmp_path, embedder)
    run = a_run(tmp_path, m, result)
    mine = tmp_path / "share"
    mine.mkdir()
    (mine / "README.md").write_text("# my project\n")
    out = CliRunner().invoke(app, ["export", str(run), "--out", str(mine / "sft.jsonl")])
    assert out.exit_code == 2 and "README.md: already exists and is not this run's export" \
        in " ".join(out.output.split())
    assert (mine / "README.md").read_text() == "# my project\n"
    assert not (mine / "sft.jsonl").exists()
    # its own export it may write again; a file changed since is the person's again
    assert CliRunner().invoke(app, ["export", str(run)]).exit_code == 0
    assert CliRunner().invoke(app, ["export", str(run), "--format", "text"]).exit_code == 0
    (run / "export" / "sft.jsonl").write_text("{}\n")
    assert CliRunner().invoke(app, ["export", str(run)]).exit_code == 2
    forced = CliRunner().invoke(app, ["export", str(run), "--out", str(mine / "sft.jsonl"),
                                      "--force"])
    assert forced.exit_code == 0 and "Dataset card" in (mine / "README.md").read_text()


@pytest.mark.parametrize("out, expected", [
    ("share/README.md", "export writes its own README.md there; name the data file otherwise"),
    ("ws/runs/r1/export/written.json", "export writes its own written.json there"),
    ("share", "share: is a folder; --out names the data file (e.g. "),
    ("notes.txt/sft.jsonl", "notes.txt: a file is where export needs a folder"),
    ("card/sft.jsonl", "card/README.md: a folder is where the dataset card goes"),
])
def test_export_refuses_a_bad_out_before_writing_anything(tmp_path, out, expected):
    run = a_run(tmp_path, example_map(), SimpleNamespace(accepted=[GOOD, GOOD2], rejected=[]))
    (tmp_path / "share").mkdir()
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "card" / "README.md").mkdir(parents=True)
    before = sorted(tmp_path.rglob("*"))
    result = CliRunner().invoke(app, ["export", str(run), "--out", str(tmp_path / out)])
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and expected in text and len(result.output.splitlines()) == 1
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, not even the ledger


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_export_refuses_a_folder_it_cannot_write(tmp_path):
    run = a_run(tmp_path, example_map(), SimpleNamespace(accepted=[GOOD], rejected=[]))
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    result = CliRunner().invoke(app, ["export", str(run), "--out", str(locked / "sft.jsonl")])
    assert result.exit_code == 2 and "you cannot write there" in result.output


def test_a_damaged_export_ledger_is_one_line(tmp_path):
    run = a_run(tmp_path, example_map(), SimpleNamespace(accepted=[GOOD], rejected=[]))
    (run / "export").mkdir()
    (run / "export" / "written.json").write_text('{"a": ')
    result = CliRunner().invoke(app, ["export", str(run)])
    assert result.exit_code == 2 and "written.json: damaged" in " ".join(result.output.split())
