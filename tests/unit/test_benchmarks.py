"""Every benchmark script imports what it uses (mypy cannot follow their imports)."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCHMARKS.glob("*.py")))
def test_a_benchmark_script_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"bench_{script[:-3]}", BENCHMARKS / script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)  # runs its imports; main() is not called
    assert script == "common.py" or callable(getattr(module, "main", None))


def load(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(f"bench_{script}", BENCHMARKS / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_q1_plain_question_arm_asks_each_sentence_once_answered_by_itself(monkeypatch):
    q1 = load("teaching_power", monkeypatch)
    rows = q1.question_rows([{"train_context": "Anna Berg was born in Kazan in 1990. "
                                               "She moved to the coast. Boats are nice."}])
    asked = [(r.messages[0]["content"], r.messages[1]["content"]) for r in rows]
    assert asked[0] == ("Where was Anna Berg born in 1990?", "Anna Berg was born in Kazan in 1990.")
    assert all(a.endswith(".") and q.endswith("?") for q, a in asked)
    assert "Boats are nice." not in {a for _, a in asked}  # no question: not in the arm


def test_q2_vault_writes_held_out_questions_of_every_kind_in_both_languages(monkeypatch):
    q2 = load("fact_vault", monkeypatch)
    for language in ("en", "ru"):
        notes, facts, items = q2.make_vault(3, language, seed=0)
        kinds = {k: sum(i.kind == k for i in items) for k in q2.KINDS}
        assert len(notes) == 6 and len(facts) == 12
        assert kinds == {"absorption": 12, "generalization": 60, "reversal": 6,
                         "two_hop_steps": 6, "two_hop_direct": 6}
        # every answer is in the notes; (q)'s question is the absorption question
        text = " ".join(notes.values())
        assert all(i.answer in text for i in items)
        assert [f.question for f in facts] == [i.question for i in items
                                               if i.kind == "absorption"]
