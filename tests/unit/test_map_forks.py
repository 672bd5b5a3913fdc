"""Forks on the map itself, settled in the review node before anything is generated: sources
that disagree on a fact, and nodes a re-plan would remove because their sources are gone."""

import json

import pytest

from agentrun.agents.checker import Checker
from agentrun.agents.forks import map_forks, settle_map_forks
from agentrun.agents.planning import plan_map
from agentrun.agents.replan import merge_replan
from agentrun.config import CheckerSettings
from agentrun.graphs.context import Context
from agentrun.graphs.nodes import review as review_node
from agentrun.memory.store import Memory
from agentrun.schemas import Decision, Example, ExampleKind, ForkKind, Provenance
from agentrun.sources import read_sources
from agentrun.workspace import Workspace, load_map, save_map
from tests.unit.test_steering import _resume, one_node_graph

QUOTAS = {ExampleKind.exercise: 2}
PROV = Provenance(role="contractor", generator="test", run="r1", iteration=1)
NOTES = {
    "Brinefire.md": "# Brinefire\n\nBrinefire is a lamp fuel refined from red kelp oil. "
                    "A measure of brinefire burns for twelve hours in a harbour lamp. "
                    "It is stored in casks sealed with [[Kelpwax]].\n",
    "Kelpwax.md": "# Kelpwax\n\nKelpwax is a grey wax pressed from brown kelp stems. "
                  "It seals the casks of [[Brinefire]]. "
                  "A measure of brinefire burns for nine hours in a harbour lamp.\n",
    "Tidebell.md": "# Tidebell\n\nThe Tidebell is a bronze bell rung at every low tide.\n",
}


def workspace_with(tmp_path, notes=NOTES):
    root = tmp_path / "ws"
    (root / "sources").mkdir(parents=True)
    for name, text in notes.items():
        (root / "sources" / name).write_text(text)
    return root


def test_sources_that_disagree_become_one_fork_citing_both(tmp_path):
    root = workspace_with(tmp_path)
    dataset_map = plan_map(read_sources(root / "sources").notes, QUOTAS)
    (fork,) = [f for f in map_forks(dataset_map) if f.kind == ForkKind.contradiction]
    assert "says 9 where the fact says 12" in fork.question or \
        "says 12 where the fact says 9" in fork.question
    texts = [o.text for o in fork.options]
    assert any("twelve hours" in t and "(Brinefire.md:3)" in t for t in texts[:2])
    assert any("nine hours" in t and "(Kelpwax.md:3)" in t for t in texts[:2])
    assert texts[2].startswith("both")
    # keeping both settles it for good; keeping one drops the other fact and its probes
    both = dataset_map.model_copy(deep=True)
    settle_map_forks(both, [fork], [Decision(fork_id=fork.id, choice=2, by="policy")])
    assert fork.id in both.settled and not [f for f in map_forks(both)
                                            if f.kind == ForkKind.contradiction]
    dropped = fork.options[1].example_id
    changes = settle_map_forks(dataset_map, [fork], [Decision(fork_id=fork.id, choice=0,
                                                              by="human")])
    assert changes == [f"- fact {dropped}: contradicts {fork.options[0].example_id}; "
                       f"a person kept {fork.options[0].example_id}"]
    assert all(f.id != dropped for n in dataset_map.nodes for f in n.facts)
    assert all(dropped not in p.fact_ids for p in dataset_map.probes())
    assert dataset_map.history[-1].changes == changes


def test_the_review_node_asks_after_the_plan_and_writes_the_map(tmp_path):
    root = workspace_with(tmp_path)
    ws = Workspace.open(root)
    save_map(plan_map(read_sources(ws.sources_dir).notes, QUOTAS), ws.map_path)
    run = ws.new_run()
    run.create()
    save_map(load_map(ws.map_path), run.map_path)
    graph = one_node_graph("review", review_node)
    config = {"configurable": {"thread_id": run.id}}  # a run's thread is its own
    context = Context(workspace=str(root))
    out = graph.invoke({"run_dir": str(run.root), "iteration": 1}, config, context=context)
    assert out["__interrupt__"][0].value["fork"]["kind"] == "plan"
    out = graph.invoke(_resume("A"), config, context=context)
    asked = out["__interrupt__"][0].value
    assert asked["fork"]["kind"] == "contradiction" and asked["why"] == "the sources disagree"
    out = graph.invoke(_resume("B"), config, context=context)
    assert "__interrupt__" not in out and out["asked"] == 2
    kept = asked["fork"]["options"][1]["example_id"]
    dropped = asked["fork"]["options"][0]["example_id"]
    for path in (ws.map_path, run.map_path):
        facts = {f.id for n in load_map(path).nodes for f in n.facts}
        assert kept in facts and dropped not in facts
    decisions = [json.loads(line) for line in (run.data_dir / "decisions.jsonl")
                 .read_text().splitlines()]
    assert [(d["by"], d["choice"]) for d in decisions] == [("human", 0), ("human", 1)]


