"""A user's workspace on disk: config, sources, the map, runs, and shared memory.

```
agentrun.yaml   sources/   map.yaml   runs/<run_id>/   memory/ (Chroma + LLM cache, shared by runs)
```

Every write that another step may read goes through a temp file and a rename, so a crash
never leaves a half-written file that looks finished.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agentrun.config import read_yaml_mapping
from agentrun.errors import AgentrunError, ConfigError, DamagedFileError
from agentrun.redact import redact_data
from agentrun.schemas import DatasetMap, Example, RunMeta, RunStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Workspace:
    """Paths of one workspace."""

    root: Path

    @classmethod
    def open(cls, path: str | Path) -> Workspace:
        """Open an existing workspace; raise a one-line error if it is not one."""
        root = Path(path).expanduser().resolve()
        if not root.is_dir():
            raise AgentrunError(
                f"{root}: no such workspace; create one with `agentrun init {path}`"
            )
        if not (root / "sources").is_dir():
            raise AgentrunError(f"{root}: no sources/ folder; put your notes in {root / 'sources'}")
        return cls(root)

    @property
    def sources_dir(self) -> Path:
        """The sources dir."""
        return self.root / "sources"

    @property
    def map_path(self) -> Path:
        """The map path."""
        return self.root / "map.yaml"

    @property
    def runs_dir(self) -> Path:
        """The runs dir."""
        return self.root / "runs"

    @property
    def memory_dir(self) -> Path:
        """The memory dir."""
        return self.root / "memory"

    def corpus(self) -> list[Any]:
        """Return every example the workspace's runs accepted, once each, oldest run first.

        A damaged line of one run's file is skipped with a warning naming it: one run's
        damage never blocks the others, and its intact examples still count.
        """
        seen: dict[str, Any] = {}
        for path in sorted(self.runs_dir.glob("*/data/accepted.jsonl")):
            for ex in load_examples(path, skip_damaged=True):
                seen.setdefault(ex.id, ex)
        return list(seen.values())

    @contextmanager
    def memory_writer(self, who: str) -> Iterator[None]:
        """Hold the writer lock of the workspace's local memory (`memory/`) while a run writes it.

        A local Chroma takes one writer process: two runs at once would each accept what the
        other just did (their indexes are per process), or die on its locked database. A
        memory on a Chroma server (`memory.server`) takes several and needs no lock.
        """
        self.memory_dir.mkdir(parents=True, exist_ok=True)
        with _hold(self.memory_dir / "writer.lock", who,
                   lambda holder: f"{self.root}: the workspace's memory already has a writer "
                                  f"({holder}); wait for it to end or stop it first, nothing "
                                  "was changed (a memory on a Chroma server, memory.server, "
                                  "takes several)"):
            yield

    def new_run(self) -> Run:
        """Create a fresh run folder with a sortable, unique id (never an existing folder's)."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        while True:
            run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)
            try:
                (self.runs_dir / run_id).mkdir()
            except FileExistsError:
                continue
            run = Run(self.runs_dir / run_id)
            run.create()
            return run

    def run_at(self, path: str | Path) -> Run:
        """Return the run in folder `path`, which must be one of this workspace's `runs/`.

        A caller of the graph passes `run_dir` in its input; a folder elsewhere (`/tmp/x`,
        `runs/../../elsewhere`) is refused, so a run never writes outside its workspace.
        """
        folder = Path(path).resolve()
        if folder.parent != self.runs_dir.resolve() or folder.name in ("", ".", ".."):
            raise AgentrunError(f"run_dir {path}: not a run folder of {self.runs_dir}; runs "
                                "live in the workspace's runs/ folder")
        return Run(folder)


# The files of a generation round (`data/rounds/<iteration>-<round>/`), in the order they appear.
CANDIDATES = "candidates.jsonl"
"""What the contractors wrote, once per round."""
USAGE = "usage.json"
"""The contractor tokens the round generated."""
FAILURES = "failures.jsonl"
"""The round's model requests that gave no example, each with its reason."""
ACCEPTED = "accepted.jsonl"
REJECTED = "rejected.jsonl"
"""The checker's verdicts (written last: a round with them is checked)."""
FORKS = "forks.json"
"""The round's example forks as first found (answers replay against the same list)."""

_HELD: dict[str, list[int]] = {}
"""Lock files (a run's, the workspace memory's) this process holds: [file descriptor, depth]."""


