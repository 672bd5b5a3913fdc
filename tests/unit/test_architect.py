from agentrun.agents.planning import plan_map
from agentrun.agents.revision import revise_map
from agentrun.agents.text import split_fact, type_relation
from agentrun.schemas import EvalReport, ExampleKind, Probe, ProbeKind, ProbeResult, Relation
from agentrun.sources import parse_note, read_sources
from agentrun.workspace import reference_problems
from tests.conftest import EXAMPLE

QUOTAS = {ExampleKind.exercise: 4, ExampleKind.rephrasing: 1}


def example_map():
    return plan_map(read_sources(EXAMPLE / "sources").notes, QUOTAS)


def test_map_follows_the_vault():
    m = example_map()
    assert len(m.nodes) == 11
    assert {"orvane", "lantern-guild", "brinefire"} <= m.node_ids()
    # every anchor joins two known nodes and carries its wikilink sentence as evidence
    assert m.anchors and all(a.src in m.node_ids() and a.dst in m.node_ids() for a in m.anchors)
    guild_to_oath = next(a for a in m.anchors if a.src == "lantern-guild" and a.dst ==
                         "keeper-s-oath")
    assert "Keeper's Oath" in guild_to_oath.sentence
    assert m.unresolved_links == []
    assert m.node("orvane").level == "macro"


def test_alias_link_resolves_and_missing_link_is_reported():
    notes = [parse_note("a.md", "# Alpha\nAlpha relies on [[Beta|the beta]] and on [[Gamma]].\n"),
             parse_note("b.md", "---\naliases: [Second]\n---\n# Beta\nBeta is the second "
                        "letter of the list.\n")]
    m = plan_map(notes, QUOTAS)
    assert [(a.src, a.dst) for a in m.anchors] == [("alpha", "beta")]
    assert m.unresolved_links == ["a.md:2: [[Gamma]]"]
    assert any(p.startswith("a.md:2: [[Gamma]] links to a note that does not exist")
               for p in m.problems)


def test_every_kind_of_probe_and_answers_come_from_the_sources():
    m = example_map()
    kinds = {p.kind for p in m.probes()}
    assert kinds == set(ProbeKind)
    facts = {f.id: f.text for n in m.nodes for f in n.facts}
    for p in m.probes():
        assert p.answer and p.answer in facts[p.fact_ids[-1]], p
    transfer = [p for p in m.probes() if p.kind == ProbeKind.transfer]
    # a transfer probe hides the linked node behind X: it needs the anchor and the fact
    assert all('"' in p.prompt and "X" in p.prompt for p in transfer)
    assert all(p.node_id != facts_owner(m, p.fact_ids[-1]) for p in transfer)
    # ... and the bridge, a sentence of the probed node that names the other one
    assert all(p.node_id == facts_owner(m, p.fact_ids[0]) for p in transfer)


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
    kelpwax = m.node("kelpwax")
    failed = set(rev.failed["kelpwax"])
    assert list(rev.failed) == ["kelpwax"] and failed == {p.kind for p in kelpwax.probes}
    # each failed kind moved its remedy's quotas, recorded as [before, after]
    assert rev.quotas["kelpwax"][ExampleKind.rephrasing] == [before[ExampleKind.rephrasing],
                                                            before[ExampleKind.rephrasing] + 2]
    if ProbeKind.transfer in failed:
        assert rev.quotas["kelpwax"][ExampleKind.synthesis] == [0, 2]
    assert all(kelpwax.quota[k] >= v for k, v in before.items())
    assert kelpwax.status == "weak" and m.node("orvane").status == "learned"
    assert m.node("orvane").metrics.after["absorption"] == -1.0


def _report(m, weak_nodes):
    return EvalReport(run="r", iteration=1, adapter="a", data="d", probes=[
        ProbeResult(probe_id=p.id, node_id=p.node_id, kind=p.kind, correct_before=False,
                    correct_after=False, logprob_before=-8.0,
                    logprob_after=-7.9 if p.node_id in weak_nodes else -1.0)
        for p in m.probes()])


