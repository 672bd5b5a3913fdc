"""L1 answer matching: does "the answer names the target" agree with a person, per language?

python benchmarks/answer_matching.py            # both labelled sets, a row per set and language
python benchmarks/answer_matching.py --no-append

The labelled sets (`tests/fixtures/answer_matching.jsonl`, and `answer_matching_heldout.jsonl`,
written later by another grader without reading the matcher) hold answer/target pairs written
for the project, in Russian and English: inflected hits, targets of several words, near misses
that share a stem, other names, numbers in digits and words, abbreviations, denials. Each pair
says whether a careful grader would count the answer as giving the target; an answer that
names the target only to deny it ("not Eastwick", «не из Сольмиры») does not. The matcher
is the one evaluation scores probes with (`training.probes.contains_target`). Goal
(docs/BENCHMARKS.md, L1): precision ≥ 0.98 and recall ≥ 0.95 in each language.
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
LABELLED = [ROOT / "tests" / "fixtures" / f"answer_matching{s}.jsonl" for s in ("", "_heldout")]


def measure(rows: list[dict[str, object]], name: str) -> list[list[object]]:
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
        out.append([name, language, len(mine), sum(truth), f"{precision:.3f}", f"{recall:.3f}",
                    ", ".join(f"{k} {n}" for k, n in wrong.most_common(5)) or "-"])
    return out


def main() -> None:
    """Score the labelled set with the evaluation's matcher; print and record the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labelled", type=Path, nargs="+", default=LABELLED)
    parser.add_argument("--no-append", action="store_true", help="print only")
    args = parser.parse_args()
    measured = []
    for path in args.labelled:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]
        measured += measure(rows, path.stem)
    body = table(["set", "language", "pairs", "naming the target", "precision (goal ≥ 0.98)",
                  "recall (goal ≥ 0.95)", "wrong, by kind"], measured)
    print(body)
    if not args.no_append:
        append_results("L1 answer matching", "`python benchmarks/answer_matching.py`", body)


if __name__ == "__main__":
    main()
