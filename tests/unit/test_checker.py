"""The checker on planted faults, with real Chroma on disk and the real embedder."""

import pytest

from agentrun.agents.checker import Checker
from agentrun.config import CheckerSettings
from agentrun.memory.store import Memory
from agentrun.schemas import Example, ExampleKind, ProbeKind, Provenance
from tests.unit.test_architect import example_map

PROV = Provenance(role="contractor", generator="test", run="r1", iteration=1)


def ex(node, user, assistant, kind=ExampleKind.exercise, anchors=()):
    return Example(node_id=node, kind=kind, provenance=PROV, anchors_used=list(anchors),
                   messages=[{"role": "user", "content": user},
                             {"role": "assistant", "content": assistant}]).with_id()


GOOD = ex("brinefire", "What is brinefire refined from?",
          "Brinefire is a lamp fuel refined from the oil of red kelp.")
GOOD2 = ex("kelpwax", "What is kelpwax?",
           "Kelpwax is a grey wax pressed from the stems of brown kelp.")


@pytest.fixture()
def checker(tmp_path, embedder):
    return Checker(example_map(), Memory(tmp_path / "chroma"), embedder, CheckerSettings())


def codes(result):
    return [(e.verdict.reasons[0].code.value if e.verdict.reasons else "ok")
            for e in result.examples]


def test_planted_faults_are_caught(checker):
    m = checker.map
    gen_probe = next(p for p in m.probes() if p.kind == ProbeKind.generalization)
    planted = [
        GOOD,
        ex("brinefire", "What is brinefire refined from?",
           "Brinefire is a lamp fuel refined from the oil of red kelp."),  # exact duplicate
        ex("brinefire", "What is brinefire refined from, exactly?",
           "Brinefire is a lamp fuel refined from the oil of red kelp."),  # near duplicate
        ex("brinefire", "How is brinefire linked?", "Brinefire is stored in kelpwax casks.",
           anchors=["kelp-paste"]),  # broken anchor
        ex(gen_probe.node_id, gen_probe.prompt, gen_probe.answer),  # leaks a probe
        ex("tidebell", "What is the tidebell?",
           "A bioluminescent creature covered in delicate silver glowing cells."),  # off node
        ex("tidebell", "Who cast the tidebell?",
           "The first tidebell was cast by Tony Bozolinoi in the bronze foundry."),  # invented
        Example(node_id="orvane", kind=ExampleKind.exercise, provenance=PROV,
                messages=[{"role": "user", "content": "Tell me about Orvane."}]),  # malformed
        GOOD2,
    ]
    result = checker.check(planted, "r1/01-01")
    assert codes(result) == ["ok", "duplicate_of", "near_duplicate_of", "broken_anchor",
                             "leaks_probe", "off_node", "ungrounded", "malformed", "ok"]
    assert result.examples[1].verdict.reasons[0].other == GOOD.id
    assert result.examples[4].verdict.reasons[0].other == gen_probe.id


def test_memory_is_shared_across_runs_and_rechecking_a_round_is_idempotent(checker):
    first = checker.check([GOOD, GOOD2], "r1/01-01")
    checker.commit(first, "r1/01-01")
    assert checker.memory.count() == 2
    # the same round re-checked after a crash: its own entries do not count as duplicates
    again = checker.check([GOOD, GOOD2], "r1/01-01")
    assert codes(again) == ["ok", "ok"]
    checker.commit(again, "r1/01-01")
    assert checker.memory.count() == 2
    # a later run never re-emits what an earlier run accepted, paraphrases included
    paraphrase = ex("brinefire", "Tell me what brinefire is refined from.",
                    "Brinefire is a lamp fuel that is refined from the oil of red kelp.",
                    kind=ExampleKind.rephrasing)
    later = checker.check([GOOD, paraphrase], "r2/01-01")
    assert codes(later) == ["duplicate_of", "near_duplicate_of"]
    assert later.examples[1].verdict.reasons[0].other == GOOD.id


def test_embedding_near_duplicate_within_a_batch(checker):
    a = ex("kelpwax", "Describe kelpwax.",
           "Kelpwax is a grey wax that is pressed from brown kelp stems.",
           kind=ExampleKind.rephrasing)
    b = ex("kelpwax", "What is kelpwax?",
           "Kelpwax is grey wax pressed from stems of brown kelp.",
           kind=ExampleKind.rephrasing)
    result = checker.check([a, b], "r1/01-02")
    assert codes(result) == ["ok", "near_duplicate_of"]
    assert "embedding cosine" in result.examples[1].verdict.reasons[0].detail


