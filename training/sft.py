"""Fine-tune a LoRA adapter with TRL's trainers; run as a child process by the trainer node.

    python -m agentrun.training.sft --model MODEL_DIR --data train.jsonl \
        --out runs/RUN/adapters/iter-1 --recipe recipe.json [--adapter SFT_ADAPTER]

Stage `sft` (SFTTrainer) reads TRL conversational rows (`messages`: loss on the assistant
turns only), prompt-completion rows (loss on the completion) or `{"text": ...}` rows
(continued pretraining: loss on every token). Stage `dpo` (DPOTrainer) reads preference rows
and starts from an SFT adapter. Progress goes to stdout as JSON lines that the parent turns
into a progress bar; metrics go to TensorBoard (and any `report_to` of the recipe). The adapter
is saved as safetensors with the resolved recipe and metrics beside it, and a `COMPLETE`
marker is written last: a folder without it is never trusted or resumed from.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from agentrun.config import Recipe

COMPLETE = "COMPLETE"
log = logging.getLogger(__name__)


def emit(event: str, **fields: Any) -> None:
    """Write one progress event for the parent process (the first training process's)."""
    if is_first_process():
        print(json.dumps({"event": event, **fields}), flush=True)


def is_first_process() -> bool:
    """Whether this is the first of the training processes (or the only one)."""
    return int(os.environ.get("RANK", "0")) == 0


def make_callback() -> Any:
    """Return a TrainerCallback that streams step, loss and tokens/s, and stops on NaN."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            # a resumed run starts at its checkpoint's step: rates count from here
            self.first_step, self.first_tokens = state.global_step, state.num_input_tokens_seen
            self.start = time.time()
            emit("begin", max_steps=state.max_steps, step=state.global_step)

        def on_log(self, args, state, control, logs=None, **kwargs):  # type: ignore[no-untyped-def]
            logs = logs or {}
            loss = logs.get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                emit("nan", step=state.global_step)
                control.should_training_stop = True
            elapsed = max(time.time() - self.start, 1e-6)
            done = max(state.global_step - self.first_step, 1)
            emit("step", step=state.global_step, max_steps=state.max_steps, loss=loss,
                 tokens_per_s=float(state.num_input_tokens_seen - self.first_tokens) / elapsed,
                 eta_s=round(elapsed / done * (state.max_steps - state.global_step)))

    return Progress()


def last_complete_checkpoint(out: Path) -> str | None:
    """Return the newest checkpoint folder that holds a COMPLETE marker."""
    done = [p for p in out.glob("checkpoint-*") if (p / COMPLETE).exists()]
    if not done:
        return None
    return str(max(done, key=lambda p: int(p.name.split("-")[-1])))


def main(model_dir: str, data: str, out: str, recipe: Recipe,
         adapter: str | None = None) -> dict[str, Any]:
    """Train and save the adapter; return the metrics.

    `recipe.stage` is `sft` (chat rows, prompt-completion rows or `text` rows) or `dpo`
    (preference rows, starting from the SFT adapter in `adapter`).
    """
    import torch
    from datasets import load_dataset
    from transformers import AutoTokenizer

    out_dir = Path(out)
    torch.manual_seed(recipe.seed)
    dataset = load_dataset("json", data_files=data, split="train")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    recipe = recipe.model_copy(update={"bf16": resolve_bf16(recipe.bf16)})  # saved as resolved
    # this is the training child: the variable is how transformers is told where TensorBoard
    # writes (one folder per stage, beside the adapter)
    os.environ.setdefault("TENSORBOARD_LOGGING_DIR", str(out_dir / "tensorboard"))
    if recipe.stage == "dpo":
        if adapter is None:
            raise ValueError("the dpo stage starts from an SFT adapter (--adapter)")
        trainer, extra = _dpo_trainer(model_dir, adapter, dataset, tokenizer, recipe, out_dir)
    else:
        trainer, extra = _sft_trainer(model_dir, dataset, tokenizer, recipe, out_dir)
    checkpoint = last_complete_checkpoint(out_dir)
    result = trainer.train(resume_from_checkpoint=checkpoint)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    if losses and not all(math.isfinite(x) for x in losses):
        raise FloatingPointError(f"training loss became NaN at step {trainer.state.global_step}")
    tokens = trainer.state.num_input_tokens_seen or 0
    if not is_first_process():  # one process writes the adapter and its files
        return {"steps": trainer.state.global_step}
    # only the trained adapter: DPO keeps a frozen copy named `ref` beside it
    trainer.model.save_pretrained(out_dir, safe_serialization=True,  # type: ignore[union-attr,operator]
                                  selected_adapters=["default"])
    metrics = {
        "stage": recipe.stage,
        "steps": trainer.state.global_step,
        "train_loss": result.training_loss,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "train_runtime_s": result.metrics.get("train_runtime"),
        "tokens": int(tokens),
        "resumed_from_step": int(checkpoint.rsplit("-", 1)[1]) if checkpoint else None,
        "processes": trainer.args.world_size,
        "losses": losses,
        **extra,
    }
    (out_dir / "recipe.json").write_text(recipe.model_dump_json(indent=2))
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out_dir / COMPLETE).write_text("ok")
    return metrics


def _sft_trainer(model_dir: str, dataset: Any, tokenizer: Any, recipe: Recipe,
                 out_dir: Path) -> tuple[Any, dict[str, Any]]:
    """Build TRL's SFTTrainer: loss on assistant turns for chat rows, on all text otherwise."""
    import torch
    from trl import SFTConfig, SFTTrainer

    dataset, assistant_only = chat_rows(dataset, tokenizer)
    dataset, too_long = _within(dataset, tokenizer, recipe.max_seq_len)
    args = SFTConfig(
        **_common_args(recipe, out_dir),
        # Padding-free: a batch is one row of its examples end to end, and attention stays
        # within each example (position ids restart; flash attention or the `segments`
        # attention reads the boundaries, see attention_implementation). Rows are cut to
        # max_seq_len above, so TRL needs no max_length here.
        padding_free=recipe.padding_free,
        max_length=None if recipe.padding_free else recipe.max_seq_len,
        assistant_only_loss=assistant_only, dataset_num_proc=None,
    )
    fused = recipe.fused_lm_head
    fused = torch.cuda.is_available() if fused == "auto" else bool(fused)
    trainer_class = SFTTrainer if fused else _PlainLossSFTTrainer()
    trainer = trainer_class(model=_load_model(model_dir, recipe), args=args,
                            train_dataset=dataset, processing_class=tokenizer,
                            peft_config=lora_config(recipe), callbacks=_callbacks(out_dir))
    return trainer, {"examples": len(dataset), "dropped_too_long": too_long,
                     "loss_on": _loss_on(dataset, assistant_only)}


def _PlainLossSFTTrainer() -> Any:  # noqa: N802 (returns a class)
    """Return SFTTrainer with the model's own loss, for CPUs.

    TRL's fused LM head (per-token log-probs in chunks, no full logits) has Triton kernels on
    GPUs; on a CPU it scores every position and recomputes the head in the backward pass,
    which made steps ~30% slower than the model's own cross-entropy on the embedded student.
    The labels are the same (prompt and example boundaries at -100), so is the loss.
    """
    from transformers import Trainer
    from trl import SFTTrainer

    class PlainLossSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False,  # type: ignore[no-untyped-def]
                         num_items_in_batch=None):
            return Trainer.compute_loss(self, model, {**inputs, "use_cache": False},
                                        return_outputs, num_items_in_batch)

    return PlainLossSFTTrainer


