from agentrun.agents.architect import plan_map, revise_map, split_fact, type_relation
from agentrun.schemas import EvalReport, ExampleKind, ProbeKind, ProbeResult, Relation
from agentrun.sources import parse_note, read_sources
from tests.conftest import EXAMPLE

QUOTAS = {ExampleKind.exercise: 4, ExampleKind.rephrasing: 1}


def example_map():
    return plan_map(read_sources(EXAMPLE / "sources"), QUOTAS)


def test_map_follows_the_vault():
    m = example_map()
    assert len(m.nodes) == 11
    assert {"orvane", "lantern-guild", "brinefire"} <= m.node_ids()
    # every anchor joins two known nodes and carries its wikilink sentence as evidence
    assert m.anchors and all(a.src in m.node_ids() and a.dst in m.node_ids() for a in m.anchors)
    guild_to_oath = next(a for a in m.anchors if a.src == "lantern-guild" and a.dst ==
                         "keeper-s-oath")
    assert "Keeper's Oath" in guild_to_oath.evidence
    assert m.unresolved_links == []
    assert m.node("orvane").level == "macro"


def test_alias_link_resolves_and_missing_link_is_reported():
    notes = [parse_note("a.md", "# Alpha\nAlpha relies on [[Beta|the beta]] and on [[Gamma]].\n"),
             parse_note("b.md", "---\naliases: [Second]\n---\n# Beta\nBeta is the second "
                        "letter of the list.\n")]
    m = plan_map(notes, QUOTAS)
    assert [(a.src, a.dst) for a in m.anchors] == [("alpha", "beta")]
    assert m.unresolved_links == ["a.md: [[Gamma]]"]


def test_every_kind_of_probe_and_answers_come_from_the_sources():
    m = example_map()
    kinds = {p.kind for p in m.probes()}
    assert kinds == set(ProbeKind)
    facts = {f.id: f.text for n in m.nodes for f in n.facts}
    for p in m.probes():
        assert p.answer and p.answer in facts[p.fact_ids[0]], p
    transfer = [p for p in m.probes() if p.kind == ProbeKind.transfer]
    # a transfer probe hides the linked node behind X: it needs the anchor and the fact
    assert all('"' in p.prompt and "X" in p.prompt for p in transfer)
    assert all(p.node_id != facts_owner(m, p.fact_ids[0]) for p in transfer)


def facts_owner(m, fact_id):
    return next(n.id for n in m.nodes if any(f.id == fact_id for f in n.facts))


def test_split_fact_takes_the_closing_phrase():
    assert split_fact("The red kelp grows only on the Fenwick Reef.") == (
        "The red kelp grows only", "on", "the Fenwick Reef")
    assert split_fact("Too short.") is None


def test_relation_cues():
    assert type_relation("Unlike Brinefire, kelpwax is never burned.") == Relation.contrasts
    assert type_relation("Lenses are part of every lamp.") == Relation.part_of
    assert type_relation("She walked home.") == Relation.elaborates


def test_revision_raises_quotas_of_weak_nodes_and_records_history():
    m = example_map()
    probes = m.probes()
    rows = [ProbeResult(probe_id=p.id, node_id=p.node_id, kind=p.kind, correct_before=False,
                        correct_after=p.node_id != "kelpwax", logprob_before=-8.0,
                        logprob_after=-1.0 if p.node_id != "kelpwax" else -7.9)
            for p in probes]
    before = dict(m.node("kelpwax").quota)
    rev = revise_map(m, EvalReport(run="r", iteration=1, adapter="a", data="d", probes=rows),
                     weak_gain=0.5)
    assert m.version == 2 and m.history[-1] == rev
    assert len(rev.changes) == 1 and rev.changes[0].startswith("kelpwax")
    after = m.node("kelpwax").quota
    assert after[ExampleKind.exercise] > before[ExampleKind.exercise]
    assert m.node("kelpwax").status == "weak" and m.node("orvane").status == "learned"
    assert m.node("orvane").metrics.after["absorption"] == -1.0
