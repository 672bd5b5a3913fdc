"""The `agentrun` command line: from `init` and `plan` to `run`, `batch`, `studio`, `eval`."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentrun.config import load_config
from agentrun.errors import AgentrunError, DamagedFileError, os_error_line
from agentrun.redact import RedactingFilter
from agentrun.schemas import RunMeta, RunStatus
from agentrun.shell import render
from agentrun.shell.render import CleanLogs, SafeConsole, esc
from agentrun.workspace import Run, check_map, load_examples, load_map

app = typer.Typer(
    help="Design fine-tuning datasets like a processor: map the sources, generate and check "
    "a corpus, train a LoRA adapter, evaluate what it learned, and revise the map.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = SafeConsole(stderr=False)  # no control character of a note or a run reaches the
err = SafeConsole(stderr=True)  # terminal: render.clean
F = TypeVar("F", bound=Callable[..., Any])
EXAMPLE = "orvane"


INTERRUPTED = {
    "plan": "plan interrupted; map.yaml was not changed (it is written only at the end)",
    "run": "interrupted before the run started; start it again with `agentrun run`",
    "train": "training interrupted; `agentrun train RUN --out ADAPTER` with the same adapter "
             "folder goes on from its last complete checkpoint",
}
"""What Ctrl-C left, per command (a run that started says how to resume it: `_resumable`)."""


def friendly(fn: F) -> F:
    """Turn a user's mistake into one red line and exit code 2, never a traceback.

    Mistakes are agentrun's own errors and the OS errors a user causes (a full disk, a file
    without permission, a folder where a file goes), each naming the file and the fix.
    """

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (AgentrunError, OSError) as exc:
            line = os_error_line(exc) if isinstance(exc, OSError) else str(exc)
            err.print(f"[bold red]error:[/] {esc(line)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print(INTERRUPTED.get(fn.__name__, "interrupted"), markup=False)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


@contextmanager
def _resumable(run_dir: Path) -> Iterator[None]:
    """Say how to go on when Ctrl-C stops a run: it resumes from its last checkpoint."""
    try:
        yield
    except KeyboardInterrupt:
        err.print(f"interrupted; the run goes on with `agentrun resume {run_dir}`",
                  markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None


def _setup(verbose: bool) -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:  # no secret reaches the terminal or a log
        handler.addFilter(RedactingFilter())
        handler.addFilter(CleanLogs())  # nor does a control character
    for noisy in ("httpx", "chromadb", "transformers", "sentence_transformers"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()
    except ImportError:
        pass


class RichReporter:
    """Progress bars for generation, training and scoring."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def start(self, name: str, total: int) -> None:
        """Add a bar (indeterminate when the total is unknown)."""
        self.tasks[name] = self.progress.add_task(name, total=total or None, info="")

    def advance(self, name: str, amount: int = 1, info: str = "") -> None:
        """Advance a bar, with its status text."""
        task = self.tasks.get(name)
        if task is not None:
            self.progress.update(task, advance=amount, info=info)

    def set_total(self, name: str, total: int) -> None:
        """Give an indeterminate bar its total."""
        task = self.tasks.get(name)
        if task is not None:
            self.progress.update(task, total=total)

    def stop(self, name: str) -> None:
        """Leave the finished bar on screen."""
        task = self.tasks.pop(name, None)
        if task is not None:
            self.progress.update(task, visible=True)


@contextmanager
def _bars() -> Iterator[None]:
    """Show the library's progress (generation, training, scoring) as rich bars."""
    from agentrun.progress import set_reporter

    with Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[info]}"),
                  console=console) as bars:
        set_reporter(RichReporter(bars))
        yield


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")]


@app.command()
@friendly
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the workspace in.")],
    force: Annotated[bool, typer.Option(help="Write into a folder that is not empty.")] = False,
) -> None:
    """Create a workspace from the bundled example (agentrun.yaml and sources/)."""
    if directory.exists() and not directory.is_dir():
        raise AgentrunError(f"{directory}: is a file, not a folder; pick another path")
    if directory.exists() and any(directory.iterdir()) and not force:
        raise AgentrunError(f"{directory}: folder is not empty; pick another or pass --force")
    example = Path(str(files("agentrun.examples") / EXAMPLE))
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy2(example / "agentrun.yaml", directory / "agentrun.yaml")
    shutil.copytree(example / "sources", directory / "sources", dirs_exist_ok=True)
    console.print(f"workspace ready: {esc(directory)}\n"
                  f"next: [bold]agentrun plan {esc(directory)}[/] "
                  f"or [bold]agentrun run {esc(directory)}[/]")