ORPHAN_WAIT_S = 30.0
"""How long a writer waits for a lock whose recorded holder is dead (a child of it, the
trainer, which keeps its run's lock, is being killed with its parent) or not recorded (a
reader looking whether anyone writes, `has_writer`, holds it for an instant)."""


def _lock(fd: int, path: Path) -> bool:
    """Take the exclusive lock on `fd`; False if a live writer holds it."""
    import fcntl

    deadline = time.monotonic() + ORPHAN_WAIT_S
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            holder = re.match(r"pid (\d+)", path.read_text())
            if (holder is not None and _alive(int(holder[1]))) or time.monotonic() > deadline:
                return False
            time.sleep(0.05 if holder is None else 0.2)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def held_lock_fds() -> tuple[int, ...]:
    """Return the descriptors of the writer locks this process holds (the trainer keeps them)."""
    return tuple(fd for fd, _ in _HELD.values())


@contextmanager
def _hold(path: Path, who: str, refusal: Callable[[str], str]) -> Iterator[None]:
    """Hold the writer lock of `path`, recording who holds it; re-entrant within a process.

    Another process holding it gets one line, `refusal(its record)`, naming the holder.
    """
    key = str(path)
    if key not in _HELD:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _lock(fd, path):
                holder = path.read_text().strip() or "another process"
                raise AgentrunError(refusal(holder)) from None
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()}: {who}".encode())
        except BaseException:
            os.close(fd)  # a lock not taken, or not recorded, is not kept
            raise
        _HELD[key] = [fd, 0]
    _HELD[key][1] += 1
    try:
        yield
    finally:
        _HELD[key][1] -= 1
        if _HELD[key][1] == 0:
            fd = _HELD.pop(key)[0]
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)  # closing releases the lock, even when the record cannot be cleared


def _held(path: Path) -> bool:
    """Whether a process holds `path`'s writer lock (this one included)."""
    import fcntl

    if str(path) in _HELD:
        return True
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the shared lock taken to look
    return False


