import json
from collections import Counter
from types import SimpleNamespace

from agentrun.agents.contractors import (
    STRONG_MODEL_SHARE,
    candidates_for,
    deficits_of,
    fact_coverage,
    facts_stated,
)
from agentrun.agents.exercises import described, structural_exercises
from agentrun.agents.questions import ask, person_node
from agentrun.agents.structural import SIZES, Job
from agentrun.agents.text import normalize
from agentrun.config import Roles
from agentrun.models import RoleModel
from agentrun.models.base import BatchFaults, GenRequest
from agentrun.schemas import ExampleKind, Level, ProbeKind
from tests.unit.test_architect import example_map

JOB = Job(run="r", iteration=1, round=1, seed=0)


def as_contractor(backend):
    """The backend as the contractor role calls it: its default temperature and token cap."""
    return RoleModel.of(backend, Roles().contractor)


class FakeBackend:
    """Answers every request with a valid JSON for its schema, from the facts in its prompt."""

    model_id = "fake"

    def __init__(self):
        self.batches: list[tuple[str, int]] = []
        self.requests: list[GenRequest] = []

    def count_tokens(self, text):
        return len(text.split())

    def generate(self, requests: list[GenRequest], on_result=None):
        self.batches.append((requests[0].schema["title"], len(requests)))
        self.requests += requests
        out = []
        for i, r in enumerate(requests):
            facts = [line[2:] for line in r.messages[-1]["content"].splitlines()
                     if line.startswith("- ")]
            fields = r.schema["properties"]
            if "turns" in fields:
                answer = {"turns": [{"student": f"What is {r.tags['node']}?", "tutor": facts[0]},
                                    {"student": "And then?", "tutor": facts[-1]}]}
            elif "question" in fields:
                answer = {"question": f"Which note ends with {facts[0].split()[-1]}?",
                          "answer": " ".join(facts[:2])}
            elif "steps" in fields:
                answer = {"theme": "Two linked notes", "steps": facts[:2],
                          "conclusion": facts[-1]}
                if "wrong_step" in fields:
                    answer |= {"wrong_step": "Brinefire is refined from 9 kelp.",
                               "correction": facts[0]}
            else:
                answer = {"text": f"{' '.join(facts)} ({i})"}
            text = json.dumps(answer)
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


def people_map():
    from agentrun.agents.planning import plan_map
    from agentrun.sources import parse_note

    notes = [parse_note("Ada Morrow.md", "# Ada Morrow\nAda Morrow's mentor is [[Bruno Vale]]. "
                        "She was born in Lisbon in 1821. She married Tomas Reed.\n"),
             parse_note("Bruno Vale.md", "# Bruno Vale\nBruno Vale lives in Kestrel Bay. "
                        "He works at the Greyhaven Observatory. He was born in 1790.\n")]
    return plan_map(notes, {ExampleKind.exercise: 6, ExampleKind.dialogue: 1})


def test_facts_are_taught_as_questions_forward_and_backward_short_and_full():
    m = people_map()
    made = [e for n in m.nodes for e in structural_exercises(n, m, JOB)
            if e.provenance.generator == "structural:question"]
    asked = {(e.messages[0]["content"], e.messages[1]["content"]) for e in made}
    fact = "Bruno Vale works at the Greyhaven Observatory."  # "He works at …", named
    # forward, in several wordings, the pronoun named: the fact, or the short answer alone
    forms = {u: a for u, a in asked if a in (fact, "Greyhaven Observatory.")}
    assert {"Where does Bruno Vale work?", "Bruno Vale works where?",
            "In the notes on Bruno Vale: Where does Bruno Vale work?"} <= set(forms)
    assert set(forms.values()) == {fact, "Greyhaven Observatory."}
    # the reverse direction of a relation between named things: the subject is the answer
    assert ("Who married Tomas Reed?", "Ada Morrow married Tomas Reed.") in asked
    assert ("Whose mentor is Bruno Vale?", "Ada Morrow's mentor is Bruno Vale.") in asked \
        or any(p.prompt.endswith("Whose mentor is Bruno Vale?") for p in m.probes())
    # the probe asks "tell me where Bruno Vale lives": the question itself is taught, the
    # clause the probe asks is not
    assert ("Where does Bruno Vale live?", "Bruno Vale lives in Kestrel Bay.") in asked
    assert not any("where Bruno Vale lives" in u for u, _ in asked)
    # a question a generalization probe asks is never taught
    held = {normalize(p.prompt) for p in m.probes() if p.kind != ProbeKind.absorption}
    assert held and not any(normalize(u) in h for u, _ in asked for h in held)