def test_a_replan_keeps_nodes_whose_sources_are_gone_until_the_fork_settles_it(tmp_path):
    root = workspace_with(tmp_path)
    old = plan_map(read_sources(root / "sources").notes, QUOTAS)
    (root / "sources" / "Tidebell.md").unlink()
    new = plan_map(read_sources(root / "sources").notes, QUOTAS)
    merge_replan(old, new)
    assert new.node("tidebell").status == "source_gone"
    assert "- node tidebell: its source is gone; a run asks whether to remove it" in \
        new.history[-1].changes
    from agentrun.agents.contractors import deficits_of

    assert "tidebell" not in deficits_of(new, [], 100)  # nothing generated meanwhile
    (fork,) = [f for f in map_forks(new) if f.kind == ForkKind.removal]
    assert "The sources of 1 nodes are gone (Tidebell" in fork.question
    kept = new.model_copy(deep=True)
    settle_map_forks(kept, [fork], [Decision(fork_id=fork.id, choice=1, by="human")])
    assert kept.node("tidebell").status == "kept" and "tidebell" in deficits_of(kept, [], 100)
    again = plan_map(read_sources(root / "sources").notes, QUOTAS)
    merge_replan(kept, again)  # a node a person kept is not asked about again
    assert again.node("tidebell").status == "kept" and not [
        f for f in map_forks(again) if f.kind == ForkKind.removal]
    settle_map_forks(new, [fork], [Decision(fork_id=fork.id, choice=0, by="policy")])
    assert "tidebell" not in new.node_ids()
    assert all("tidebell" not in (a.src, a.dst) for a in new.anchors)
    from agentrun.workspace import reference_problems

    assert reference_problems(new) == []


CORVEL = {
    "en": {"Corvel Lighthouse.md": "# Corvel Lighthouse\n\nThe Corvel lighthouse was built in "
                                   "1820 by the engineer Anna Brask. It stands on the north "
                                   "cape. Its keeper reads [[Harbour Log]].\n",
           "Harbour Log.md": "# Harbour Log\n\nThe harbour log is kept by the keeper of "
                             "[[Corvel Lighthouse]]. The Corvel lighthouse was built in 1835 by "
                             "the engineer Anna Brask.\n",
           "generated": "The Corvel lighthouse was built in 1850 by the engineer Anna Brask.",
           "agrees": "The engineer Anna Brask built the Corvel lighthouse in 1820."},
    "ru": {"Маяк Корвель.md": "# Маяк Корвель\n\nМаяк Корвель построен в 1820 году инженером "
                              "Анной Браск. Он стоит на северном мысе. Смотритель ведёт "
                              "[[Портовый журнал]].\n",
           "Портовый журнал.md": "# Портовый журнал\n\nПортовый журнал ведёт смотритель "
                                 "[[Маяк Корвель|маяка Корвель]]. Маяк Корвель построен в 1835 "
                                 "году инженером Анной Браск.\n",
           "generated": "Маяк Корвель построен в 1850 году инженером Анной Браск.",
           "agrees": "Инженер Анна Браск построила маяк Корвель в тысяча восемьсот двадцатом "
                     "году."},
}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_two_notes_that_disagree_on_a_year_fork_and_a_third_year_is_rejected(
        tmp_path, embedder, language):
    case = CORVEL[language]
    notes = {k: v for k, v in case.items() if k.endswith(".md")}
    dataset_map = plan_map(read_sources(workspace_with(tmp_path, notes) / "sources").notes, QUOTAS)
    forks = [f for f in map_forks(dataset_map) if f.kind == ForkKind.contradiction]
    assert len(forks) == 1
    # the question in the notes' language, naming both years
    said = {"en": ("says 1820 where the fact says 1835", "says 1835 where the fact says 1820"),
            "ru": ("Два источника расходятся (1820 или 1835)",
                   "Два источника расходятся (1835 или 1820)")}[language]
    assert any(s in forks[0].question for s in said), forks[0].question
    assert forks[0].options[2].text.startswith({"en": "both", "ru": "оба"}[language])
    checker = Checker(dataset_map, Memory(tmp_path / "chroma"), embedder, CheckerSettings())
    node = next(n for n in dataset_map.nodes if any("1820" in f.text for f in n.facts))
    said = [Example(node_id=node.id, kind=ExampleKind.exercise, provenance=PROV,
                    messages=[{"role": "user", "content": "?"},
                              {"role": "assistant", "content": case[k]}]).with_id()
            for k in ("generated", "agrees")]
    verdicts = checker.check(said, "r1/1").examples
    reason = verdicts[0].verdict.reasons[0]
    assert reason.code.value == "contradicts" and "says 1850" in reason.detail
    assert verdicts[1].verdict.accepted, verdicts[1].verdict.reasons


