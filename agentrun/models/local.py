"""The `local` backend: transformers in process, N prompts per padded `generate` call.

Structured output is enforced while decoding by xgrammar's logits processor (one compiled
grammar per row, so one batch can mix schemas).
"""

from __future__ import annotations

import json
import logging
from itertools import groupby
from pathlib import Path
from typing import Any

import torch

from agentrun.models.base import GenRequest, OnResult

log = logging.getLogger(__name__)


class LocalBackend:
    """Batched generation with a transformers causal LM loaded from a local folder."""

    def __init__(self, model_dir: Path, batch_size: int = 16, device: str = "auto"):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_id = str(model_dir)
        self.batch_size = batch_size
        self.device = _pick_device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        model: Any = AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=dtype, local_files_only=True, use_safetensors=True  # no unpickling
        )
        self.model = model.to(self.device)
        self.model.eval()
        self._grammars: dict[str, Any] = {}
        self._compiler: Any = None

    def count_tokens(self, text: str) -> int:
        """Return the number of tokens of `text`."""
        return len(self.tokenizer(text, add_special_tokens=False).input_ids)

    def render(self, messages: list[dict[str, str]]) -> str:
        """Render a chat with the model's template, ready for the assistant's turn."""
        if self.tokenizer.chat_template:
            return str(
                self.tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=True
                )
            )
        return "\n".join(m["content"] for m in messages) + "\n"

    def generate(self, requests: list[GenRequest], on_result: OnResult | None = None) -> list[str]:
        """Generate all requests in padded batches grouped by sampling settings and length."""
        results: list[str] = [""] * len(requests)
        prompts = [self.render(r.messages) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: (*requests[i].sampling, len(prompts[i])))

        def settings(i: int) -> tuple[float, int]:
            return requests[i].sampling

        for (temperature, max_new), group in groupby(order, key=settings):
            idx = list(group)
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start : start + self.batch_size]
                texts = self._generate_chunk(
                    [prompts[i] for i in chunk], [requests[i] for i in chunk], temperature, max_new
                )
                for i, text in zip(chunk, texts, strict=True):
                    results[i] = text
                    if on_result is not None:
                        on_result(i, text)
        return results

    @torch.inference_mode()
    def _generate_chunk(
        self, prompts: list[str], reqs: list[GenRequest], temperature: float, max_new: int
    ) -> list[str]:
        enc = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = enc.to(self.device)
        processors = self._logits_processors(reqs)
        torch.manual_seed(reqs[0].seed)
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature, "top_p": 0.95}
            if temperature > 0
            else {"do_sample": False}
        )
        out = self.model.generate(
            **enc,
            max_new_tokens=max_new,
            pad_token_id=self.tokenizer.pad_token_id,
            logits_processor=processors,
            **sampling,
        )
        new_tokens = out[:, enc["input_ids"].shape[1] :]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        return [t.strip() for t in texts]

    def _logits_processors(self, reqs: list[GenRequest]) -> list[Any] | None:
        if not any(r.schema for r in reqs):
            return None
        from xgrammar.contrib.hf import LogitsProcessor

        return [LogitsProcessor([self._grammar(r.schema) for r in reqs])]

    def _grammar(self, schema: dict[str, Any] | None) -> Any:
        import xgrammar as xgr

        if self._compiler is None:
            info = xgr.TokenizerInfo.from_huggingface(
                self.tokenizer, vocab_size=self.model.config.vocab_size
            )
            self._compiler = xgr.GrammarCompiler(info)
        key = json.dumps(schema, sort_keys=True) if schema else ""
        if key not in self._grammars:
            self._grammars[key] = (
                self._compiler.compile_json_schema(key, any_whitespace=False)
                if schema
                else self._compiler.compile_builtin_json_grammar()
            )
        return self._grammars[key]


def _pick_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device
