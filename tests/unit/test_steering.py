"""Forks, the steering policy and preferences, through real LangGraph interrupts."""

import json
from dataclasses import replace
from pathlib import Path
from string import Formatter

import numpy as np
import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph

from agentrun.agents.forks import example_forks, plan_fork
from agentrun.agents.instructions import MapEdit, apply_edit, understand
from agentrun.agents.planning import plan_map
from agentrun.agents.requests import (
    WORDS,
    NotUnderstood,
    Request,
    UnknownNode,
    describe,
    message_language,
    read_request,
    request_edit,
)
from agentrun.agents.steering import Policy, parse_answer
from agentrun.config import Steering
from agentrun.graphs.context import Context
from agentrun.graphs.nodes import review as review_node
from agentrun.graphs.nodes import steer as steer_node
from agentrun.graphs.orchestrator import route_after_review
from agentrun.graphs.state import State
from agentrun.memory.store import open_memory
from agentrun.schemas import Example, ExampleKind, ProbeKind, Provenance, RunStatus, Verdict
from agentrun.sources import read_sources
from agentrun.workspace import Workspace, load_examples, save_examples, save_map
from tests.unit.test_architect import example_map


def alternative(node: str, group: str, answer: str, score: float) -> Example:
    return Example(
        node_id=node, kind=ExampleKind.rephrasing, group=group,
        messages=[{"role": "user", "content": f"Tell me about {node}."},
                  {"role": "assistant", "content": answer}],
        provenance=Provenance(role="contractor", generator="model:rephrasing"),
        verdict=Verdict(accepted=True, scores={"score": score}),
    ).with_id()


def a_round(workspace, embedder=None):
    """A run whose first round accepted two groups of alternatives and one plain example."""
    run = Workspace.open(workspace).new_run()
    m = example_map()
    save_map(m, run.map_path)
    examples = alternatives() + [alternative("tidebell", "", "The Tidebell rings at dusk.", 0.7)]
    folder = run.round_dir(1, 1)
    save_examples(folder / "accepted.jsonl", examples)
    save_examples(folder / "rejected.jsonl", [])
    # the checker committed them to the workspace's memory
    vectors = (embedder.embed([e.content() for e in examples]) if embedder is not None
               else np.random.default_rng(0).random((len(examples), 8)))
    open_memory(Workspace.open(workspace).memory_dir).add(examples, vectors, "r/01-01")
    return run, examples


def one_node_graph(name, node):
    g = StateGraph(State, context_schema=Context)
    g.add_node(name, node)
    g.add_node("dispatch", lambda state: {})  # where an approved plan goes next
    g.add_edge(START, name)
    if name == "steer":
        g.add_edge(name, END)
    else:  # after review, the orchestrator's own router: dispatch, or the end of a stopped run
        g.add_conditional_edges(name, route_after_review)
    g.add_edge("dispatch", END)
    return g.compile(checkpointer=InMemorySaver())


def test_policy_asks_within_its_budget_and_decides_by_score_otherwise():
    m = example_map()
    close, far = example_forks(m, alternatives(), 1)
    policy = Policy(Steering(max_questions=2, close_margin=0.05))
    assert policy.should_ask(close, 0, new_node=False) == (
        True, "scores close: 0.010 apart (margin 0.05)")
    assert policy.should_ask(far, 0, new_node=False)[0] is False
    assert policy.should_ask(far, 0, new_node=True) == (True, "the node is new to the corpus")
    assert policy.should_ask(close, 2)[0] is False  # budget spent
    assert Policy(Steering(mode="auto")).should_ask(close, 0)[0] is False
    assert Policy(Steering(review=["examples"])).should_ask(far, 0, new_node=False)[0]
    decision = policy.decide(far, "why")
    assert decision.choice == 0 and decision.by == "policy" and "A 0.900" in decision.reason
    # the plan is reviewed when asked for, else approved
    plan = plan_fork(m)
    assert Policy(Steering()).should_ask(plan, 0)[0]
    assert not Policy(Steering(review=[])).should_ask(plan, 0)[0]
    assert Policy(Steering(review=[])).decide(plan, "why").choice == 0


def alternatives():
    """Two groups of alternatives: scores far apart (brinefire) and close (kelpwax)."""
    return [alternative("brinefire", "far", "Brinefire burns blue.", 0.90),
            alternative("brinefire", "far", "Brinefire is a blue fire.", 0.50),
            alternative("kelpwax", "close", "Kelpwax seals the lanterns.", 0.80),
            alternative("kelpwax", "close", "Kelpwax is used on lanterns.", 0.79)]


