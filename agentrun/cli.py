"""The `agentrun` command line: from `init` and `plan` to `run`, `batch`, `studio`, `eval`."""

from __future__ import annotations

import logging
import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.tree import Tree

from agentrun.errors import AgentrunError

app = typer.Typer(
    help="Design fine-tuning datasets like a processor: map the sources, generate and check "
    "a corpus, train a LoRA adapter, evaluate what it learned, and revise the map.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=False)
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])
EXAMPLE = "orvane"


def friendly(fn: F) -> F:
    """Turn a user's mistake into one red line and exit code 2, never a traceback."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AgentrunError as exc:
            err.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("interrupted; continue with `agentrun resume RUN`")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _setup(verbose: bool) -> None:
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
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
        """Advance a bar; `total=N` as info sets its total."""
        task = self.tasks.get(name)
        if task is None:
            return
        if info.startswith("total="):
            self.progress.update(task, total=int(info.split("=")[1]))
            return
        self.progress.update(task, advance=amount, info=info)

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
    if directory.exists() and any(directory.iterdir()) and not force:
        raise AgentrunError(f"{directory}: folder is not empty; pick another or pass --force")
    example = Path(str(files("agentrun.examples") / EXAMPLE))
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy2(example / "agentrun.yaml", directory / "agentrun.yaml")
    shutil.copytree(example / "sources", directory / "sources", dirs_exist_ok=True)
    console.print(f"workspace ready: {directory}\nnext: [bold]agentrun plan {directory}[/] "
                  f"or [bold]agentrun run {directory}[/]")


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
    from agentrun.runner import plan as plan_map
    from agentrun.workspace import load_map

    path = directory / "map.yaml"
    version = load_map(path).version if path.exists() else 0
    dataset_map = plan_map(directory, use_model=not no_model)
    console.print(map_tree(dataset_map))
    if version and dataset_map.version > version:
        console.print(f"[bold]re-planned[/] v{version} → v{dataset_map.version}:")
        for change in dataset_map.history[-1].changes:
            console.print(f"  {change}", markup=False, highlight=False)
    if dataset_map.problems:
        err.print(f"[yellow]{len(dataset_map.problems)} problems[/] (kept in map.yaml under "
                  "`problems:`; planning went on around them):")
        for problem in dataset_map.problems:
            err.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
    console.print(f"map written to {Path(directory) / 'map.yaml'}")
    if show:
        from agentrun.mapview import write_html, write_png

        page = write_html(dataset_map, Path(directory) / "map.html")
        picture = write_png(dataset_map, Path(directory) / "map.png")
        console.print(f"drawn: {page} and {picture}")


def _check_map(path: Path) -> None:
    from agentrun.workspace import check_map

    dataset_map, problems = check_map(path)
    for problem in problems:
        console.print(f"{path}: {problem}", markup=False, highlight=False)
    if problems:
        raise typer.Exit(1)
    assert dataset_map is not None
    console.print(f"{path}: ok ({len(dataset_map.nodes)} nodes, {len(dataset_map.anchors)} "
                  f"anchors, {len(dataset_map.probes())} probes)")


def map_tree(dataset_map: Any) -> Tree:
    """Render the map as a tree: nodes with level, facts, probes and anchors."""
    tree = Tree(f"[bold]dataset map[/] v{dataset_map.version}: {len(dataset_map.nodes)} nodes, "
                f"{len(dataset_map.anchors)} anchors, {len(dataset_map.probes())} probes")
    for node in dataset_map.nodes:
        branch = tree.add(f"[bold]{node.title}[/] ({node.id}) [cyan]{node.level}[/] "
                          f"{len(node.facts)} facts, {len(node.probes)} probes")
        for a in dataset_map.neighbours(node.id):
            branch.add(f"→ {a.dst} [dim]{a.relation}[/]")
    return tree


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
    from agentrun.runner import start_run

    budgets = {k: v for k, v in (("max_rounds", max_rounds), ("wall_time_s", wall_time))
               if v is not None}
    overrides: dict[str, Any] = {"budgets": budgets} if budgets else {}
    if max_steps is not None:
        overrides["training"] = {"max_steps": max_steps}
    with _bars():
        run_, state = start_run(directory, cycles, max_examples, overrides, auto=auto or None)
    _summary(run_, _answer_forks(run_, state))


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
    from agentrun.runner import resume_run

    if edit is not None and answer is None:
        raise AgentrunError("--edit needs --answer LABEL: the option your words replace")
    with _bars():
        run_, state = resume_run(run_dir, answer if edit is None else
                                 {"choice": answer, "text": edit})
    _summary(run_, _answer_forks(run_, state))


def _answer_forks(run_: Any, state: dict[str, Any]) -> dict[str, Any]:
    """Ask the person at each fork while the run waits (a terminal), else say how to answer."""
    import sys

    from agentrun.chat import EDIT
    from agentrun.runner import resume_run

    while state.get("pending_fork"):
        pending = state["pending_fork"]
        show_fork(pending)
        if not sys.stdin.isatty():
            console.print(f"run {run_.id} waits for an answer: `agentrun resume {run_.root} "
                          "--answer LABEL`")
            return state
        answer: Any = typer.prompt("your choice (a label, none, or edit B: your words)")
        edit = EDIT.match(answer)
        if edit:
            answer = {"choice": edit.group(1), "text": edit.group(2).strip()}
        try:
            with _bars():
                run_, state = resume_run(run_.root, answer)
        except AgentrunError as exc:
            console.print(f"[red]{exc}[/]")
    return state


def show_fork(pending: dict[str, Any]) -> None:
    """Print a fork: the question, why it is asked, and its options."""
    fork = pending["fork"]
    console.print(f"\n[bold]fork[/] {fork['id']} — {pending.get('why', '')}", highlight=False)
    if pending.get("error"):
        console.print(f"[red]{pending['error']}[/]")
    console.print(fork["question"], markup=False, highlight=False)
    for option in fork["options"]:
        score = f" (score {option['score']:.3f})" if option.get("score") is not None else ""
        console.print(f"  [bold]{option['label']}[/]{score}: ", end="")
        console.print(option["text"], markup=False, highlight=False)
    if fork["kind"] == "examples":
        console.print("  [bold]none[/]: reject every option")


@app.command()
@friendly
def status(
    run_dir: Annotated[Path, typer.Argument(help="Run folder (WORKSPACE/runs/RUN_ID), or a "
                                            "workspace to list its runs.")],
    rejections: Annotated[bool, typer.Option(help="List rejected examples by reason.")] = False,
) -> None:
    """Show where a run stands (its fork, counts, scores), or list a workspace's runs."""
    from agentrun.runner import run_state
    from agentrun.workspace import Run, load_examples

    if (run_dir / "runs").is_dir() and not (run_dir / "checkpoints.sqlite").exists():
        _list_runs(run_dir)
        return
    run_ = Run.find(run_dir)
    meta = run_.meta()
    if meta.get("driver") == "langgraph server":  # its checkpoints live in the server
        import json

        console.print(f"run {run_.id}: [bold]{meta.get('status', '?')}[/]"
                      + (f" at fork {meta['fork']}" if meta.get("fork") else "")
                      + f"; it runs on the LangGraph server {meta.get('server') or ''} "
                      "(`agentrun studio`)")
        if meta.get("status") == "waiting":
            from agentrun.studio import server_fork

            pending = server_fork(meta)
            if pending is not None:
                show_fork(pending)
                console.print(f"answer in Studio, or with `agentrun resume {run_.root} "
                              "--answer LABEL`")
        summary = run_.root / "summary.json"
        if summary.exists():
            _summary(run_, json.loads(summary.read_text()), header=False)
        return
    snap = run_state(run_)
    console.print(f"run {run_.id}: [bold]{meta.get('status', '?')}[/]"
                  + (f", next: {', '.join(snap['next'])}" if snap["next"] else ""))
    if meta.get("error"):
        console.print(f"[red]last error:[/] {meta['error']}")
    if meta.get("status") == "waiting":
        from agentrun.runner import pending_fork

        pending = pending_fork(run_)
        if pending is not None:
            show_fork(pending)
            console.print(f"answer with `agentrun resume {run_.root} --answer LABEL`")
    _summary(run_, snap["values"], header=False)
    if rejections:
        _rejections(load_examples(run_.rejected_path))


