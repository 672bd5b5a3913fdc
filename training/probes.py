"""Score probes on a model: greedy answer and target log-probability.

The greedy answer must contain the target; the target's mean log-probability under teacher
forcing is a smooth signal even for very small models.

Both are batched: N probes take N / batch_size forward passes and generate calls.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import torch

from agentrun.errors import BackendError
from agentrun.languages import denied, is_number, numbers, places, words


def load_student(model_dir: Path, adapter: Path | None = None) -> tuple[Any, Any]:
    """Load the student (with an adapter, if given) for scoring; safetensors only.

    Weights are never unpickled: a folder with only `.bin` files is refused.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if adapter is not None and not (adapter / "adapter_model.safetensors").is_file():
        raise BackendError(f"{adapter}: no adapter_model.safetensors here (adapters are loaded "
                         "from safetensors only)")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model: Any = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True,
                                                      dtype=torch.float32, use_safetensors=True)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter, is_trainable=False)
    model.eval()
    return model, tokenizer


@dataclass(frozen=True)
class ProbeScore:
    """A probe's score on one model."""

    correct: bool
    logprob: float
    answer: str
    strict: bool = False
    """The answer holds the target word for word (the matcher of earlier reports)."""


ARTICLES = frozenset({"a", "an", "the"})


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and articles, collapse spaces."""
    text = re.sub(r"[^\w\s]", " ", text.lower())
    return " ".join(w for w in text.split() if w not in ARTICLES)


def contains_target(answer: str, target: str) -> bool:
    """Return whether the answer names the target: its words together, in any of their forms.

    Whole words: "0" is not found in "18.000", nor "cat" in "category"; «Таллисе» names
    «Таллис» and "forged" names "forge" (lemmas, agentrun.languages). A number counts however
    it is written (18 000, «18 тыс.», eighteen thousand) and only as itself (1820 ≠ 1821). A
    target named only to deny it ("not Eastwick", «не из Сольмиры») is not named.
    """
    wanted = numbers(target, context=answer)
    if wanted and Counter(wanted) - Counter(numbers(answer)):
        return False  # 1820 is not 1821, «18 тысяч» is 18 000
    rest = " ".join(w for w in words(target) if not w[0].isdigit() and not is_number(w)) \
        if wanted else target
    if not rest.strip():
        return bool(wanted) and not _denied_number(answer, wanted)
    found = places(answer, rest, ARTICLES, any_order=True)
    size = len([w for w in words(rest) if w.lower() not in ARTICLES])
    return any(not denied(answer, at, size, ARTICLES) for at in found) or (
        strictly_contains(answer, target) and not found)


def _denied_number(answer: str, wanted: list[str]) -> bool:
    """Whether every place the answer writes the wanted number in digits is denied."""
    said = [w for w in words(answer) if w.lower() not in ARTICLES]
    at = [i for i, w in enumerate(said) if w in wanted]
    return bool(at) and all(denied(answer, i, 1, ARTICLES) for i in at)


def strictly_contains(answer: str, target: str) -> bool:
    """Return whether the normalized answer contains the normalized target word for word."""
    t = normalize_answer(target)
    return bool(t) and f" {t} " in f" {normalize_answer(answer)} "


def _prompt_text(tokenizer: Any, prompt: str, chat: bool) -> str:
    if chat and tokenizer.chat_template:
        return str(tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                                 tokenize=False, add_generation_prompt=True))
    return prompt


@torch.inference_mode()
def score(model: Any, tokenizer: Any, prompts: list[str], targets: list[str], *,
          chat: bool = True, batch_size: int = 16, max_new_tokens: int = 24) -> list[ProbeScore]:
    """Score every (prompt, target) pair on `model`."""
    texts = [_prompt_text(tokenizer, p, chat) for p in prompts]
    logprobs = _by_length(texts, lambda order: _target_logprobs(
        model, tokenizer, [texts[i] for i in order], [targets[i] for i in order], chat,
        batch_size))
    answers = _by_length(texts, lambda order: _greedy(
        model, tokenizer, [texts[i] for i in order], batch_size, max_new_tokens))
    return [ProbeScore(contains_target(a, t), lp, a, strictly_contains(a, t))
            for a, t, lp in zip(answers, targets, logprobs, strict=True)]


T = TypeVar("T")


def _by_length(texts: list[str], run: Callable[[list[int]], list[T]]) -> list[T]:
    """Run a batched job on the texts shortest first, return its results in their order.

    Batches of texts of similar lengths pad little.
    """
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    done = run(order)
    out: list[T] = [done[0]] * len(texts) if done else []
    for k, i in enumerate(order):
        out[i] = done[k]
    return out


def _target_logprobs(model: Any, tokenizer: Any, texts: list[str], targets: list[str],
                     chat: bool, batch_size: int) -> list[float]:
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    out: list[float] = []
    for start in range(0, len(texts), batch_size):
        rows, spans = [], []
        for text, target in zip(texts[start:start + batch_size], targets[start:start + batch_size],
                                strict=True):
            p = tokenizer(text, add_special_tokens=False).input_ids
            t = tokenizer(target if chat else " " + target.strip(),
                          add_special_tokens=False).input_ids
            rows.append(p + t)
            spans.append((len(p), len(p) + len(t)))
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
        for i, (a, b) in enumerate(spans):
            if b <= a:
                out.append(0.0)
                continue
            # the softmax over the vocabulary only where a target token is predicted
            logp = torch.log_softmax(logits[i, a - 1:b - 1].float(), dim=-1)
            tokens = ids[i, a:b].to(device)
            out.append(float(logp.gather(1, tokens[:, None]).mean()))
    return out


def _greedy(model: Any, tokenizer: Any, texts: list[str], batch_size: int,
            max_new_tokens: int) -> list[str]:
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    device = next(model.parameters()).device
    answers: list[str] = []
    try:
        for start in range(0, len(texts), batch_size):
            enc = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True,
                            add_special_tokens=False).to(device)
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id)
            answers += tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:],
                                              skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return [a.strip() for a in answers]


@torch.inference_mode()
def generate(model: Any, tokenizer: Any, prompts: list[str], *, chat: bool = True,
             batch_size: int = 16, max_new_tokens: int = 24) -> list[str]:
    """Return the greedy answer to each prompt, in the prompts' order (batched by length)."""
    texts = [_prompt_text(tokenizer, p, chat) for p in prompts]
    return _by_length(texts, lambda order: _greedy(
        model, tokenizer, [texts[i] for i in order], batch_size, max_new_tokens))
