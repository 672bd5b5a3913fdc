"""Plain words become map edits: the patterns understood, node names resolved, each edit's
effect on the map and its history, and instructions that map to nothing."""

import pytest

from agentrun.agents.contractors import deficits_of
from agentrun.agents.instructions import (
    InstructionError,
    apply_edit,
    map_diff,
    parse_rules,
    understand,
)
from agentrun.schemas import ExampleKind, ProbeKind
from tests.unit.test_architect import example_map


@pytest.mark.parametrize(("words", "op", "kind", "amount"), [
    ("more dialogues on Kelpwax", "quota", ExampleKind.dialogue, 2),
    ("3 more exercises for kelpwax.", "quota", ExampleKind.exercise, 3),
    ("add 4 more rephrasings about Kelpwax", "quota", ExampleKind.rephrasing, 4),
    ("1 fewer synthesis on Kelpwax", "quota", ExampleKind.synthesis, -1),
    ("stop generating for Kelpwax", "stop", None, 2),
    ("resume Kelpwax", "resume", None, 2),
])
def test_patterns_without_a_model(words, op, kind, amount):
    edit = parse_rules(words)
    assert (edit.op, edit.kind, edit.amount) == (op, kind, amount)
    assert understand(words, example_map()).nodes == ["kelpwax"]


def test_focus_raises_what_teaches_the_probe_kind_on_every_node():
    m = example_map()
    edit = understand("focus the next cycle on transfer", m)
    assert edit.probe_kind == ProbeKind.transfer
    before = {n.id: dict(n.quota) for n in m.nodes}
    revision = apply_edit(m, edit, "focus the next cycle on transfer")
    for node in m.nodes:
        if node.facts:
            assert node.quota[ExampleKind.synthesis] == before[node.id].get(
                ExampleKind.synthesis, 0) + 2
    assert revision.changes == ["every node: quota synthesis +2, exercise +1 (what teaches "
                                "transfer)"]


def test_names_resolve_by_title_or_close_spelling_and_unknown_ones_are_refused():
    m = example_map()
    assert understand("merge Kelpwx and the Brinefire", m).nodes == ["kelpwax", "brinefire"]
    with pytest.raises(InstructionError, match="no node called 'Kelp'; did you mean kelpwax"):
        understand("more dialogues on Kelp", m)
    with pytest.raises(InstructionError, match="cannot turn 'make it nicer' into a map edit"):
        understand("make it nicer", m)
    with pytest.raises(InstructionError, match="no node called 'Atlantis'"):
        understand("merge Kelpwax and Atlantis", m)


def test_merge_moves_facts_probes_quotas_and_anchors_and_records_history():
    m = example_map()
    kelp, brine = m.node("kelpwax"), m.node("brinefire")
    facts = len(kelp.facts) + len(brine.facts)
    probes = {p.id for p in kelp.probes + brine.probes}
    before = m.model_copy(deep=True)
    revision = apply_edit(m, understand("merge Kelpwax and Brinefire", m),
                          "merge Kelpwax and Brinefire")
    assert "brinefire" not in m.node_ids() and len(m.node("kelpwax").facts) == facts
    assert {p.id for p in m.node("kelpwax").probes} == probes
    assert all(p.node_id == "kelpwax" for p in m.node("kelpwax").probes)
    assert all("brinefire" not in (a.src, a.dst) for a in m.anchors)
    assert all(a.src != a.dst for a in m.anchors)
    assert m.version == before.version + 1 and m.history[-1] is revision
    assert revision.reason == "a person asked: merge Kelpwax and Brinefire"
    assert "-- id: brinefire" in map_diff(before, m)


def test_a_stopped_node_gets_no_examples_until_resumed():
    m = example_map()
    assert "kelpwax" in deficits_of(m, [], 100)
    apply_edit(m, understand("stop generating for Kelpwax", m), "stop generating for Kelpwax")
    assert "kelpwax" not in deficits_of(m, [], 100) and m.node("kelpwax").quota
    apply_edit(m, understand("resume Kelpwax", m), "resume Kelpwax")
    assert "kelpwax" in deficits_of(m, [], 100)


class Architect:
    """An architect model that answers every request with a fixed text."""

    model_id = "scripted"

    def __init__(self, text):
        self.text, self.prompts = text, []

    def count_tokens(self, text):
        return len(text.split())

    def generate(self, requests, on_result=None):
        self.prompts += [r.messages[-1]["content"] for r in requests]
        return [self.text for _ in requests]


def test_words_no_pattern_covers_go_to_the_architect_model_and_are_checked():
    m = example_map()
    model = Architect('{"op": "quota", "nodes": ["Kelpwax"], "kind": "dialogue", "amount": 1}')
    edit = understand("the kelpwax talks feel thin, give it one extra conversation", m, model)
    assert (edit.op, edit.nodes, edit.kind, edit.amount) == ("quota", ["kelpwax"], "dialogue", 1)
    assert "kelpwax: Kelpwax" in model.prompts[0]  # the model sees the map's nodes
    assert understand("more dialogues on Kelpwax", m, model) and len(model.prompts) == 1
    with pytest.raises(InstructionError, match="cannot turn"):  # garbage from the model
        understand("do the thing", m, Architect("I would love to help!"))
    with pytest.raises(InstructionError, match="no node called 'Atlantis'"):  # checked
        understand("grow atlantis", m, Architect('{"op": "stop", "nodes": ["Atlantis"]}'))
