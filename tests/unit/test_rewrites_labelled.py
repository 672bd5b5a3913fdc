"""Grounded model rewrites: precision and recall of accepting real embedded-model outputs.

tests/fixtures/rewrites.jsonl holds rephrasings and dialogues the embedded contractor model
(SmolLM2-135M-Instruct) wrote for the bundled example and the English and Russian test
vaults, with the facts each was written from. The labels below were given by hand, one per
output, by these criteria: an output is *supported* when every sentence of its answers says
only what its node's (or an anchored node's) facts say, names and numbers as the facts give
them; it is *unsupported* when any sentence adds a claim, changes a name or number, or
attributes a fact to the wrong thing. The checker must keep what is supported and reject
the rest: precision of acceptance ≥ 0.98 at recall ≥ 0.5.
"""

import json
from pathlib import Path

import pytest

from agentrun.agents.checker import Checker
from agentrun.config import CheckerSettings
from agentrun.memory.store import Memory
from agentrun.schemas import Anchor, DatasetMap, Example, Fact, Node, Provenance

CASES = Path(__file__).parents[1] / "fixtures" / "rewrites.jsonl"

SUPPORTED = {
    # the bundled example
    "365574774b": "a fact word for word",
    "09a69b7b2e": "two facts joined, 'maintains' for 'keeps'",
    "f726879498": "a fact word for word",
    "82a12d534a": "two facts word for word",
    "56f9e4c2f7": "two facts, one of them twice",
    "397ac5d8bd": "two facts joined, 'Three' for 'Three of the seven'",
    # the English test vault
    "ed8f371a0a": "a fact word for word",
    "c388fb0282": "'recorded' for 'logged'",
    "26b9eabb3b": "the three facts, then two of them joined",
    "dd8dc958c1": "a fact word for word",
    # the Russian test vault: none (the 135M model writes no Russian sentence of its facts
    # whole: a fact, then words that are not Russian, or English about something else)
}
"""Outputs every sentence of which says only what the facts say; every other one adds a
claim, changes a name or number, attributes a fact to the wrong thing, is cut off, or is
no statement at all (a title, a list of names, a dialogue of single words)."""


def load_cases():
    """Return the outputs as examples and the map of the nodes they were written from."""
    rows = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines()]
    nodes: dict[str, Node] = {}
    anchors: dict[tuple[str, str], Anchor] = {}

    def node(vault: str, raw: dict, language: str) -> str:
        nid = f"{vault}-{raw['id']}"
        nodes.setdefault(nid, Node(id=nid, title=raw["title"], language=language, facts=[
            Fact(id=f"{nid}.f{i}", text=t) for i, t in enumerate(raw["facts"])]))
        return nid

    examples = []
    for r in rows:
        src = node(r["vault"], r["node"], r["node"]["language"])
        for other in r["linked"]:
            dst = node(r["vault"], other, r["node"]["language"])
            anchors.setdefault((src, dst), Anchor(src=src, dst=dst))
        prov = Provenance(role="contractor", generator=r["generator"], model="embedded")
        examples.append((r["id"], Example(
            node_id=src, kind=r["kind"], messages=r["messages"], provenance=prov,
            anchors_used=[f"{r['vault']}-{a}" for a in r["anchors_used"]]).with_id()))
    return examples, DatasetMap(nodes=list(nodes.values()), anchors=list(anchors.values()))


@pytest.fixture(scope="module")
def judged(tmp_path_factory, embedder):
    examples, dataset_map = load_cases()
    checker = Checker(dataset_map, Memory(tmp_path_factory.mktemp("chroma")), embedder,
                      CheckerSettings())
    return [(case, case in SUPPORTED, checker.content_problem(ex)) for case, ex in examples]


def test_the_set_is_real_model_output_of_both_languages():
    rows = [json.loads(line) for line in CASES.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 100 and {r["vault"] for r in rows} == {"orvane", "en", "ru"}
    assert {r["generator"] for r in rows} == {"model:rephrasing", "model:dialogue"}
    assert SUPPORTED.keys() <= {r["id"] for r in rows} and len(SUPPORTED) >= 10


def test_acceptance_precision_and_recall(judged):
    accepted = [supported for _, supported, problem in judged if problem is None]
    supported = sum(s for _, s, _ in judged)
    precision = sum(accepted) / len(accepted)
    recall = sum(accepted) / supported
    print(f"\nrewrites: {len(judged)} outputs, {supported} supported by hand; accepted "
          f"{len(accepted)}: precision {precision:.2f}, recall {recall:.2f}")
    assert precision >= 0.98 and recall >= 0.5


def test_a_rewrite_with_an_invented_sentence_is_rejected_naming_it(judged):
    problems = {case: problem for case, _, problem in judged}
    # the node's facts word for word, then "She died in 1914." and more: names and numbers
    # no note has
    mirel = problems["b8dc094a6b"]
    assert mirel is not None and mirel.code == "ungrounded" and "1914" in mirel.detail
    # a fact, then a sentence of common words the notes never say: the sentence is named
    wax = problems["db900824be"]
    assert wax is not None and wax.code == "ungrounded" and \
        "The process of removing the wax from a substance is called wax melting." in wax.detail
    # a fact recombined: she came to Orvane at nineteen, she was not born at nineteen
    born = problems["5a8d753005"]
    assert born is not None and "born in Tollis at the age of nineteen" in born.detail
