"""The trainer: export the accepted corpus and fine-tune a LoRA adapter in a child process.

A crash, OOM or NaN in the child cannot take the run down: the cause is recorded and the run
stays resumable. The child resumes from its last complete checkpoint.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentrun import progress
from agentrun.agents.steering import load_preferences
from agentrun.config import AgentrunConfig, Recipe
from agentrun.errors import TrainingError
from agentrun.models.embedded import cache_root
from agentrun.schemas import EvalReport, Example, Preference, RunStatus
from agentrun.training.export import export, export_dpo, preference_pairs
from agentrun.training.launch import launch_args
from agentrun.training.replay import replay_examples
from agentrun.training.sft import COMPLETE, trainer_env
from agentrun.workspace import Run, atomic_write_text, held_lock_fds, load_examples, load_map

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """Where the adapter is and how training went."""

    adapter: Path
    data: Path
    metrics: dict[str, Any]


# Fewer preference pairs than this teach DPO nothing but noise; the stage is skipped (logged).
MIN_DPO_PAIRS = 8


def train_adapter(examples: list[Example], model_dir: Path, out: Path, recipe: Recipe,
                  log_path: Path, preferences: list[Preference] | None = None,
                  replay_cache: Path | None = None) -> TrainResult:
    """Train an adapter on `examples`, then DPO on `preferences` if the recipe asks for it.

    Each stage reuses a finished adapter (a `COMPLETE` marker) and resumes an unfinished one
    from its last complete checkpoint. The replay rows (`recipe.replay`) are made once per
    student and kept in the `replay_cache` folder (default: `replay/` in agentrun's cache,
    `AGENTRUN_CACHE` or ~/.cache/agentrun, shared by every workspace).
    """
    fmt = "text" if recipe.format == "text" else "sft"
    if not examples and not (out / COMPLETE).exists():
        raise TrainingError("no accepted examples to train on; check the rejections")

    def write_sft(path: Path) -> int:
        # the student's own answers to general prompts, so it keeps what it knew
        replay = replay_examples(model_dir, round(recipe.replay * len(examples)),
                                 replay_cache or cache_root() / "replay")
        _note(out, replay_rows=len(replay))
        return export([*examples, *replay], fmt, path)

    sft = _stage(model_dir, out, recipe.model_copy(update={"stage": "sft"}), log_path,
                 write_sft)
    sft.metrics.update(json.loads(_notes(out).read_text()) if _notes(out).exists() else {})
    pairs = preferences or []
    if not recipe.dpo:
        return sft
    if len(pairs) < MIN_DPO_PAIRS:
        log.warning("DPO skipped: %d preference pairs (at least %d needed)", len(pairs),
                    MIN_DPO_PAIRS)
        return TrainResult(sft.adapter, sft.data, {**sft.metrics, "dpo": None})
    dpo_recipe = recipe.model_copy(update={
        "stage": "dpo", "learning_rate": recipe.dpo_learning_rate, "epochs": recipe.dpo_epochs,
        "max_steps": -1})
    dpo = _stage(model_dir, out.with_name(f"{out.name}-dpo"), dpo_recipe, log_path,
                 lambda path: export_dpo(pairs, path), adapter=sft.adapter)
    return TrainResult(dpo.adapter, sft.data, {**sft.metrics, "dpo": dpo.metrics})


def _notes(out: Path) -> Path:
    return out.parent / f"{out.name}.notes.json"


def _note(out: Path, **values: Any) -> None:
    """Record facts of how an adapter was trained beside it (read back when it is reused)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(_notes(out), json.dumps(values))


def _stage(model_dir: Path, out: Path, recipe: Recipe, log_path: Path,
           write_data: Callable[[Path], int], adapter: Path | None = None) -> TrainResult:
    """Run one training stage in a child process (or reuse its finished adapter)."""
    data = out.parent / f"{out.name}.train.jsonl"
    if (out / COMPLETE).exists():
        return TrainResult(out, data, json.loads((out / "metrics.json").read_text()))
    out.mkdir(parents=True, exist_ok=True)
    write_data(data)
    recipe_path = out.parent / f"{out.name}.recipe.json"
    recipe_path.write_text(recipe.model_dump_json(indent=2))
    cmd = [*_entry(recipe), "--model", str(model_dir), "--data", str(data), "--out", str(out),
           "--recipe", str(recipe_path)]
    if adapter is not None:
        cmd += ["--adapter", str(adapter)]
    metrics = _run_child(cmd, log_path, f"train ({recipe.stage})",
                         out.parent / f"{out.name}.trainer.pid")
    return TrainResult(out, data, metrics)


def _entry(recipe: Recipe) -> list[str]:
    """Return how the training child starts: one process, or `accelerate launch` of several."""
    import torch

    gpus = torch.cuda.device_count()
    processes = (gpus or 1) if recipe.processes == "auto" else recipe.processes
    if processes == 1 and recipe.accelerate_config is None:
        return [sys.executable, "-m", "agentrun.training.sft"]
    return [sys.executable, "-m", "agentrun.training.launch",
            *launch_args(processes, recipe.accelerate_config, gpus),
            "--module", "agentrun.training.sft"]