PROBLEMS_SHOWN = 40
"""Problems `agentrun plan` prints; all of them are in map.yaml under `problems:`."""


@app.command()
@friendly
def plan(
    directory: Annotated[Path, typer.Argument(help="Workspace folder.")],
    no_model: Annotated[bool, typer.Option("--no-model",
                                           help="Structure only: skip model summaries.")] = False,
    check: Annotated[bool, typer.Option("--check", help="Validate a hand-edited map.yaml and "
                                        "list every problem with its path; change nothing.")
                     ] = False,
    show: Annotated[bool, typer.Option("--show", help="Also draw the map: map.html (graph and "
                                       "semantic-load table) and map.png beside map.yaml.")
                    ] = False,
    verbose: Verbose = False,
) -> None:
    """Draw the dataset map from the sources, write map.yaml and show it as a tree.

    Re-planning after the sources changed keeps the ids and the hand edits of unchanged nodes
    and prints what changed.
    """
    _setup(verbose)
    if check:
        _check_map(directory / "map.yaml")
        return
    from agentrun.shell.runner import plan as plan_map

    path = directory / "map.yaml"
    version = load_map(path).version if path.exists() else 0
    dataset_map = plan_map(directory, use_model=not no_model)
    console.print(render.map_tree(dataset_map))
    if version and dataset_map.version > version:
        console.print(f"[bold]re-planned[/] v{version} → v{dataset_map.version}:")
        for change in dataset_map.history[-1].changes:
            console.print(f"  {change}", markup=False, highlight=False)
    if dataset_map.problems:
        err.print(f"[yellow]{len(dataset_map.problems)} problems[/] (kept in map.yaml under "
                  "`problems:`; planning went on around them):")
        for problem in dataset_map.problems[:PROBLEMS_SHOWN]:
            err.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
        if len(dataset_map.problems) > PROBLEMS_SHOWN:
            err.print(f"  … {len(dataset_map.problems) - PROBLEMS_SHOWN:,} more in map.yaml")
    console.print(f"map written to {esc(Path(directory) / 'map.yaml')}")
    if show:
        from agentrun.mapview import write_html, write_png

        page = write_html(dataset_map, Path(directory) / "map.html")
        picture = write_png(dataset_map, Path(directory) / "map.png")
        console.print(f"drawn: {esc(page)} and {esc(picture)}")


def _check_map(path: Path) -> None:

    dataset_map, problems = check_map(path)
    for problem in problems:
        console.print(f"{path}: {problem}", markup=False, highlight=False)
    if problems:
        raise typer.Exit(1)
    assert dataset_map is not None
    console.print(f"{esc(path)}: ok ({len(dataset_map.nodes)} nodes, {len(dataset_map.anchors)} "
                  f"anchors, {len(dataset_map.probes())} probes)")


@app.command()
@friendly
def run(
    directory: Annotated[Path, typer.Argument(help="Workspace folder.")],
    cycles: Annotated[int | None, typer.Option(help="Full cycles (generate → train → "
                                               "evaluate → revise); 0: build and check the "
                                               "corpus only.")] = None,
    max_examples: Annotated[int | None, typer.Option(help="Accepted examples, at most.")] = None,
    max_rounds: Annotated[int | None, typer.Option(help="Generation rounds per cycle.")] = None,
    wall_time: Annotated[float | None, typer.Option(help="Seconds after which no new cycle "
                                                    "starts.")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Training steps per cycle "
                                                  "(overrides the recipe).")] = None,
    auto: Annotated[bool, typer.Option("--auto", help="Never wait for a person: the steering "
                                       "policy settles every fork and logs why.")] = False,
    verbose: Verbose = False,
) -> None:
    """Run the whole loop on a workspace and leave everything in runs/<run_id>/.

    At a fork (approve the plan, keep one of a node's alternatives) the run asks in the
    terminal; without a terminal it stops, waiting, until `agentrun resume RUN --answer`.
    """
    _setup(verbose)
    from agentrun.shell.runner import prepare_run, resume_run

    budgets = {k: v for k, v in (("max_rounds", max_rounds), ("wall_time_s", wall_time))
               if v is not None}
    overrides: dict[str, Any] = {"budgets": budgets} if budgets else {}
    if max_steps is not None:
        overrides["training"] = {"max_steps": max_steps}
    run_ = prepare_run(directory, cycles, max_examples, overrides, auto=auto or None)
    with _resumable(run_.root):
        with _bars():
            run_, state = resume_run(run_.root, on_step=_step_line(), who="agentrun run")
        render.summary(console, run_, _answer_forks(run_, state))


