"""The evaluator: score every probe on the base student and on the trained adapter."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from langgraph.runtime import Runtime

from agentrun import progress
from agentrun.graphs.context import Context
from agentrun.graphs.state import State
from agentrun.schemas import DatasetMap, EvalReport, Probe, ProbeResult
from agentrun.training.probes import ProbeScore, score

log = logging.getLogger(__name__)


def load_student(model_dir: Path, adapter: Path | None = None) -> tuple[Any, Any]:
    """Load the student (with an adapter from safetensors, if given) for scoring."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True,
                                                 dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter, is_trainable=False)
    model.eval()
    return model, tokenizer


def score_probes(model_dir: Path, adapter: Path | None, probes: list[Probe], batch_size: int,
                 max_new_tokens: int, name: str) -> list[ProbeScore]:
    """Score all probes on one model in batches."""
    model, tokenizer = load_student(model_dir, adapter)
    with progress.task(name, total=len(probes)) as advance:
        scores = score(model, tokenizer, [p.prompt for p in probes], [p.answer for p in probes],
                       batch_size=batch_size, max_new_tokens=max_new_tokens)
        advance(len(probes))
    return scores


def evaluate(dataset_map: DatasetMap, model_dir: Path, adapter: Path, data: Path, run: str,
             iteration: int, batch_size: int = 16, max_new_tokens: int = 24) -> EvalReport:
    """Score every probe before (base) and after (adapter) training."""
    probes = dataset_map.probes()
    before = score_probes(model_dir, None, probes, batch_size, max_new_tokens, "eval before")
    after = score_probes(model_dir, adapter, probes, batch_size, max_new_tokens, "eval after")
    results = [
        ProbeResult(probe_id=p.id, node_id=p.node_id, kind=p.kind,
                    correct_before=b.correct, correct_after=a.correct,
                    logprob_before=round(b.logprob, 4), logprob_after=round(a.logprob, 4),
                    answer_before=b.answer[:200], answer_after=a.answer[:200])
        for p, b, a in zip(probes, before, after, strict=True)
    ]
    return EvalReport(run=run, iteration=iteration, adapter=str(adapter), data=str(data),
                      probes=results)


def evaluate_node(state: State, runtime: Runtime[Context]) -> dict[str, object]:
    """Score every probe before and after training; write the report beside the run."""
    from agentrun.services import resolve, student_dir
    from agentrun.workspace import atomic_write_text, load_map

    cfg, _, run = resolve(runtime.context, state)
    it = state["iteration"]
    path = run.reports_dir / f"eval-iter-{it}.json"
    if path.exists():
        report = EvalReport.model_validate_json(path.read_text())
    else:
        adapter = Path(state["adapter"])
        report = evaluate(load_map(run.map_path), student_dir(cfg), adapter,
                          adapter.parent / f"{adapter.name}.train.jsonl", run.id, it,
                          cfg.evaluation.batch_size, cfg.evaluation.max_new_tokens)
        atomic_write_text(path, report.model_dump_json(indent=2))
    return {"report": str(path), "scores": report.summary("kind")}