def test_answers_are_labels_numbers_or_none():
    close, _ = example_forks(example_map(), alternatives(), 1)
    assert parse_answer(close, "b") == 1 and parse_answer(close, "1") == 0
    assert parse_answer(close, {"choice": "A"}) == 0 and parse_answer(close, "none") is None
    for bad in ("C", "3", "maybe", ""):
        try:
            parse_answer(close, bad)
        except ValueError as exc:
            assert "is not one of the options: answer A, B or none" in str(exc)
        else:
            raise AssertionError(bad)


def test_a_person_answers_a_fork_and_the_choice_becomes_a_preference(workspace):
    run, examples = a_round(workspace)
    graph = one_node_graph("steer", steer_node)
    config = {"configurable": {"thread_id": run.id}}  # a run's thread is its own
    context = Context(workspace=str(workspace), overrides={"steering": {"max_questions": 1}})
    out = graph.invoke({"run_dir": str(run.root), "iteration": 1, "round": 1}, config,
                       context=context)
    asked = out["__interrupt__"][0].value
    assert asked["fork"]["id"] == "examples:close"  # the closest scores are asked first
    assert [o["label"] for o in asked["fork"]["options"]] == ["A", "B"]
    assert "scores close" in asked["why"]
    folder = run.round_dir(1, 1)
    # an answer that is not an option is asked again, and nothing changes
    out = graph.invoke(_resume("maybe"), config, context=context)
    again = out["__interrupt__"][0].value
    assert again["fork"]["id"] == "examples:close" and "not one of the options" in again["error"]
    assert len(load_examples(folder / "accepted.jsonl")) == 5
    # the person keeps B; the other fork is past the budget (1) and the policy keeps its best
    out = graph.invoke(_resume("B"), config, context=context)
    assert "__interrupt__" not in out and out["asked"] == 1
    kept = {e.id for e in load_examples(folder / "accepted.jsonl")}
    assert kept == {examples[0].id, examples[3].id, examples[4].id}
    dropped = load_examples(folder / "rejected.jsonl")
    assert {e.id for e in dropped} == {examples[1].id, examples[2].id}
    assert all(e.verdict.reasons[0].code == "not_chosen" for e in dropped)
    assert {e.id for e in load_examples(run.accepted_path)} == kept
    remembered = open_memory(Workspace.open(workspace).memory_dir)
    assert remembered.count() == 3 and set(remembered.existing(sorted(kept))) == kept
    prefs = [json.loads(line) for line in (run.data_dir / "preferences.jsonl").read_text()
             .splitlines()]
    by_fork = {p["fork"]: p for p in prefs}
    assert by_fork["examples:close"]["source"] == "human_fork"
    assert by_fork["examples:close"]["chosen"][0]["content"] == "Kelpwax is used on lanterns."
    assert by_fork["examples:close"]["rejected"][0]["content"] == "Kelpwax seals the lanterns."
    assert by_fork["examples:close"]["prompt"] == [examples[2].messages[0]]
    assert by_fork["examples:far"]["source"] == "policy"
    decisions = [json.loads(line) for line in (run.data_dir / "decisions.jsonl").read_text()
                 .splitlines()]
    assert [(d["fork_id"], d["by"], d["choice"]) for d in decisions] == [
        ("examples:close", "human", 1), ("examples:far", "policy", 0)]


def test_auto_mode_never_waits_and_records_why(workspace):
    run, examples = a_round(workspace)
    graph = one_node_graph("steer", steer_node)
    out = graph.invoke({"run_dir": str(run.root), "iteration": 1, "round": 1},
                       {"configurable": {"thread_id": run.id}},
                       context=Context(workspace=str(workspace), auto=True))
    assert "__interrupt__" not in out and out["asked"] == 0
    decisions = [json.loads(line) for line in (run.data_dir / "decisions.jsonl").read_text()
                 .splitlines()]
    assert {d["by"] for d in decisions} == {"policy"}
    assert all(d["reason"].startswith("auto mode") for d in decisions)
    assert {e.id for e in load_examples(run.accepted_path)} == {
        examples[0].id, examples[2].id, examples[4].id}