@app.command()
@friendly
def resume(
    run_dir: Annotated[Path, typer.Argument(help="Run folder (WORKSPACE/runs/RUN_ID).")],
    answer: Annotated[str | None, typer.Option(help="The option to keep at the fork the run "
                                               "waits at (its label, e.g. A; none rejects "
                                               "every alternative).")] = None,
    edit: Annotated[str | None, typer.Option(help="With --answer at an examples fork: keep "
                                             "that option in these words instead.")] = None,
    verbose: Verbose = False,
) -> None:
    """Continue an interrupted or waiting run from its last checkpoint."""
    _setup(verbose)
    from agentrun.shell.runner import resume_run

    if edit is not None and answer is None:
        raise AgentrunError("--edit needs --answer LABEL: the option your words replace")
    with _resumable(run_dir):
        with _bars():
            run_, state = resume_run(run_dir, answer if edit is None else
                                     {"choice": answer, "text": edit}, on_step=_step_line())
        render.summary(console, run_, _answer_forks(run_, state))


STEP_COUNTS = ("iteration", "round", "accepted", "rejected", "status")


def _step_line() -> Any:
    """Return a printer of one line per finished step, or None in a terminal.

    Where no terminal shows the bars (a log file, a batch job, CI) a person tailing the output
    sees the run move.
    """
    if console.is_terminal:
        return None

    def line(node: str, update: dict[str, Any]) -> None:
        counts = ", ".join(f"{k} {update[k]}" for k in STEP_COUNTS if k in update)
        console.print(f"{time.strftime('%H:%M:%S')} {esc(node)}" + (f": {esc(counts)}"
                                                                      if counts else ""),
                      highlight=False)
    return line


def _answer_forks(run_: Any, state: dict[str, Any]) -> dict[str, Any]:
    """Ask the person at each fork while the run waits (a terminal), else say how to answer."""
    from agentrun.shell.chat import EDIT
    from agentrun.shell.runner import resume_run

    while state.get("pending_fork"):
        pending = state["pending_fork"]
        render.show_fork(console, pending)
        if not sys.stdin.isatty():
            console.print(f"run {esc(run_.id)} waits for an answer: "
                          f"`agentrun resume {esc(run_.root)} --answer LABEL`")
            return state
        answer: Any = typer.prompt("your choice (a label, none, or edit B: your words)")
        edit = EDIT.match(answer)
        if edit:
            answer = {"choice": edit.group(1), "text": edit.group(2).strip()}
        try:
            with _bars():
                run_, state = resume_run(run_.root, answer)
        except AgentrunError as exc:
            console.print(f"[red]{esc(exc)}[/]")
    return state


@app.command()
@friendly
def status(
    run_dir: Annotated[Path, typer.Argument(help="Run folder (WORKSPACE/runs/RUN_ID), or a "
                                            "workspace to list its runs.")],
    rejections: Annotated[bool, typer.Option(help="List rejected examples by reason.")] = False,
) -> None:
    """Show where a run stands (its fork, counts, scores), or list a workspace's runs."""
    from agentrun.shell.runner import pending_fork, run_state

    if (run_dir / "runs").is_dir() and not (run_dir / "checkpoints.sqlite").exists():
        _list_runs(run_dir)
        return
    run_ = Run.find(run_dir)
    meta = run_.shown_meta()
    if meta.driver == "langgraph server":  # its checkpoints live in the server
        _server_status(run_, meta)
        return
    snap = run_state(run_)
    console.print(render.status_line(run_, meta, snap))
    if meta.error:
        console.print(f"[red]last error:[/] {esc(meta.error)}")
    pending = pending_fork(run_) if meta.status == RunStatus.waiting else None
    if pending is not None:
        render.show_fork(console, pending)
        console.print(f"answer with `agentrun resume {esc(run_.root)} --answer LABEL`")
    render.summary(console, run_, snap["values"], header=False)
    if rejections:
        render.rejections(console, load_examples(run_.rejected_path))


