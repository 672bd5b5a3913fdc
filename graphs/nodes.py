"""The graph's nodes, each a thin step over its role's job.

A node takes the run's dependencies from its state (`deps_for`), calls what its role does
(agents/), and returns the small update the state keeps. Where the run goes next is decided by
the routers beside the wiring (orchestrator.py).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from langgraph.config import get_config
from langgraph.runtime import Runtime

from agentrun.agents.checker import check_round
from agentrun.agents.contractors import needed, tokens_spent, write_round
from agentrun.agents.evaluator import evaluate_run
from agentrun.agents.planning import plan_workspace, sources_digest
from agentrun.agents.revision import revise_run
from agentrun.agents.steering import review_plan, steer_round
from agentrun.agents.trainer import export_run, train_run
from agentrun.graphs.context import Context
from agentrun.graphs.deps import deps_for, freeze, owned, run_of
from agentrun.graphs.state import State
from agentrun.schemas import RunStatus
from agentrun.sources import read_sources
from agentrun.workspace import Workspace, save_map

log = logging.getLogger(__name__)


def ingest(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Read the sources (failing clearly on bad files), open the run and freeze its settings.

    The settings go into the run's folder (`settings.json`), where a server's caller cannot
    write them; the state keeps none.
    """
    context = runtime.context
    ws = Workspace.open(context.workspace)
    notes = read_sources(ws.sources_dir, context.resolve().planning.max_note_mb).notes
    run = ws.run_at(state["run_dir"]) if state.get("run_dir") else ws.new_run()
    if run.has_meta():  # an existing run: only the thread that drives it
        owned(run)
    run.create()
    if not run.has_meta():  # started by a LangGraph server (Studio, the SDK), not by the CLI
        thread = get_config().get("configurable", {}).get("thread_id")
        run.update_meta(workspace=str(ws.root), status=RunStatus.running,
                        driver="langgraph server", context=context.record(ws.root),
                        server=context.server, thread=str(thread) if thread else None)
    started = run.meta().context
    run.freeze_settings(freeze(Context(**started) if started else context))
    log.info("ingested %d notes into run %s", len(notes), run.id)
    return {"run_dir": str(run.root), "sources_digest": sources_digest(notes),
            "started_at": state.get("started_at") or time.time(), "iteration": 1, "round": 0,
            "accepted": 0, "rejected": 0, "rejected_by_reason": {}, "revisions": []}


def architect(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Plan (or reuse) the map and freeze a copy in the run folder."""
    deps = deps_for(state, runtime.context)
    model = deps.model("architect") if deps.settings.generation.model_generators else None
    dataset_map = plan_workspace(deps.workspace, deps.settings, model)
    for problem in dataset_map.problems:
        log.warning("%s", problem)
    save_map(dataset_map, deps.run.map_path)
    return {"map_version": dataset_map.version}


def review(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """The plan fork and the map's own forks, before the first generation."""
    if state.get("iteration", 1) > 1:
        return {}
    deps = deps_for(state, runtime.context)
    return review_plan(deps.settings, deps.workspace, deps.run)


def dispatch(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Count what the map still needs within the budgets (the router decides on it)."""
    deps = deps_for(state, runtime.context)
    return {"needed": needed(deps.settings, deps.workspace, deps.run, state["accepted"]),
            "tokens_spent": tokens_spent(deps.run)}


def contractors(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Generate one round of candidates; a re-executed round reuses its saved candidates."""
    deps = deps_for(state, runtime.context)
    round_ = state["round"] + 1
    model = deps.model("contractor") if deps.settings.generation.model_generators else None
    write_round(deps.settings, deps.workspace, deps.run, state["iteration"], round_,
                state["accepted"], model, deps.student_dir)
    return {"round": round_}


def checker(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Check one round's candidates and record verdicts; a re-executed round adds nothing."""
    deps = deps_for(state, runtime.context)
    cfg = deps.settings
    wanted = cfg.checker.judge == "on" or (cfg.checker.judge == "auto"
                                           and cfg.roles.checker.model != "embedded")
    return check_round(cfg, deps.run, state["iteration"], state["round"], deps.memory,
                       deps.embedder, deps.model("checker") if wanted else None)


def steer(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """The examples forks of this round: ask (within the budget) or decide, then apply."""
    deps = deps_for(state, runtime.context)
    asked = state.get("asked", 0) if state.get("asked_iteration") == state["iteration"] else 0
    return steer_round(deps.settings, deps.run, state["iteration"], state["round"], asked,
                       deps.memory, deps.embedder)


def train(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Train this iteration's adapter; a crash is recorded and the run stays resumable."""
    deps = deps_for(state, runtime.context)
    result = train_run(deps.settings, deps.run, deps.run.adapter_dir(state["iteration"]),
                       deps.student_dir)
    return {"adapter": str(result.adapter), "train_loss": result.metrics.get("train_loss")}


def evaluate(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Score every probe before and after training; write the report beside the run."""
    deps = deps_for(state, runtime.context)
    path, report = evaluate_run(deps.settings, deps.run, state["iteration"],
                                deps.run.inside(state["adapter"]), deps.student_dir)
    return {"report": str(path), "scores": report.summary("kind")}


def revise(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Revise the map from the evaluation (the router decides whether another cycle runs)."""
    deps = deps_for(state, runtime.context)
    revision = revise_run(deps.settings, deps.workspace, deps.run,
                          deps.run.inside(state["report"]))
    return {"map_version": revision.version,
            "revisions": [*state.get("revisions", []), revision.reason]}


def next_cycle(state: State) -> dict[str, Any]:
    """Start the next cycle: its first round comes next."""
    return {"iteration": state["iteration"] + 1, "round": 0}


def export(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Write the final corpus in TRL's conversational format and a run summary."""
    run = run_of(state, runtime.context)
    export_run(run, dict(state))
    return {"status": "done"}
