"""The `vllm` backend: one in-process `vllm.LLM.chat` call per batch (optional extra)."""

from __future__ import annotations

from typing import Any

from agentrun.errors import BackendError
from agentrun.models.base import GenRequest, OnResult


class VLLMBackend:
    """Maximum-throughput batched generation on GPU with vLLM's structured outputs."""

    def __init__(self, model: str, setting: str = "roles.contractor"):
        try:
            import vllm
        except ImportError as exc:
            raise BackendError(
                f"{setting}.backend: 'vllm' is not installed; `pip install agentrun[vllm]`"
            ) from exc
        self._vllm = vllm
        self.model_id = model
        self.llm = vllm.LLM(model=model)

    def count_tokens(self, text: str) -> int:
        """Return the number of tokens of `text`."""
        return len(self.llm.get_tokenizer().encode(text, add_special_tokens=False))

    def generate(self, requests: list[GenRequest], on_result: OnResult | None = None) -> list[str]:
        """Generate every request in one `chat` call; vLLM schedules the batch itself."""
        params = [self._params(r) for r in requests]
        outputs = self.llm.chat([r.messages for r in requests], sampling_params=params)
        texts = [o.outputs[0].text.strip() for o in outputs]
        if on_result is not None:
            for i, t in enumerate(texts):
                on_result(i, t)
        return texts

    def _params(self, req: GenRequest) -> Any:
        sampling = self._vllm.SamplingParams
        temperature, max_tokens = req.sampling
        kwargs: dict[str, Any] = dict(max_tokens=max_tokens, temperature=temperature, seed=req.seed)
        if req.schema is not None:
            try:  # vLLM >= 0.10
                from vllm.sampling_params import StructuredOutputsParams

                kwargs["structured_outputs"] = StructuredOutputsParams(json=req.schema)
            except ImportError:
                from vllm.sampling_params import GuidedDecodingParams

                kwargs["guided_decoding"] = GuidedDecodingParams(json=req.schema)
        return sampling(**kwargs)
