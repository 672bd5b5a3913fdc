"""`agentrun chat`: a terminal conversation attached to one run's thread.

The run goes on in a worker thread while the person types: `status`, `weak`, `why ID`,
`rejected`, `pause`, `go`, an answer to the fork the run waits at (`A`, `none`, `edit B: …`),
or an instruction in plain words that the architect turns into a map edit, shown as a diff and
applied only when approved (between two nodes if the run is going). The same in Russian
(`статус`, `слабые`, `почему ID`, `больше диалогов для узла X`, …): each message is read in
its own language and answered in it (agents/requests.py reads it; the words live in
`agentrun/languages/<code>/steer.py`).
The chat holds the run's writer lock: a second chat, or `agentrun resume`, on the same run is
refused in one line.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from agentrun.agents.instructions import InstructionError, MapEdit, apply_edit, map_diff
from agentrun.agents.requests import (
    DEFAULT_LANGUAGE,
    WORDS,
    NotUnderstood,
    UnknownNode,
    describe,
    message_language,
    read_request,
    request_edit,
)
from agentrun.agents.steering import parse_answer
from agentrun.errors import AgentrunError
from agentrun.graphs.checkpoints import SQLITE
from agentrun.graphs.deps import Deps, settings_of
from agentrun.schemas import Fork, ForkKind, NodeStatus, RunStatus
from agentrun.shell import render
from agentrun.shell.runner import pending_fork, prepare_run, resume_run, run_state
from agentrun.workspace import REJECTED, Run, load_examples, load_map, save_map

DIFF_LINES = 60
EDIT = re.compile(WORDS[DEFAULT_LANGUAGE].edit)
"""`edit B: TEXT`, as `agentrun run` reads it at a fork."""
YES = frozenset().union(*(w.yes for w in WORDS.values()))
STEP_COUNTS = ("accepted", "rejected", "round", "iteration")


class Chat:
    """One person steering one run: commands in, the run's progress and forks out."""

    def __init__(self, run: Run, out: Console, ask: Callable[[str], str]):
        self.run = run
        self.out = out
        self.ask = ask
        self.worker: threading.Thread | None = None
        self.pause_flag = threading.Event()
        self.edits: list[tuple[MapEdit, str]] = []
        self.edits_lock = threading.Lock()
        self.state: dict[str, Any] = {}
        self.last_node = ""
        self.language = DEFAULT_LANGUAGE
        """The language of the person's last message that had words: replies are in it."""

    # ------------------------------------------------------------ the run

    @property
    def running(self) -> bool:
        """Whether the worker is driving the run now."""
        return self.worker is not None and self.worker.is_alive()

    def go(self, answer: Any = None) -> None:
        """Drive the run in the worker thread until a fork, a pause, its end or an error."""
        self.pause_flag.clear()
        self.worker = threading.Thread(target=self._drive, args=(answer,), daemon=True)
        self.worker.start()

    def say(self, text: str) -> None:
        """Print a line (rich markup) to the person's console."""
        self.out.print(text, highlight=False)

    def words(self, key: str, **values: object) -> str:
        """Return a reply in the person's language, its values escaped for rich."""
        return WORDS[self.language].replies[key].format(
            **{k: render.esc(v) for k, v in values.items()})

    def tell(self, key: str, style: str = "", **values: object) -> None:
        """Print a reply in the person's language (`style`: rich markup around it)."""
        text = self.words(key, **values)
        self.say(f"[{style}]{text}[/]" if style else text)

    def _drive(self, answer: Any) -> None:
        try:
            _, self.state = resume_run(self.run.root, answer, should_stop=self.pause_flag.is_set,
                                       on_step=self._step, who="agentrun chat")
        except AgentrunError as exc:
            self.say(f"[red]{escape(str(exc))}[/]")
            return
        except Exception as exc:  # noqa: BLE001 - reported in one line, the run stays resumable
            self.tell("error", "red", error=f"{type(exc).__name__}: {exc}", root=self.run.root)
            return
        self._report_end()

    def _step(self, node: str, update: dict[str, Any]) -> None:
        """Report a finished node; apply approved map edits before the next one starts."""
        self.last_node = node
        counts = ", ".join(f"{k} {update[k]}" for k in STEP_COUNTS if k in update)
        self.tell("step", "dim", node=node, counts=f": {counts}" if counts else "")
        self._apply_queued()

    def _report_end(self) -> None:
        if self.state.get("pending_fork"):
            render.show_fork(self.out, self.state["pending_fork"])
            self.tell("answer_fork")
        elif self.state.get("paused_before"):
            self.tell("paused_before", nodes=", ".join(self.state["paused_before"]))
        else:
            render.summary(self.out, self.run, self.state)

    def stop(self) -> None:
        """Pause a going run and wait for it to stop between two nodes."""
        if self.running:
            self.pause_flag.set()
            self.tell("pausing_wait", last=self.last_node or "-")
            assert self.worker is not None
            self.worker.join()

    # ------------------------------------------------------------ commands

    def handle(self, line: str) -> bool:
        """Act on one line, answering in its language; False when the person leaves."""
        if not line.strip():
            return True
        self.language = message_language(line, self.language)
        request = read_request(line, self.language)
        if request.action == "quit":
            return False
        actions: dict[str, Callable[[], None]] = {
            "help": lambda: self.say(escape(WORDS[self.language].help)),
            "status": self.status, "weak": self.weak, "go": self.go_on, "pause": self.pause,
            "rejected": lambda: render.rejections(self.out, self.rejected()),
            "why": lambda: self.why(str(request.arg)),
            "edit": lambda: self.answer({"choice": request.arg, "text": request.text}),
            "answer": lambda: self.answer(request.arg),
            "instruct": lambda: self.instruct(str(request.text)),
        }
        actions[request.action]()
        return True

    def pause(self) -> None:
        """`pause`: stop a going run after its current step."""
        if self.running:
            self.pause_flag.set()
            self.tell("pausing")
        else:
            self.tell("not_going")

    def go_on(self) -> None:
        """`go`: continue a paused or interrupted run."""
        meta = self.run.meta()
        if self.running:
            self.tell("going")
        elif meta.status == RunStatus.waiting:
            self.tell("waits_at", fork=meta.fork)
        elif meta.finished:
            self.tell("finished", status=self.status_name(meta.status),
                      workspace=self.run.workspace.root)
        else:
            self.go()

    def answer(self, answer: Any) -> None:
        """Settle the fork the run waits at; an answer that is no option changes nothing."""
        if self.running:
            self.tell("going_no_fork")
            return
        pending = pending_fork(self.run)
        if pending is None:
            self.tell("no_fork")
            return
        fork = Fork.model_validate(pending["fork"])
        try:
            parse_answer(fork, answer)
        except ValueError:
            said = answer.get("choice") if isinstance(answer, dict) else answer
            options = ", ".join(o.label for o in fork.options) + (
                self.words("or_none") if fork.kind == ForkKind.examples else "")
            self.refuse(self.words("not_an_option", fork=fork.id, answer=said, options=options))
            return
        self.go(answer)

    def status_name(self, status: str) -> str:
        """Return a run status's name in the person's language."""
        return WORDS[self.language].status_names.get(str(status), str(status))

    def status(self) -> None:
        """Print where the run is and the fork it waits at."""
        meta = self.run.meta()
        if self.running:
            self.tell("status_going", run=self.run.id, last=self.last_node or "-")
            return
        snap = run_state(self.run)
        values = snap["values"]
        self.tell("status", run=self.run.id, status=self.status_name(meta.status),
                  next=self.words("status_next", nodes=", ".join(snap["next"]))
                  if snap["next"] else "", cycle=values.get("iteration", "-"),
                  round=values.get("round", "-"), accepted=values.get("accepted", 0),
                  rejected=values.get("rejected", 0))
        weak = self._weak_nodes()
        if weak:
            self.tell("weak_nodes", nodes=", ".join(n.id for n in weak))
        if meta.status == RunStatus.waiting:
            pending = pending_fork(self.run)
            if pending is not None:
                render.show_fork(self.out, pending)

    def _weak_nodes(self) -> list[Any]:
        path = self.run.workspace.map_path
        return [n for n in load_map(path).nodes if n.status == NodeStatus.weak] \
            if path.exists() else []

    def weak(self) -> None:
        """Print the weak nodes with their log-prob gain per probe kind."""
        weak = self._weak_nodes()
        if not weak:
            self.tell("no_weak")
        kinds = WORDS[self.language].kind_names
        for node in weak:
            gains = ", ".join(f"{k} {node.metrics.after[k] - node.metrics.before[k]:+.2f}"
                              for k in node.metrics.after) if node.metrics else "-"
            quota = ", ".join(f"{kinds.get(k, k)} {v}" for k, v in node.quota.items())
            self.tell("weak_node", node=node.id, title=node.title, gains=gains, quota=quota)

    def rejected(self) -> list[Any]:
        """Every example the run's checker or forks rejected, once each."""
        seen: dict[str, Any] = {}
        for path in [self.run.rejected_path,
                     *self.run.round_files(REJECTED)]:
            if path.exists():
                for ex in load_examples(path):
                    seen.setdefault(ex.id, ex)
        return list(seen.values())

    def why(self, ref: str) -> None:
        """Explain a rejection: the reasons with their details, and the example itself."""
        matches = [e for e in self.rejected() if e.id.startswith(ref)]
        if not matches:
            accepted = self.run.accepted_path.exists() and any(
                e.id.startswith(ref) for e in load_examples(self.run.accepted_path))
            self.tell("why_accepted" if accepted else "why_unknown", ref=ref)
            return
        ex = matches[0]
        kind = WORDS[self.language].kind_names.get(str(ex.kind), str(ex.kind))
        self.tell("why_rejected", id=ex.id, kind=kind, node=ex.node_id)
        for reason in ex.verdict.reasons if ex.verdict else []:
            other = f" (→ {reason.other})" if reason.other else ""
            self.say(escape(f"  {reason.code}: {reason.detail}{other}"))
        body = ex.text or "\n".join(f"{m['role']}: {m['content']}" for m in ex.messages or [])
        self.say(escape(body[:600]))

    def instruct(self, text: str) -> None:
        """Turn words into a map edit, show the diff, apply it once approved."""
        ws = self.run.workspace
        if not ws.map_path.exists():
            self.tell("not_planned")
            return
        before = load_map(ws.map_path)
        try:
            edit = request_edit(text, self.language, before, self._architect())
            after = before.model_copy(deep=True)
            revision = apply_edit(after, edit, text)
        except (InstructionError, KeyError) as exc:
            self.refuse(self._refusal(exc))
            return
        diff = map_diff(before, after).rstrip().splitlines() or [self.words("no_change")]
        shown = diff[:DIFF_LINES] + ([self.words("more_lines", n=len(diff) - DIFF_LINES)]
                                     if len(diff) > DIFF_LINES else [])
        self.say(escape("\n".join(shown)))
        for change in describe(edit, revision, self.language):
            self.say(f"  {escape(change)}")
        if self.ask(self.words("apply")).strip().lower() not in YES:
            self.tell("not_applied")
            return
        with self.edits_lock:
            self.edits.append((edit, text))
        if self.running:
            self.tell("queued")
        else:
            self._apply_queued()

    def refuse(self, error: str) -> None:
        """Print, in red, why nothing changed (`error`: rich markup, values escaped)."""
        self.say(f"[red]{WORDS[self.language].replies['failed'].format(error=error)}[/]")

    def _refusal(self, exc: Exception) -> str:
        """Return why words made no edit, in the person's language where the reason is known."""
        if isinstance(exc, UnknownNode):
            hint = self.words("did_you_mean" if exc.hints else "nodes",
                              ids=", ".join(exc.hints or exc.ids))
            error = self.words("unknown_node", name=exc.name, hint="") + hint
        elif isinstance(exc, NotUnderstood):
            error = self.words("not_understood", text=str(exc))
        else:  # the architect's or the map's own words
            error = escape(str(exc))
        return error

    def _architect(self) -> Any:
        """The architect model for instructions the rules do not cover (never the embedded)."""
        # the run's own settings, as its nodes read them (frozen when it started); the
        # checkpoints are read only while the worker is not writing them
        values = self.state
        kept = self.run.checkpoints.exists() or self.run.meta().checkpointer != SQLITE
        if not values and not self.running and kept:
            values = run_state(self.run)["values"]
        cfg = settings_of({**values, "run_dir": str(self.run.root)})
        if cfg.roles.architect.model == "embedded":
            return None
        return Deps(cfg, self.run.workspace).model("architect")

    def _apply_queued(self) -> None:
        """Apply approved edits to the workspace's map and the run's copy (between nodes)."""
        with self.edits_lock:
            edits, self.edits = self.edits, []
        ws = self.run.workspace
        for edit, text in edits:
            dataset_map = load_map(ws.map_path)
            try:
                revision = apply_edit(dataset_map, edit, text)
            except KeyError as exc:  # the map changed meanwhile (a revision split or merged)
                self.tell("not_applied_error", "red", error=exc)
                continue
            save_map(dataset_map, ws.map_path)
            if self.run.map_path.exists():
                save_map(dataset_map, self.run.map_path)
            self.tell("applied", version=revision.version,
                      changes="; ".join(describe(edit, revision, self.language)))


