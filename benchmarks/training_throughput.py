"""B4 training throughput: agentrun's training entry point vs a minimal hand-written peft loop.

python benchmarks/training_throughput.py          # embedded SmolLM2-135M on CPU
python benchmarks/training_throughput.py --model /models/random-1.7b --preset gpu-24gb
    --steps 20 --batch 16 --seq-len 1024 --peak-tflops 989   # a GPU: also MFU

Both sides train the same LoRA (the recipe's rank, alpha and target modules) on the same chat
examples (questions about the bundled example's notes, answers of 1 to 12 of its sentences:
lengths vary as in a real corpus), with the same batch size, sequence cap, learning rate and
dtype, for the same number of steps. (A) is agentrun's entry point (`python -m
agentrun.training.sft`: TRL's SFTTrainer, padding-free, loss on the answers), timed by its own
`train_runtime`; (B) is a plain loop: tokenize, pad each batch to its longest row, AdamW,
loss on the answers. Each run is a fresh process on both sides (A is the trainer's child
process; B runs in a spawned one): a loop in a process that already ran the same batches
would find its kernels for those exact shapes ready. Throughput is real (non-pad) tokens per
second of the training loop (model loading excluded); pairs alternate A B, B A, ... and the
ratio is the median of the per-pair ratios. The pad share is pad tokens over all tokens fed
to the model. On a GPU, MFU is 4·N·tokens/s ÷ peak (LoRA: forward and input gradients, no
weight gradients).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import append_results, table  # noqa: E402

from agentrun.agents.trainer import train_adapter  # noqa: E402
from agentrun.config import PRESETS, Recipe  # noqa: E402
from agentrun.models.embedded import resolve_local_model  # noqa: E402
from agentrun.schemas import Example, ExampleKind, Provenance  # noqa: E402
from agentrun.sources import read_sources  # noqa: E402
from agentrun.training.sft import lora_config, resolve_bf16  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def chat_examples(count: int, seed: int) -> list[Example]:
    """Questions about the example's notes; answers of 1 to 12 consecutive sentences."""
    notes = read_sources(ROOT / "examples" / "orvane" / "sources").notes
    rng = random.Random(seed)
    prov = Provenance(role="benchmark", generator="b4")
    out = []
    for i in range(count):
        note = notes[i % len(notes)]
        sentences = [s.text for s in note.sentences]
        start = rng.randrange(len(sentences))
        answer = " ".join(sentences[start:start + rng.randint(1, 12)])
        out.append(Example(node_id=f"n{i}", kind=ExampleKind.rephrasing, provenance=prov,
                           messages=[{"role": "user", "content": f"Tell me about {note.title}."},
                                     {"role": "assistant", "content": answer}]).with_id())
    return out


def run_agentrun(examples: list[Example], model_dir: Path, recipe: Recipe,
                 work: Path, tokens: int) -> dict[str, float]:
    """Train through agentrun's entry point; return tokens/s and pad share of its loop.

    `tokens` is the examples' total length, counted like the hand loop counts it: every
    example is seen once (steps × batch = examples). Padding-free rows hold no pad tokens.
    """
    out = Path(tempfile.mkdtemp(dir=work))
    metrics = train_adapter(examples, model_dir, out / "adapter", recipe, out / "log").metrics
    return {"tokens_per_s": tokens / metrics["train_runtime_s"], "pad_share": 0.0,
            "tokens": tokens}


def run_hand_loop(examples: list[Example], model_dir: Path, recipe: Recipe
                  ) -> dict[str, float]:
    """Train with a minimal peft loop (padded batches); return tokens/s and pad share."""
    import torch
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(recipe.seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    bf16 = resolve_bf16(recipe.bf16)
    tok = AutoTokenizer.from_pretrained(model_dir)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    model: Any = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.bfloat16 if bf16 else torch.float32)
    model = model.to(device)
    model = get_peft_model(model, lora_config(recipe))  # the very LoRA agentrun trains
    if recipe.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    rows = []
    for ex in examples:
        messages = ex.messages or []
        prompt = tok.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
        full = tok.apply_chat_template(messages, tokenize=False)
        p_ids = tok(prompt, add_special_tokens=False).input_ids
        ids = tok(full, add_special_tokens=False).input_ids[: recipe.max_seq_len]
        rows.append((ids, [-100] * len(p_ids) + ids[len(p_ids):]))
    random.Random(recipe.seed).shuffle(rows)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                            lr=recipe.learning_rate)
    model.train()
    real = fed = 0
    batch = recipe.batch_size
    start = time.perf_counter()
    for step in range(recipe.max_steps):
        chunk = [rows[(step * batch + i) % len(rows)] for i in range(batch)]
        width = max(len(ids) for ids, _ in chunk)
        ids = torch.full((batch, width), pad, dtype=torch.long)
        labels = torch.full((batch, width), -100, dtype=torch.long)
        mask = torch.zeros((batch, width), dtype=torch.long)
        for i, (r, lab) in enumerate(chunk):
            ids[i, : len(r)] = torch.tensor(r)
            labels[i, : len(lab)] = torch.tensor(lab[: len(r)])
            mask[i, : len(r)] = 1
        with torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                         labels=labels.to(device)).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        real += int(mask.sum())
        fed += batch * width
    if device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"tokens_per_s": real / seconds, "pad_share": 1 - real / fed, "tokens": real}


