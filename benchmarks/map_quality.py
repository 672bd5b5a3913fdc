"""How good is the architect's map, and how does planning scale?

python benchmarks/map_quality.py --fictional ../data/fictional_knowledge.json
python benchmarks/map_quality.py --vault ../shared/data/vaults/research-ru   # M1 on a real vault

0. M1, how the map reads on real notes: for the bundled example, the test vaults of every
   Markdown and Obsidian element (tests/fixtures/vaults/en, ru) and any `--vault` (read in
   place), the facts and probes that carry markup, missing-note problems for notes that exist
   or attachments, code headings that became nodes, probe prompts not in their note's
   language, ids that are not readable slugs of the title, nodes without an absorption or a
   generalization probe, generalization probes asked with their question word first or
   after "tell me" (by the answer's role, not a statement with "what?" glued on), and anchors
   whose two ends chain without a transfer probe.

1. For the bundled example and for the first 10 entries of `fictional_knowledge.json` (each
   paragraph written as a note; get the file from the kaistAI/factual-knowledge-acquisition
   repository), count nodes, anchors, facts and probes per kind, and the share of probe
   answers the sources really support (`probe_support`). For the fictional entries, also the
   share of the dataset's own probe targets that the map's facts contain (fact coverage).
2. Planning time (read + plan) for synthetic vaults of 1,000 and 10,000 notes, measured in
   pairs, and the ratio (10 is linear; the goal is at most 12).

Structure only (no model), so the numbers are deterministic. Prints tables and appends them to
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import append_results, median_ratio, paired_times, table  # noqa: E402

from agentrun.agents.planning import plan_map  # noqa: E402
from agentrun.agents.probes import probe_support  # noqa: E402
from agentrun.agents.text import slug  # noqa: E402
from agentrun.config import AgentrunConfig  # noqa: E402
from agentrun.examples.synthetic import write_vault  # noqa: E402
from agentrun.languages import detect  # noqa: E402
from agentrun.markdown import ATTACHMENT  # noqa: E402
from agentrun.schemas import DatasetMap, ProbeKind, Relation  # noqa: E402
from agentrun.sources import Note, read_sources  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
QUOTAS = AgentrunConfig().generation.quotas
MARKUP = re.compile(r"\*\*|\[\^|\[\[|!\[|`|\[!|^\s*\||\|\s*$|%%|<!--")
MISSING = re.compile(r"\[\[(.+?)\]\] links to a note that does not exist")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
RU_PREPS = "в|во|на|из|от|для|с|со|к|ко|по|о|об|при|под|над|за|у|до|через|между|без"
QUESTION_WORD = re.compile(r"(?:(?:tell me|скажите,) )?(?:Where|When|Who|What|How many|By whom|"
                           rf"Где|Когда|Сколько|Откуда|(?:(?:{RU_PREPS}) )?"
                           r"(?:Кто|Кого|Кому|Кем|Ком|Что|Чего|Чему|Чем|Чём))\b", re.I)
"""A question a person asks: its question word first, or after "tell me" (not a statement
with "what?" glued on). Russian кто and что take the case of what they ask for, and its
preposition before them («Чего модель не формирует?», «К чему приводит задержка?»)."""
ENGLISH_FRAME = re.compile(r"\b(?:Complete this statement|About|The notes on|say:)|\bwhat\?")
"""The English probe templates' words: in a prompt about a note in another language, the
prompt is not in that language."""


def m1_row(name: str, folder: Path) -> list[object]:
    """Return one row of M1: what a person would have to clean in the map of `folder`."""
    sources = read_sources(folder)
    m = plan_map(sources.notes, QUOTAS)
    facts = [f.text for n in m.nodes for f in n.facts]
    probes = [(n, p) for n in m.nodes for p in n.probes]
    files = {p.relative_to(folder).with_suffix("").as_posix().lower() for p in folder.rglob("*")
             if p.is_file()}
    stems = {f.rsplit("/", 1)[-1] for f in files} | files
    false_missing = [t for p in m.problems if (found := MISSING.search(p))
                     and ((t := found.group(1).lower().removesuffix(".md")) in stems
                          or ATTACHMENT.search(t))]
    fenced = {line.strip().lstrip("#").strip() for note in sources.notes
              for found in FENCE.finditer(note.text) for line in found.group(0).splitlines()}
    code_nodes = [n for n in m.nodes if n.title.rsplit(" (", 1)[-1].rstrip(")") in fenced]
    wrong_language = [p for n, p in probes if detect(p.prompt, n.language) != n.language
                      or (n.language != "en" and ENGLISH_FRAME.search(p.prompt))]
    unreadable = [n for n in m.nodes if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", n.id)
                  or not n.id.startswith(slug(n.title)[:20])]
    with_facts = [n for n in m.nodes if n.facts]
    no_abs = [n for n in with_facts if not any(p.kind == ProbeKind.absorption for p in n.probes)]
    no_gen = [n for n in with_facts
              if not any(p.kind == ProbeKind.generalization for p in n.probes)]
    owner = {f.id: n.id for n in m.nodes for f in n.facts}
    chaining = [a for a in m.anchors if a.relation != Relation.part_of
                and m.node(a.src).facts and m.node(a.dst).facts]
    generalization = [p for _, p in probes if p.kind == ProbeKind.generalization]
    by_role = [p for n, p in probes if p.kind == ProbeKind.generalization
               and QUESTION_WORD.match(asked_of(p.prompt, n.title))]
    untested = [a for a in chaining if not any(
        p.kind == ProbeKind.transfer and any(owner.get(f) == a.dst for f in p.fact_ids)
        for p in m.node(a.src).probes)]
    return [name, len(sources.notes), len(m.nodes),
            f"{sum(bool(MARKUP.search(t)) for t in facts)}/{len(facts)}",
            f"{sum(bool(MARKUP.search(p.prompt + ' ' + p.answer)) for _, p in probes)}/"
            f"{len(probes)}", len(false_missing), len(code_nodes),
            f"{len(wrong_language)}/{len(probes)}", len(unreadable),
            f"{len(no_abs)} / {len(no_gen)} of {len(with_facts)}",
            f"{len(by_role)}/{len(generalization)}",
            f"{len(untested)}/{len(chaining)}"]


def asked_of(prompt: str, title: str) -> str:
    """Return what a probe asks, without its frame ("About Orvane: ", «…»: , "From the notes: ").

    Cut after the title, not at the last colon: a fact's own label («Вывод: …») stays in.
    """
    for frame in (f"About {title}: ", f"«{title}»: "):
        if frame in prompt:
            return prompt.split(frame, 1)[1]
    return prompt.rsplit(": ", 1)[-1]


def fictional_notes(path: Path, count: int, folder: Path) -> tuple[Path, list[dict[str, object]]]:
    """Write the first `count` paragraphs as notes titled by their opening noun phrase."""
    entries = json.loads(path.read_text(encoding="utf-8"))[:count]
    sources = folder / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    for i, entry in enumerate(entries):
        text = str(entry["train_context"])
        first = re.split(r",| was | is | were | are | \(", text, maxsplit=1)[0]
        title = " ".join(first.split()[:8]).strip(" .")
        (sources / f"{i:03d}.md").write_text(f"# {title}\n\n{text}\n", encoding="utf-8")
    return sources, entries


def describe(name: str, dataset_map: DatasetMap, notes: list[Note]) -> list[object]:
    """Return one table row: sizes and the share of supported probe answers per kind."""
    support = probe_support(dataset_map, notes)
    kinds = [f"{s}/{t}" for s, t in (support[k] for k in ProbeKind)]
    return [name, len(notes), len(dataset_map.nodes), len(dataset_map.anchors),
            sum(len(n.facts) for n in dataset_map.nodes), *kinds, len(dataset_map.problems)]


def coverage(dataset_map: DatasetMap, entries: list[dict[str, object]]) -> dict[str, float]:
    """Share of the dataset's own probe targets present in some fact of the map."""
    facts = " \n".join(f.text.lower() for n in dataset_map.nodes for f in n.facts)
    out = {}
    for key in ("mem_target", "gen_target", "hard_gen_target"):
        targets = [str(t).lower() for e in entries for t in e[key]]  # type: ignore[attr-defined]
        out[key] = sum(t in facts for t in targets) / len(targets)
    return out


