"""Training in a child process on a tiny random-init model, and probe scoring."""

import json

import pytest
import torch
from safetensors.torch import load_file

from agentrun.agents.trainer import train_adapter
from agentrun.config import PRESETS, Recipe
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
    return Recipe(**{**PRESETS["cpu-tiny"], "target_modules": ["q_proj", "v_proj"],
                     "batch_size": 4, "max_steps": 24, "learning_rate": 5e-3, "seed": 0,
                     "report_to": [], "save_steps": 10, "replay": 0, **changes})


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


def test_replay_rows_of_the_base_students_own_answers_enter_training(tiny_model, tmp_path):
    from agentrun.training.probes import generate, load_student
    from agentrun.training.replay import MAX_NEW_TOKENS, REPLAY_NODE, replay_prompts

    out = tmp_path / "adapters" / "iter-1"
    result = train_adapter(corpus(), tiny_model, out, recipe(max_steps=2, replay=0.5),
                           tmp_path / "train.log", replay_cache=tmp_path / "replay")
    rows = [json.loads(line) for line in result.data.read_text().splitlines()]
    assert result.metrics["replay_rows"] == 8 and len(rows) == 16 + 8
    prompts = replay_prompts()
    replayed = [r["messages"] for r in rows if r["messages"][0]["content"] in prompts]
    assert len(replayed) == 8
    # each replay row is what the untrained student itself answers (greedy)
    model, tokenizer = load_student(tiny_model)
    first = replayed[0][0]["content"]
    own = generate(model, tokenizer, [first], max_new_tokens=MAX_NEW_TOKENS)[0]
    assert replayed[0][1]["content"] and own.startswith(replayed[0][1]["content"])
    # made once per student: the cache answers the next adapter's replay
    (stored,) = (tmp_path / "replay").glob("*.json")
    cache = json.loads(stored.read_text())
    assert [p for p, _ in cache["pairs"]][:3] == prompts[:3] and REPLAY_NODE == "replay"


def test_replay_prompts_are_never_questions_of_the_forgetting_guard():
    from agentrun.agents.evaluator import general_questions
    from agentrun.training.replay import replay_prompts

    prompts = replay_prompts()
    assert len(prompts) >= 120 and len(set(prompts)) == len(prompts)
    assert not {q.question for q in general_questions()} & set(prompts)


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
    assert not contains_target("It freezes at -18.000 degrees", "0")  # whole words only
    assert contains_target("It freezes at 0 degrees.", "0")


@pytest.mark.parametrize("answer, target, names", [
    ("Она родилась в Таллисе.", "Таллис", True),  # another case of the same name
    ("Маяк построили инженеры из Браска.", "Браск", True),
    ("Масло получают из красной водоросли.", "красная водоросль", True),  # agreement
    ("Письмо написал Браско.", "Браск", False),  # another name sharing the stem
    ("Он интересовался инженерией.", "инженер", False),  # another word
    ("Маяк построили в 1821 году.", "1820", False),  # numbers only as written
    ("She forged the bell herself.", "forge", True),
    ("I always forget the date.", "forge", False),
    ("Tollis's harbour froze.", "Tollis", True),
    ("The kelp turned red.", "red kelp", False),  # the words, out of order
    ("Маяк построили в тысяча восемьсот двадцатом году.", "1820", True),  # a year in words
    ("Маяк построили в тысяча восемьсот двадцать первом году.", "1820", False),
    ("Там жили 18 тысяч человек.", "18 000", True),
    ("До маяка было 3,5 км.", "3,5 километра", True),  # an abbreviated unit
    ("Лодка была длиной три с половиной метра.", "3.5", True),
    ("Браск Анна, так она подписывалась.", "Анна Браск", True),  # Russian orders freely
    ("Анна дружила с Петром Браском.", "Анна Браск", False),
    ("The population was 18,000.", "18 000", True),
    ("It was built in eighteen twenty.", "1820", True),
    ("The boat was three and a half metres long.", "3.5", True),
    ("About 18k people lived there.", "18 000", True),
    ("The bell tide came in at noon.", "the tide bell", False),  # English does not
    ("Ключи хранились у смотрителя дома.", "дом смотрителя", False),  # nor two nouns
    ("Чертежи принадлежат Аглае Стрежневой.", "Аглая Стрежнева", True),  # a woman's surname
    ("Груз отправили не из Сольмиры, а из Ильменца.", "Сольмира", False),  # denied
    ("Груз отправили не из Сольмиры, а из Ильменца.", "Ильменец", True),
    ("It wasn't Quist but Penhallow who built it.", "Penhallow", True),
    ("It wasn't Quist but Penhallow who built it.", "Quist", False),
    ("It was first lit in nineteen oh five.", "1905", True),
    ("Резервуар вмещал полторы тонны масла.", "1,5", True),  # the answer's comma
    ("They loaded two dozen barrels.", "25", False),
    ("No, it was Tallis.", "Tallis", True),  # the comma ends the denial's clause
    ("Нет, это был Таллис.", "Таллис", True),
    ("Not only Tallis but Orvane.", "Tallis", True), ("Не только Таллис.", "Таллис", True),
    ("Brask did not write it.", "Brask", False),  # denied after the name
    ("Старый маяк Корвель давно не светит.", "маяк Корвель", True),
    ("between five and six hours", "11", False),  # two numbers, not their sum
])
def test_an_answer_names_the_target_in_any_inflection(answer, target, names):
    assert contains_target(answer, target) is names