def _list_runs(directory: Path) -> None:
    """Print one line per run of a workspace: id, status, fork waited at, examples."""
    import json

    from agentrun.workspace import Run

    table = Table(title=f"runs of {directory}", show_edge=False)
    for column in ("run", "status", "waiting at", "accepted", "rejected"):
        table.add_column(column)
    for folder in sorted(p for p in (directory / "runs").iterdir() if p.is_dir()):
        run_ = Run(folder)
        meta = run_.meta()
        summary = folder / "summary.json"
        counts = json.loads(summary.read_text()) if summary.exists() else {}
        if not counts and run_.accepted_path.exists():
            counts = {"accepted": run_.accepted_path.read_text().count("\n"),
                      "rejected": run_.rejected_path.read_text().count("\n")
                      if run_.rejected_path.exists() else 0}
        table.add_row(run_.id, str(meta.get("status", "?")), meta.get("fork") or "-",
                      str(counts.get("accepted", "-")), str(counts.get("rejected", "-")))
    console.print(table)


def _rejections(rejected: list[Any]) -> None:
    """Print rejected examples grouped by their first reason."""
    groups: dict[str, list[Any]] = {}
    for ex in rejected:
        code = ex.verdict.reasons[0].code.value if ex.verdict and ex.verdict.reasons else "?"
        groups.setdefault(code, []).append(ex)
    for code, rows in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        console.print(f"\n[bold]{code}[/] ({len(rows)})")
        for ex in rows:
            reason = ex.verdict.reasons[0]
            clash = f" ↔ {reason.other}" if reason.other else ""
            console.print(f"  {ex.id} {ex.node_id}/{ex.kind}: {reason.detail}{clash}",
                          markup=False, highlight=False)


