"""Batch autonomy: several workspaces or configurations, one after another, never waiting.

```yaml
parallel: 1                         # jobs at a time (each job is a child process; jobs on one
                                    # workspace whose memory is local run one after another)
defaults: {training: {preset: cpu-tiny}}   # settings for every job, nested like agentrun.yaml
jobs:
  - name: orvane-small
    workspace: examples/orvane      # relative to this file
    budgets: {max_examples: 60, max_tokens: 20000, wall_time_s: 900, cycles: 1}
    settings: {generation: {facts_per_quota: 8}}
```

Every job runs with `--auto` (forks settled by the steering policy, each decision logged in its
run). The queue (`JOBS.queue.json` beside the file) records each job's run and status; running
the same file again skips the jobs that are done, resumes the ones that were interrupted or
failed from their last checkpoint, and starts the rest. Each job's output goes to
`JOBS.logs/NAME.log`; the terminal shows one line per job while they run and a summary table at
the end (also in the queue file).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agentrun.agents.contractors import tokens_spent
from agentrun.config import load_config, read_yaml_mapping
from agentrun.errors import AgentrunError, ConfigError
from agentrun.redact import redact_data
from agentrun.shell.runner import prepare_run
from agentrun.workspace import CANDIDATES, Run, Workspace, atomic_write_text

FINAL = ("done", "stopped")


class JobSpec(BaseModel):
    """One job: a workspace, its budgets and any other settings."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[\w.-]+$")
    workspace: str
    budgets: dict[str, Any] = Field(default_factory=dict)
    """Any of agentrun.yaml's `budgets` (max_examples, max_tokens, wall_time_s, cycles, …)."""
    settings: dict[str, Any] = Field(default_factory=dict)
    """Any other setting, nested like agentrun.yaml."""


class BatchSpec(BaseModel):
    """A batch file: how many jobs at a time, settings for all, and the jobs."""

    model_config = ConfigDict(extra="forbid")

    parallel: int = Field(default=1, ge=1)
    defaults: dict[str, Any] = Field(default_factory=dict)
    jobs: list[JobSpec] = Field(min_length=1)

    @field_validator("jobs")
    @classmethod
    def _unique(cls, jobs: list[JobSpec]) -> list[JobSpec]:
        names = [j.name for j in jobs]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"job names must be unique: {', '.join(twice)} repeated")
        return jobs


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Return `base` updated by `extra`, nested mappings merged key by key."""
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class Job:
    """A job as the queue runs it: its resolved workspace and settings, its run once started."""

    spec: JobSpec
    workspace: Path
    overrides: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)
    local_memory: bool = True
    """Its workspace's memory is the folder's (one writer at a time), not a Chroma server's."""


@dataclass
class Batch:
    """A loaded batch file and its queue."""

    path: Path
    parallel: int
    jobs: list[Job]

    @property
    def queue_path(self) -> Path:
        """Where the queue is kept: `JOBS.queue.json` beside the file."""
        return self.path.with_name(self.path.stem + ".queue.json")

    @property
    def logs_dir(self) -> Path:
        """Where each job's output goes: `JOBS.logs/NAME.log`."""
        return self.path.with_name(self.path.stem + ".logs")

    def save(self) -> None:
        """Write the queue (atomically): each job's run, status, times, error and results."""
        atomic_write_text(self.queue_path, json.dumps(
            redact_data({"jobs": {j.spec.name: j.state for j in self.jobs}}), indent=2) + "\n")


def load_batch(path: str | Path) -> Batch:
    """Read and check a batch file (every job's workspace and settings) before anything runs."""
    path = Path(path).resolve()
    if not path.is_file():
        raise ConfigError(f"{path}: no such batch file")
    try:
        spec = BatchSpec.model_validate(read_yaml_mapping(path))
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise ConfigError(f"{path}: {key}: {err['msg']}") from None
    jobs = []
    for i, js in enumerate(spec.jobs):
        where = f"{path}: jobs[{i}] ({js.name})"
        overrides = deep_merge(deep_merge(spec.defaults, js.settings), {"budgets": js.budgets}
                               if js.budgets else {})
        try:
            load_config(None, overrides)  # a mistake in this file is named as this file's
            ws = Workspace.open(path.parent / js.workspace)
            server = load_config(ws.root, overrides).memory.server
        except AgentrunError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        jobs.append(Job(js, ws.root, overrides, local_memory=server is None))
    batch = Batch(path, spec.parallel, jobs)
    if batch.queue_path.exists():
        try:
            saved = json.loads(batch.queue_path.read_text())["jobs"]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"{batch.queue_path}: not a queue file; delete it to start the "
                              "batch over") from None
        for job in jobs:
            job.state = dict(saved.get(job.spec.name, {}))
    return batch


def pending(batch: Batch) -> list[Job]:
    """Return the jobs still to run, in file order (done and stopped ones are not)."""
    return [j for j in batch.jobs if j.state.get("status") not in FINAL]


