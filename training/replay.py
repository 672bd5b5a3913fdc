"""Replay rows: the base student's own answers to general prompts (self-distillation).

Fine-tuning a small student on a few hundred examples of one world pulls every answer toward
that world ("What is the capital of France?" → "The capital of the Lantern Guild is …").
Mixing in what the student itself answered before training, to prompts that have nothing to
do with the notes, anchors its general behaviour where it was, with no external data. The
prompts are the project's own (`replay_prompts.jsonl`), none of them a question of the
regression guard, so the guard still measures forgetting on questions never trained.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib.resources import files
from pathlib import Path

from agentrun.schemas import Example, ExampleKind, Provenance
from agentrun.training.probes import generate, load_student
from agentrun.workspace import atomic_write_text

REPLAY_NODE = "replay"
"""The node id replay rows carry (they belong to no node of the map)."""
MAX_NEW_TOKENS = 64


def replay_prompts() -> list[str]:
    """Return the general prompts the student's own answers are replayed for."""
    text = files("agentrun.training").joinpath("replay_prompts.jsonl").read_text()
    return [json.loads(line)["prompt"] for line in text.splitlines() if line.strip()]


def self_answers(model_dir: Path, prompts: list[str], cache: Path) -> list[tuple[str, str]]:
    """Return (prompt, answer) pairs of the base student, greedy; cached per model and prompts.

    `cache` is a folder holding one file per student and prompt set, so every workspace
    training the same student reuses its answers. An answer cut by the token limit is
    trimmed to its last whole sentence; an empty one is dropped.
    """
    key = hashlib.sha256(json.dumps([_model_key(model_dir), prompts, MAX_NEW_TOKENS])
                         .encode()).hexdigest()[:16]
    cache = cache / f"{key}.json"
    if cache.exists():
        stored = json.loads(cache.read_text())
        if stored.get("key") == key:
            return [(p, a) for p, a in stored["pairs"]]
    model, tokenizer = load_student(model_dir)
    answers = generate(model, tokenizer, prompts, max_new_tokens=MAX_NEW_TOKENS)
    pairs = [(p, a) for p, a in zip(prompts, map(_whole_sentences, answers), strict=True) if a]
    cache.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cache, json.dumps({"key": key, "pairs": pairs}, ensure_ascii=False))
    return pairs


def replay_examples(model_dir: Path, count: int, cache: Path) -> list[Example]:
    """Return `count` replay rows (the prompts taken in turn), as chat examples."""
    if count <= 0:
        return []
    pairs = self_answers(model_dir, replay_prompts(), cache)
    if not pairs:
        return []
    prov = Provenance(role="trainer", generator="replay:self", model=str(model_dir))
    rows = [pairs[i % len(pairs)] for i in range(count)]
    return [Example(node_id=REPLAY_NODE, kind=ExampleKind.dialogue, provenance=prov,
                    messages=[{"role": "user", "content": p},
                              {"role": "assistant", "content": a}]).with_id()
            for p, a in rows]


def _whole_sentences(answer: str) -> str:
    """Cut an answer after its last full stop, question or exclamation mark, if it has one."""
    answer = answer.strip()
    ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", answer)]
    return answer[:ends[-1]] if ends else answer


def _model_key(model_dir: Path) -> str:
    """Name a student by its folder and the size and time of its weights."""
    weights = sorted(model_dir.glob("*.safetensors"))
    return json.dumps([str(model_dir.resolve()),
                       [(w.name, w.stat().st_size, int(w.stat().st_mtime)) for w in weights]])