def test_the_labelled_answers_are_matched_as_a_person_grades_them():
    """The project's labelled set (benchmarks/answer_matching.py reports it): the goals of
    precision 0.98 and recall 0.95, in Russian and in English."""
    import json
    from pathlib import Path

    fixtures = Path(__file__).parents[1] / "fixtures"
    # the second set was written by another grader; its floor sits a little under today's
    for name, least in (("answer_matching", (0.98, 0.95)), ("answer_matching_heldout",
                                                            (0.9, 0.8))):
        rows = [json.loads(line) for line in (fixtures / f"{name}.jsonl").read_text()
                .splitlines()]
        for language in ("en", "ru"):
            mine = [r for r in rows if r["language"] == language]
            said = [contains_target(r["answer"], r["target"]) for r in mine]
            hits = sum(s and r["names_target"] for s, r in zip(said, mine, strict=True))
            assert hits / sum(said) >= least[0], (name, language)  # precision
            assert hits / sum(r["names_target"] for r in mine) >= least[1], (name, language)


def test_a_report_keeps_the_word_for_word_score_beside_the_lemma_score():
    from agentrun.schemas import EvalReport, ProbeKind, ProbeResult

    def row(strict_after):
        return ProbeResult(probe_id="a.p1", node_id="a", kind=ProbeKind.absorption,
                           correct_before=False, correct_after=True, logprob_before=-3.0,
                           logprob_after=-1.0, strict_before=None if strict_after is None
                           else False, strict_after=strict_after)

    now = EvalReport(run="r", iteration=1, adapter="x", data="y", probes=[row(True), row(False)])
    assert now.summary()["absorption"]["acc_after"] == 1.0
    assert now.summary()["absorption"]["strict_after"] == 0.5  # «в Таллисе» is not «Таллис»
    earlier = EvalReport.model_validate_json(
        now.model_copy(update={"probes": [row(None)]}).model_dump_json(exclude_none=True))
    assert "strict_after" not in earlier.summary()["absorption"]


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
    # TRL's fused LM head and the model's own loss (the CPU default) agree
    fused = train_adapter(varied, tiny_model, tmp_path / "fused",
                          recipe(max_steps=3, bf16=False, fused_lm_head=True),
                          tmp_path / "fused.log").metrics
    assert fused["first_loss"] == pytest.approx(free["first_loss"], rel=1e-4)
    assert fused["last_loss"] == pytest.approx(free["last_loss"], rel=1e-3)
    # an example longer than the context is left out and counted, not cut
    short = train_adapter(varied, tiny_model, tmp_path / "short",
                          recipe(max_steps=1, max_seq_len=40), tmp_path / "short.log")
    assert short.metrics["dropped_too_long"] == 1 and short.metrics["examples"] == 4


DIALOGUE = [{"role": "user", "content": "What is Brinefire refined from?"},
            {"role": "assistant", "content": "Brinefire is refined from red kelp."},
            {"role": "user", "content": "And Kelpwax?"},
            {"role": "assistant", "content": "Kelpwax is pressed from brown kelp."}]


