"""Shared fixtures: a tiny random-init chat model with a locally trained tokenizer, and
copies of the bundled example workspace."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "orvane"
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_model(folder: Path) -> Path:
    """Train a small BPE tokenizer on the example notes and save a random-init Llama."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    texts = [p.read_text() for p in sorted((EXAMPLE / "sources").glob("*.md"))]
    texts += ['{"summary": "text", "text": "a b", "turns": [{"student": "x", "tutor": "y"}]}']
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=600, special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|im_start|>",
                                   eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token="<|endoftext|>")
    fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=512, bos_token_id=fast.bos_token_id,
                         eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = fast.eos_token_id
    model.generation_config.pad_token_id = fast.pad_token_id
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    """A fresh copy of the bundled example workspace."""
    ws = tmp_path / "ws"
    shutil.copytree(EXAMPLE, ws, ignore=shutil.ignore_patterns("runs", "memory", "map.yaml"))
    return ws


def small_workspace(tmp_path: Path, notes: tuple[str, ...] = (
        "Brinefire.md", "Fenwick Reef.md", "Kelpwax.md")) -> Path:
    """A workspace with a few of the example's notes (fast full loops)."""
    ws = tmp_path / "small"
    (ws / "sources").mkdir(parents=True)
    for name in notes:
        shutil.copy2(EXAMPLE / "sources" / name, ws / "sources" / name)
    return ws


@pytest.fixture(scope="session")
def embedder():
    """The real embedded embedder (all-MiniLM-L6-v2 from its PyPI package)."""
    from agentrun.memory.embeddings import load_embedder

    return load_embedder()


@contextmanager
def chat_server(answer: Callable[[dict], tuple]) -> Iterator[tuple[str, list[dict]]]:
    """An OpenAI-compatible chat-completions endpoint on 127.0.0.1, stopped on exit.

    `answer(body)` gives the (status, assistant content) of each request, or (status, content,
    (content type, raw body)) to send that body instead of a completion, or (status, content,
    write) where `write(handler)` sends the whole reply itself (a trickle, a body without end);
    yields the base URL and the request bodies seen, in order.
    """
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            seen.append(body)
            status, content, *raw = answer(body)
            if raw and callable(raw[0]):
                raw[0](self)
                return
            payload = ({"id": "x", "object": "chat.completion", "created": 0,
                        "model": body["model"],
                        "choices": [{"index": 0, "finish_reason": "stop", "message": {
                            "role": "assistant", "content": content}}]}
                       if status == 200 else {"error": {"message": f"status {status}"}})
            kind, data = raw[0] if raw else ("application/json", json.dumps(payload).encode())
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