def test_quizzes_ask_several_facts_in_one_conversation_across_an_anchor():
    m = people_map()
    quizzes = [e for e in structural_exercises(m.node("ada-morrow"), m, JOB)
               if e.provenance.generator == "structural:quiz"]
    own = {f.text for f in m.node("ada-morrow").facts}
    assert quizzes and all(len(e.messages) >= 4 for e in quizzes)
    orders = {tuple(t["content"] for t in e.messages[1::2]) for e in quizzes}
    assert len({frozenset(o) for o in orders}) < len(orders)  # the same facts, reordered
    across = [e for e in quizzes if e.anchors_used == ["bruno-vale"]]
    assert across
    for e in across:
        answers = [t["content"] for t in e.messages[1::2]]
        assert answers[0] == "Ada Morrow's mentor is Bruno Vale."  # the link first, then
        assert "Bruno Vale lives in Kestrel Bay." in answers        # the other end's facts
        assert all(t["content"].endswith("?") for t in e.messages[0::2])
    assert all(a in own or a.startswith("Ada Morrow") for e in quizzes if not e.anchors_used
               for a in (t["content"] for t in e.messages[1::2]))


def test_two_hop_exercises_hold_both_facts_and_answer_step_by_step():
    m = people_map()
    ada = m.node("ada-morrow")
    made = list(structural_exercises(ada, m, JOB))
    bridge = "Ada Morrow's mentor is Bruno Vale."
    bruno = {f.text for f in m.node("bruno-vale").facts}
    two_hop = [e for e in made if e.provenance.generator == "structural:two_hop"]
    probe = next(p for p in ada.probes if p.id == "ada-morrow.s0")
    assert two_hop
    for e in two_hop:
        user, answer = e.messages[0]["content"], e.messages[1]["content"]
        assert "mentor is X" in user and "Bruno Vale" not in user  # X hides the bridge's name
        assert answer.startswith("X stands for Bruno Vale: " + bridge)
        # the second fact, with its pronoun named, and the answer last
        held = next(f for f in bruno if f.split(" ", 1)[1] in answer)
        assert answer.index(bridge) < answer.index(held.split(" ", 1)[1])
        assert user != probe.prompt and probe.fact_ids[-1] not in {f.id for f in
                                                                    m.node("bruno-vale").facts
                                                                    if f.text in answer}
    composed = next(e for e in made if e.provenance.generator == "structural:multi_hop")
    said = composed.messages[1]["content"]
    assert bridge in said and "Bruno Vale lives in Kestrel Bay." in said \
        and "Bruno Vale works at the Greyhaven Observatory." in said


def test_two_hop_questions_are_asked_as_a_person_asks_and_answered_by_the_chain():
    m = people_map()
    ada = m.node("ada-morrow")
    made = [e for e in structural_exercises(ada, m, JOB)
            if e.provenance.generator == "structural:composed"]
    asked = {e.messages[0]["content"]: e.messages[1]["content"] for e in made}
    chain = "Ada Morrow's mentor is Bruno Vale. Bruno Vale lives in Kestrel Bay."
    assert asked["Where does Ada Morrow's mentor live?"] == chain
    assert asked["Step by step, please. Where does Ada Morrow's mentor live?"] == chain
    assert asked["When was Ada Morrow's mentor born? Answer step by step."] == \
        "Ada Morrow's mentor is Bruno Vale. Bruno Vale was born in 1790."
    assert all(e.anchors_used == ["bruno-vale"] for e in made)
    # the transfer probe's fact is never composed: that two-hop stays held out
    probe = next(p for p in ada.probes if p.id == "ada-morrow.t0")
    held = next(f for f in m.node("bruno-vale").facts if f.id == probe.fact_ids[-1])
    assert probe.answer not in " ".join(asked.values()) and held.text.split(" ", 1)[1] \
        not in " ".join(asked.values())


