"""Write accepted examples in the formats trainers read (TRL, Axolotl, Unsloth, LLaMA-Factory).

One registry: `EXPORTERS[name](example) -> row` for per-example formats; `dpo` is built from
pairs (`preference_pairs`), and every export writes a dataset card beside the data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from agentrun.errors import AgentrunError
from agentrun.schemas import DatasetMap, Example, Preference, ReasonCode
from agentrun.workspace import atomic_write_text, read_json_object, write_jsonl

Row = dict[str, Any]


def to_sft(ex: Example) -> Row:
    """TRL conversational format: `{"messages": [...]}`."""
    return {"messages": ex.messages or [{"role": "assistant", "content": ex.text or ""}]}


def to_prompt_completion(ex: Example) -> Row:
    """TRL conversational prompt-completion: loss on the final assistant turn only."""
    msgs = ex.messages or [{"role": "assistant", "content": ex.text or ""}]
    return {"prompt": msgs[:-1], "completion": msgs[-1:]}


def to_text(ex: Example) -> Row:
    """Plain text for continued pretraining."""
    if ex.text is not None:
        return {"text": ex.text}
    return {"text": "\n\n".join(m["content"] for m in ex.messages or [])}


EXPORTERS: dict[str, Callable[[Example], Row]] = {
    "sft": to_sft,
    "prompt-completion": to_prompt_completion,
    "text": to_text,
}


FORMATS = [*EXPORTERS, "dpo"]
# Rejections that say the answer itself was worse (not merely repeated): DPO's rejected side.
WORSE = {ReasonCode.contradicts, ReasonCode.ungrounded, ReasonCode.off_node}


def export(examples: Iterable[Example], fmt: str, path: Path) -> int:
    """Write examples to `path` as JSONL in format `fmt`; return the row count."""
    convert = EXPORTERS[fmt]
    return write_jsonl(path, (convert(e) for e in examples))


def preference_pairs(accepted: list[Example], rejected: list[Example],
                     dataset_map: DatasetMap) -> list[Preference]:
    """Rank the checker's near-misses below a correct answer to the same prompt.

    A contradiction is paired with the same answer where the wrong sentence is replaced by
    the fact it contradicted; an ungrounded or off-node answer with an accepted answer to the
    same prompt, when the corpus has one.
    """
    facts = {f.id: f.text for n in dataset_map.nodes for f in n.facts}
    by_prompt: dict[str, Example] = {}
    for ex in accepted:
        if ex.messages:
            by_prompt.setdefault(_prompt_key(ex), ex)
    pairs = []
    for ex in rejected:
        reason = ex.verdict.reasons[0] if ex.verdict and ex.verdict.reasons else None
        if reason is None or reason.code not in WORSE or not ex.messages:
            continue
        answer = ex.messages[-1]["content"]
        chosen: str | None = None
        if reason.code == ReasonCode.contradicts and reason.other in facts:
            wrong = reason.detail.split(": ", 1)[-1]
            if wrong and wrong in answer:
                chosen = answer.replace(wrong, facts[reason.other], 1)
        elif (better := by_prompt.get(_prompt_key(ex))) is not None and better.messages:
            chosen = better.messages[-1]["content"]
        if chosen and chosen != answer:
            pairs.append(Preference(prompt=ex.messages[:-1],
                                    chosen=[{"role": "assistant", "content": chosen}],
                                    rejected=[{"role": "assistant", "content": answer}],
                                    source=f"checker_ranking:{reason.code}"))
    return pairs


def _prompt_key(ex: Example) -> str:
    return " ".join(re.findall(r"\w+", " ".join(m["content"] for m in (ex.messages or [])[:-1])
                               .lower()))


def export_dpo(pairs: list[Preference], path: Path) -> int:
    """Write preference pairs in TRL's conversational DPO format."""
    return write_jsonl(path, (p.model_dump(include={"prompt", "chosen", "rejected"})
                              for p in pairs))