def test_every_assistant_turn_is_learned_once_with_any_template(tiny_model):
    from datasets import Dataset
    from transformers import AutoTokenizer

    from agentrun.training.sft import chat_rows

    def learned(row):
        return [tok.decode([t for t, m in zip(row["input_ids"], row["assistant_masks"],
                                              strict=True) if m])]

    tok = AutoTokenizer.from_pretrained(tiny_model)  # a plain ChatML template, no markers
    rows, marked = chat_rows(Dataset.from_list([{"messages": DIALOGUE}]), tok)
    assert not marked
    # one row, tokenized once: both answers (with their end of turn) and nothing else
    assert len(rows) == 1
    assert rows[0]["input_ids"] == tok.apply_chat_template(DIALOGUE, tokenize=True,
                                                           return_dict=True)["input_ids"]
    assert learned(rows[0]) == [f"{DIALOGUE[1]['content']}<|im_end|>\n"
                                f"{DIALOGUE[3]['content']}<|im_end|>\n"]
    # a template that shows reasoning only in the last answer (as reasoning models' templates
    # do): prefixes render differently, so one row per turn, each in its context
    tok.chat_template = tok.chat_template.replace(
        "{{ m['content'] }}", "{% if m['role'] == 'assistant' and loop.last %}<think></think>"
        "{% endif %}{{ m['content'] }}")
    rows, _ = chat_rows(Dataset.from_list([{"messages": DIALOGUE}]), tok)
    assert [learned(r) for r in rows] == [
        [f"<think></think>{DIALOGUE[1]['content']}<|im_end|>\n"],
        [f"<think></think>{DIALOGUE[3]['content']}<|im_end|>\n"]]
    assert tok.decode(rows[1]["input_ids"]).startswith("<|im_start|>user\nWhat is Brinefire")


def test_templates_with_generation_markers_keep_dialogues_whole(tiny_model, tmp_path):
    from pathlib import Path

    import trl
    from datasets import Dataset
    from transformers import AutoTokenizer

    from agentrun.training.sft import chat_rows

    qwen3 = tmp_path / "qwen3-template"
    tok = AutoTokenizer.from_pretrained(tiny_model)
    tok.chat_template = (Path(trl.__file__).parent / "chat_templates" / "qwen3.jinja").read_text()
    tok.save_pretrained(qwen3)
    rows, marked = chat_rows(Dataset.from_list([{"messages": DIALOGUE}]), tok)
    assert marked and rows["messages"] == [DIALOGUE]
    # and TRL trains on them with its assistant-only mask
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(tiny_model).save_pretrained(qwen3)
    ex = Example(node_id="n", kind=ExampleKind.dialogue, provenance=PROV,
                 messages=DIALOGUE).with_id()
    result = train_adapter([ex] * 8, qwen3, tmp_path / "a", recipe(max_steps=2),
                           tmp_path / "a.log")
    assert result.metrics["loss_on"] == "assistant turns (template markers)"
    assert result.metrics["steps"] == 2


def test_text_format_trains_on_every_token(tiny_model, tmp_path):
    result = train_adapter(corpus(), tiny_model, tmp_path / "text",
                           recipe(max_steps=6, format="text"), tmp_path / "t.log")
    rows = [json.loads(line) for line in result.data.read_text().splitlines()]
    assert set(rows[0]) == {"text"} and "red kelp" in rows[0]["text"]
    assert result.metrics["loss_on"] == "all tokens" and result.metrics["steps"] == 6


def _margin(model_dir, adapter, pairs):
    """Mean log-prob of chosen minus rejected answers (teacher forcing)."""
    from agentrun.agents.evaluator import load_student

    model, tok = load_student(model_dir, adapter)
    prompts = [p.prompt[0]["content"] for p in pairs]
    chosen = score(model, tok, prompts, [p.chosen[0]["content"] for p in pairs], max_new_tokens=1)
    rejected = score(model, tok, prompts, [p.rejected[0]["content"] for p in pairs],
                     max_new_tokens=1)
    return sum(c.logprob - r.logprob for c, r in zip(chosen, rejected, strict=True)) / len(pairs)


