"""L1 answer matching: does "the answer names the target" agree with a person, per language?

python benchmarks/answer_matching.py            # the project's labelled set, a table per language
python benchmarks/answer_matching.py --no-append

The labelled set (`tests/fixtures/answer_matching.jsonl`) holds answer/target pairs written for
the project, in Russian and English: inflected hits, targets of several words, near misses that
share a stem, other names, numbers. Each pair says whether a careful grader would count the
answer as naming the target. The matcher is the one evaluation scores probes with
(`training.probes.contains_target`). Goal (docs/BENCHMARKS.md, L1): precision ≥ 0.98 and
recall ≥ 0.95 in each language.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import append_results, table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "tests" / "fixtures" / "answer_matching.jsonl"


def measure(rows: list[dict[str, object]]) -> list[list[object]]:
    """Return one row per language: pairs, precision, recall, and the kinds it gets wrong."""
    from agentrun.training.probes import contains_target

    out: list[list[object]] = []
    for language in sorted({str(r["language"]) for r in rows}):
        mine = [r for r in rows if r["language"] == language]
        said = [contains_target(str(r["answer"]), str(r["target"])) for r in mine]
        truth = [bool(r["names_target"]) for r in mine]
        hits = sum(s and t for s, t in zip(said, truth, strict=True))
        precision = hits / max(sum(said), 1)
        recall = hits / max(sum(truth), 1)
        wrong = Counter(str(r["kind"]) for r, s, t in zip(mine, said, truth, strict=True)
                        if s != t)
        out.append([language, len(mine), sum(truth), f"{precision:.3f}", f"{recall:.3f}",
                    ", ".join(f"{k} {n}" for k, n in wrong.most_common(5)) or "-"])
    return out


def main() -> None:
    """Score the labelled set with the evaluation's matcher; print and record the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labelled", type=Path, default=LABELLED)
    parser.add_argument("--no-append", action="store_true", help="print only")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.labelled.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    body = table(["language", "pairs", "naming the target", "precision (goal ≥ 0.98)",
                  "recall (goal ≥ 0.95)", "wrong, by kind"], measure(rows))
    print(body)
    if not args.no_append:
        append_results("L1 answer matching", "`python benchmarks/answer_matching.py`", body)


if __name__ == "__main__":
    main()