def test_a_probe_asked_in_other_cases_still_leaks_and_inflected_repeats_are_near(
        tmp_path, embedder):
    from agentrun.languages import ru
    from agentrun.memory.dedup import NearDuplicateIndex, shingles

    notes = {k: v for k, v in CORVEL["ru"].items() if k.endswith(".md")}
    dataset_map = plan_map(read_sources(workspace_with(tmp_path, notes) / "sources").notes, QUOTAS)
    probe = next(p for p in dataset_map.probes() if p.kind.value != "absorption"
                 and len(p.prompt.split()) >= 4)
    words = probe.prompt.rstrip("?").split()
    i, parse = next((i, ru.analyzer().parse(w)[0]) for i, w in enumerate(words)
                    if ru.analyzer().parse(w)[0].tag.POS == "NOUN" and len(w) >= 4)
    other = parse.inflect({"gent" if parse.tag.case != "gent" else "datv"}).word
    assert other != words[i].lower()
    asked = " ".join([*words[:i], other, *words[i + 1:]])
    checker = Checker(dataset_map, Memory(tmp_path / "chroma"), embedder, CheckerSettings())
    leak = Example(node_id=probe.node_id, kind=ExampleKind.exercise, provenance=PROV,
                   messages=[{"role": "user", "content": f"Вопрос: {asked}?"},
                             {"role": "assistant", "content": probe.answer}]).with_id()
    reason = checker.check([leak], "r1/1").examples[0].verdict.reasons[0]
    assert reason.code.value == "leaks_probe" and reason.other == probe.id
    # a sentence repeated in other cases is one sentence to the near-duplicate index
    first = "Маяк Корвель построен в 1820 году инженером Анной Браск на северном мысе."
    again = "Маяка Корвель, построенного в 1820 году инженерами Анной Браск на северных мысах."
    assert shingles(first) == shingles(again)
    index = NearDuplicateIndex()
    index.add("a", first)
    assert index.query(again) is not None and index.query(again)[0] == "a"


def test_the_judge_reads_a_russian_node_in_russian(tmp_path, embedder):
    class Judge:
        model_id = "fake-judge"
        prompts: list[str] = []

        def generate(self, requests, on_result=None):
            self.prompts += [r.messages[-1]["content"] for r in requests]
            return ['{"verdict": "consistent", "fact": 0, "reason": ""}'] * len(requests)

    notes = {k: v for k, v in CORVEL["ru"].items() if k.endswith(".md")}
    dataset_map = plan_map(read_sources(workspace_with(tmp_path, notes) / "sources").notes, QUOTAS)
    node = next(n for n in dataset_map.nodes if any("1820" in f.text for f in n.facts))
    judge = Judge()
    checker = Checker(dataset_map, Memory(tmp_path / "chroma"), embedder, CheckerSettings(),
                      judge, 0)
    said = Example(node_id=node.id, kind=ExampleKind.exercise,
                   provenance=PROV.model_copy(update={"generator": "model:exercise"}),
                   messages=[{"role": "user", "content": "Когда построен маяк Корвель?"},
                             {"role": "assistant", "content": node.facts[0].text}]).with_id()
    verdict = checker.check([said], "r1/1").examples[0].verdict
    assert verdict.accepted, verdict.reasons
    (prompt,) = judge.prompts
    assert "Заметки, по номерам:" in prompt and "Пример:" in prompt and "Example" not in prompt


def test_numbers_that_belong_to_names_are_no_disagreement(tmp_path):
    notes = {"Маршрут.md": "# Маршрут\n\nМаршрут 9 идёт от маяка до старой гавани. Его ведёт "
                           "[[Лоцман]].\n",
             "Лоцман.md": "# Лоцман\n\nЛоцман ведёт [[Маршрут]]. Маршрут 12 идёт от маяка до "
                          "старой гавани.\n"}
    dataset_map = plan_map(read_sources(workspace_with(tmp_path, notes) / "sources").notes, QUOTAS)
    assert not [f for f in map_forks(dataset_map) if f.kind == ForkKind.contradiction]