@dataclass(frozen=True)
class Run:
    """Paths of one run: checkpoints, data, adapters, reports, logs."""

    root: Path

    @property
    def id(self) -> str:
        """The id."""
        return self.root.name

    @property
    def workspace(self) -> Workspace:
        """The workspace."""
        return Workspace(self.root.parent.parent)

    @property
    def checkpoints(self) -> Path:
        """The checkpoints."""
        return self.root / "checkpoints.sqlite"

    @property
    def data_dir(self) -> Path:
        """The data dir."""
        return self.root / "data"

    @property
    def accepted_path(self) -> Path:
        """The accepted path."""
        return self.data_dir / "accepted.jsonl"

    @property
    def rejected_path(self) -> Path:
        """The rejected path."""
        return self.data_dir / "rejected.jsonl"

    @property
    def failures_path(self) -> Path:
        """Every round's failed model requests (`data/failures.jsonl`), in round order."""
        return self.data_dir / FAILURES

    @property
    def map_path(self) -> Path:
        """The map path."""
        return self.root / "map.yaml"

    @property
    def reports_dir(self) -> Path:
        """The reports dir."""
        return self.root / "reports"

    @property
    def logs_dir(self) -> Path:
        """The logs dir."""
        return self.root / "logs"

    @property
    def settings_path(self) -> Path:
        """The run's settings as it started (`settings.json`): what every node works with.

        They live here, not in the graph's state, because a LangGraph server's callers can
        write a thread's state (`update_state`, a resume's `update`) and cannot write this file.
        """
        return self.root / "settings.json"

    def freeze_settings(self, settings: dict[str, Any]) -> None:
        """Keep the run's settings as it starts; once (a re-executed ingest keeps the first)."""
        if not self.settings_path.exists():
            atomic_write_text(self.settings_path, json.dumps(settings, sort_keys=True))

    def frozen_settings(self) -> str | None:
        """Return the frozen settings as sorted JSON, or None for a run that froze none."""
        try:
            text = self.settings_path.read_text(encoding="utf-8")
            return json.dumps(json.loads(text), sort_keys=True)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise DamagedFileError(f"{self.settings_path}: unreadable ({exc}); the run cannot go "
                                "on without its settings: start a new run") from None

    def adapter_dir(self, iteration: int) -> Path:
        """Return the adapter folder of one training iteration."""
        return self.root / "adapters" / f"iter-{int(iteration)}"

    def inside(self, path: str | Path) -> Path:
        """Return `path` as a path in this run's folder; else a one-line error.

        Paths a run keeps in its graph state (its adapter, its report) are read back only
        from its own folder: a server's caller can write the state. A path recorded in
        another working copy of the run (`…/runs/<id>/reports/x.json`, resumed elsewhere from
        shared checkpoints) is the same place in this copy.
        """
        given = Path(path)
        parts = given.parts
        if not given.is_relative_to(self.root) and self.id in parts:
            given = self.root.joinpath(*parts[len(parts) - parts[::-1].index(self.id):])
        resolved = given.resolve()
        if not resolved.is_relative_to(self.root.resolve()):
            raise AgentrunError(f"{path}: not in run {self.id}'s folder; refusing to read it")
        return resolved

    def round_dir(self, iteration: int, round_: int) -> Path:
        """Return the folder of one generation round's candidates and verdicts."""
        return self.data_dir / "rounds" / f"{iteration:02d}-{round_:02d}"

    def create(self) -> None:
        """Create the run's folders."""
        for d in (self.data_dir, self.reports_dir, self.logs_dir):
            d.mkdir(parents=True, exist_ok=True)

    def has_meta(self) -> bool:
        """Whether the run has its `run.json` (a run a LangGraph server starts has none yet)."""
        return (self.root / "run.json").exists()

    def meta(self) -> RunMeta:
        """Return the run's `run.json` (workspace, context, status, the fork it waits at).

        A damaged file is a one-line error naming it.
        """
        path = self.root / "run.json"
        if not path.exists():
            return RunMeta()
        try:
            return RunMeta.model_validate_json(path.read_bytes())
        except ValidationError as exc:
            raise DamagedFileError(f"{path}: damaged, not a run record ({_first(exc)}); "
                                   "restore it, or move the run's folder out of runs/") from None

    def shown_meta(self) -> RunMeta:
        """Return `run.json` as a person reads it: a dead `running` run is `interrupted`.

        A run killed (or whose machine restarted) stays `running` in its file; no process holds
        its writer lock any more, so it shows as `interrupted`, to resume.
        """
        meta = self.meta()
        if meta.status == RunStatus.running and meta.driver != "langgraph server" \
                and not self.has_writer():
            return meta.model_copy(update={"status": RunStatus.interrupted})
        return meta

    def has_writer(self) -> bool:
        """Whether a process holds the run's writer lock (this one included)."""
        return _held(self.root / "run.lock")

    def summary(self) -> dict[str, Any]:
        """Return the run's `summary.json` (counts, loss, scores; {} before the run ends)."""
        return read_json_object(self.root / "summary.json",
                                "delete it, the counts are then read from the run's data")

    def update_meta(self, **fields: Any) -> RunMeta:
        """Merge fields into `run.json` (validated, written atomically) and return the result."""
        meta = RunMeta.model_validate({**self.meta().model_dump(mode="json"),
                                       **redact_data(fields)})
        atomic_write_text(self.root / "run.json", meta.model_dump_json(indent=2))
        return meta

    def round_files(self, name: str) -> list[Path]:
        """Return one kind of round file (CANDIDATES, USAGE, …) of every round, in order."""
        return sorted(self.data_dir.glob(f"rounds/*/{name}"))

    def verdicts(self) -> tuple[list[Any], list[Any]]:
        """Return (accepted, rejected): every finished round's verdicts, in round order."""
        rounds = sorted(p for p in self.data_dir.glob("rounds/*")
                        if (p / ACCEPTED).exists())
        accepted = [e for p in rounds for e in load_examples(p / ACCEPTED)]
        rejected = [e for p in rounds for e in load_examples(p / REJECTED)]
        return accepted, rejected

    @contextmanager
    def writer(self, who: str) -> Iterator[None]:
        """Hold the run's writer lock (one process drives or steers a run at a time).

        Re-entrant within a process; another process holding it gets a one-line error that
        names the holder (`run.lock` records its pid and what it is).
        """
        with _hold(self.root / "run.lock", who,
                   lambda holder: f"{self.id} already has a writer ({holder}); wait for it to "
                                  "end or stop it first, nothing was changed"):
            yield

    @classmethod
    def find(cls, ref: str | Path) -> Run:
        """Find a run by its folder path or by `WORKSPACE/runs/ID`; one-line error if absent."""
        path = Path(ref).expanduser().resolve()
        if path.is_dir() and ((path / "checkpoints.sqlite").exists()
                              or (path / "run.json").exists()):
            return cls(path)
        raise AgentrunError(
            f"{ref}: no such run (expected a folder like WORKSPACE/runs/RUN_ID with run.json)"
        )