def test_structural_syntheses_dialogues_and_megastructure_parts_pass_the_checker(checker):
    from agentrun.agents.contractors import candidates_for
    from agentrun.agents.structural import Job, megastructure_parts

    job = Job(run="r1", iteration=1, round=1, seed=0)
    out = candidates_for(checker.map, {"brinefire": {ExampleKind.synthesis: 4,
                                                     ExampleKind.dialogue: 2},
                                       "orvane": {ExampleKind.synthesis: 4,
                                                  ExampleKind.dialogue: 2}}, set(), job, None, 0)
    parts = megastructure_parts(checker.map, job, lambda t: len(t.split()), budget=200)
    # a part is held to the whole map's facts: a changed number in one is caught
    bad = next(p for p in parts if "eleven days" in p.messages[-1]["content"]).model_copy(
        deep=True)
    bad.messages[-1]["content"] = bad.messages[-1]["content"].replace("eleven days", "9 days")
    result = checker.check([bad.with_id()] + out + parts, "r1/1/1")
    assert len(out) == 12 and len(parts) > 3
    assert codes(result) == ["contradicts"] + ["ok"] * (12 + len(parts))


def test_a_corrected_error_step_passes_and_an_uncorrected_one_does_not(checker):
    from agentrun.agents.briefs import SynthesisWithErrorOut, render_synthesis

    fact = "Refining brinefire takes eleven days of slow boiling in copper vats."
    body = dict(theme="Brinefire and Fenwick Reef", conclusion="The reef feeds the lamps.",
                steps=["Brinefire is a lamp fuel refined from the oil of red kelp.",
                       "The red kelp grows only on the Fenwick Reef."])
    wrong = "Refining brinefire takes three days of slow boiling in copper vats."
    fixed = render_synthesis(SynthesisWithErrorOut(**body, wrong_step=wrong, correction=fact))
    unfixed = render_synthesis(SynthesisWithErrorOut(
        **body, wrong_step=wrong, correction="The vats are made of copper."))
    cases = [ex("brinefire", "How do the two fit together?", text, ExampleKind.synthesis,
                ["fenwick-reef"]).model_copy(update={"markers": ["[ERROR]"]})
             for text in (fixed, unfixed)]
    assert "[ERROR] " + wrong in fixed
    assert codes(checker.check(cases, "r1/1/3")) == ["ok", "contradicts"]


class JudgeFake:
    """Plays a capable checker model: finds the numbered note whose number an example changes."""

    model_id = "fake-judge"

    def __init__(self):
        self.batches = []

    def generate(self, requests, on_result=None):
        import json
        import re

        self.batches.append(len(requests))
        out = []
        for r in requests:
            prompt = r.messages[-1]["content"]
            notes = dict(re.findall(r"^(\d+)\. (.*)$", prompt, re.M))
            example = prompt.split("Example:\n", 1)[1]
            verdict = {"verdict": "consistent", "fact": 0, "reason": ""}
            if "red flame" in example:  # a claim the rules cannot see: a changed colour
                n = next(int(k) for k, v in notes.items() if "green flame" in v)
                verdict = {"verdict": "contradicts", "fact": n, "reason": "green, not red"}
            out.append(json.dumps(verdict))
        return out


def test_a_capable_judge_rejects_what_the_rules_let_through(tmp_path, embedder):
    m = example_map()
    judge = JudgeFake()
    checker = Checker(m, Memory(tmp_path / "chroma"), embedder, CheckerSettings(), judge, 0)
    model = PROV.model_copy(update={"generator": "model:exercise"})
    # the fact's own words in its order, one short word changed: only a reader sees it
    blue = ex("brinefire", "What colour is a brinefire flame?",
              "It burns with a pale red flame that can be seen from forty kilometres away.")
    cases = [blue.model_copy(update={"provenance": model}).with_id(),
             GOOD.model_copy(update={"provenance": model}).with_id(),
             GOOD2, blue.model_copy(update={"messages": blue.messages[:1] + [
                 {"role": "assistant", "content": "A pale red flame, seen from far away."}]}
             ).with_id()]
    result = checker.check(cases, "r1/1/1")
    # only model-written examples go to the judge, in one batch
    assert judge.batches == [2]
    assert codes(result) == ["contradicts", "ok", "ok", "ok"]
    reason = result.examples[0].verdict.reasons[0]
    flame = next(f for f in m.node("brinefire").facts if "green flame" in f.text)
    assert reason.other == flame.id and "fake-judge" in reason.detail


def test_a_restated_fact_with_another_value_is_a_contradiction(checker):
    planted = [
        ex("brinefire", "How long does refining take?",
           "Refining brinefire takes twelve days of slow boiling in copper vats."),  # number
        ex("brinefire", "Where does the kelp grow?",
           "The red kelp grows only on the Glasswright Quarter."),  # a name of the map swapped
        ex("brinefire", "How long does refining take?",
           "Refining brinefire takes eleven days of slow boiling in copper vats."),  # agrees
    ]
    error = ex("brinefire", "Check this step.", "Refining brinefire takes twelve days of slow "
               "boiling in copper vats. That step is wrong: refining brinefire takes eleven "
               "days of slow boiling in copper vats.")
    error.markers = ["[ERROR]"]  # a deliberate wrong step, corrected in the same example
    result = checker.check([*planted, error.with_id()], "r1/r1")
    assert codes(result) == ["contradicts", "contradicts", "ok", "ok"]
    number, name = (e.verdict.reasons[0] for e in result.examples[:2])
    assert number.other == "brinefire.f3" and "says 12 where the fact says 11" in number.detail
    assert name.other == "brinefire.f2" and "Fenwick" in name.detail