def test_two_hop_questions_in_russian_put_the_verb_before_the_description():
    from agentrun.agents.planning import plan_map
    from agentrun.sources import parse_note

    notes = [parse_note("Ада Морроу.md", "# Ада Морроу\nНаставник Ады Морроу — [[Бруно Вале]]. "
                        "Ада Морроу родилась в 1821 году.\n"),
             parse_note("Бруно Вале.md", "# Бруно Вале\nБруно Вале живёт в городе Кестрел. "
                        "Бруно Вале работает в обсерватории «Грейхейвен».\n")]
    m = plan_map(notes, {ExampleKind.exercise: 6})
    made = {e.messages[0]["content"]: e.messages[1]["content"]
            for e in structural_exercises(m.node(m.nodes[0].id), m, JOB)
            if e.provenance.generator == "structural:composed"}
    assert made, [n.title for n in m.nodes]
    chain = "Наставник Ады Морроу — Бруно Вале. Бруно Вале живёт в городе Кестрел."
    assert made.get("Где живёт наставник Ады Морроу?") == chain, made
    assert made.get("Где живёт наставник Ады Морроу? Ответьте по шагам.") == chain, made


def test_a_bridge_fact_describes_the_other_end_only_definitely():
    titles = ("Cora Darwyn", "Wenora Toris")
    assert described("Cora Darwyn's mentor is X.", "en", titles) == "Cora Darwyn's mentor"
    assert described("X was the keeper of the lamp.", "en", titles) == \
        "the keeper of the lamp"
    assert described("The keeper of the lamp is X.", "en", titles) == \
        "the keeper of the lamp"
    assert described("Наставник Коры Дарвин — X.", "ru", titles) == "наставник Коры Дарвин"
    for hidden in ("X is a sailor.", "Her mentor is X.", "Cora Darwyn met X in 1790.",
                   "Orvane is X."):
        assert described(hidden, "en", titles) is None, hidden


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
                       ExampleKind.exercise: 4, ExampleKind.synthesis: 3} for n in m.nodes}
    linked = [n.id for n in m.nodes if m.neighbours(n.id)]
    out = candidates_for(m, deficits, set(), JOB, as_contractor(backend), retries=0,
                         model_share=STRONG_MODEL_SHARE)
    schemas = [name for name, _ in backend.batches]
    assert len(schemas) == len(set(schemas)) == 5  # one batch per output schema
    sizes = dict(backend.batches)
    assert sizes["RephrasingOut"] == 2 * len(m.nodes) and sizes["DialogueOut"] == len(m.nodes)
    assert sizes["ExerciseOut"] == 2 * len(m.nodes)  # half the exercises
    assert sizes["SynthesisOut"] + sizes["SynthesisWithErrorOut"] == 2 * len(linked)
    made = Counter((e.kind, e.provenance.generator.split(":")[0]) for e in out)
    assert made[(ExampleKind.exercise, "model")] == made[(ExampleKind.exercise, "structural")]
    assert made[(ExampleKind.rephrasing, "structural")] == len(m.nodes)  # one kept verbatim
    dialogue = next(e for e in out if e.kind == ExampleKind.dialogue)
    assert [t["role"] for t in dialogue.messages] == ["user", "assistant"] * 2
    assert dialogue.provenance.model == "fake"
    assert dialogue.provenance.template == "contractors.dialogue.md"
    assert len(set(e.id for e in out)) == len(out)


class FlakyBackend(FakeBackend):
    """Gives up on every third request of a batch (as a backend does after its retries)."""

    def generate(self, requests, on_result=None):
        texts = super().generate(requests)
        faults = {i: "roles.contractor: reply has no choices" for i in range(0, len(texts), 3)}
        for i, text in enumerate(texts):
            if i not in faults and on_result:
                on_result(i, text)
        raise BatchFaults([("" if i in faults else t) for i, t in enumerate(texts)], faults)


def test_every_model_request_ends_as_an_example_or_a_failure_with_its_reason():
    m = example_map()
    backend = FlakyBackend()
    deficits = {n.id: {ExampleKind.dialogue: 2, ExampleKind.exercise: 2} for n in m.nodes}
    failures: list = []
    out = candidates_for(m, deficits, set(), JOB, as_contractor(backend), retries=1,
                         model_share=STRONG_MODEL_SHARE, failures=failures)
    made = [e for e in out if e.provenance.generator.startswith("model:")]
    # a failed request is not asked again by the structured retry: the backend retried it
    assert len(backend.requests) == len(made) + len(failures)
    assert failures and all(f.reason == "roles.contractor: reply has no choices"
                            for f in failures)
    asked = Counter((r.tags["node"], r.tags["kind"]) for r in backend.requests)
    ended = Counter((e.node_id, e.kind) for e in made) + Counter(
        (f.node_id, f.kind) for f in failures)
    assert ended == asked
    assert {(f.run, f.iteration, f.round, f.model) for f in failures} == {("r", 1, 1, "fake")}