def scaling(pairs: int, small: int, large: int) -> tuple[float, float, float]:
    """Median planning seconds at two vault sizes (read + plan), and their paired ratio."""
    with tempfile.TemporaryDirectory() as tmp:
        a_src, b_src = write_vault(Path(tmp) / "a", small), write_vault(Path(tmp) / "b", large)

        def plan(src: Path) -> DatasetMap:
            return plan_map(read_sources(src).notes, QUOTAS)

        plan(a_src)  # warm imports and caches
        ta, tb = paired_times(lambda: plan(a_src), lambda: plan(b_src), pairs)
    return sorted(ta)[len(ta) // 2], sorted(tb)[len(tb) // 2], median_ratio(ta, tb)


def main() -> None:
    """Measure, print, append to docs/BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fictional", type=Path, help="path to fictional_knowledge.json")
    parser.add_argument("--entries", type=int, default=10)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs=2, default=[1000, 10000])
    parser.add_argument("--vault", type=Path, action="append", default=[],
                        help="a real vault's folder, read in place (repeat for several)")
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()

    m1_head = ["sources", "notes", "nodes", "facts with markup", "probes with markup",
               "false missing notes", "code headings as nodes", "prompts not in the note's "
               "language", "unreadable ids", "nodes without absorption / generalization",
               "generalization asked by a question word (first or after tell me)",
               "chaining anchors without transfer"]
    vaults = [("bundled example", ROOT / "examples" / "orvane" / "sources"),
              ("test vault en", ROOT / "tests" / "fixtures" / "vaults" / "en"),
              ("test vault ru", ROOT / "tests" / "fixtures" / "vaults" / "ru"),
              *((path.name, path) for path in args.vault)]
    m1 = table(m1_head, [m1_row(name, path) for name, path in vaults])
    head = ["sources", "notes", "nodes", "anchors", "facts", "absorption supported",
            "generalization supported", "transfer supported", "problems"]
    example = read_sources(ROOT / "examples" / "orvane" / "sources")
    rows = [describe("bundled example", plan_map(example.notes, QUOTAS), example.notes)]
    extra = ""
    if args.fictional:
        with tempfile.TemporaryDirectory() as tmp:
            sources, entries = fictional_notes(args.fictional, args.entries, Path(tmp))
            notes = read_sources(sources).notes
            fk_map = plan_map(notes, QUOTAS)
            rows.append(describe(f"fictional_knowledge[:{args.entries}]", fk_map, notes))
            cov = coverage(fk_map, entries)
        extra = ("\n\nShare of fictional_knowledge's own probe targets contained in the map's "
                 "facts: " + ", ".join(f"{k} {v:.0%}" for k, v in cov.items()) + ".")
    small, large = args.sizes
    t_small, t_large, ratio = scaling(args.pairs, small, large)
    timing = table(["notes", "planning time (median)"],
                   [[small, f"{t_small:.2f} s"], [large, f"{t_large:.2f} s"],
                    [f"ratio {large}/{small}", f"{ratio:.1f} (linear: {large / small:.0f})"]])
    body = m1 + "\n\n" + table(head, rows) + extra + "\n\n" + timing
    print(body)
    if not args.no_append:
        append_results("map quality and planning scale",
                       f"structure only, {args.pairs} pairs", body)


if __name__ == "__main__":
    main()