def test_revision_splits_a_node_too_big_to_absorb():
    text = "# Big\n\n" + " ".join(f"Big fact number {i} is kept in the long ledger of the "
                                   f"harbour at shelf {i}." for i in range(30))
    m = plan_map([parse_note("big.md", text)], QUOTAS)
    probe_ids = {p.id for p in m.probes()}
    rev = revise_map(m, _report(m, {"big"}), weak_gain=0.5, max_split_facts=24)
    big, part = m.nodes
    assert (len(big.facts), len(part.facts)) == (15, 15) and part.id == "big-part-2"
    assert {p.id for p in m.probes()} == probe_ids  # probes move, none is lost
    assert all(p.node_id == part.id for p in part.probes)
    assert any(a.src == part.id and a.dst == "big" and a.relation == Relation.part_of
               for a in m.anchors)
    assert any("split" in c and "big-part-2" in c for c in rev.changes)
    assert not reference_problems(m)


def test_revision_adds_the_anchor_a_failed_transfer_probe_needs():
    m = example_map()
    kelpwax, tidebell = m.node("kelpwax"), m.node("tidebell")
    assert not any(a.src == "kelpwax" and a.dst == "tidebell" for a in m.anchors)
    kelpwax.probes.append(Probe(id="kelpwax.t9", node_id="kelpwax", kind=ProbeKind.transfer,
                                prompt="Which town seals its casks with the wax?",
                                answer="Tidebell", fact_ids=[kelpwax.facts[0].id,
                                                           tidebell.facts[0].id]))
    rev = revise_map(m, _report(m, {"kelpwax"}), weak_gain=0.5)
    assert any(a.src == "kelpwax" and a.dst == "tidebell" for a in m.anchors)
    assert "+ anchor kelpwax → tidebell: transfer probe kelpwax.t9 combines facts of both" \
        in rev.changes


def _long_note(title, sections, per_section=6):
    body = [f"# {title}\n", f"{title} is the subject of this long note about many things."]
    for name in sections:
        body.append(f"\n## {name}\n")
        body += [f"The {name.lower()} record number {i} of {title} was kept in a blue ledger."
                 for i in range(per_section)]
    return "\n".join(body) + "\n"


def test_sections_of_a_long_note_become_nodes_and_heading_links_reach_them():
    notes = [parse_note("harbour.md", _long_note("Harbour", ["Tides", "Cargo"])),
             parse_note("ship.md", "# Ship\nThe ship follows the [[Harbour#Tides]] all year.\n")]
    m = plan_map(notes, QUOTAS)
    assert m.node_ids() == {"harbour", "harbour-tides", "harbour-cargo", "ship"}
    part_of = {(a.src, a.dst) for a in m.anchors if a.relation == Relation.part_of}
    assert part_of == {("harbour-tides", "harbour"), ("harbour-cargo", "harbour")}
    assert ("ship", "harbour-tides") in {(a.src, a.dst) for a in m.anchors}
    assert m.node("harbour").level == "macro"
    tides = m.node("harbour-tides")
    assert len(tides.facts) == 6 and all("tides record" in f.text for f in tides.facts)
    assert tides.sources[0].line == tides.facts[0].span.line


def test_an_enormous_note_is_split_with_a_warning():
    text = "# Big\n\n" + "\n\n".join(
        f"Big fact number {i} is written in this paragraph of the note." for i in range(95))
    m = plan_map([parse_note("big.md", text)], QUOTAS, max_node_facts=40)
    assert [len(n.facts) for n in m.nodes] == [40, 40, 15]
    assert [n.id for n in m.nodes] == ["big", "big-part-2", "big-part-3"]
    assert {(a.src, a.dst) for a in m.anchors} == {("big-part-2", "big"), ("big-part-3", "big")}
    (problem,) = m.problems
    assert problem.startswith("big.md: 'Big' has 95 sentences; split into 3 nodes")


def test_duplicate_titles_get_distinct_ids_and_are_reported():
    notes = [parse_note("a/kelp.md", "# Kelp\nKelp grows on the reef at low tide.\n"),
             parse_note("b/kelp.md", "# Kelp\nKelp is dried on racks in the sun.\n")]
    m = plan_map(notes, QUOTAS)
    assert [n.id for n in m.nodes] == ["kelp", "kelp-2"]
    assert m.nodes[1].facts[0].id == "kelp-2.f0"
    assert m.problems == ["b/kelp.md: duplicate title 'Kelp' (also a/kelp.md); its node id "
                          "becomes kelp-2"]