def open_chat(target: str | Path) -> tuple[Run, bool]:
    """Return the run a chat attaches to: a run folder, or a new run of a workspace (True)."""
    path = Path(target)
    if (path / "run.json").exists() or (path / "checkpoints.sqlite").exists():
        return Run.find(path), False
    if path.parent.name == "runs":  # a run id that does not exist
        Run.find(path)
    return prepare_run(path, auto=False), True


def chat(target: str | Path, out: Console, ask: Callable[[str], str]) -> Run:
    """Run the conversation until the person leaves; the run stays resumable."""
    run, new = open_chat(target)
    meta = run.meta()
    if meta.driver == "langgraph server":
        raise AgentrunError(f"{run.id} runs on a LangGraph server (`agentrun studio`): steer it "
                            "there")
    with run.writer("agentrun chat"):
        session = Chat(run, out, ask)
        session.tell("greet", run=run.id,
                     status=session.words("new") if new else session.status_name(meta.status))
        if new:
            session.go()
        elif meta.status == RunStatus.waiting:
            session.status()
        try:
            while True:
                try:
                    line = ask("you")
                except EOFError:
                    break
                if not session.handle(line):
                    break
        except KeyboardInterrupt:
            pass
        session.stop()
    session.tell("left", run=run.id, status=session.status_name(run.meta().status),
                 root=run.root)
    return run