def _dpo_trainer(model_dir: str, adapter: str, dataset: Any, tokenizer: Any,
                 recipe: Recipe, out_dir: Path) -> tuple[Any, dict[str, Any]]:
    """Build TRL's DPOTrainer on the SFT adapter; the reference is a frozen copy of it."""
    from peft import PeftModel
    from trl import DPOConfig, DPOTrainer

    model = PeftModel.from_pretrained(_load_model(model_dir, recipe), adapter, is_trainable=True)
    args = DPOConfig(**_common_args(recipe, out_dir), beta=recipe.dpo_beta,
                     max_length=recipe.max_seq_len)
    trainer = DPOTrainer(model=model, args=args, train_dataset=dataset,
                         processing_class=tokenizer, callbacks=_callbacks(out_dir))
    return trainer, {"examples": len(dataset), "dropped_too_long": 0, "loss_on": "preference"}


def _common_args(recipe: Recipe, out_dir: Path) -> dict[str, Any]:
    """Return the TrainingArguments shared by the SFT and DPO stages."""
    import torch

    return dict(
        output_dir=str(out_dir), num_train_epochs=recipe.epochs, max_steps=recipe.max_steps,
        per_device_train_batch_size=recipe.batch_size,
        gradient_accumulation_steps=recipe.grad_accum, learning_rate=recipe.learning_rate,
        lr_scheduler_type="cosine", warmup_steps=0.05,
        bf16=recipe.bf16, gradient_checkpointing=recipe.gradient_checkpointing,
        logging_steps=1, save_strategy="steps", save_steps=recipe.save_steps,
        save_total_limit=2, report_to=recipe.report_to,
        include_num_input_tokens_seen="non_padding",
        seed=recipe.seed, data_seed=recipe.seed,
        use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
        disable_tqdm=True, logging_nan_inf_filter=False,
    )