def test_cyclic_prerequisites_are_reported():
    notes = [parse_note("a.md", "# Alpha\nAlpha requires [[Beta]] to work at all.\n"),
             parse_note("b.md", "# Beta\nBeta requires [[Alpha]] to work at all.\n")]
    (problem,) = plan_map(notes, QUOTAS).problems
    assert "is a cycle of prerequisite/part_of anchors" in problem
    assert "alpha" in problem and "beta" in problem


def test_plain_text_without_links_is_anchored_by_mentions_and_shared_names():
    notes = [parse_note("mill.txt", "The Old Mill grinds barley for Hobb Farm every autumn. "
                        "The miller is called Jon Weir."),
             parse_note("farm.txt", "Hobb Farm grows barley on the east hill. "
                        "Jon Weir buys its barley each year."),
             parse_note("hobb farm.md", "# Hobb Farm\nThe farm has stood for a century.\n")]
    m = plan_map(notes, QUOTAS)
    pairs = {(a.src, a.dst): a for a in m.anchors}
    # a plain mention of another note's title is an anchor, with its sentence as evidence
    assert "grinds barley for Hobb Farm" in pairs[("mill", "hobb-farm")].sentence
    # two link-less notes naming the same rare person are anchored both ways
    assert "Jon Weir" in pairs[("mill", "farm")].sentence and ("farm", "mill") in pairs


def test_planning_time_grows_near_linearly(tmp_path):
    import time

    from agentrun.examples.synthetic import write_vault

    def plan_time(n):
        sources = write_vault(tmp_path / str(n), n)
        best = float("inf")
        for _ in range(3):  # best of three: the machine is shared
            t = time.perf_counter()
            m = plan_map(read_sources(sources).notes, QUOTAS)
            best = min(best, time.perf_counter() - t)
        assert len(m.nodes) == n and not m.unresolved_links
        return best

    plan_time(20)  # warm caches
    small, large = plan_time(50), plan_time(500)
    assert large / small < 20, (small, large)  # 10x the notes: about 10x the time, never 100x


class ArchitectFake:
    """Plays a strong architect model: answers from the prompt it is given, one batch a call."""

    model_id = "fake-architect"

    def __init__(self, wrong_every=3):
        self.batches, self.wrong_every, self.calls = [], wrong_every, 0

    def generate(self, requests, on_result=None):
        import json

        self.batches.append(len(requests))
        out = []
        for r in requests:
            prompt = r.messages[-1]["content"]
            if "relation" in r.schema["properties"]:
                text = json.dumps({"relation": "example_of"})
            else:
                self.calls += 1
                src = prompt.split('"', 2)[1]
                fact_b = prompt.split("Note B", 1)[1].split("\n- ", 1)[1].split("\n", 1)[0]
                answer = " ".join(fact_b.rstrip(".").split()[-3:])
                if self.calls % self.wrong_every == 0:
                    answer = "a phrase in no note"
                text = json.dumps({"question": f"In the notes on {src}, which linked thing "
                                               "is meant, and what is said of it?",
                                   "answer": answer})
            out.append(text)
        return out


def test_a_strong_architect_writes_transfer_probes_checked_against_the_sources():
    from agentrun.agents.enrichment import model_relations, model_transfer_probes

    m = example_map()
    structural = {p.id: p for p in m.probes() if p.kind == ProbeKind.transfer}
    fake = ArchitectFake()
    written = model_transfer_probes(m, fake, retries=0, seed=0)
    assert fake.batches == [fake.calls]  # every node's requests in one batch
    model = [p for p in m.probes() if p.origin == "model:fake-architect"]
    assert written == len(model) and 0 < written < fake.calls  # a wrong answer was refused
    facts = {f.id: f.text for n in m.nodes for f in n.facts}
    owner = {f.id: n.id for n in m.nodes for f in n.facts}
    for p in model:
        assert p.answer in facts[p.fact_ids[-1]] and p.answer not in p.prompt
        assert owner[p.fact_ids[0]] == p.node_id != owner[p.fact_ids[-1]]
    # nodes the model did not serve keep their structural transfer probes; ids stay unique
    ids = [p.id for p in m.probes()]
    assert len(ids) == len(set(ids)) and not reference_problems(m)
    assert len([p for p in m.probes() if p.kind == ProbeKind.transfer]) >= len(structural)
    retyped = model_relations(m, fake, retries=0, seed=0)
    assert retyped > 0 and fake.batches[-1] >= retyped
    assert all(a.relation in (Relation.example_of, Relation.part_of) or
               a.sentence not in facts.values() for a in m.anchors)