@app.command()
@friendly
def export(
    run_dir: Annotated[Path, typer.Argument(help="Run folder (WORKSPACE/runs/RUN_ID).")],
    fmt: Annotated[str, typer.Option("--format", help="sft | prompt-completion | dpo | text")
                   ] = "sft",
    out: Annotated[Path | None, typer.Option(help="Output JSONL (default: "
                                             "RUN/export/<format>.jsonl).")] = None,
) -> None:
    """Write the run's accepted examples in a format trainers read, with a dataset card.

    `dpo` pairs the checker's near-misses (a contradiction, an ungrounded or off-node answer)
    with a correct answer to the same prompt.
    """
    from agentrun.training.export import (
        FORMATS,
        dataset_card,
        export_dpo,
        preference_pairs,
        write_card,
    )
    from agentrun.training.export import export as write
    from agentrun.workspace import Run, load_examples, load_map

    if fmt not in FORMATS:
        raise AgentrunError(f"--format {fmt}: unknown; choose one of {', '.join(FORMATS)}")
    run_ = Run.find(run_dir)
    target = out or run_.root / "export" / f"{fmt}.jsonl"
    accepted, rejected = load_examples(run_.accepted_path), load_examples(run_.rejected_path)
    dataset_map = load_map(run_.map_path)
    if fmt == "dpo":
        from agentrun.agents.steering import load_preferences

        n = export_dpo(load_preferences(run_.data_dir)
                       + preference_pairs(accepted, rejected, dataset_map), target)
    else:
        n = write(accepted, fmt, target)
    card = target.with_name("README.md")
    write_card(card, dataset_card(accepted, rejected, dataset_map, {target.name: n}, run_.id))
    console.print(f"{n} {'pairs' if fmt == 'dpo' else 'examples'} written to {target}; "
                  f"dataset card {card}")


@app.command()
@friendly
def train(
    run_dir: Annotated[Path, typer.Argument(help="Run folder (WORKSPACE/runs/RUN_ID).")],
    out: Annotated[Path | None, typer.Option(help="Adapter folder (default: "
                                             "RUN/adapters/train-<time>); an unfinished one "
                                             "resumes from its last complete checkpoint.")
                   ] = None,
    preset: Annotated[str | None, typer.Option(help="cpu-tiny | gpu-24gb | gpu-96gb")] = None,
    max_steps: Annotated[int | None, typer.Option(help="Training steps (overrides the "
                                                  "recipe).")] = None,
    dpo: Annotated[bool | None, typer.Option(help="Add the DPO stage on the checker's "
                                             "near-misses.")] = None,
    verbose: Verbose = False,
) -> None:
    """Train a LoRA adapter on the workspace's corpus with its recipe, outside the loop."""
    _setup(verbose)
    import time

    from agentrun.agents.trainer import train_run
    from agentrun.services import settings
    from agentrun.workspace import Run

    run_ = Run.find(run_dir)
    changes = {k: v for k, v in (("preset", preset), ("max_steps", max_steps), ("dpo", dpo))
               if v is not None}
    cfg = settings(str(run_.workspace.root), {"training": changes} if changes else {})
    target = out or run_.root / "adapters" / time.strftime("train-%Y%m%d-%H%M%S")
    with _bars():
        result = train_run(cfg, run_, target)
    m = result.metrics
    console.print(f"adapter: {result.adapter}\n{m['steps']} steps on {m['examples']} examples "
                  f"({m.get('tokens', 0)} tokens, loss on {m.get('loss_on', '?')}); loss "
                  f"{m['first_loss']:.3f} → {m['last_loss']:.3f}"
                  + (f"; DPO {m['dpo']['steps']} steps" if m.get("dpo") else ""))
    console.print(f"evaluate it: agentrun eval {run_.root} --adapter {result.adapter}")


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
    from agentrun.services import settings, student_dir
    from agentrun.workspace import Run, load_map

    run_ = Run.find(run_dir)
    cfg = settings(str(run_.workspace.root), {})
    dataset_map = load_map(run_.map_path)
    with _bars():
        report = evaluate(dataset_map, student_dir(cfg), adapter.resolve(),
                          adapter.parent / f"{adapter.name}.train.jsonl", run_.id, 0,
                          cfg.evaluation.batch_size, cfg.evaluation.max_new_tokens, guard)
    path = out or run_.reports_dir / f"eval-{adapter.name}.json"
    chart = write_report(report, dataset_map, path)
    eval_tables(report, dataset_map.titles())
    console.print(f"report: {path}\nchart: {chart}")


