"""`agentrun chat` driven in a pseudo-terminal the way a person uses it: answer forks, edit the
map in plain words, ask why an example was rejected; a second writer is refused."""

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pexpect
import pytest

from agentrun.schemas import Example, ExampleKind, Provenance, Verdict
from agentrun.workspace import load_examples, load_map

pytestmark = pytest.mark.integration

RU_VAULT = Path(__file__).resolve().parents[1] / "fixtures" / "vaults" / "ru"
# structural examples only; those longer than 300 characters (quizzes, syntheses) are
# rejected as too long, so the run has rejections to explain
CORPUS_ONLY = ("budgets: {cycles: 0, max_rounds: 1}\ngeneration: {model_generators: false}\n"
               "checker: {max_chars: 300}\n")


def spawn(*args: str) -> pexpect.spawn:
    env = {**os.environ, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "200"}
    child = pexpect.spawn(sys.executable, ["-m", "agentrun.shell.cli", *args], env=env,
                          encoding="utf-8", timeout=300, dimensions=(60, 200))
    return child


def wait_status(run_dir, status: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while json.loads((run_dir / "run.json").read_text()).get("status") != status:
        assert time.monotonic() < deadline, f"run not {status} after {timeout} s"
        time.sleep(0.5)


def say(child: pexpect.spawn, line: str, expect: str) -> str:
    child.sendline(line)
    child.expect(expect)
    return child.before + child.after


@pytest.fixture()
def corpus_workspace(fast_workspace):
    (fast_workspace / "agentrun.yaml").write_text(CORPUS_ONLY)  # structural examples, no training
    return fast_workspace


def test_chat_answers_the_plan_edits_the_map_and_explains_rejections(corpus_workspace):
    child = spawn("chat", str(corpus_workspace))
    try:
        child.expect("keep talking")  # the new run reached the plan fork
        (run,) = (corpus_workspace / "runs").iterdir()
        assert json.loads((run / "run.json").read_text())["status"] == "waiting"
        assert "waiting, next: review" in say(child, "status", "you>")
        # plain words become a map edit, shown as a diff, applied once approved
        shown = say(child, "3 more dialogues on kelpwax", r"apply this edit\? \[y/N\]>")
        assert "-    dialogue: 1" in shown and "+    dialogue: 4" in shown
        say(child, "y", "applied: map v2")
        say(child, "merge Kelpwax and Tidebell", "no node called 'Tidebell'")
        say(child, "make it better", "cannot turn 'make it better' into a map edit")
        assert "nothing changed" in say(child, "C", "not one of the options: answer A, B")
        # a second writer on the same run is refused in one line
        other = spawn("resume", str(run), "--answer", "A")
        other.expect(pexpect.EOF)
        other.close()
        assert other.exitstatus == 2 and "already has a writer" in other.before
        say(child, "A", "by reason")  # the run goes on to its end and shows its counts
        wait_status(run, "done")
        rejected = load_examples(run / "data" / "rejected.jsonl")
        assert rejected  # too long for checker.max_chars
        answer = say(child, f"why was {rejected[0].id[:8]} rejected?", "you>")
        assert rejected[0].verdict.reasons[0].code in answer
        say(child, "why zzzz", "no rejected example of this run has that id")
        child.sendline("quit")
        child.expect("left run")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    kelpwax = load_map(corpus_workspace / "map.yaml").node("kelpwax")
    assert kelpwax.quota[ExampleKind.dialogue] == 4
    assert load_map(run / "map.yaml").node("kelpwax").quota[ExampleKind.dialogue] == 4
    history = load_map(corpus_workspace / "map.yaml").history
    assert history[0].reason == "a person asked: 3 more dialogues on kelpwax"
    decisions = [json.loads(line) for line in (run / "data" / "decisions.jsonl")
                 .read_text().splitlines()]
    assert decisions[0]["by"] == "human" and decisions[0]["fork_id"].startswith("plan:")


def alternative(answer: str, score: float) -> Example:
    return Example(
        node_id="kelpwax", kind=ExampleKind.rephrasing, group="kelpwax-r1",
        messages=[{"role": "user", "content": "Tell me about Kelpwax."},
                  {"role": "assistant", "content": answer}],
        provenance=Provenance(role="contractor", generator="model:rephrasing"),
        verdict=Verdict(accepted=True, scores={"score": score}),
    ).with_id()


def run_at_checker(workspace, embedder):
    """A run whose checker accepted two close alternatives for one brief (a fork follows)."""
    from agentrun.agents.planning import plan_map
    from agentrun.memory.store import open_memory
    from agentrun.shell.runner import checkpointed_graph, prepare_run
    from agentrun.sources import read_sources
    from agentrun.workspace import Workspace, save_examples, save_map

    run = prepare_run(workspace, auto=False)
    run.create()
    dataset_map = plan_map(read_sources(workspace / "sources").notes,
                           {ExampleKind.exercise: 2})
    save_map(dataset_map, workspace / "map.yaml")
    save_map(dataset_map, run.map_path)
    examples = [alternative("Kelpwax is a grey wax pressed from brown kelp stems.", 0.80),
                alternative("Pressed from the stems of brown kelp, kelpwax is grey.", 0.79)]
    folder = run.round_dir(1, 1)
    save_examples(folder / "accepted.jsonl", examples)
    save_examples(folder / "rejected.jsonl", [])
    open_memory(Workspace.open(workspace).memory_dir).add(
        examples, embedder.embed([e.content() for e in examples]), f"{run.id}/01-01")
    state = {"run_dir": str(run.root), "iteration": 1, "round": 1, "accepted": 2,
             "rejected": 0, "rejected_by_reason": {}, "revisions": [], "started_at": time.time()}
    with checkpointed_graph(run) as graph:
        graph.update_state({"configurable": {"thread_id": run.id}}, state, as_node="checker")
    run.update_meta(status="paused")
    return run, examples


def test_chat_keeps_an_alternative_in_the_persons_words_as_a_preference(corpus_workspace,
                                                                         embedder):
    run, examples = run_at_checker(corpus_workspace, embedder)
    child = spawn("chat", str(run.root))
    words = "Kelpwax, a grey wax, is pressed from the stems of brown kelp."
    try:
        child.expect("you>")
        say(child, "go", "keep talking")  # the steer node asks which alternative to keep
        say(child, f"edit B: {words}", "by reason")
        wait_status(run.root, "done")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    # one pair per option the person's words replaced
    prefs = [json.loads(line) for line in (run.data_dir / "preferences.jsonl")
             .read_text().splitlines()]
    assert {p["rejected"][0]["content"] for p in prefs} == {
        e.messages[-1]["content"] for e in examples}
    assert all(p["chosen"][0]["content"] == words and p["source"] == "human_fork"
               for p in prefs)
    kept = [e for e in load_examples(run.accepted_path) if e.node_id == "kelpwax"
            and e.kind == "rephrasing"]
    assert [e.messages[-1]["content"] for e in kept] == [words]


@pytest.fixture()
def russian_workspace(tmp_path, smollm2):
    """The Russian vault, structural examples only (rejections to explain, as above)."""
    ws = tmp_path / "ru"
    shutil.copytree(RU_VAULT, ws / "sources")
    (ws / "agentrun.yaml").write_text(CORPUS_ONLY)
    return ws


def test_a_person_steers_in_russian_and_the_chat_answers_in_russian(russian_workspace):
    ws = russian_workspace
    child = spawn("chat", str(ws))
    try:
        child.expect("keep talking")  # nothing said yet: the plan fork is shown in English
        (run,) = (ws / "runs").iterdir()
        assert "ждёт ответа, дальше: review" in say(child, "статус", "you>")
        before = load_map(ws / "map.yaml").node("bashnya-v-gavani").quota[ExampleKind.dialogue]
        # an inflected title, inflected kind: a map edit shown as a diff, asked in Russian
        shown = say(child, "сделай больше диалогов для башни в гавани",
                    r"применить эту правку\? \[д/Н\]>")
        assert f"-    dialogue: {before}" in shown and f"+    dialogue: {before + 2}" in shown
        assert f"bashnya-v-gavani: квота «диалог» {before} → {before + 2}" in shown
        say(child, "д", "применено: карта v2")
        say(child, "объедини башню в гавани и маяк", "нет узла «маяк»; может быть")
        say(child, "сделай получше", "не понимаю, какую правку карты просит «сделай получше»")
        # a Cyrillic С reads as option C, which this fork does not have (lines wrap at 80)
        say(child, "С", r"«C» — не вариант ответа; ответьте A, B;\s+ничего не\s+изменилось")
        say(child, "А", "by reason")  # a Cyrillic А approves the plan; the run goes to its end
        wait_status(run, "done")
        rejected = load_examples(run / "data" / "rejected.jsonl")
        assert rejected
        answer = say(child, f"почему {rejected[0].id[:8]}?", "you>")
        assert f"{rejected[0].id} (" in answer and "отклонён:" in answer
        assert rejected[0].verdict.reasons[0].code in answer
        say(child, "почему zzzz", "в этом прогоне нет отклонённого примера с таким id")
        # a message in English is answered in English, the next Russian one in Russian
        say(child, "why zzzz", "no rejected example of this run has that id")
        say(child, "слабые", "слабых узлов нет|слабые узлы")
        child.sendline("выход")
        child.expect("вы вышли из прогона")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    tower = load_map(ws / "map.yaml").node("bashnya-v-gavani")
    assert tower.quota[ExampleKind.dialogue] == before + 2
    assert load_map(run / "map.yaml").node("bashnya-v-gavani").quota[ExampleKind.dialogue] == \
        before + 2
    history = load_map(ws / "map.yaml").history
    assert history[0].reason == "a person asked: сделай больше диалогов для башни в гавани"
    decisions = [json.loads(line) for line in (run / "data" / "decisions.jsonl")
                 .read_text().splitlines()]
    assert decisions[0]["by"] == "human" and decisions[0]["choice"] == 0
