"""Precision and recall of the checker on 262 labelled cases (tests/fixtures/checker_cases.jsonl).

Valid examples and planted faults of every kind on the bundled example, checked in one batch
with the real embedder and Chroma, as a round of a run would be.
"""

import json
from collections import Counter
from pathlib import Path

import pytest

from agentrun.agents.checker import Checker
from agentrun.config import CheckerSettings
from agentrun.memory.store import Memory
from agentrun.schemas import Example, Provenance
from tests.unit.test_architect import example_map

CASES = Path(__file__).parents[1] / "fixtures" / "checker_cases.jsonl"
PROV = Provenance(role="contractor", generator="fixture", run="r1", iteration=1)


def load_cases():
    rows = [json.loads(line) for line in CASES.read_text().splitlines()]
    examples = [Example(node_id=r["node_id"], kind=r["kind"], anchors_used=r["anchors_used"],
                        messages=r["messages"], provenance=PROV).with_id() for r in rows]
    return [r["label"] for r in rows], examples


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory, embedder):
    labels, examples = load_cases()
    checker = Checker(example_map(), Memory(tmp_path_factory.mktemp("chroma")), embedder,
                      CheckerSettings())
    result = checker.check(examples, "r1/round-1")
    got = [e.verdict.reasons[0].code.value if e.verdict.reasons else "ok"
           for e in result.examples]
    return labels, got


def test_the_set_is_large_and_covers_every_fault():
    labels, _ = load_cases()
    counts = Counter(labels)
    assert len(labels) >= 200 and counts["ok"] >= 80
    assert set(counts) == {"ok", "contradicts", "duplicate_of", "near_duplicate_of",
                           "broken_anchor", "leaks_probe", "off_node", "ungrounded", "malformed"}


def test_rejection_precision_and_recall(verdicts):
    labels, got = verdicts
    pairs = list(zip(labels, got, strict=True))
    true_pos = sum(lab != "ok" and g != "ok" for lab, g in pairs)
    precision = true_pos / max(1, sum(g != "ok" for _, g in pairs))
    recall = true_pos / sum(lab != "ok" for lab, _ in pairs)
    print(f"\nchecker on {len(pairs)} labelled cases: precision {precision:.3f}, "
          f"recall {recall:.3f}")
    assert precision >= 0.97 and recall >= 0.95, (precision, recall, _misses(pairs))


def test_each_fault_gets_its_own_reason(verdicts):
    labels, got = verdicts
    per_label: dict[str, list[bool]] = {}
    for lab, g in zip(labels, got, strict=True):
        per_label.setdefault(lab, []).append(lab == g)
    rates = {lab: sum(v) / len(v) for lab, v in per_label.items()}
    print("\nper-label agreement:", {k: round(v, 2) for k, v in sorted(rates.items())})
    assert all(rate >= 0.85 for rate in rates.values()), rates


def _misses(pairs):
    return Counter(f"{lab}→{g}" for lab, g in pairs if lab != g)