def _load_model(model_dir: str, recipe: Recipe) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(
        model_dir, local_files_only=True, use_safetensors=True,  # never unpickle weights
        dtype=torch.bfloat16 if recipe.bf16 else torch.float32,
        attn_implementation=attention_implementation(recipe),
    )


def attention_implementation(recipe: Recipe) -> str | None:
    """Resolve `attention: auto` for the stage's batches; None leaves the model's default.

    Padding-free rows need attention that stops at each example's end: flash attention's
    variable-length kernels on a GPU that has the package, otherwise one SDPA call per
    example (`segments`). Padded batches (DPO, `padding_free: false`) keep SDPA.
    """
    import importlib.util

    import torch

    from agentrun.training import attention

    wanted = recipe.attention
    if wanted == attention.NAME:
        return attention.register()
    if wanted != "auto":
        return str(wanted)
    if recipe.stage == "dpo" or not recipe.padding_free:
        return None
    if torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return attention.register()


def lora_config(recipe: Recipe) -> Any:
    """Return the peft LoRA config of a recipe (rank, alpha, dropout, target modules)."""
    from peft import LoraConfig

    return LoraConfig(r=recipe.lora_r, lora_alpha=recipe.lora_alpha,
                      lora_dropout=recipe.lora_dropout,
                      target_modules=_targets(recipe.target_modules), task_type="CAUSAL_LM")


def _callbacks(out_dir: Path) -> list[Any]:
    from transformers import TrainerCallback

    class MarkComplete(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):  # type: ignore[no-untyped-def]
            ckpt = out_dir / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and ckpt.is_dir():
                (ckpt / COMPLETE).write_text("ok")

    return [make_callback(), MarkComplete()]


def chat_rows(dataset: Any, tokenizer: Any) -> tuple[Any, bool]:
    """Prepare chat rows so the loss falls on every assistant turn and nothing else.

    Where the chat template has `{% generation %}` markers, or TRL has a training variant of
    it (Qwen, Llama, Gemma, Phi…), rows stay whole and TRL masks the other turns. Otherwise
    each conversation is tokenized here, once, with a mask over its assistant turns (TRL
    turns the mask into labels): a dialogue of n turns costs its own length, not the n
    growing prefixes that one row per turn would repeat. Returns the dataset and whether
    TRL's assistant-only masking is used.
    """
    from datasets import Dataset

    if "messages" not in dataset.column_names:
        return dataset, False
    if _template_marks_turns(tokenizer):
        return dataset, True
    rows = [row for chat in dataset["messages"] for row in masked_turns(chat, tokenizer)]
    return Dataset.from_list(rows), False