def _server_status(run_: Run, meta: RunMeta) -> None:
    """Show a run a LangGraph server drives: its fork asked of that server, if settings name it."""
    from agentrun.shell.studio import foreign_server, server_fork

    console.print(render.status_line(run_, meta))
    refused = foreign_server(run_, meta.server)
    if refused is not None:
        err.print(f"[yellow]{esc(refused)}[/]", highlight=False, soft_wrap=True)
    pending = server_fork(run_) if meta.status == RunStatus.waiting and refused is None else None
    if pending is not None:
        render.show_fork(console, pending)
        console.print(f"answer in Studio, or with `agentrun resume {esc(run_.root)} "
                      "--answer LABEL`")
    summary = run_.summary()
    if summary:
        render.summary(console, run_, summary, header=False)


def _list_runs(directory: Path) -> None:
    """Print one line per run of a workspace: id, status, fork waited at, examples."""
    table = Table(title=f"runs of {esc(directory)}", show_edge=False)
    for column in ("run", "status", "waiting at", "accepted", "rejected"):
        table.add_column(column)
    for folder in sorted(p for p in (directory / "runs").iterdir() if p.is_dir()):
        try:
            table.add_row(*_run_row(Run(folder)))
        except DamagedFileError as exc:  # one damaged run hides none of the others
            err.print(f"[yellow]warning:[/] {esc(exc)}", highlight=False, soft_wrap=True)
            table.add_row(esc(folder.name), "damaged", "-", "-", "-")
    console.print(table)


def _run_row(run_: Run) -> tuple[str, ...]:
    """Return a run's row in the list: id, status, fork waited at, examples."""
    meta = run_.shown_meta()
    counts = run_.summary()
    if not counts and run_.accepted_path.exists():
        counts = {"accepted": run_.accepted_path.read_bytes().count(b"\n"),
                  "rejected": run_.rejected_path.read_bytes().count(b"\n")
                  if run_.rejected_path.exists() else 0}
    return (esc(run_.id), meta.status.value, esc(meta.fork or "-"),
            str(counts.get("accepted", "-")), str(counts.get("rejected", "-")))


@app.command()
@friendly
def export(
    run_dir: Annotated[Path, typer.Argument(help="Run folder (WORKSPACE/runs/RUN_ID).")],
    fmt: Annotated[str, typer.Option("--format", help="sft | prompt-completion | dpo | text")
                   ] = "sft",
    out: Annotated[Path | None, typer.Option(help="Output JSONL (default: "
                                             "RUN/export/<format>.jsonl).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file (the JSONL "
                                        "or README.md beside it) this run did not write.")
                     ] = False,
) -> None:
    """Write the run's accepted examples in a format trainers read, with a dataset card.

    `dpo` pairs the checker's near-misses (a contradiction, an ungrounded or off-node answer)
    with a correct answer to the same prompt. A file already there that this run's exports
    did not write is never replaced without `--force`.
    """
    from agentrun.training.export import (
        FORMATS,
        dataset_card,
        export_dpo,
        export_paths,
        preference_pairs,
        record_written,
        refuse_foreign,
        write_card,
    )
    from agentrun.training.export import export as write

    if fmt not in FORMATS:
        raise AgentrunError(f"--format {fmt}: unknown; choose one of {', '.join(FORMATS)}")
    run_ = Run.find(run_dir)
    target, card, ledger = export_paths(run_.root, fmt, out)
    refuse_foreign([target, card], ledger, force)
    accepted, rejected = load_examples(run_.accepted_path), load_examples(run_.rejected_path)
    dataset_map = load_map(run_.map_path)
    if fmt == "dpo":
        from agentrun.agents.steering import load_preferences

        n = export_dpo(load_preferences(run_.data_dir)
                       + preference_pairs(accepted, rejected, dataset_map), target)
    else:
        n = write(accepted, fmt, target)
    write_card(card, dataset_card(accepted, rejected, dataset_map, {target.name: n}, run_.id))
    record_written([target, card], ledger)
    console.print(f"{n} {'pairs' if fmt == 'dpo' else 'examples'} written to {esc(target)}; "
                  f"dataset card {esc(card)}")