def test_dpo_stage_prefers_the_chosen_answers(tiny_model, tmp_path):
    from agentrun.schemas import Preference

    pairs = [Preference(prompt=[{"role": "user", "content": f"Fact {i}?"}],
                        chosen=[{"role": "assistant", "content": fact}],
                        rejected=[{"role": "assistant", "content": fact.replace("kelp", "coal")
                                   .replace("ninety", "nine").replace("Mirel", "Oska")}])
             for i, fact in enumerate(FACTS)] * 3
    out = tmp_path / "adapters" / "iter-1"
    result = train_adapter(corpus(), tiny_model, out,
                           recipe(max_steps=4, dpo=True, dpo_learning_rate=5e-3, dpo_epochs=3),
                           tmp_path / "train.log", pairs)
    dpo = tmp_path / "adapters" / "iter-1-dpo"
    assert result.adapter == dpo and (dpo / COMPLETE).exists()
    assert result.metrics["steps"] == 4 and result.metrics["dpo"]["steps"] > 0
    assert not (dpo / "ref").exists()  # the frozen reference copy is not saved
    assert _margin(tiny_model, dpo, pairs) > _margin(tiny_model, out, pairs) + 0.05
    # too few pairs: the stage is skipped and the SFT adapter is the result
    few = train_adapter(corpus(), tiny_model, out, recipe(max_steps=4, dpo=True),
                        tmp_path / "train.log", pairs[:2])
    assert few.adapter == out and few.metrics["dpo"] is None