def test_a_note_in_a_language_the_model_does_not_write_gets_structural_examples_only():
    from agentrun.agents.contractors import EMBEDDED_LANGUAGES, MODEL_SHARE

    m = example_map()
    m.node("kelpwax").language = "ru"
    backend = FakeBackend()
    deficits = {n.id: {ExampleKind.rephrasing: 2} for n in m.nodes}
    out = candidates_for(m, deficits, set(), JOB, as_contractor(backend), retries=0,
                         model_share=MODEL_SHARE, languages=EMBEDDED_LANGUAGES)
    asked = {r.tags["node"] for r in backend.requests}
    assert asked == {n.id for n in m.nodes} - {"kelpwax"}
    wax = [e for e in out if e.node_id == "kelpwax"]
    assert len(wax) == 2 and all(e.provenance.generator.startswith("structural:") for e in wax)


def test_model_examples_follow_their_level():
    m = example_map()
    backend = FakeBackend()
    deficits = {n.id: {ExampleKind.rephrasing: 2, ExampleKind.dialogue: 1,
                       ExampleKind.exercise: 3, ExampleKind.synthesis: 3} for n in m.nodes}
    out = candidates_for(m, deficits, set(), JOB, as_contractor(backend), retries=0,
                         model_share=STRONG_MODEL_SHARE)
    for r in backend.requests:
        node = m.node(r.tags["node"])
        if r.tags["kind"] == ExampleKind.dialogue:  # exchanges grow with the node's level
            turns = {"micro": 2, "meso": 3, "macro": 4}[node.level]
            assert f"dialogue of {turns} exchanges" in r.messages[-1]["content"]
            assert r.max_new_tokens == 90 * turns
    by_level = {lv: {r.max_new_tokens for r in backend.requests
                     if r.tags["kind"] != ExampleKind.dialogue
                     and SIZES[lv].words in r.messages[-1]["content"]} for lv in SIZES}
    assert by_level[Level.micro] == {SIZES[Level.micro].tokens}
    assert by_level[Level.macro] == {SIZES[Level.macro].tokens}
    model = [e for e in out if e.provenance.generator.startswith("model:")]
    assert {e.level for e in model if e.kind == ExampleKind.synthesis} == {Level.macro}
    hops = [e for e in model if e.kind == ExampleKind.exercise and e.anchors_used]
    assert hops and {e.level for e in hops} == {Level.meso}
    assert {e.level for e in model if e.kind == ExampleKind.exercise
            and not e.anchors_used} == {Level.micro}
    passages = [e for e in model if e.kind == ExampleKind.rephrasing and e.level != Level.micro]
    assert passages and all(len(e.messages[-1]["content"]) > 100 for e in passages)


def test_model_syntheses_carry_their_markers_and_a_corrected_error():
    m = example_map()
    backend = FakeBackend()
    out = candidates_for(m, {"brinefire": {ExampleKind.synthesis: 6}}, set(), JOB,
                         as_contractor(backend), 0,
                         model_share={ExampleKind.synthesis: 1.0})
    made = [e for e in out if e.provenance.template == "contractors.synthesis.md"]
    assert len(made) == 6
    for e in made:
        lines = e.messages[-1]["content"].splitlines()
        assert lines[0].startswith("[THEME] ") and lines[-1].startswith("[SYNTHESIS] ")
        assert e.anchors_used and e.anchors_used[0] in {a.dst for a in m.neighbours("brinefire")}
        assert sum(line.startswith("[ANCHOR] ") for line in lines) >= 2
        assert ("[ERROR]" in e.markers) == any(line.startswith("[ERROR] ") for line in lines)
    assert sum("[ERROR]" in e.markers for e in made) == 2  # every third