def in_fresh_process(examples: list[Example], model_dir: Path, recipe: Recipe
                     ) -> dict[str, float]:
    """Run the hand loop in a new process, as agentrun's entry point runs in its child."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_hand_loop, examples, model_dir, recipe).result()


def main() -> None:
    """Time both sides in alternating pairs, print the table and append it to the docs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq-len", type=int, default=384)
    parser.add_argument("--preset", default="cpu-tiny", choices=PRESETS)
    parser.add_argument("--attention", default="auto",
                        help="agentrun's training attention (auto, segments, sdpa)")
    parser.add_argument("--peak-tflops", type=float, help="the GPU's dense bf16 peak, for MFU")
    parser.add_argument("--no-append", action="store_true", help="print only")
    args = parser.parse_args()

    model_dir = resolve_local_model(args.model, "--model")
    recipe = Recipe(**{**PRESETS[args.preset], "max_steps": args.steps,
                       "batch_size": args.batch, "grad_accum": 1, "max_seq_len": args.seq_len,
                       "seed": 0, "report_to": [], "save_steps": 10**6, "learning_rate": 1e-4,
                       "attention": args.attention})
    examples = chat_examples(args.batch * args.steps, seed=0)
    work = Path(tempfile.mkdtemp(prefix="agentrun-b4-"))
    a_runs: list[dict[str, float]] = []
    b_runs: list[dict[str, float]] = []
    b_tokens = 0  # set by the first hand-loop run (the same examples every time)
    for i in range(args.pairs):
        # the hand loop goes first in the first pair: it counts the tokens both sides saw
        order = [("b", b_runs), ("a", a_runs)] if i % 2 == 0 else [("a", a_runs), ("b", b_runs)]
        for side, runs in order:
            runs.append(run_agentrun(examples, model_dir, recipe, work, b_tokens)
                        if side == "a" else in_fresh_process(examples, model_dir, recipe))
            if side == "b":
                b_tokens = int(runs[-1]["tokens"])
            print(side, json.dumps(runs[-1]), flush=True)
    ratio = statistics.median(a["tokens_per_s"] / b["tokens_per_s"]
                              for a, b in zip(a_runs, b_runs, strict=True))
    rows = [[name, f"{statistics.median(r['tokens_per_s'] for r in runs):,.0f}",
             f"{statistics.median(r['pad_share'] for r in runs):.1%}"]
            for name, runs in (("(A) agentrun entry point", a_runs),
                               ("(B) hand-written peft loop", b_runs))]
    body = table(["side", "tokens/s (median)", "pad share"], rows)
    body += f"\n\nratio A/B (median of {args.pairs} pairs): **{ratio:.3f}** (goal ≥ 0.95)"
    if args.peak_tflops:
        from transformers import AutoConfig, AutoModelForCausalLM

        with __import__("torch").device("meta"):
            n = sum(p.numel() for p in AutoModelForCausalLM.from_config(
                AutoConfig.from_pretrained(model_dir)).parameters())
        tps = statistics.median(r["tokens_per_s"] for r in a_runs)
        body += (f"; MFU of (A): {4 * n * tps / (args.peak_tflops * 1e12):.1%} "
                 f"({n / 1e9:.2f} B parameters, peak {args.peak_tflops:g} TFLOPS)")
    settings = (f"`python benchmarks/training_throughput.py --model {args.model} --steps "
                f"{args.steps} --pairs {args.pairs} --batch {args.batch} --seq-len {args.seq_len}"
                f" --preset {args.preset} --attention {args.attention}`; {len(examples)} chat "
                f"examples, LoRA r"
                f"{recipe.lora_r}, bf16 {resolve_bf16(recipe.bf16)}")
    print(settings + "\n\n" + body)
    if not args.no_append:
        append_results("B4 training throughput", settings, body)


if __name__ == "__main__":
    main()