def test_training_killed_mid_run_resumes_from_its_last_complete_checkpoint(tiny_model, tmp_path):
    import signal
    import subprocess
    import sys

    from agentrun.training.export import export

    out = tmp_path / "adapters" / "iter-1"
    out.mkdir(parents=True)
    data = out.parent / "iter-1.train.jsonl"
    export(corpus(), "sft", data)
    r = recipe(max_steps=30, save_steps=5, stage="sft")
    (out.parent / "iter-1.recipe.json").write_text(r.model_dump_json())
    proc = subprocess.Popen([sys.executable, "-m", "agentrun.training.sft", "--model",
                             str(tiny_model), "--data", str(data), "--out", str(out),
                             "--recipe", str(out.parent / "iter-1.recipe.json")],
                            stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if '"step": 12,' in line:  # checkpoints 5 and 10 are complete
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait()
    assert not (out / COMPLETE).exists() and (out / "checkpoint-10" / COMPLETE).exists()
    # a checkpoint without its marker (killed while saving) is never resumed from
    (out / "checkpoint-15").mkdir()
    result = train_adapter(corpus(), tiny_model, out, r, tmp_path / "train.log")
    assert result.metrics["resumed_from_step"] == 10
    assert result.metrics["steps"] == 30
    whole = train_adapter(corpus(), tiny_model, tmp_path / "whole", r, tmp_path / "w.log")
    assert whole.metrics["steps"] == 30 and whole.metrics["resumed_from_step"] is None
    assert result.metrics["last_loss"] == pytest.approx(whole.metrics["last_loss"], rel=1e-3)


def test_evaluation_scores_probes_and_the_guard_in_one_pass_and_draws_the_chart(
        tiny_model, tmp_path, monkeypatch):
    from agentrun.agents import evaluator
    from tests.unit.test_architect import example_map

    dataset_map = example_map()
    adapter = train_adapter(corpus(), tiny_model, tmp_path / "iter-1", recipe(max_steps=2),
                            tmp_path / "t.log").adapter
    calls = []
    real = evaluator.score

    def counting(model, tok, prompts, targets, **kw):
        calls.append(len(prompts))
        return real(model, tok, prompts, targets, **kw)

    monkeypatch.setattr(evaluator, "score", counting)
    report = evaluator.evaluate(dataset_map, tiny_model, adapter, tmp_path / "d.jsonl", "r", 1,
                                batch_size=32, max_new_tokens=3)
    probes = dataset_map.probes()
    assert calls == [len(probes) + 40] * 2  # probes and guard together, once per model
    assert [r.probe_id for r in report.probes] == [p.id for p in probes]
    assert len(report.guard) == 40
    f = report.forgetting()
    assert f["still_answered"] <= f["answered_before"] <= f["questions"] == 40
    chart = evaluator.write_report(report, dataset_map, tmp_path / "eval-iter-1.json")
    assert chart.suffix == ".png" and chart.stat().st_size > 5000
    again = evaluator.evaluate(dataset_map, tiny_model, adapter, tmp_path / "d.jsonl", "r", 1,
                               batch_size=7, max_new_tokens=3)
    # deterministic, whatever the batch size
    assert again.guard == report.guard
    assert [(r.answer_after, r.correct_after) for r in again.probes] == \
        [(r.answer_after, r.correct_after) for r in report.probes]
    assert [r.logprob_after for r in again.probes] == pytest.approx(
        [r.logprob_after for r in report.probes], abs=2e-4)


def test_the_guard_counts_forgetting():
    from agentrun.agents.evaluator import Question, general_questions
    from agentrun.schemas import EvalReport, GuardResult

    questions = general_questions()
    assert len(questions) == 40 and len({q.question for q in questions}) == 40
    assert Question("How many days in a week?", "seven", ("7",)).answered_by("There are 7.")
    report = EvalReport(run="r", iteration=1, adapter="a", data="d", guard=[
        GuardResult(question="q1", answer="a", correct_before=True, correct_after=True),
        GuardResult(question="q2", answer="a", correct_before=True, correct_after=False),
        GuardResult(question="q3", answer="a", correct_before=False, correct_after=True)])
    assert report.forgetting() == {"questions": 3, "answered_before": 2, "still_answered": 1,
                                   "answered_after": 2}


def test_segment_attention_matches_a_block_mask_over_the_packed_row():
    """Per-example attention of a packed row equals SDPA with transformers' block mask, in
    value and gradient; each example sees nothing of the others."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from agentrun.training.attention import register

    config = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    models = {}
    for impl in ("sdpa", register()):
        torch.manual_seed(0)
        models[impl] = LlamaForCausalLM(config.__class__(**config.to_dict(),
                                                         attn_implementation=impl))
    lengths = [5, 9, 1, 7]
    ids = torch.randint(0, 64, (1, sum(lengths)))
    pos = torch.cat([torch.arange(n) for n in lengths]).unsqueeze(0)
    grads, logits = {}, {}
    for impl, model in models.items():
        out = model(input_ids=ids, position_ids=pos, labels=ids, use_cache=False)
        out.loss.backward()
        logits[impl] = out.logits.detach()
        grads[impl] = model.model.layers[0].self_attn.q_proj.weight.grad.clone()
    sdpa, segments = logits["sdpa"], logits["segments"]
    assert torch.allclose(sdpa, segments, atol=1e-5)
    assert torch.allclose(grads["sdpa"], grads["segments"], atol=1e-5)
    # the second example alone gives the same logits as inside the row
    alone = models["sdpa"](input_ids=ids[:, 5:14], use_cache=False).logits.detach()
    assert torch.allclose(alone, segments[:, 5:14], atol=1e-5)
    # a padded batch goes through SDPA's mask unchanged
    batch = torch.randint(0, 64, (2, 6))
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2])
    with torch.no_grad():
        a = models["sdpa"](input_ids=batch, attention_mask=mask).logits
        b = models["segments"](input_ids=batch, attention_mask=mask).logits
    assert torch.allclose(a[mask.bool()], b[mask.bool()], atol=1e-5)


@pytest.mark.parametrize("text, said", [
    ("разделы 1,2,3", ["1", "2", "3"]), ("1,234,567 people", ["1234567"]),
    ("5² и ①", ["5"]),  # superscripts and circled digits: no crash, no number
    ("one, two, three", ["1", "2", "3"]), ("два, три", ["2", "3"]),
    ("between five and six hours", ["5", "6"]), ("Было три. Пять лет", ["3", "5"]),
    ("three hundred and five", ["305"]), ("three and a half", ["3.5"]),
    ("1,234.50", ["1234.5"]), ("Было 1 234,5 тонны", ["1234.5"]), ("at -5 degrees", ["-5"]),
    ("in 1820-1821", ["1820", "1821"]), ("1.2.3", ["1", "2", "3"]),
])
def test_numbers_are_read_as_a_reader_reads_them(text, said):
    from agentrun.languages import numbers

    assert numbers(text) == said