def test_structural_dialogues_have_follow_ups_and_cross_an_anchor():
    from agentrun.agents.structural import structural_dialogues

    m = example_map()
    node = m.node("brinefire")
    dialogues = list(structural_dialogues(node, m, JOB))
    assert len(dialogues) >= 2
    facts = {f.text for f in node.facts}
    for d in dialogues:
        users = [t["content"] for t in d.messages if t["role"] == "user"]
        assert len(users) >= 2 and len(set(users)) == len(users)
        assert d.anchors_used and f"connect to {m.node(d.anchors_used[0]).title}" in users[-1]
        said = " ".join(t["content"] for t in d.messages if t["role"] == "assistant")
        assert sum(f in said for f in facts) >= 2


def test_dialogue_follow_ups_ask_what_the_next_answer_answers():
    from agentrun.agents.structural import structural_dialogues

    m = example_map()
    canned = {"What else do the notes say?", "Can you tell me more?",
              "And what follows from that?"}
    held = {normalize(p.prompt) for p in m.probes() if p.kind == ProbeKind.generalization}
    asked = 0
    for node in m.nodes:
        for d in structural_dialogues(node, m, JOB):
            turns = d.messages
            for i in range(2, len(turns) - 2, 2):  # the follow-ups, not the bridge at the end
                user, answer = turns[i]["content"], turns[i + 1]["content"]
                assert not any(normalize(user) in h for h in held), user
                if user not in canned:  # the question the next answer answers
                    asked += 1
                    question = user.split(". ")[-1]
                    first = answer.split(". ")[0]
                    assert question in {q.text for q in ask(first, node.title, node.language,
                                                            person_node(node.title, [
                                                                f.text for f in node.facts]))}
    assert asked >= 10


def words(text):
    return len(text.split())


def test_megastructure_parts_fit_the_context_and_keep_every_fact_in_order():
    from agentrun.agents.structural import megastructure_parts

    m = example_map()
    parts = megastructure_parts(m, JOB, words, budget=120)
    texts = [p.messages[-1]["content"] for p in parts]
    assert len(parts) > 3 and all(words(t) + len(t.splitlines()) <= 120 for t in texts)
    lines = [line for t in texts for line in t.splitlines()]
    facts = [f.text for n in m.nodes for f in n.facts]
    assert sorted(line for line in lines if line in facts) == sorted(facts)  # each once
    owner = {f.text: n.id for n in m.nodes for f in n.facts}
    assert all(t.splitlines()[-1] in owner for t in texts)  # no dangling heading or link
    # linked nodes sit side by side, joined by an [ANCHOR] line naming the relation
    assert sum(line.startswith("[ANCHOR] ") for line in lines) >= len(m.nodes) // 2
    for i, p in enumerate(parts):
        assert f"part {i + 1} of {len(parts)}" in p.messages[0]["content"]
        assert p.kind == ExampleKind.megastructure_part
        if i:  # the prompt names the node the previous part ended on
            ended_on = owner[texts[i - 1].splitlines()[-1]]
            assert f"continues from {m.node(ended_on).title}." in p.messages[0]["content"]
        covered = {p.node_id, *p.anchors_used}
        assert all(line[3:] in {m.node(n).title for n in covered}
                   for line in p.messages[-1]["content"].splitlines() if line.startswith("## "))
    # a larger context takes fewer parts; the same map gives the same parts
    assert len(megastructure_parts(m, JOB, words, budget=400)) < len(parts)
    assert [p.id for p in megastructure_parts(m, JOB, words, budget=120)] == [p.id for p in parts]


def test_seen_candidates_are_not_offered_again():
    m = example_map()
    deficits = {"brinefire": {ExampleKind.exercise: 100}}
    first = candidates_for(m, deficits, set(), JOB, None, retries=0)
    again = candidates_for(m, deficits, {e.id for e in first}, JOB, None, retries=0)
    assert first and again == []


