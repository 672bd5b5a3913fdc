"""Write accepted examples in the formats trainers read (TRL, Axolotl, Unsloth, LLaMA-Factory).

One registry: `EXPORTERS[name](example) -> row`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from agentrun.schemas import Example
from agentrun.workspace import write_jsonl

Row = dict[str, Any]


def to_sft(ex: Example) -> Row:
    """TRL conversational format: `{"messages": [...]}`."""
    return {"messages": ex.messages or [{"role": "assistant", "content": ex.text or ""}]}


def to_prompt_completion(ex: Example) -> Row:
    """TRL conversational prompt-completion: loss on the final assistant turn only."""
    msgs = ex.messages or [{"role": "assistant", "content": ex.text or ""}]
    return {"prompt": msgs[:-1], "completion": msgs[-1:]}


def to_text(ex: Example) -> Row:
    """Plain text for continued pretraining."""
    if ex.text is not None:
        return {"text": ex.text}
    return {"text": "\n\n".join(m["content"] for m in ex.messages or [])}


EXPORTERS: dict[str, Callable[[Example], Row]] = {
    "sft": to_sft,
    "prompt-completion": to_prompt_completion,
    "text": to_text,
}


def export(examples: Iterable[Example], fmt: str, path: Path) -> int:
    """Write examples to `path` as JSONL in format `fmt`; return the row count."""
    convert = EXPORTERS[fmt]
    return write_jsonl(path, (convert(e) for e in examples))