PARAGRAPH = (
    "# The Velm Accord\n\nThe Velm Accord was signed in 1312 by the river towns of Osk and "
    "Pardu. The accord was drafted by Ilsa Marren, a clerk of the salt court. Ilsa Marren later "
    "served as the first warden of the toll bridge at Osk. The toll bridge collected a tax on "
    "every barge of amber. Pardu left the accord after the flood of 1340 destroyed its docks.\n")


def test_probe_answers_are_supported_by_the_sources():
    from agentrun.agents.probes import probe_support

    notes = read_sources(EXAMPLE / "sources").notes
    support = probe_support(plan_map(notes, QUOTAS), notes)
    assert all(s == t > 0 for s, t in support.values()), support
    # a lone paragraph without links still gets two-fact transfer probes, all derivable
    note = parse_note("velm.md", PARAGRAPH)
    m = plan_map([note], QUOTAS)
    transfer = [p for p in m.probes() if p.kind == ProbeKind.transfer]
    assert transfer and all(len(set(p.fact_ids)) == 2 and "X" in p.prompt for p in transfer)
    assert all(p.answer not in p.prompt for p in transfer)
    support = probe_support(m, [note])
    assert support[ProbeKind.transfer] == [len(transfer), len(transfer)]
    # and the measure is not blind: an answer that is in no source is not counted
    transfer[0].answer = "the duke of nowhere"
    assert probe_support(m, [note])[ProbeKind.transfer][0] == len(transfer) - 1


def test_quotas_follow_the_facts_of_a_node():
    notes = read_sources(EXAMPLE / "sources").notes
    per_node = plan_map(notes, QUOTAS)
    per_facts = plan_map(notes, QUOTAS, facts_per_quota=3)
    for node in per_facts.nodes:
        times = -(-len(node.facts) // 3)  # ceil
        assert node.quota == {k: q * times for k, q in QUOTAS.items()}
        assert per_node.node(node.id).quota == QUOTAS
    assert any(len(n.facts) > 3 for n in per_facts.nodes)  # the test scales something


class QuestionFake:
    """Plays an architect model rewording questions: good, giving the answer away, or not one."""

    model_id = "fake-wording"

    def __init__(self):
        self.batches = []

    def generate(self, requests, on_result=None):
        import json

        self.batches.append(len(requests))
        out = []
        for i, r in enumerate(requests):
            prompt = r.messages[-1]["content"]
            fact = prompt.split('says: "', 1)[1].split('"\n', 1)[0]
            answer = prompt.split("Its answer: ", 1)[1].split("\n", 1)[0]
            question = ["Could you tell me what the notes say: " + fact.replace(answer, "what")
                        .rstrip(".") + "?",
                        f"Is it {answer}?",                 # gives the answer away
                        "Tell me more about this."][i % 3]  # not a question about the fact
            out.append(json.dumps({"question": question}))
        return out


def test_a_strong_architect_rewords_generalization_questions_checked_against_the_fact():
    from agentrun.agents.enrichment import model_questions

    m = example_map()
    before = {p.id: p for p in m.probes() if p.kind == ProbeKind.generalization}
    fake = QuestionFake()
    worded = model_questions(m, fake, retries=0, seed=0)
    assert fake.batches == [len(before)]  # one batch for the whole map
    model = [p for p in m.probes() if p.origin == "model:fake-wording"]
    assert worded == len(model) and 0 < worded <= len(before) // 3 + 1
    for p in model:
        assert p.prompt.startswith("Could you tell me") and p.answer == before[p.id].answer
        assert p.answer.lower() not in p.prompt.lower()
    kept = [p for p in m.probes() if p.kind == ProbeKind.generalization and p.origin ==
            "structural"]
    assert len(kept) + len(model) == len(before)