def test_structural_examples_cover_every_fact_before_any_twice():
    m = example_map()
    node = m.node("lantern-guild")
    n = len(node.facts)
    covered = fact_coverage(m, [])
    out = candidates_for(m, {node.id: {ExampleKind.exercise: n}}, set(), JOB, None, 0,
                         coverage=covered)
    assert len(out) == n
    # in the order picked, no fact is stated twice while another is not stated yet (a
    # random pick repeats some); a quiz states several at once, so it comes first
    so_far: Counter[str] = Counter()
    for e in out:
        so_far.update(facts_stated(node, e))
        if max(so_far.values()) > 1:
            assert all(so_far[f.id] for f in node.facts), so_far
    assert out[0].provenance.generator == "structural:quiz"
    assert fact_coverage(m, out) == covered
    # the next round goes on from there: the facts least stated come first
    more = candidates_for(m, {node.id: {ExampleKind.rephrasing: 2}}, {e.id for e in out},
                          JOB, None, 0, coverage=covered)
    assert all(facts_stated(node, e) for e in more)
    assert max(covered.values()) - min(covered[f.id] for f in node.facts) <= 1


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


def test_a_spent_token_budget_starts_no_new_round(tmp_path):
    from langgraph.runtime import Runtime

    from agentrun.agents.contractors import tokens_spent
    from agentrun.agents.planning import plan_map
    from agentrun.graphs.context import Context
    from agentrun.graphs.deps import freeze
    from agentrun.graphs.nodes import dispatch
    from agentrun.graphs.orchestrator import route_after_dispatch
    from agentrun.sources import read_sources
    from agentrun.workspace import Workspace, save_map
    from tests.conftest import small_workspace

    root = small_workspace(tmp_path)
    (root / "agentrun.yaml").write_text("budgets: {cycles: 0, max_tokens: 100}\n")
    run = Workspace.open(root).new_run()
    run.create()
    save_map(plan_map(read_sources(root / "sources").notes, {ExampleKind.exercise: 2}),
             run.map_path)
    context = Context(workspace=str(root))
    run.freeze_settings(freeze(context))  # as ingest freezes them
    state = {"run_dir": str(run.root), "iteration": 1, "round": 0, "accepted": 0}
    runtime = Runtime(context=context)

    def dispatch_node(state, runtime):  # the node counts, the router decides
        return SimpleNamespace(goto=route_after_dispatch({**state, **dispatch(state, runtime)},
                                                            runtime))

    assert dispatch_node(state, runtime).goto == "contractors"
    (run.round_dir(1, 1)).mkdir(parents=True)
    (run.round_dir(1, 1) / "usage.json").write_text(json.dumps({"contractor_tokens": 60}))
    assert dispatch_node(state, runtime).goto == "contractors"  # 60 of 100 spent
    (run.round_dir(1, 2)).mkdir(parents=True)
    (run.round_dir(1, 2) / "usage.json").write_text(json.dumps({"contractor_tokens": 45}))
    assert tokens_spent(run) == 105
    assert dispatch_node(state, runtime).goto == "export"  # deficits left, budget spent


def test_every_structural_example_names_its_template_and_hash():
    from agentrun.agents.structural import megastructure_parts
    from agentrun.prompts import FOLDER, template_hash

    m = example_map()
    kinds = (ExampleKind.exercise, ExampleKind.rephrasing, ExampleKind.dialogue,
             ExampleKind.synthesis)
    out = candidates_for(m, {n.id: dict.fromkeys(kinds, 3) for n in m.nodes}, set(), JOB, None, 0)
    out += megastructure_parts(m, JOB, lambda t: len(t.split()), budget=200)
    generators = {e.provenance.generator for e in out}
    assert {"structural:cloze", "structural:synthesis", "structural:dialogue",
            "structural:restatement", "structural:megastructure"} <= generators
    for e in out:
        name = e.provenance.template
        assert name.startswith("structural.") and (FOLDER / name).exists(), e.provenance
        assert e.provenance.template_hash == template_hash(name) and len(name) > 0


def test_a_workspaces_first_run_is_reproducible_and_later_runs_move_on(tmp_path):
    from agentrun.agents.contractors import RUN_SEED_STRIDE, run_seed
    from agentrun.config import load_config
    from agentrun.workspace import Workspace
    from tests.conftest import small_workspace

    ws = Workspace.open(small_workspace(tmp_path))
    cfg = load_config(ws.root, {"generation": {"seed": 7}})
    first = ws.new_run()
    assert run_seed(cfg, first) == 7  # the same seed for the first run of any fresh copy
    assert run_seed(cfg, first) == 7  # and again when it resumes
    second = ws.new_run()  # ids sort by time (within a second, by their random part)
    assert {run_seed(cfg, first), run_seed(cfg, second)} == {7, 7 + RUN_SEED_STRIDE}