def test_minhash_signatures_persist_beside_chroma(tmp_path, embedder):
    from agentrun.memory.dedup import SignatureStore

    first = Checker(example_map(), Memory(tmp_path / "chroma"), embedder, CheckerSettings())
    first.commit(first.check([GOOD, GOOD2], "r1/a"), "r1/a")
    assert SignatureStore(tmp_path / "minhash.sqlite", 128).count() == 2
    # another process: its memory loads the signatures, and an earlier run's text is known
    again = Memory(tmp_path / "chroma")
    again._near = None
    assert len(again.near_index(0.85, 128)) == 2
    later = Checker(example_map(), again, embedder, CheckerSettings())
    near = ex("brinefire", "What is brinefire refined from, exactly?",
              "Brinefire is a lamp fuel refined from the oil of red kelp.")
    result = later.check([near], "r2/a")
    assert codes(result) == ["near_duplicate_of"]
    assert result.examples[0].verdict.reasons[0].other == GOOD.id


def test_correction_exercises_pass_the_checker(checker):
    from agentrun.agents.exercises import structural_exercises
    from agentrun.agents.structural import Job

    m = checker.map
    corrections = [e for e in structural_exercises(m.node("brinefire"), m,
                                                   Job(run="r1", iteration=1, round=1, seed=0))
                   if "[ERROR]" in e.markers]
    assert len(corrections) == 3 and codes(checker.check(corrections, "r1/r1")) == ["ok"] * 3


def test_every_wording_of_a_question_passes_and_a_repeated_model_answer_does_not(checker):
    from agentrun.agents.exercises import structural_exercises
    from agentrun.agents.structural import Job

    node = checker.map.node("brinefire")
    made = [e for e in structural_exercises(node, checker.map, Job("r1", 1, 1, 0))
            if e.provenance.generator in ("structural:question", "structural:quiz")]
    answers = [e.messages[-1]["content"] for e in made]
    assert len(answers) > len(set(answers))  # several wordings share an answer
    result = checker.check(made, "r1/1/1")
    assert codes(result) == ["ok"] * len(made)
    # a model writing the same answer twice is still a near duplicate
    first = ex("brinefire", "Tell me about brinefire.", answers[0])
    again = ex("brinefire", "Tell me about brinefire, please.", answers[0])
    assert codes(checker.check([first, again], "r1/1/2")) == ["ok", "near_duplicate_of"]


def test_memory_forgets_what_no_ledger_holds(tmp_path):
    """A run abandoned between its memory write and its verdicts leaves phantoms; the next
    run's first check drops them, and keeps finished rounds' and live runs' entries."""
    import numpy as np

    from agentrun.agents.checker import drop_phantoms
    from agentrun.workspace import ACCEPTED, Workspace

    (tmp_path / "ws" / "sources").mkdir(parents=True)
    ws = Workspace.open(tmp_path / "ws")
    abandoned, finished, live, current = (ws.new_run() for _ in range(4))
    (finished.round_dir(1, 1) / ACCEPTED).parent.mkdir(parents=True)
    (finished.round_dir(1, 1) / ACCEPTED).write_text("")
    memory = Memory(ws.root / "memory" / "chroma")
    runs = {abandoned: GOOD, finished: GOOD2,
            live: ex("brinefire", "Where is brinefire burned?", "Brinefire burns in lamps."),
            current: ex("kelpwax", "What colour is kelpwax?", "Kelpwax is grey.")}
    for run, example in runs.items():
        memory.add([example], np.ones((1, 8)), f"{run.id}/01-01")
    with live.writer("agentrun run"):
        assert drop_phantoms(memory, current) == 1
    assert set(memory.existing([e.id for e in runs.values()])) == {
        e.id for r, e in runs.items() if r is not abandoned}


def test_a_full_budget_rejects_the_rest_evenly_and_alternatives_take_one_place(checker):
    alt_a = GOOD.model_copy(update={"group": "brief-1"})
    alt_b = ex("brinefire", "What is brinefire?",
               "Brinefire is a lamp fuel refined from the oil of red kelp.").model_copy(
        update={"group": "brief-1"})
    more_kelpwax = ex("kelpwax", "What is kelpwax pressed from?",
                      "Kelpwax is a grey wax pressed from the stems of brown kelp.",
                      kind=ExampleKind.rephrasing)
    result = checker.check([alt_a, alt_b, GOOD2, more_kelpwax], "r1/01-01", budget=2)
    # one place for brinefire's two alternatives, one for kelpwax's first example; kelpwax's
    # second would be a third place
    assert codes(result) == ["ok", "ok", "ok", "over_budget"]
    checker.commit(result, "r1/01-01")
    assert checker.memory.count() == 3  # what is over the budget is not remembered


def test_a_spent_budget_accepts_nothing(checker):
    result = checker.check([GOOD, GOOD2], "r1/01-01", budget=0)
    assert codes(result) == ["over_budget", "over_budget"]
    checker.commit(result, "r1/01-01")
    assert checker.memory.count() == 0