def masked_turns(chat: list[dict[str, str]], tokenizer: Any) -> list[dict[str, list[int]]]:
    """Tokenize a conversation with `assistant_masks` set on its assistant turns.

    One row when the template renders every prefix of the conversation as a prefix of the
    whole (ChatML and most others); otherwise one row per assistant turn, the conversation
    so far then the turn, so each turn is still learned once in its context.
    """
    def ids(messages: list[dict[str, str]], generation_prompt: bool) -> list[int]:
        return list(tokenizer.apply_chat_template(
            messages, tokenize=True, return_dict=True,
            add_generation_prompt=generation_prompt)["input_ids"])

    # per assistant turn: the conversation before it with the generation prompt, and up to it
    turns = [(ids(chat[:i], True), ids(chat[:i + 1], False))
             for i, m in enumerate(chat) if m["role"] == "assistant"]
    whole = ids(chat, False)
    if all(whole[:len(upto)] == upto and upto[:len(prompt)] == prompt for prompt, upto in turns):
        mask = [0] * len(whole)
        for prompt, upto in turns:
            mask[len(prompt):len(upto)] = [1] * (len(upto) - len(prompt))
        return [{"input_ids": whole, "assistant_masks": mask}]
    return [{"input_ids": upto,
             "assistant_masks": [0] * len(prompt) + [1] * (len(upto) - len(prompt))}
            for prompt, upto in turns]


def _template_marks_turns(tokenizer: Any) -> bool:
    from trl.chat_template_utils import get_training_chat_template

    if not tokenizer.chat_template:
        return False
    try:
        get_training_chat_template(tokenizer)  # None: has markers; a string: TRL patches it
    except ValueError:
        return False
    return True


def _loss_on(dataset: Any, assistant_only: bool) -> str:
    if assistant_only:
        return "assistant turns (template markers)"
    if "assistant_masks" in dataset.column_names:
        return "assistant turns (masked in each conversation)"
    if "completion" in dataset.column_names:
        return "completions"
    return "all tokens"


def resolve_bf16(wanted: bool | str) -> bool:
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
        if "input_ids" in row:
            return len(row["input_ids"]) <= max_len
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


PARENT_ENV = "AGENTRUN_TRAINER_PARENT"
"""The pid of the run that started this trainer (set by the trainer node)."""


def trainer_env(parent: int) -> dict[str, str]:
    """Return the environment a trainer child starts with: this one, and who its parent is."""
    return {**os.environ, PARENT_ENV: str(parent)}


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when the run that started it dies (Linux).

    A trainer left behind by a killed run would hold the student in memory and write the same
    adapter folder as the trainer a resume starts. Set here, in the child, not in a
    `preexec_fn` (unsafe in a parent with threads); a parent already gone means exit now.
    """
    parent = int(os.environ.get(PARENT_ENV, "0") or 0)
    if not parent:
        return
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the parent's own cleanup has to do
        pass
    if os.getppid() != parent:
        os._exit(1)


def cli(argv: list[str] | None = None) -> int:
    """Parse arguments, train, and report the result as the last JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--recipe", required=True, help="path of the resolved recipe (JSON)")
    parser.add_argument("--adapter", help="the SFT adapter the dpo stage starts from")
    ns = parser.parse_args(argv)
    die_with_parent()
    recipe = Recipe.model_validate_json(Path(ns.recipe).read_text())
    try:
        metrics = main(ns.model, ns.data, ns.out, recipe, ns.adapter)
    except Exception as exc:  # the parent records the cause; the run stays resumable
        emit("error", kind=type(exc).__name__, message=str(exc)[:500])
        return 1
    emit("done", **metrics)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