def atomic_write_text(path: Path, text: str) -> None:
    """Write text to `path` through a temp file and a rename.

    On failure the temp file is removed and `path` is unchanged; an OS error (a full disk, a
    folder in the way) names `path`, not the temp file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            exc.filename, exc.filename2 = str(path), None
        raise


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write rows as JSONL atomically; return how many were written."""
    lines = [json.dumps(r, ensure_ascii=False) for r in rows]
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield rows of a JSONL file (nothing if it does not exist).

    A damaged line (a truncated write, a bad hand edit) is a one-line error naming the file
    and the line.
    """
    for number, line in _lines(path):
        try:
            yield json.loads(line)
        except ValueError as exc:
            raise DamagedFileError(damaged_line(path, number, exc) + RESTORE) from None


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Yield the numbered non-blank lines of a file, as bytes (nothing if it does not exist)."""
    if not path.exists():
        return
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                yield number, line


RESTORE = "; restore the file, or delete that line to go on without it"


def read_json_object(path: Path, fix: str) -> dict[str, Any]:
    """Return a JSON file that holds an object ({} if it does not exist); damage is one line."""
    if not path.exists():
        return {}
    try:
        value = json.loads(path.read_bytes())
    except ValueError as exc:
        raise DamagedFileError(f"{path}: damaged ({exc}); {fix}") from None
    if not isinstance(value, dict):
        raise DamagedFileError(f"{path}: damaged (not a JSON object); {fix}")
    return value


def damaged_line(path: Path, number: int, exc: ValueError) -> str:
    """Return where a JSONL line cannot be read, and why: `PATH: line N is damaged (…)`."""
    reason = _first(exc) if isinstance(exc, ValidationError) else str(exc)
    return f"{path}: line {number} is damaged ({reason[:120]})"


