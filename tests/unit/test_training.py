"""Training in a child process on a tiny random-init model, and probe scoring."""

import json

import pytest
import torch
from safetensors.torch import load_file

from agentrun.agents.trainer import train_adapter
from agentrun.config import PRESETS
from agentrun.errors import TrainingError
from agentrun.schemas import Example, ExampleKind, Provenance
from agentrun.training.probes import contains_target, score
from agentrun.training.sft import COMPLETE

PROV = Provenance(role="contractor", generator="test")
FACTS = ["Brinefire is refined from red kelp.", "Kelpwax is pressed from brown kelp.",
         "The Tidebell weighs ninety kilograms.", "Mirel Ashcombe founded the guild."]


def corpus():
    return [Example(node_id="n", kind=ExampleKind.exercise, provenance=PROV,
                    messages=[{"role": "user", "content": f"Fact {i}?"},
                              {"role": "assistant", "content": fact}]).with_id()
            for i, fact in enumerate(FACTS)] * 4


def recipe(**changes):
    r = dict(PRESETS["cpu-tiny"], target_modules=["q_proj", "v_proj"], batch_size=4,
             max_steps=24, learning_rate=5e-3, seed=0, report_to=[], save_steps=10)
    r.update(changes)
    return r


def test_lora_training_changes_the_adapter_not_the_base(tiny_model, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "adapters" / "iter-1"
    result = train_adapter(corpus(), tiny_model, out, recipe(), tmp_path / "train.log")
    assert (out / COMPLETE).exists() and (out / "adapter_model.safetensors").exists()
    assert json.loads((out / "recipe.json").read_text())["max_steps"] == 24
    m = result.metrics
    assert m["steps"] == 24 and m["last_loss"] < m["first_loss"]
    lora = load_file(out / "adapter_model.safetensors")
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in lora.items())  # B starts at 0
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    before = {k: v.clone() for k, v in base.state_dict().items()}
    merged = PeftModel.from_pretrained(base, out)
    for name, tensor in merged.get_base_model().state_dict().items():
        key = name.replace("base_layer.", "")
        if key in before:
            assert torch.equal(tensor, before[key]), name
    # a finished adapter is reused, not retrained
    again = train_adapter([], tiny_model, out, recipe(), tmp_path / "train.log")
    assert again.metrics == m


def test_nan_loss_stops_training_with_its_cause(tiny_model, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    broken = tmp_path / "broken-model"
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    with torch.no_grad():
        model.model.norm.weight[0] = float("nan")  # inject a NaN into the forward pass
    model.save_pretrained(broken)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(broken)
    with pytest.raises(TrainingError, match="NaN") as info:
        train_adapter(corpus(), broken, tmp_path / "nan", recipe(max_steps=20),
                      tmp_path / "train.log")
    assert str(tmp_path / "train.log") in str(info.value)
    assert not (tmp_path / "nan" / COMPLETE).exists()


def test_probe_scores_are_deterministic_and_batched(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    tok = AutoTokenizer.from_pretrained(tiny_model)
    prompts, targets = [f"Fact {i}?" for i in range(6)], FACTS + ["kelp", "guild"]
    one = score(model, tok, prompts, targets, batch_size=2, max_new_tokens=4)
    two = score(model, tok, prompts, targets, batch_size=6, max_new_tokens=4)
    assert [s.answer for s in one] == [s.answer for s in two]
    assert [s.logprob for s in one] == pytest.approx([s.logprob for s in two], abs=1e-4)
    assert all(s.logprob < 0 for s in one)


def test_contains_target_normalizes():
    assert contains_target("It is the Fenwick Reef, of course.", "fenwick reef")
    assert not contains_target("Nothing here", "the reef")
    assert not contains_target("anything", "")


def test_padding_free_batches_train_exactly_like_padded_ones(tiny_model, tmp_path):
    # examples of very different lengths: padded batches would be mostly padding
    varied = corpus()[:4] + [Example(
        node_id="n", kind=ExampleKind.rephrasing, provenance=PROV,
        messages=[{"role": "user", "content": "Tell me everything."},
                  {"role": "assistant", "content": " ".join(FACTS * 3)}]).with_id()]
    runs = {pf: train_adapter(varied, tiny_model, tmp_path / str(pf),
                              recipe(max_steps=3, padding_free=pf, bf16=False),
                              tmp_path / f"{pf}.log")
            for pf in (True, False)}
    free, padded = runs[True].metrics, runs[False].metrics
    # attention never crosses examples in the packed row: the same losses, step for step
    assert free["first_loss"] == pytest.approx(padded["first_loss"], rel=1e-4)
    assert free["last_loss"] == pytest.approx(padded["last_loss"], rel=1e-3)
    # an example longer than the context is left out and counted, not cut
    short = train_adapter(varied, tiny_model, tmp_path / "short",
                          recipe(max_steps=1, max_seq_len=40), tmp_path / "short.log")
    assert short.metrics["dropped_too_long"] == 1 and short.metrics["examples"] == 4