@app.command()
@friendly
def train(
    run_dir: Annotated[Path, typer.Argument(help="Run folder (WORKSPACE/runs/RUN_ID).")],
    out: Annotated[Path | None, typer.Option(help="Adapter folder (default: "
                                             "RUN/adapters/train-<time>); an unfinished one "
                                             "resumes from its last complete checkpoint.")
                   ] = None,
    preset: Annotated[str | None, typer.Option(
        help="cpu-tiny | gpu-24gb | gpu-96gb | gpu-multi")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Training steps (overrides the "
                                                  "recipe).")] = None,
    dpo: Annotated[bool | None, typer.Option(help="Add the DPO stage on the checker's "
                                             "near-misses.")] = None,
    verbose: Verbose = False,
) -> None:
    """Train a LoRA adapter on the workspace's corpus with its recipe, outside the loop."""
    _setup(verbose)
    from agentrun.agents.trainer import train_run
    from agentrun.graphs.deps import Deps

    run_ = Run.find(run_dir)
    changes = {k: v for k, v in (("preset", preset), ("max_steps", max_steps), ("dpo", dpo))
               if v is not None}
    cfg = load_config(run_.workspace.root, {"training": changes} if changes else {})
    target = out or run_.root / "adapters" / time.strftime("train-%Y%m%d-%H%M%S")
    with _bars():
        result = train_run(cfg, run_, target, Deps(cfg, run_.workspace).student_dir)
    m = result.metrics
    console.print(f"adapter: {esc(result.adapter)}\n{m['steps']} steps on {m['examples']} examples "
                  f"({m.get('tokens', 0)} tokens, loss on {m.get('loss_on', '?')}); loss "
                  f"{m['first_loss']:.3f} → {m['last_loss']:.3f}"
                  + (f"; DPO {m['dpo']['steps']} steps" if m.get("dpo") else ""))
    console.print(f"evaluate it: agentrun eval {esc(run_.root)} --adapter {esc(result.adapter)}")


@app.command(name="eval")
@friendly
def eval_(
    run_dir: Annotated[Path, typer.Argument(help="Run folder (WORKSPACE/runs/RUN_ID).")],
    adapter: Annotated[Path, typer.Option(help="Adapter folder (safetensors).")],
    out: Annotated[Path | None, typer.Option(help="JSON report (default: "
                                             "RUN/reports/eval-<adapter>.json); the chart "
                                             "goes beside it as .png.")] = None,
    guard: Annotated[bool, typer.Option(help="Ask the 40 general questions too "
                                        "(forgetting).")] = True,
    verbose: Verbose = False,
) -> None:
    """Score every probe of the run's map on the base student and on an adapter."""
    _setup(verbose)
    from agentrun.agents.evaluator import evaluate, write_report
    from agentrun.graphs.deps import Deps

    run_ = Run.find(run_dir)
    cfg = load_config(run_.workspace.root)
    dataset_map = load_map(run_.map_path)
    with _bars():
        report = evaluate(dataset_map, Deps(cfg, run_.workspace).student_dir,
                          adapter.resolve(),
                          adapter.parent / f"{adapter.name}.train.jsonl", run_.id, 0,
                          cfg.evaluation.batch_size, cfg.evaluation.max_new_tokens, guard)
    path = out or run_.reports_dir / f"eval-{adapter.name}.json"
    chart = write_report(report, dataset_map, path)
    render.eval_tables(console, report, dataset_map.titles())
    console.print(f"report: {esc(path)}\nchart: {esc(chart)}")


@app.command()
@friendly
def chat(
    target: Annotated[Path, typer.Argument(help="A workspace (starts a new run) or a run "
                                           "folder WORKSPACE/runs/RUN_ID (joins it).")],
    verbose: Verbose = False,
) -> None:
    """Steer a run in a conversation: status, forks, map edits in plain words, why rejected.

    Type `help` inside. The run goes on while you type; `quit` leaves it resumable.
    """
    _setup(verbose)
    from rich.markup import escape

    from agentrun.shell.chat import chat as converse

    def ask(label: str) -> str:
        return console.input(f"[bold]{escape(label)}>[/] ")

    converse(target, console, ask)


