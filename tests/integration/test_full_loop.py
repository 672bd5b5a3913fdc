"""One full cycle on a reduced example with the real embedded model, asserted on artifacts."""

import json
from collections import Counter

import pytest
from safetensors.torch import load_file

from agentrun.schemas import EvalReport, Example, ExampleKind, ProbeKind
from agentrun.workspace import load_examples, load_map, save_map
from tests.integration.conftest import agentrun

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_full_cycles_leave_every_artifact_and_memory_spans_runs(fast_workspace, smollm2):
    # without a terminal the run stops at the plan fork and says how to answer it
    proc = agentrun("run", str(fast_workspace))
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0 and "fork plan:" in out and "--answer LABEL" in out, out
    (run,) = (fast_workspace / "runs").iterdir()
    assert json.loads((run / "run.json").read_text())["status"] == "waiting"
    assert not (run / "data" / "rounds").exists()  # nothing generated before the approval
    proc = agentrun("status", str(fast_workspace))
    listed, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0 and run.name in listed and "waiting" in listed, listed
    assert "plan:v" in listed
    # an answer that is not an option changes nothing
    proc = agentrun("resume", str(run), "--answer", "maybe")
    bad, _ = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "not one of the options: answer A, B" in bad, bad
    assert json.loads((run / "run.json").read_text())["status"] == "waiting"
    answers = 0
    while json.loads((run / "run.json").read_text())["status"] == "waiting":
        proc = agentrun("resume", str(run), "--answer", "A")
        out, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, out
        answers += 1
    assert "probes per kind, before → after" in out and "accepted" in out
    assert "general questions:" in out
    decisions = [json.loads(line) for line in (run / "data" / "decisions.jsonl").read_text()
                 .splitlines()]
    human = [d for d in decisions if d["by"] == "human"]
    assert len(human) == answers and human[0]["fork_id"].startswith("plan:")
    assert len(human) <= 3  # the question budget of a cycle (steering.max_questions)

    # the map used, in the run and in the workspace, validates
    m = load_map(run / "map.yaml")
    assert load_map(fast_workspace / "map.yaml").version == m.version == 2  # revised once
    assert len(m.nodes) == 3 and m.history

    # the corpus loads with datasets in TRL's conversational format
    from datasets import load_dataset

    train = load_dataset("json", data_files=str(run / "data" / "train.sft.jsonl"), split="train")
    assert train.column_names == ["messages"] and len(train) > 10
    accepted = [Example.model_validate_json(line) for line in
                (run / "data" / "accepted.jsonl").read_text().splitlines()]
    assert len(accepted) == len(train) and len({e.id for e in accepted}) == len(accepted)
    # a fork keeps one alternative of a brief; the others are rejected as not chosen (whether
    # any alternative of the embedded model passes the checker depends on its sampling; the
    # fork itself is tested in tests/unit/test_steering.py)
    groups = Counter(e.group for e in accepted if e.group)
    assert all(n == 1 for n in groups.values()), groups
    assert {e.kind for e in accepted} >= {"exercise", "rephrasing", "dialogue",
                                          "megastructure_part"}
    # the megastructure's parts fit the student's context (max_seq_len 256), chat template in
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    parts = [e for e in accepted if e.kind == "megastructure_part"]
    sizes = [len(tokenizer(tokenizer.apply_chat_template(e.messages, tokenize=False),
                           add_special_tokens=False).input_ids) for e in parts]
    assert parts and max(sizes) <= 256, sizes
    assert all(len(e.messages) >= 4 for e in accepted if e.kind == "dialogue")  # follow-ups
    for line in (run / "data" / "rejected.jsonl").read_text().splitlines():
        ex = Example.model_validate_json(line)
        assert not ex.verdict.accepted and ex.verdict.reasons

    # the adapter is safetensors with its recipe, loads with peft, and has moved from init
    adapter = run / "adapters" / "iter-1"
    assert json.loads((adapter / "recipe.json").read_text())["max_steps"] == 4
    weights = load_file(adapter / "adapter_model.safetensors")
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in weights.items())
    from peft import PeftConfig

    assert PeftConfig.from_pretrained(adapter).r == 16

    # the report scores every probe before and after
    report = EvalReport.model_validate_json((run / "reports" / "eval-iter-1.json").read_text())
    assert {r.probe_id for r in report.probes} == {p.id for p in m.probes()}
    assert {r.kind for r in report.probes} == set(ProbeKind)
    assert all(r.logprob_before < 0 and r.logprob_after < 0 for r in report.probes)
    # the regression guard: the embedded student answers some general questions before
    forgot = report.forgetting()
    assert forgot["questions"] == 40 and forgot["answered_before"] >= 12
    assert (run / "reports" / "eval-iter-1.png").stat().st_size > 5000
    summary = json.loads((run / "summary.json").read_text())
    assert summary["accepted"] == len(accepted) and summary["train_loss"] > 0
    assert summary["forgetting"]["answered_before"] == forgot["answered_before"]
    assert summary["forgetting"]["kept"] == round(forgot["still_answered"]
                                                  / forgot["answered_before"], 3)
    assert json.loads((run / "run.json").read_text())["status"] == "done"

    # a second run never re-emits what the first accepted, and trains on both runs' examples;
    # a hand edit asks for more exercises, so the second run has deficits whatever the revision did
    ws_map = load_map(fast_workspace / "map.yaml")
    for node in ws_map.nodes:
        node.quota[ExampleKind.exercise] = node.quota.get(ExampleKind.exercise, 0) + 3
    save_map(ws_map, fast_workspace / "map.yaml")
    second = agentrun("run", str(fast_workspace), "--max-steps", "2", "--auto")
    out, _ = second.communicate(timeout=900)
    assert second.returncode == 0, out
    run2 = max((fast_workspace / "runs").iterdir())
    assert json.loads((run2 / "run.json").read_text())["status"] == "done"  # never waited
    ids1 = {e.id for e in accepted}
    ids2 = {e.id for e in load_examples(run2 / "data" / "accepted.jsonl")}
    assert ids2 and not ids1 & ids2
    trained = (run2 / "adapters" / "iter-1.train.jsonl").read_text().count("\n")
    corpus = len(ids1) + len(ids2)  # and as many replay rows (training.replay)
    assert trained == 2 * corpus

    # training and evaluation also work on their own, outside the loop
    adapter = run / "adapters" / "by-hand"
    proc = agentrun("train", str(run), "--out", str(adapter), "--max-steps", "3")
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    assert "3 steps on" in out and (adapter / "adapter_model.safetensors").exists()
    assert json.loads((adapter / "metrics.json").read_text())["loss_on"].startswith("assistant")
    proc = agentrun("eval", str(run), "--adapter", str(adapter), "--no-guard")
    out, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, out
    report = EvalReport.model_validate_json((run / "reports" / "eval-by-hand.json").read_text())
    assert report.adapter == str(adapter) and not report.guard
    assert {r.probe_id for r in report.probes} == {p.id for p in load_map(run / "map.yaml")
                                                   .probes()}
    assert "probes per node" in out and (run / "reports" / "eval-by-hand.png").exists()
    # an adapter folder without safetensors is refused in one line
    proc = agentrun("eval", str(run), "--adapter", str(run / "adapters"))
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 2 and "no adapter_model.safetensors" in out
    assert "Traceback" not in out
