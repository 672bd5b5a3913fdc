"""The evaluator: score every probe on the base student and on the trained adapter."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from agentrun import progress
from agentrun.config import AgentrunConfig
from agentrun.mapview import write_gain_chart
from agentrun.schemas import DatasetMap, EvalReport, GuardResult, ProbeResult
from agentrun.training.probes import ProbeScore, contains_target, load_student, score
from agentrun.workspace import Run, atomic_write_text, load_map

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Question:
    """A general question of the regression guard, with the answers that count as right."""

    question: str
    answer: str
    also: tuple[str, ...] = ()

    def answered_by(self, text: str) -> bool:
        """Return whether `text` contains the answer or one of its alternatives."""
        return any(contains_target(text, a) for a in (self.answer, *self.also))


def general_questions() -> list[Question]:
    """Return the regression guard: general questions written for the project."""
    text = files("agentrun.training").joinpath("general_questions.jsonl").read_text()
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [Question(r["question"], r["answer"], tuple(r.get("also", ()))) for r in rows]


def score_prompts(model_dir: Path, adapter: Path | None, prompts: list[str], targets: list[str],
                  batch_size: int, max_new_tokens: int, name: str) -> list[ProbeScore]:
    """Score prompts against targets on one model, in batches."""
    model, tokenizer = load_student(model_dir, adapter)
    with progress.task(name, total=len(prompts)) as advance:
        scores = score(model, tokenizer, prompts, targets, batch_size=batch_size,
                       max_new_tokens=max_new_tokens)
        advance(len(prompts))
    return scores


def evaluate(dataset_map: DatasetMap, model_dir: Path, adapter: Path, data: Path, run: str,
             iteration: int, batch_size: int = 16, max_new_tokens: int = 24,
             guard: bool = True) -> EvalReport:
    """Score every probe, and the regression guard, before (base) and after (adapter) training.

    Probes and guard questions go through the same batched passes: one model load, then
    N / batch_size forward passes and generate calls per model.
    """
    probes = dataset_map.probes()
    questions = general_questions() if guard else []
    prompts = [p.prompt for p in probes] + [q.question for q in questions]
    targets = [p.answer for p in probes] + [q.answer for q in questions]
    before = score_prompts(model_dir, None, prompts, targets, batch_size, max_new_tokens,
                           "eval before")
    after = score_prompts(model_dir, adapter, prompts, targets, batch_size, max_new_tokens,
                          "eval after")
    n = len(probes)
    results = [
        ProbeResult(probe_id=p.id, node_id=p.node_id, kind=p.kind,
                    correct_before=b.correct, correct_after=a.correct,
                    logprob_before=round(b.logprob, 4), logprob_after=round(a.logprob, 4),
                    answer_before=b.answer[:200], answer_after=a.answer[:200],
                    strict_before=b.strict, strict_after=a.strict)
        for p, b, a in zip(probes, before[:n], after[:n], strict=True)
    ]
    kept = [GuardResult(question=q.question, answer=q.answer,
                        correct_before=q.answered_by(b.answer),
                        correct_after=q.answered_by(a.answer), answer_after=a.answer[:200])
            for q, b, a in zip(questions, before[n:], after[n:], strict=True)]
    return EvalReport(run=run, iteration=iteration, adapter=str(adapter), data=str(data),
                      probes=results, guard=kept)


def write_report(report: EvalReport, dataset_map: DatasetMap, path: Path) -> Path:
    """Write the JSON report and the per-node chart beside it (`.png`); return the chart."""
    atomic_write_text(path, report.model_dump_json(indent=2))
    titles = dataset_map.titles()
    return write_gain_chart(report, titles, path.with_suffix(".png"))


def evaluate_run(cfg: AgentrunConfig, run: Run, iteration: int, adapter: Path,
                 student_dir: Path) -> tuple[Path, EvalReport]:
    """Evaluate an iteration's adapter once (a written report is reused); return it."""
    path = run.reports_dir / f"eval-iter-{iteration}.json"
    if path.exists():
        return path, EvalReport.model_validate_json(path.read_text())
    dataset_map = load_map(run.map_path)
    report = evaluate(dataset_map, student_dir, adapter,
                      run.adapter_dir(iteration).parent / f"iter-{iteration}.train.jsonl", run.id,
                      iteration, cfg.evaluation.batch_size, cfg.evaluation.max_new_tokens,
                      cfg.evaluation.guard)
    write_report(report, dataset_map, path)
    return path, report