def test_plan_review_stops_the_run_or_goes_on(workspace):
    run, _ = a_round(workspace)
    save_map(example_map(), Workspace.open(workspace).map_path)
    for answer, status in (("B", "stopped at plan review"), ("A", None)):
        graph = one_node_graph("review", review_node)
        config = {"configurable": {"thread_id": run.id}}  # a fresh graph and saver each time
        out = graph.invoke({"run_dir": str(run.root), "iteration": 1}, config,
                           context=Context(workspace=str(workspace)))
        fork = out["__interrupt__"][0].value["fork"]
        assert fork["kind"] == "plan" and "11 nodes" in fork["question"]
        out = graph.invoke(_resume(answer), config, context=Context(workspace=str(workspace)))
        assert out.get("status") == status
        assert list(graph.get_state(config).next) == []


def _resume(answer):
    from langgraph.types import Command

    return Command(resume=answer)


def test_a_person_keeps_an_option_in_their_own_words(workspace, embedder):
    from agentrun.agents.steering import load_preferences

    run, examples = a_round(workspace, embedder)
    graph = one_node_graph("steer", steer_node)
    config = {"configurable": {"thread_id": run.id}}  # a run's thread is its own
    context = Context(workspace=str(workspace), overrides={"steering": {"max_questions": 1}})
    graph.invoke({"run_dir": str(run.root), "iteration": 1, "round": 1}, config, context=context)
    # an edit needs an option to rewrite and some words: asked again otherwise
    out = graph.invoke(_resume({"choice": "none", "text": "x"}), config, context=context)
    assert "an edit needs the option" in out["__interrupt__"][0].value["error"]
    out = graph.invoke(_resume({"choice": "B", "text": "  "}), config, context=context)
    assert "cannot be empty" in out["__interrupt__"][0].value["error"]
    words = "Kelpwax seals every lantern of the guild."
    out = graph.invoke(_resume({"choice": "B", "text": words}), config, context=context)
    assert "__interrupt__" not in out
    folder = run.round_dir(1, 1)
    accepted = load_examples(folder / "accepted.jsonl")
    (mine,) = [e for e in accepted if e.node_id == "kelpwax"]
    assert mine.messages[-1]["content"] == words and mine.provenance.role == "human"
    assert mine.messages[:-1] == examples[3].messages[:-1]  # the same question
    rejected = {e.id: e for e in load_examples(folder / "rejected.jsonl")}
    assert {examples[2].id, examples[3].id} <= set(rejected)
    assert rejected[examples[3].id].verdict.reasons[0].detail.endswith("in their own words")
    # the person's wording is preferred over both options, the one it rewrites included
    pairs = [p for p in load_preferences(run.data_dir) if p.source == "human_fork"]
    assert {p.rejected[0]["content"] for p in pairs} == {
        examples[2].messages[-1]["content"], examples[3].messages[-1]["content"]}
    assert all(p.chosen[0]["content"] == words for p in pairs)
    remembered = open_memory(Workspace.open(workspace).memory_dir)
    assert set(remembered.existing([mine.id, examples[3].id])) == {mine.id}


def test_decisions_applied_again_after_a_crash_move_each_example_once(workspace):
    from agentrun.agents.steering import apply_decisions

    run, examples = a_round(workspace)
    folder = run.round_dir(1, 1)
    forks = example_forks(example_map(), examples, 1)
    policy = Policy(Steering(mode="auto"))
    decisions = [policy.decide(f, "auto mode") for f in forks]
    before = (folder / "accepted.jsonl").read_text()
    apply_decisions(folder, forks, decisions, run.data_dir)
    (folder / "accepted.jsonl").write_text(before)  # killed after the first of two writes
    dropped, _ = apply_decisions(folder, forks, decisions, run.data_dir)
    rejected = [e.id for e in load_examples(folder / "rejected.jsonl")]
    assert sorted(rejected) == sorted(dropped) and len(rejected) == len(set(rejected)) == 2
    assert not set(rejected) & {e.id for e in load_examples(folder / "accepted.jsonl")}


# ---------------------------------------------------------------- steering in Russian