def one_at_a_time(jobs: list[Job]) -> list[list[str]]:
    """Return the names of the jobs that share a workspace's local memory, per workspace.

    Such jobs run one after another whatever `parallel` says: a local memory takes one
    writer (a memory on a Chroma server, `memory.server`, takes several).
    """
    groups: dict[Path, list[str]] = {}
    for job in jobs:
        if job.local_memory:
            groups.setdefault(job.workspace, []).append(job.spec.name)
    return [names for names in groups.values() if len(names) > 1]


def _next_job(todo: list[Job], running: list[Job]) -> Job | None:
    """Return the first job that may start now: none whose local memory a running job writes."""
    busy = {job.workspace for job in running if job.local_memory}
    return next((j for j in todo if not (j.local_memory and j.workspace in busy)), None)


def _start(batch: Batch, job: Job) -> subprocess.Popen[bytes]:
    """Start (or resume) a job's run in a child process writing to the job's log."""
    run_dir = job.state.get("run")
    if not run_dir or not (Path(run_dir) / "run.json").exists():
        run = prepare_run(job.workspace, overrides=job.overrides, auto=True)
        job.state = {"run": str(run.root)}
    batch.logs_dir.mkdir(parents=True, exist_ok=True)
    # owner-only: a job's log can name its settings
    fd = os.open(batch.logs_dir / f"{job.spec.name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                 0o600)
    log = os.fdopen(fd, "ab")
    job.state.update(status="running", started=time.time(), ended=None, error=None)
    env = {**os.environ, "COLUMNS": "120"}
    cmd = [sys.executable, "-m", "agentrun.shell.cli", "resume", job.state["run"]]
    return subprocess.Popen(cmd,
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env)


def _finish(job: Job, code: int) -> None:
    """Record how a job's child ended, with the run's own status and results."""
    run = Run(Path(job.state["run"]))
    meta = run.meta()
    job.state.update(ended=time.time(), status=meta.status.value if code == 0
                     else "interrupted" if code == 130 else "failed")
    if job.state["status"] == "failed":
        job.state["error"] = meta.error or f"exit code {code}; see the job's log"
    job.state["results"] = results_of(run)


def results_of(run: Run) -> dict[str, Any]:
    """Return a run's headline numbers: examples, tokens, loss, log-prob gains per kind."""
    summary = run.summary()
    gains = {kind: round(s["logprob_after"] - s["logprob_before"], 3)
             for kind, s in (summary.get("scores") or {}).items()}
    return {"accepted": summary.get("accepted"), "rejected": summary.get("rejected"),
            "tokens": tokens_spent(run), "train_loss": summary.get("train_loss"), "gains": gains}


def progress_line(job: Job) -> dict[str, str]:
    """Return what the terminal shows of a job now: status, examples so far, rounds, time."""
    state = job.state
    run = Run(Path(state["run"])) if state.get("run") else None
    accepted = rounds = "-"
    if run is not None:
        if run.accepted_path.exists():
            accepted = str(run.accepted_path.read_text().count("\n"))
        rounds = str(len(run.round_files(CANDIDATES)))
    started, ended = state.get("started"), state.get("ended")
    elapsed = ((ended or time.time()) - started) if started else None
    return {"job": job.spec.name, "status": state.get("status", "pending"),
            "run": run.id if run else "-", "accepted": accepted, "rounds": rounds,
            "time": f"{elapsed:.0f} s" if elapsed is not None else "-"}


def run_batch(batch: Batch, on_tick: Any = None, tick_s: float = 1.0) -> list[Job]:
    """Run the batch's pending jobs, `parallel` at a time; return every job with its state.

    `on_tick(batch)` is called about every `tick_s` seconds (the CLI redraws its table). On
    Ctrl-C the children are interrupted (their runs stay resumable) and the queue is saved.
    """
    todo = pending(batch)
    running: dict[str, tuple[Job, subprocess.Popen[bytes]]] = {}
    try:
        while todo or running:
            while len(running) < batch.parallel:
                job = _next_job(todo, [j for j, _ in running.values()])
                if job is None:
                    break
                todo.remove(job)
                try:
                    running[job.spec.name] = (job, _start(batch, job))
                except AgentrunError as exc:  # the workspace changed since the batch was read
                    job.state.update(status="failed", error=str(exc), ended=time.time())
                batch.save()
            for name, (job, proc) in list(running.items()):
                code = proc.poll()
                if code is not None:
                    _finish(job, code)
                    del running[name]
                    batch.save()
            if on_tick is not None:
                on_tick(batch)
            if running:
                time.sleep(tick_s)
    except KeyboardInterrupt:
        for _, proc in running.values():
            proc.send_signal(signal.SIGINT)
        for job, proc in running.values():
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
            job.state.update(status="interrupted", ended=time.time())
        batch.save()
        raise
    return batch.jobs
