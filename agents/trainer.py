"""The trainer: export the accepted corpus and fine-tune a LoRA adapter in a child process.

A crash, OOM or NaN in the child cannot take the run down: the cause is recorded and the run
stays resumable. The child resumes from its last complete checkpoint.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from agentrun import progress
from agentrun.errors import TrainingError
from agentrun.graphs.context import Context
from agentrun.graphs.state import State
from agentrun.schemas import Example
from agentrun.training.export import export
from agentrun.training.sft import COMPLETE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """Where the adapter is and how training went."""

    adapter: Path
    data: Path
    metrics: dict[str, Any]


def train_adapter(examples: list[Example], model_dir: Path, out: Path, recipe: dict[str, Any],
                  log_path: Path) -> TrainResult:
    """Train an adapter on `examples` (reuses a finished adapter in `out`)."""
    data = out.parent / f"{out.name}.train.jsonl"
    if (out / COMPLETE).exists():
        return TrainResult(out, data, json.loads((out / "metrics.json").read_text()))
    if not examples:
        raise TrainingError("no accepted examples to train on; check the rejections")
    out.mkdir(parents=True, exist_ok=True)
    export(examples, "prompt-completion", data)
    recipe_path = out.parent / f"{out.name}.recipe.json"
    recipe_path.write_text(json.dumps(recipe, indent=2))
    cmd = [sys.executable, "-m", "agentrun.training.sft", "--model", str(model_dir),
           "--data", str(data), "--out", str(out), "--recipe", str(recipe_path)]
    metrics = _run_child(cmd, log_path)
    return TrainResult(out, data, metrics)


def _run_child(cmd: list[str], log_path: Path) -> dict[str, Any]:
    """Run the training child, stream its progress, and return its final metrics."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    last: dict[str, Any] = {}
    with log_path.open("a") as errlog, subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=errlog, text=True
    ) as proc:
        assert proc.stdout is not None
        with progress.task("train", total=0) as advance:
            for line in proc.stdout:
                event = _parse(line)
                if event is None:
                    continue
                last = event
                if event["event"] == "begin":
                    advance(0, info=f"total={event['max_steps']}")
                elif event["event"] == "step" and event.get("loss") is not None:
                    advance(1, info=f"loss={event['loss']:.3f} "
                                    f"tok/s={event.get('tokens_per_s', 0):.0f}")
        code = proc.wait()
    if code != 0 or last.get("event") != "done":
        cause = (f"{last.get('kind')}: {last.get('message')}" if last.get("event") == "error"
                 else f"exit code {code}")
        raise TrainingError(f"training failed ({cause}); see {log_path}")
    return {k: v for k, v in last.items() if k != "event"}


def _parse(line: str) -> dict[str, Any] | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


# ---------------------------------------------------------------- graph nodes


def train_node(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """Train this iteration's adapter on the workspace corpus (all runs so far)."""
    from agentrun.services import resolve, student_dir

    cfg, ws, run = resolve(runtime.context, state)
    # The adapter learns the workspace's whole corpus: earlier runs' examples and this run's.
    result = train_adapter(ws.corpus(), student_dir(cfg),
                           run.adapter_dir(state["iteration"]), cfg.recipe(),
                           run.logs_dir / "train.log")
    return {"adapter": str(result.adapter), "train_loss": result.metrics.get("train_loss")}


def export_node(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """Write the final corpus in TRL's conversational format and a run summary."""
    from agentrun.services import resolve
    from agentrun.workspace import atomic_write_text, load_examples

    _, _, run = resolve(runtime.context, state)
    n = export(load_examples(run.accepted_path), "sft", run.data_dir / "train.sft.jsonl")
    summary = {k: state.get(k) for k in ("accepted", "rejected", "rejected_by_reason",
                                          "train_loss", "adapter", "report", "scores",
                                          "map_version", "iteration")}
    atomic_write_text(run.root / "summary.json", json.dumps(summary, indent=2))
    log.info("exported %d examples", n)
    return {"status": "done"}