RU_VAULT = Path(__file__).resolve().parents[1] / "fixtures" / "vaults" / "ru"
SAME_EDIT = [  # (English, Russian): one request in both languages
    ("3 more dialogues on Kelpwax", "сделай ещё 3 диалога для узла Kelpwax"),
    ("more dialogues on Kelpwax", "больше диалогов по Kelpwax"),
    ("2 fewer exercises for Brinefire", "на два упражнения меньше по Brinefire"),
    ("fewer rephrasings for Brinefire", "поменьше пересказов про Brinefire"),
    ("merge Kelpwax and Brinefire", "объедини Kelpwax и Brinefire"),
    ("merge Kelpwax with Brinefire", "слей Kelpwax с Brinefire"),
    ("stop generating for Fenwick Reef", "останови генерацию для Fenwick Reef"),
    ("resume Fenwick Reef", "возобнови Fenwick Reef"),
    ("focus the next cycle on transfer", "фокус на переносе"),
    ("focus on generalization", "сосредоточься на обобщении"),
    ("focus on absorption", "сфокусируйся на усвоении"),
]


@pytest.mark.parametrize(("english", "russian"), SAME_EDIT)
def test_a_russian_request_makes_the_edit_its_english_twin_makes(english, russian):
    m = example_map()
    assert message_language(russian) == "ru" and message_language(english) == "en"
    edit = request_edit(russian, "ru", m)
    assert edit == request_edit(english, "en", m)
    # and the English reading is the one the chat always had
    assert edit == understand(english, m)


def ru_map():
    return plan_map(read_sources(RU_VAULT).notes, {ExampleKind.exercise: 2})


@pytest.mark.parametrize(("words", "expected"), [
    ("больше диалогов для узла Башня в гавани",
     MapEdit(op="quota", nodes=["bashnya-v-gavani"], kind=ExampleKind.dialogue, amount=2)),
    ("Сделай больше диалогов для башни в гавани",  # inflected title
     MapEdit(op="quota", nodes=["bashnya-v-gavani"], kind=ExampleKind.dialogue, amount=2)),
    ("добавь пять упражнений по сигнальным кодам",
     MapEdit(op="quota", nodes=["signalnye-kody"], kind=ExampleKind.exercise, amount=5)),
    ("на три задания меньше для «Сигнальных кодов»",
     MapEdit(op="quota", nodes=["signalnye-kody"], kind=ExampleKind.exercise, amount=-3)),
    ("больше примеров диалогов о башне в гавани",  # the last kind word is the exact one
     MapEdit(op="quota", nodes=["bashnya-v-gavani"], kind=ExampleKind.dialogue, amount=2)),
    ("пожалуйста, ещё два синтеза про уход за маяком",
     MapEdit(op="quota", nodes=["ukhod-za-mayakom"], kind=ExampleKind.synthesis, amount=2)),
    ("объедини Башню в гавани и Сигнальные коды",  # a joiner inside a title is skipped
     MapEdit(op="merge", nodes=["bashnya-v-gavani", "signalnye-kody"])),
    ("слить сигнальные коды с башней в гавани",
     MapEdit(op="merge", nodes=["signalnye-kody", "bashnya-v-gavani"])),
    ("хватит примеров по сигнальным кодам", MapEdit(op="stop", nodes=["signalnye-kody"])),
    ("прекрати генерировать башню в гавани", MapEdit(op="stop", nodes=["bashnya-v-gavani"])),
    ("продолжи генерацию для уходу за маяком", MapEdit(op="resume", nodes=["ukhod-za-mayakom"])),
    ("следующий цикл — упор на перенос",
     MapEdit(op="focus", probe_kind=ProbeKind.transfer)),
])
def test_russian_map_edits_read_inflected_words_and_titles(words, expected):
    assert request_edit(words, message_language(words), ru_map()) == expected


def test_a_russian_request_for_a_missing_node_or_no_edit_changes_nothing_and_says_why():
    m = ru_map()
    with pytest.raises(UnknownNode) as missing:
        request_edit("больше диалогов для Сигнальной башни", "ru", m)
    assert missing.value.name == "Сигнальной башни"
    assert set(missing.value.hints) <= m.node_ids() and missing.value.hints
    with pytest.raises(UnknownNode) as second:  # the first node is found: the second is named
        request_edit("объедини башню в гавани и маяк", "ru", m)
    assert second.value.name == "маяк"
    with pytest.raises(NotUnderstood):
        request_edit("сделай получше", "ru", m)