def dataset_card(accepted: list[Example], rejected: list[Example], dataset_map: DatasetMap,
                 files: dict[str, int], run_id: str) -> str:
    """Return a dataset card (markdown): what is in the data, how it was checked, and from what."""
    def rows(counter: Counter[str]) -> str:
        return "\n".join(f"| {k} | {v} |" for k, v in sorted(counter.items()))

    reasons = Counter(str(e.verdict.reasons[0].code) for e in rejected
                      if e.verdict and e.verdict.reasons)
    makers = Counter(e.provenance.generator for e in accepted)
    models = sorted({e.provenance.model for e in accepted if e.provenance.model})
    titles = dataset_map.titles()
    per_node = Counter(f"{titles.get(e.node_id, e.node_id)} ({e.node_id})" for e in accepted)
    lengths = length_table(accepted)
    return f"""# Dataset card: agentrun run {run_id}

Generated by agentrun from a dataset map (version {dataset_map.version}, {len(dataset_map.nodes)}
nodes, {len(dataset_map.anchors)} anchors, {len(dataset_map.probes())} held-out probes that are
never in the data). Every example passed the consistency checker; the probes are for
evaluation only.

## Files

| file | rows |
| --- | --- |
{rows(Counter(files))}

## Examples

{len(accepted)} accepted, {len(rejected)} rejected by the checker.

| kind | accepted |
| --- | --- |
{rows(Counter(str(e.kind) for e in accepted))}

| level | accepted |
| --- | --- |
{rows(Counter(str(e.level) for e in accepted))}

Length in words (the whole example), per kind and level:

| kind | level | n | min | median | p90 | max |
| --- | --- | --- | --- | --- | --- | --- |
{lengths}

| node | accepted |
| --- | --- |
{rows(per_node)}

## Checker

| rejected for | examples |
| --- | --- |
{rows(reasons) or "| (none) | 0 |"}

## Provenance

| made by | examples |
| --- | --- |
{rows(makers)}

Models: {", ".join(models) or "none (structural generators only)"}.
"""


def length_table(examples: list[Example]) -> str:
    """Return markdown rows of the word-length distribution of examples, per kind and level."""
    by_kind: dict[tuple[str, str], list[int]] = {}
    for e in examples:
        by_kind.setdefault((str(e.kind), str(e.level)), []).append(len(e.content().split()))
    out = []
    for (kind, level), sizes in sorted(by_kind.items()):
        sizes.sort()
        p90 = sizes[min(len(sizes) - 1, int(0.9 * len(sizes)))]
        out.append(f"| {kind} | {level} | {len(sizes)} | {sizes[0]} | {sizes[len(sizes) // 2]} "
                   f"| {p90} | {sizes[-1]} |")
    return "\n".join(out) or "| (none) | | 0 | | | | |"


CARD = "README.md"
"""The dataset card's name, beside the data."""
LEDGER = "written.json"
"""The run's record of the files its exports wrote (`RUN/export/written.json`)."""


def export_paths(run_root: Path, fmt: str, out: Path | None) -> tuple[Path, Path, Path]:
    """Return where an export writes (data, card, ledger); refuse a bad place in one line.

    Checked before any work, so a refused export writes nothing: the data may not take the
    card's or the ledger's name, a folder may not stand where a file goes (nor a file where
    a folder goes), and the folder must be writable.
    """
    target = out or run_root / "export" / f"{fmt}.jsonl"
    card, ledger = target.with_name(CARD), run_root / "export" / LEDGER
    if target.name == CARD or target.resolve() == ledger.resolve():
        raise AgentrunError(f"--out {target}: export writes its own {target.name} there; name "
                            f"the data file otherwise (e.g. {target.with_name(f'{fmt}.jsonl')})")
    if target.is_dir():
        raise AgentrunError(f"--out {target}: is a folder; --out names the data file (e.g. "
                            f"{target / f'{fmt}.jsonl'})")
    if card.is_dir():
        raise AgentrunError(f"{card}: a folder is where the dataset card goes; move it aside "
                            "or choose another --out")
    _check_writable(target.parent)
    return target, card, ledger


def _check_writable(folder: Path) -> None:
    """Refuse a folder that cannot be made or written in: a file in its way, or no access."""
    existing = next(p for p in (folder.absolute(), *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise AgentrunError(f"{existing}: a file is where export needs a folder; choose "
                            "another --out")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise AgentrunError(f"{existing}: you cannot write there; choose another --out")


def write_card(path: Path, text: str) -> None:
    """Write the dataset card (atomic)."""
    atomic_write_text(path, text)


def refuse_foreign(paths: list[Path], ledger: Path, force: bool = False) -> None:
    """Refuse to overwrite a file an export did not write, or one changed since it did.

    `ledger` (a run's `export/written.json`) holds the hash of every file its exports wrote:
    a README.md or JSONL of the person's own beside `--out` is never replaced unless `force`.
    """
    written = _read_ledger(ledger)
    for path in paths:
        if force or not path.exists():
            continue
        if written.get(str(path.resolve())) != _digest(path):
            raise AgentrunError(f"{path}: already exists and is not this run's export; choose "
                                "another --out or pass --force to replace it")


def record_written(paths: list[Path], ledger: Path) -> None:
    """Add the files an export just wrote to the run's ledger of them."""
    written = _read_ledger(ledger)
    written.update({str(p.resolve()): _digest(p) for p in paths})
    atomic_write_text(ledger, json.dumps(written, indent=1, sort_keys=True))


def _read_ledger(ledger: Path) -> dict[str, str]:
    """Return the ledger of a run's exports ({} before the first); damage is one line."""
    return read_json_object(ledger, "delete it, then pass --force to replace the files an "
                                    "earlier export wrote")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
