"""Structured output: a pydantic schema per output, validated, with a bounded retry.

The schema is enforced while decoding where the backend allows; the validation error is fed
back on retry.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from agentrun.models.base import Backend, BatchFaults, GenRequest, OnResult

log = logging.getLogger(__name__)
T = TypeVar("T", bound=BaseModel)


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """Return the strict JSON schema of a pydantic model (no extra properties)."""
    schema = model.model_json_schema()
    schema.setdefault("additionalProperties", False)
    return schema


def parse_output(text: str, model: type[T]) -> T:
    """Parse a model's text as `model`, tolerating a code fence around the JSON."""
    text = text.strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    # strict=False: grammars may let a control character into a string; keep the output.
    return model.model_validate(json.loads(text, strict=False))


def generate_structured(
    backend: Backend,
    requests: list[GenRequest],
    output: type[T],
    retries: int = 1,
    on_result: OnResult | None = None,
    failures: dict[int, str] | None = None,
) -> list[T | None]:
    """Generate one `output` per request in batches; None where no attempt gave a valid one.

    An invalid output is asked again with the error (`retries` times); a request the backend
    gave up on (`BatchFaults`: it already retried) is not. `failures`, when given, receives
    the reason of every None by request index.
    """
    schema = json_schema(output)
    pending = {i: replace(r, schema=schema) for i, r in enumerate(requests)}
    results: list[T | None] = [None] * len(requests)
    reasons: dict[int, str] = {}
    for attempt in range(retries + 1):
        order = list(pending)
        try:
            texts = backend.generate([pending[i] for i in order])
        except BatchFaults as exc:
            texts = exc.texts
            reasons.update({order[j]: why for j, why in exc.faults.items()})
        failed: dict[int, GenRequest] = {}
        for i, text in zip(order, texts, strict=True):
            if i in reasons:
                continue
            try:
                results[i] = parse_output(text, output)
                if on_result is not None:
                    on_result(i, text)
            except (ValidationError, ValueError) as exc:
                failed[i] = _with_feedback(pending[i], text, exc, attempt)
                reasons[i] = f"invalid {output.__name__}: {_first_line(exc)}"
        if not failed:
            break
        if attempt < retries:
            log.info("%d/%d outputs failed %s; retrying", len(failed), len(order),
                     output.__name__)
            for i in failed:
                del reasons[i]
        pending = failed
    if failures is not None:
        failures.update(reasons)
    return results


def _with_feedback(req: GenRequest, text: str, exc: Exception, attempt: int) -> GenRequest:
    error = _first_line(exc)
    feedback = [
        {"role": "assistant", "content": text[:1000]},
        {"role": "user", "content": f"That was not valid: {error}. Answer again with JSON only."},
    ]
    return replace(req, messages=req.messages + feedback, seed=req.seed + attempt + 1)


def _first_line(exc: Exception) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