def _run_child(cmd: list[str], log_path: Path, name: str, pid_file: Path) -> dict[str, Any]:
    """Run the training child, stream its progress, and return its final metrics.

    The child dies with its run: it runs in a process group of its own that is killed if this
    process stops waiting for it (an error, Ctrl-C), the kernel kills it if this process dies
    (`die_with_parent`), and it holds the run's writer lock, so no resume starts while it
    lives. `pid_file` names it, so a later start first stops one left behind.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stop_stale_trainer(pid_file)
    last: dict[str, Any] = {}
    with log_path.open("a") as errlog, subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=errlog, text=True, start_new_session=True,
        pass_fds=held_lock_fds(), env=trainer_env(os.getpid()),
    ) as proc:
        atomic_write_text(pid_file, str(proc.pid))
        try:
            last = _follow(proc, name)
        except BaseException:
            _kill_group(proc.pid)
            raise
        finally:
            code = proc.wait()
            pid_file.unlink(missing_ok=True)
    if code != 0 or last.get("event") != "done":
        cause = (f"{last.get('kind')}: {last.get('message')}" if last.get("event") == "error"
                 else _signal_cause(code))
        raise TrainingError(f"training failed ({cause}); see {log_path}")
    return {k: v for k, v in last.items() if k != "event"}


def _follow(proc: subprocess.Popen[str], name: str) -> dict[str, Any]:
    """Turn the child's JSON lines into a progress bar; return its last event."""
    assert proc.stdout is not None
    last: dict[str, Any] = {}
    with progress.task(name, total=0) as advance:
        for line in proc.stdout:
            event = _parse(line)
            if event is None:
                continue
            last = event
            if event["event"] == "begin":
                advance.set_total(int(event["max_steps"]))
                advance(event.get("step", 0), info="resumed" if event.get("step") else "")
            elif event["event"] == "step" and event.get("loss") is not None:
                advance(1, info=f"loss={event['loss']:.3f} "
                                f"tok/s={event.get('tokens_per_s', 0):.0f} "
                                f"eta={_clock(event.get('eta_s', 0))}")
    return last


def stop_stale_trainer(pid_file: Path, wait_s: float = 30.0) -> None:
    """Kill a trainer a dead run left behind (its pid in `pid_file`), and wait until it is gone."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return
    if pid == os.getpid() or not _is_trainer(pid):
        pid_file.unlink(missing_ok=True)
        return
    log.warning("stopping trainer %d left behind by an earlier start of this run", pid)
    _kill_group(pid)
    deadline = time.monotonic() + wait_s
    while _is_trainer(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    pid_file.unlink(missing_ok=True)


def _is_trainer(pid: int) -> bool:
    """Whether `pid` is a live agentrun trainer (not a recycled pid of something else)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return b"agentrun.training.sft" in cmdline and stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_cause(code: int) -> str:
    if code == -9:
        return "killed (SIGKILL: out of memory?)"
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def _parse(line: str) -> dict[str, Any] | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


# ---------------------------------------------------------------- a run's training and export


def train_run(cfg: AgentrunConfig, run: Run, out: Path, student_dir: Path) -> TrainResult:
    """Train an adapter into `out` on the workspace's corpus with the workspace's recipe.

    The adapter learns the workspace's whole corpus: earlier runs' examples and this run's.
    With `training.dpo`, this run's forks (a person's picks, then the policy's) and the
    checker's near-misses become DPO pairs.
    """
    recipe = cfg.recipe()
    corpus = run.workspace.corpus()
    pairs = (load_preferences(run.data_dir) + preference_pairs(
        corpus, load_examples(run.rejected_path), load_map(run.map_path))
             if recipe.dpo else None)
    return train_adapter(corpus, student_dir, out, recipe, run.logs_dir / "train.log", pairs)


SUMMARY_KEYS = ("accepted", "rejected", "rejected_by_reason", "train_loss", "adapter", "report",
                "scores", "map_version", "iteration")


def export_run(run: Run, state: dict[str, Any]) -> int:
    """Write the run's corpus (`train.sft.jsonl`) and `summary.json`; mark the run done."""
    n = export(load_examples(run.accepted_path), "sft", run.data_dir / "train.sft.jsonl")
    summary = {k: state.get(k) for k in SUMMARY_KEYS}
    report = run.inside(state["report"]) if state.get("report") else None
    if report is not None and report.exists():
        summary["forgetting"] = forgetting_summary(
            EvalReport.model_validate_json(report.read_text()))
    atomic_write_text(run.root / "summary.json", json.dumps(summary, indent=2))
    log.info("exported %d examples", n)
    run.update_meta(status=RunStatus.done, fork=None)
    return n


def forgetting_summary(report: EvalReport) -> dict[str, Any]:
    """Return the regression guard's counts and the share of known answers kept."""
    counts: dict[str, Any] = dict(report.forgetting())
    before = counts["answered_before"]
    counts["kept"] = round(counts["still_answered"] / before, 3) if before else None
    return counts