def eval_tables(report: Any, titles: dict[str, str]) -> None:
    """Print probe scores before → after, per kind and per node, and the forgetting guard."""
    for key, label in (("kind", "kind"), ("node_id", "node")):
        t = Table(title=f"probes per {label}, before → after", show_edge=False)
        for col in (label, "n", "accuracy", "Δ acc", "mean log-prob", "Δ log-prob"):
            t.add_column(col, justify="left" if col == label else "right")
        rows = report.summary(key)
        gain = {k: s["logprob_after"] - s["logprob_before"] for k, s in rows.items()}
        for name in (sorted(rows, key=gain.__getitem__) if key == "node_id" else rows):
            s = rows[name]
            t.add_row(titles.get(name, name)[:36], str(int(s["n"])),
                      f"{s['acc_before']:.2f} → {s['acc_after']:.2f}",
                      f"{s['acc_after'] - s['acc_before']:+.2f}",
                      f"{s['logprob_before']:.2f} → {s['logprob_after']:.2f}", f"{gain[name]:+.2f}")
        console.print(t)
    if report.guard:
        f = report.forgetting()
        console.print(f"general questions: {f['still_answered']} of the {f['answered_before']} "
                      f"answered before training still answered "
                      f"({f['answered_after']}/{f['questions']} after)")


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

    from agentrun.chat import chat as converse

    def ask(label: str) -> str:
        return console.input(f"[bold]{escape(label)}>[/] ")

    converse(target, lambda text: console.print(text, highlight=False), ask)


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

    from agentrun.batch import load_batch, pending, progress_line, run_batch

    loaded = load_batch(jobs_file)
    todo = pending(loaded)
    done = len(loaded.jobs) - len(todo)
    console.print(f"{len(loaded.jobs)} jobs, {len(todo)} to run"
                  + (f" ({done} done before: skipped)" if done else "")
                  + f", {loaded.parallel} at a time; logs in {loaded.logs_dir}")

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
        err.print(f"interrupted; the runs are resumable: `agentrun batch {jobs_file}` "
                  "goes on where they stopped")
        raise typer.Exit(130) from None
    _batch_summary(loaded)
    failed = [j.spec.name for j in loaded.jobs if j.state.get("status") == "failed"]
    if failed:
        err.print(f"[bold red]failed:[/] {', '.join(failed)} (see each job's log and "
                  f"{loaded.queue_path}); run the batch again to resume them")
        raise typer.Exit(1)


def _batch_summary(loaded: Any) -> None:
    """Print one row per job: status, run, examples, tokens, loss, log-prob gains, time."""
    kinds = ("absorption", "generalization", "transfer")
    t = Table(title=f"batch {loaded.path.name}", show_edge=False)
    for column in ("job", "status", "run", "accepted", "rejected", "tokens", "loss",
                   "Δ abs", "Δ gen", "Δ transfer", "time"):
        t.add_column(column, justify="left" if column in ("job", "status", "run") else "right")
    for job in loaded.jobs:
        st, res = job.state, job.state.get("results") or {}
        gains = res.get("gains") or {}
        elapsed = (st["ended"] - st["started"]) if st.get("ended") and st.get("started") else None
        t.add_row(job.spec.name, st.get("status", "pending"), Path(st.get("run", "-")).name,
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
    from agentrun.studio import serve

    serve(directory, port, host, browser)


def _summary(run_: Any, state: dict[str, Any], header: bool = True) -> None:
    if header and not state.get("pending_fork"):
        console.print(f"\n[bold]run {run_.id}[/] "
                      f"{state.get('status') or 'finished'}: {run_.root}")
    table = Table(title="examples", show_edge=False)
    table.add_column("accepted", justify="right")
    table.add_column("rejected", justify="right")
    table.add_column("by reason")
    reasons = state.get("rejected_by_reason") or {}
    table.add_row(str(state.get("accepted", 0)), str(state.get("rejected", 0)),
                  ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) or "-")
    console.print(table)
    if state.get("train_loss") is not None:
        console.print(f"training loss: {state['train_loss']:.3f}")
    if state.get("report") and Path(state["report"]).exists():
        from agentrun.schemas import EvalReport
        from agentrun.workspace import load_map

        report = EvalReport.model_validate_json(Path(state["report"]).read_text())
        eval_tables(report, load_map(run_.map_path).titles())
        console.print(f"report: {state['report']} (chart: "
                      f"{Path(state['report']).with_suffix('.png').name})")


def main() -> None:
    """Entry point for `python -m agentrun`."""
    app(prog_name="agentrun")


if __name__ == "__main__":
    main()
