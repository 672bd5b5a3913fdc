"""Fine-tune a LoRA adapter with TRL's SFTTrainer; run as a child process by the trainer node.

    python -m agentrun.training.sft --model MODEL_DIR --data train.jsonl \
        --out runs/RUN/adapters/iter-1 --recipe recipe.json

The data is TRL conversational prompt-completion JSONL (loss on the completion only) or
`{"text": ...}` rows (continued pretraining). Progress goes to stdout as JSON lines that the
parent turns into a progress bar. The adapter is saved as safetensors with the resolved recipe
and metrics beside it, and a `COMPLETE` marker is written last: a folder without it is never
trusted or resumed from.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

COMPLETE = "COMPLETE"
log = logging.getLogger(__name__)


def emit(event: str, **fields: Any) -> None:
    """Write one progress event for the parent process."""
    print(json.dumps({"event": event, **fields}), flush=True)


def make_callback() -> Any:
    """Return a TrainerCallback that streams step, loss and tokens/s, and stops on NaN."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def __init__(self) -> None:
            self.start = time.time()

        def on_train_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            emit("begin", max_steps=state.max_steps)

        def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
            logs = logs or {}
            loss = logs.get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                emit("nan", step=state.global_step)
                control.should_training_stop = True
            tokens = logs.get("num_tokens") or state.num_input_tokens_seen or 0
            emit("step", step=state.global_step, max_steps=state.max_steps, loss=loss,
                 tokens_per_s=float(tokens) / max(time.time() - self.start, 1e-6))

    return Progress()


def last_complete_checkpoint(out: Path) -> str | None:
    """Return the newest checkpoint folder that holds a COMPLETE marker."""
    done = [p for p in out.glob("checkpoint-*") if (p / COMPLETE).exists()]
    if not done:
        return None
    return str(max(done, key=lambda p: int(p.name.split("-")[-1])))


def main(model_dir: str, data: str, out: str, recipe: dict[str, Any]) -> dict[str, Any]:
    """Train and save the adapter; return the metrics."""
    import torch
    from datasets import load_dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTConfig, SFTTrainer

    out_dir = Path(out)
    torch.manual_seed(recipe["seed"])
    dataset = load_dataset("json", data_files=data, split="train")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dataset, too_long = _within(dataset, tokenizer, recipe["max_seq_len"])
    recipe = dict(recipe, bf16=_bf16(recipe["bf16"]))  # resolved here; saved as resolved
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, local_files_only=True,
        dtype=torch.bfloat16 if recipe["bf16"] else torch.float32,
    )
    lora = LoraConfig(r=recipe["lora_r"], lora_alpha=recipe["lora_alpha"],
                      lora_dropout=recipe["lora_dropout"],
                      target_modules=_targets(recipe["target_modules"]), task_type="CAUSAL_LM")
    args = SFTConfig(
        output_dir=str(out_dir), num_train_epochs=recipe["epochs"], max_steps=recipe["max_steps"],
        per_device_train_batch_size=recipe["batch_size"],
        gradient_accumulation_steps=recipe["grad_accum"], learning_rate=recipe["learning_rate"],
        lr_scheduler_type="cosine", warmup_steps=0.05,
        # Padding-free: a batch is one row of its examples end to end, and attention stays
        # within each example (position ids restart; transformers builds the block mask, or
        # flash attention reads the boundaries). Rows are cut to max_seq_len above, so TRL
        # needs no max_length here.
        padding_free=recipe.get("padding_free", True),
        max_length=None if recipe.get("padding_free", True) else recipe["max_seq_len"],
        bf16=recipe["bf16"], gradient_checkpointing=recipe["gradient_checkpointing"],
        logging_steps=1, save_strategy="steps", save_steps=recipe.get("save_steps", 50),
        save_total_limit=2, report_to=recipe.get("report_to", ["tensorboard"]),
        seed=recipe["seed"], data_seed=recipe["seed"],
        use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
        disable_tqdm=True, dataset_num_proc=None, logging_nan_inf_filter=False,
    )

    class MarkComplete(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            ckpt = out_dir / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                (ckpt / COMPLETE).write_text("ok")

    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset,
                         processing_class=tokenizer, peft_config=lora,
                         callbacks=[make_callback(), MarkComplete()])
    result = trainer.train(resume_from_checkpoint=last_complete_checkpoint(out_dir))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    if losses and not all(math.isfinite(x) for x in losses):
        raise FloatingPointError(f"training loss became NaN at step {trainer.state.global_step}")
    trainer.model.save_pretrained(out_dir, safe_serialization=True)  # type: ignore[union-attr,operator]
    metrics = {
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "examples": len(dataset),
        "dropped_too_long": too_long,
    }
    (out_dir / "recipe.json").write_text(json.dumps(recipe, indent=2))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out_dir / COMPLETE).write_text("ok")
    return metrics


def _bf16(wanted: bool | str) -> bool:
    """Resolve `auto`: bf16 on a GPU that has it, or on a CPU with bf16 instructions."""
    import torch

    if wanted != "auto":
        return bool(wanted)
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def _within(dataset: Any, tokenizer: Any, max_len: int) -> tuple[Any, int]:
    """Drop the examples longer than `max_len` tokens (cut, they would teach a broken answer).

    The contractors keep examples within the student's context, so this is a guard for
    hand-made data; the count goes into the metrics.
    """
    def fits(row: dict[str, Any]) -> bool:
        chat = row.get("messages") or (row["prompt"] + row["completion"] if "prompt" in row
                                       else None)
        if chat is None:
            return len(tokenizer(row["text"]).input_ids) <= max_len
        text = tokenizer.apply_chat_template(chat, tokenize=False)
        return len(tokenizer(text, add_special_tokens=False).input_ids) <= max_len

    kept = dataset.filter(fits)
    if len(kept) < len(dataset):
        log.warning("%d examples longer than %d tokens left out of training",
                    len(dataset) - len(kept), max_len)
    return kept, len(dataset) - len(kept)


def _targets(modules: list[str]) -> list[str] | str:
    return "all-linear" if modules == ["all-linear"] else modules


def cli(argv: list[str] | None = None) -> int:
    """Parse arguments, train, and report the result as the last JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--recipe", required=True, help="path of the resolved recipe (JSON)")
    ns = parser.parse_args(argv)
    recipe = json.loads(Path(ns.recipe).read_text())
    try:
        metrics = main(ns.model, ns.data, ns.out, recipe)
    except Exception as exc:  # the parent records the cause; the run stays resumable
        emit("error", kind=type(exc).__name__, message=str(exc)[:500])
        return 1
    emit("done", **metrics)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