@app.command()
@friendly
def batch(
    jobs_file: Annotated[Path, typer.Argument(help="Batch file (YAML): parallel, defaults, "
                                              "jobs with workspace, budgets, settings.")],
    verbose: Verbose = False,
) -> None:
    """Run several workspaces or configurations without waiting for anyone, resumably.

    Each job runs as `agentrun run --auto` in a child process (log: JOBS.logs/NAME.log).
    Running the same file again skips the jobs that are done and resumes the others.
    """
    _setup(verbose)
    from rich.live import Live

    from agentrun.shell.batch import (
        load_batch,
        one_at_a_time,
        pending,
        progress_line,
        run_batch,
    )

    loaded = load_batch(jobs_file)
    todo = pending(loaded)
    done = len(loaded.jobs) - len(todo)
    console.print(f"{len(loaded.jobs)} jobs, {len(todo)} to run"
                  + (f" ({done} done before: skipped)" if done else "")
                  + f", {loaded.parallel} at a time; logs in {esc(loaded.logs_dir)}")
    for names in one_at_a_time(todo) if loaded.parallel > 1 else []:
        console.print(f"one after another, as they share a workspace's local memory (a Chroma "
                      f"server, memory.server, takes several writers): {esc(', '.join(names))}")

    def table(b: Any) -> Table:
        t = Table(show_edge=False)
        for column in ("job", "status", "run", "accepted", "rounds", "time"):
            t.add_column(column)
        for job in b.jobs:
            t.add_row(*progress_line(job).values())
        return t

    try:
        with Live(table(loaded), console=console, refresh_per_second=2,
                  transient=True) as live:
            run_batch(loaded, on_tick=lambda b: live.update(table(b)))
    except KeyboardInterrupt:
        err.print(f"interrupted; the runs are resumable: `agentrun batch {esc(jobs_file)}` "
                  "goes on where they stopped")
        raise typer.Exit(130) from None
    _batch_summary(loaded)
    failed = [j.spec.name for j in loaded.jobs if j.state.get("status") == "failed"]
    if failed:
        err.print(f"[bold red]failed:[/] {esc(', '.join(failed))} (see each job's log and "
                  f"{esc(loaded.queue_path)}); run the batch again to resume them")
        raise typer.Exit(1)


def _batch_summary(loaded: Any) -> None:
    """Print one row per job: status, run, examples, tokens, loss, log-prob gains, time."""
    kinds = ("absorption", "generalization", "transfer")
    t = Table(title=f"batch {esc(loaded.path.name)}", show_edge=False)
    for column in ("job", "status", "run", "accepted", "rejected", "tokens", "loss",
                   "Δ abs", "Δ gen", "Δ transfer", "time"):
        t.add_column(column, justify="left" if column in ("job", "status", "run") else "right")
    for job in loaded.jobs:
        st, res = job.state, job.state.get("results") or {}
        gains = res.get("gains") or {}
        elapsed = (st["ended"] - st["started"]) if st.get("ended") and st.get("started") else None
        t.add_row(esc(job.spec.name), st.get("status", "pending"),
                  esc(Path(st.get("run", "-")).name),
                  *(str(res.get(k, "-")) if res.get(k) is not None else "-"
                    for k in ("accepted", "rejected", "tokens")),
                  f"{res['train_loss']:.3f}" if res.get("train_loss") is not None else "-",
                  *(f"{gains[k]:+.2f}" if k in gains else "-" for k in kinds),
                  f"{elapsed:.0f} s" if elapsed is not None else "-")
    console.print(t)


@app.command()
@friendly
def studio(
    directory: Annotated[Path, typer.Argument(help="Workspace folder.")],
    port: Annotated[int, typer.Option(help="Port of the local server.")] = 2024,
    host: Annotated[str, typer.Option(help="Interface to bind; keep 127.0.0.1 unless the "
                                      "network is trusted.")] = "127.0.0.1",
    browser: Annotated[bool, typer.Option(help="Open Studio in a browser.")] = False,
) -> None:
    """Serve the workspace's graph with `langgraph dev` for LangGraph Studio and the SDK.

    Runs started there (Studio's form: workspace, cycles, max_examples, auto) write to
    DIR/runs/ like the CLI's; forks are answered in Studio with {"choice": "A"}.
    """
    from agentrun.shell.studio import serve

    raise typer.Exit(serve(directory, port, host, browser))


def main() -> None:
    """Entry point for `python -m agentrun`."""
    app(prog_name="agentrun")


if __name__ == "__main__":
    main()