SAME_COMMAND = [  # (English, Russian, what both ask for)
    ("status", "статус", Request("status", "")), ("where are we", "где мы?", Request("status", "")),
    ("weak", "слабые узлы", Request("weak", "")), ("go", "вперёд", Request("go", "")),
    ("continue", "дальше", Request("go", "")), ("pause", "пауза", Request("pause", "")),
    ("stop", "стоп", Request("pause", "")), ("rejected", "отклонённые", Request("rejected", "")),
    ("help", "помощь", Request("help", "")), ("quit", "выход", Request("quit", "")),
    ("why 3fa9b2c1", "почему 3fa9b2c1", Request("why", "", "3fa9b2c1")),
    ("why was 3fa9 rejected?", "почему пример 3fa9 отклонён?", Request("why", "", "3fa9")),
    ("B", "вариант B", Request("answer", "", "B")),
    ("A", "А", Request("answer", "", "A")),  # a Cyrillic А, typed in the other layout
    ("none", "нет", Request("answer", "", "none")),
    ("edit B: grey wax", "правка В: grey wax", Request("edit", "", "B", "grey wax")),
]


@pytest.mark.parametrize(("english", "russian", "expected"), SAME_COMMAND)
def test_chat_commands_in_russian_are_the_english_ones(english, russian, expected):
    for line, language in ((english, "en"), (russian, "ru")):
        language = message_language(line, language)  # a bare label keeps the previous one
        assert read_request(line, language) == replace(expected, language=language)
    # a lone Cyrillic label while the conversation is English is still the Latin label
    assert read_request("В", "en") == Request("answer", "en", "B")
    instruction = read_request("больше диалогов для Kelpwax", "ru")
    assert instruction == Request("instruct", "ru", text="больше диалогов для Kelpwax")


# Short chat messages, labelled. Measured on them: py3langid's `detect` gets 5 of 22 Russian
# (default "en": most are too short to classify) or 2 of 21 English (default "ru");
# `message_language`, reading the script of whole words, gets all 43.
LABELLED = [(t, "ru") for t in (
    "статус", "слабые", "вперёд", "дальше", "пауза", "стоп", "почему 3fa9b2c1",
    "почему пример 3fa9 отклонён?", "больше диалогов для Kelpwax", "объедини Kelpwax и Brinefire",
    "останови генерацию для Fenwick Reef", "фокус на переносе", "нет", "правка B: воск серый",
    "сделай больше диалогов для узла Башня в гавани", "помощь", "выход", "отклонённые",
    "где мы?", "продолжи Fenwick Reef", "на два упражнения меньше по Brinefire",
    "сосредоточься на обобщении")] + [(t, "en") for t in (
    "status", "weak", "go", "pause", "stop", "why 3fa9b2c1", "why was 3fa9 rejected?",
    "more dialogues on Kelpwax", "merge Kelpwax and Brinefire", "stop generating for Fenwick Reef",
    "focus on transfer", "none", "edit B: grey wax", "help", "quit", "rejected", "where are we",
    "resume Fenwick Reef", "2 fewer exercises for Brinefire",
    "focus the next cycle on generalization", "make it better")]


def test_each_message_is_answered_in_its_language_and_a_bare_label_keeps_it():
    for previous in ("en", "ru"):
        assert [message_language(t, previous) for t, _ in LABELLED] == [lang for _, lang in
                                                                         LABELLED]
        for neutral in ("A", "3", "3fa9b2c1", "?", "B."):
            assert message_language(neutral, previous) == previous


def test_every_language_has_every_reply_with_the_same_placeholders():
    def fields(template):
        return {name for _, name, _, _ in Formatter().parse(template) if name}

    english = WORDS["en"]
    for words in WORDS.values():
        assert words.replies.keys() == english.replies.keys()
        for key, template in words.replies.items():
            assert fields(template) == fields(english.replies[key]), (words.language, key)
        assert words.kind_names.keys() == {k.value for k in ExampleKind}
        assert words.probe_names.keys() == {k.value for k in ProbeKind}
        assert words.status_names.keys() == {s.value for s in RunStatus}
        assert set(words.kinds.values()) <= {k.value for k in ExampleKind}


def test_an_applied_edit_is_described_in_the_persons_language():
    m = ru_map()
    edit = request_edit("больше диалогов для башни в гавани", "ru", m)
    revision = apply_edit(m, edit, "больше диалогов для башни в гавани")
    before = revision.quotas["bashnya-v-gavani"][ExampleKind.dialogue][0]
    assert describe(edit, revision, "ru") == [
        f"bashnya-v-gavani: квота «диалог» {before} → {before + 2}"]
    assert describe(edit, revision, "en") == revision.changes  # the map's history's words