def _first(exc: ValidationError) -> str:
    """Return a validation error's first problem, with where it is."""
    first = exc.errors()[0]
    where = _loc(first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


MAP_HEADER = """\
The dataset map: edit it by hand, then `agentrun plan --check`.
Ids are stable; comments you add here are kept when agentrun rewrites the file.
"""


def map_yaml(dataset_map: DatasetMap) -> str:
    """Return the map as the YAML `save_map` writes to a file without comments."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(dataset_map.model_dump(mode="json", exclude_none=True), Dumper=dumper,
                     sort_keys=False, allow_unicode=True, width=100)


def save_map(dataset_map: DatasetMap, path: Path) -> None:
    """Write the map as readable YAML (atomic), keeping the comments of the file it replaces.

    A file with comments is loaded round-trip (ruamel.yaml) and updated in place: nodes, facts
    and probes are matched by id and anchors by their ends, so a comment a person wrote next
    to a node or a quota stays next to it. A file without comments is simply rewritten (with
    libyaml: ruamel's round trip costs seconds on a map of hundreds of notes).
    """
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    previous = path.read_text(encoding="utf-8") if path.exists() else ""
    if not _has_comments(previous):
        body = map_yaml(dataset_map)
        header = "".join(f"# {line}\n" for line in MAP_HEADER.splitlines())
        atomic_write_text(path, header + body)
        return
    data: Any = dataset_map.model_dump(mode="json", exclude_none=True)
    rt = YAML()
    rt.width = 100
    rt.indent(mapping=2, sequence=2, offset=0)  # the layout PyYAML writes
    try:
        old = rt.load(previous)
    except Exception:  # an unreadable old file is simply replaced  # noqa: BLE001
        old = None
    if isinstance(old, CommentedMap):
        data = merge_yaml(old, data)
    else:
        data = CommentedMap(data)
        data.yaml_set_start_comment(MAP_HEADER)
    buffer = io.StringIO()
    rt.dump(data, buffer)
    atomic_write_text(path, buffer.getvalue())


def _has_comments(text: str) -> bool:
    """Tell whether a map file holds comments besides agentrun's header.

    It may say yes for a quoted value containing ' #': that only costs the slower path.
    """
    header = len(MAP_HEADER.splitlines())
    return any(re.search(r"(^|\s)#", line) for line in text.splitlines()[header:])


def _identity(item: Any) -> Any:
    """Return what identifies a list item across rewrites: its id, or an anchor's ends."""
    if isinstance(item, dict):
        if "id" in item:
            return item["id"]
        if "src" in item and "dst" in item:
            return (item["src"], item["dst"])
    return None


def merge_yaml(old: Any, new: Any) -> Any:
    """Return `new` built into the round-trip structure `old`, so its comments survive."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [k for k in old if k not in new]:
            del old[key]
        for key, value in new.items():
            old[key] = merge_yaml(old[key], value) if key in old else value
        return old
    if isinstance(old, list) and isinstance(new, list):
        old_keys = [_identity(i) for i in old]
        new_keys = [_identity(i) for i in new]
        if old_keys == new_keys:  # same items in the same order: merge in place
            for i, value in enumerate(new):
                old[i] = merge_yaml(old[i], value)
            return old
        by_key = {k: item for k, item in zip(old_keys, old, strict=True) if k is not None}
        from ruamel.yaml.comments import CommentedSeq

        return CommentedSeq([merge_yaml(by_key[k], v) if k in by_key else v
                             for k, v in zip(new_keys, new, strict=True)])
    return old if old == new and type(old) is type(new) else new


def load_map(path: Path) -> DatasetMap:
    """Read and validate a map; one-line error naming the path of the first problem."""
    dataset_map, problems = check_map(path)
    if problems or dataset_map is None:
        more = (f" (+{len(problems) - 1} more; see `agentrun plan --check`)"
                if len(problems) > 1 else "")
        raise ConfigError(f"{path}: {problems[0]}{more}")
    return dataset_map


def check_map(path: Path) -> tuple[DatasetMap | None, list[str]]:
    """Validate a (hand-edited) map: types, then references; every problem with its path."""
    if not path.exists():
        raise AgentrunError(f"{path}: no map yet; run `agentrun plan` first")
    data = read_yaml_mapping(path)
    try:
        dataset_map = DatasetMap.model_validate(data)
    except ValidationError as exc:
        return None, [f"{_loc(e['loc'])}: {e['msg']} (got {e.get('input')!r:.60})"
                      for e in exc.errors()]
    return dataset_map, reference_problems(dataset_map)


def _loc(parts: Iterable[Any]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")


def reference_problems(dataset_map: DatasetMap) -> list[str]:
    """Return broken references: duplicate ids, anchors or probes naming unknown nodes/facts."""
    problems: list[str] = []
    ids: dict[str, int] = {}
    for i, node in enumerate(dataset_map.nodes):
        if node.id in ids:
            problems.append(f"nodes[{i}].id: duplicate id '{node.id}' (also nodes[{ids[node.id]}])")
        ids.setdefault(node.id, i)
    for i, anchor in enumerate(dataset_map.anchors):
        for end in ("src", "dst"):
            if getattr(anchor, end) not in ids:
                problems.append(f"anchors[{i}].{end}: unknown node '{getattr(anchor, end)}'")
    known = {f.id for n in dataset_map.nodes for f in n.facts}
    for i, node in enumerate(dataset_map.nodes):
        for j, probe in enumerate(node.probes):
            where = f"nodes[{i}].probes[{j}]"
            if probe.node_id != node.id:
                problems.append(f"{where}.node_id: '{probe.node_id}' but the probe is under "
                                f"'{node.id}'")
            problems += [f"{where}.fact_ids: unknown fact '{f}'" for f in probe.fact_ids
                         if f not in known]
    return problems


def load_examples(path: Path, skip_damaged: bool = False) -> list[Any]:
    """Read Example records from a JSONL file.

    A damaged line is a one-line error naming the file and the line; with `skip_damaged`, a
    logged warning, and the other lines are read.
    """
    examples = []
    for number, line in _lines(path):
        try:
            examples.append(Example.model_validate(json.loads(line)))
        except ValueError as exc:  # JSON, UTF-8 and validation errors alike
            if not skip_damaged:
                raise DamagedFileError(damaged_line(path, number, exc) + RESTORE) from None
            log.warning("%s; skipped it, the file's other lines are read",
                        damaged_line(path, number, exc))
    return examples


def save_examples(path: Path, examples: Iterable[Any]) -> int:
    """Write Example records as JSONL (atomic)."""
    return write_jsonl(path, (e.model_dump(mode="json", exclude_none=True) for e in examples))
