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

from agentrun.models.base import Backend, GenRequest, OnResult

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
) -> list[T | None]:
    """Generate one `output` per request in batches; None where every attempt was invalid."""
    schema = json_schema(output)
    pending = {i: replace(r, schema=schema) for i, r in enumerate(requests)}
    results: list[T | None] = [None] * len(requests)
    for attempt in range(retries + 1):
        order = list(pending)
        texts = backend.generate([pending[i] for i in order])
        failed: dict[int, GenRequest] = {}
        for i, text in zip(order, texts, strict=True):
            try:
                results[i] = parse_output(text, output)
                if on_result is not None:
                    on_result(i, text)
            except (ValidationError, ValueError) as exc:
                failed[i] = _with_feedback(pending[i], text, exc, attempt)
        if not failed:
            break
        log.info("%d/%d outputs failed %s; retrying", len(failed), len(order), output.__name__)
        pending = failed
    return results


def _with_feedback(req: GenRequest, text: str, exc: Exception, attempt: int) -> GenRequest:
    error = str(exc).splitlines()[0][:200]
    feedback = [
        {"role": "assistant", "content": text[:1000]},
        {"role": "user", "content": f"That was not valid: {error}. Answer again with JSON only."},
    ]
    return replace(req, messages=req.messages + feedback, seed=req.seed + attempt + 1)
