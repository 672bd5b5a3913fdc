import json

from agentrun.agents.checker import normalize
from agentrun.agents.contractors import Job, candidates_for, deficits_of, structural_exercises
from agentrun.models.base import GenRequest
from agentrun.schemas import ExampleKind, ProbeKind
from tests.unit.test_architect import example_map

JOB = Job(run="r", iteration=1, round=1, seed=0)


class FakeBackend:
    """Answers every request with a fixed valid JSON for its schema; counts batches."""

    model_id = "fake"

    def __init__(self):
        self.batches: list[int] = []

    def count_tokens(self, text):
        return len(text.split())

    def generate(self, requests: list[GenRequest], on_result=None):
        self.batches.append(len(requests))
        out = []
        for i, r in enumerate(requests):
            if "turns" in r.schema["properties"]:
                text = json.dumps({"turns": [{"student": f"What is {r.tags['node']}?",
                                              "tutor": "It is refined from red kelp oil."}]})
            else:
                text = json.dumps({"text": f"Brinefire is a lamp fuel from red kelp ({i})."})
            out.append(text)
            if on_result:
                on_result(i, text)
        return out


def test_structural_exercises_never_ask_a_generalization_probe():
    m = example_map()
    for node in m.nodes:
        gen = [normalize(p.prompt.split(": ", 1)[1]) for p in node.probes
               if p.kind == ProbeKind.generalization]
        for ex in structural_exercises(node, m, JOB):
            user = normalize(ex.messages[0]["content"])
            assert all(g not in user for g in gen), (user, gen)


def test_multi_hop_exercises_use_anchors():
    m = example_map()
    hops = [e for e in structural_exercises(m.node("kelpwax"), m, JOB)
            if e.provenance.generator == "structural:multi_hop"]
    assert {h.anchors_used[0] for h in hops} == {a.dst for a in m.neighbours("kelpwax")}


def test_deficits_respect_the_example_budget():
    m = example_map()
    total = sum(sum(k.values()) for k in deficits_of(m, [], budget_left=10_000).values())
    assert total == sum(sum(n.quota.values()) for n in m.nodes)
    trimmed = deficits_of(m, [], budget_left=15)
    assert sum(sum(k.values()) for k in trimmed.values()) == 15
    assert len(trimmed) >= 5  # round-robin spreads the budget over nodes


def test_model_work_goes_to_the_backend_in_one_batch_per_schema():
    m = example_map()
    backend = FakeBackend()
    deficits = {n.id: {ExampleKind.rephrasing: 2, ExampleKind.dialogue: 1,
                       ExampleKind.exercise: 3} for n in m.nodes}
    out = candidates_for(m, deficits, set(), JOB, backend, retries=0)
    assert backend.batches == [2 * len(m.nodes), len(m.nodes)]
    kinds = [e.kind for e in out]
    assert kinds.count(ExampleKind.exercise) == 3 * len(m.nodes)
    assert kinds.count(ExampleKind.dialogue) == len(m.nodes)
    dialogue = next(e for e in out if e.kind == ExampleKind.dialogue)
    assert [t["role"] for t in dialogue.messages] == ["user", "assistant"]
    assert dialogue.provenance.model == "fake"
    assert dialogue.provenance.template == "contractors.dialogue.md"
    assert len(set(e.id for e in out)) == len(out)


def test_seen_candidates_are_not_offered_again():
    m = example_map()
    deficits = {"brinefire": {ExampleKind.exercise: 100}}
    first = candidates_for(m, deficits, set(), JOB, None, retries=0)
    again = candidates_for(m, deficits, {e.id for e in first}, JOB, None, retries=0)
    assert first and again == []


def test_syntheses_cross_an_anchor_with_facts_of_both_ends():
    m = example_map()
    out = candidates_for(m, {"brinefire": {ExampleKind.synthesis: 3}}, set(), JOB, None, 0)
    assert len(out) == 3 and all(e.kind == ExampleKind.synthesis for e in out)
    facts = {n.id: {f.text for f in n.facts} for n in m.nodes}
    for ex in out:
        (other,) = ex.anchors_used
        answer = ex.messages[-1]["content"]
        assert "[SYNTHESIS]" in ex.markers and ex.level == "macro"
        assert any(f in answer for f in facts[other]) and any(f in answer for f in
                                                              facts["brinefire"])


def test_correction_exercises_mark_a_wrong_step_and_teach_the_fact():
    m = example_map()
    node = m.node("brinefire")
    corrections = [e for e in structural_exercises(node, m, JOB) if e.markers == ["[ERROR]"]]
    facts = {f.text for f in node.facts}
    assert len(corrections) == 3  # one per fact with a number
    for ex in corrections:
        wrong = ex.messages[0]["content"].split('"')[1]
        answer = ex.messages[-1]["content"].removeprefix("No, that step is wrong. ")
        assert answer in facts and wrong not in facts
        assert wrong.split()[:3] == answer.split()[:3]  # the same statement, another number
