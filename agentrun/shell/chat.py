"""`agentrun chat`: a terminal conversation attached to one run's thread.

The run goes on in a worker thread while the person types: `status`, `weak`, `why ID`,
`rejected`, `pause`, `go`, an answer to the fork the run waits at (`A`, `none`, `edit B: …`),
or an instruction in plain words that the architect turns into a map edit, shown as a diff and
applied only when approved (between two nodes if the run is going). The chat holds the run's
writer lock: a second chat, or `agentrun resume`, on the same run is refused in one line.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from agentrun.agents.instructions import InstructionError, apply_edit, map_diff, understand
from agentrun.agents.steering import check_answer
from agentrun.errors import AgentrunError
from agentrun.graphs.checkpoints import SQLITE
from agentrun.graphs.deps import Deps, settings_of
from agentrun.schemas import NodeStatus, RunStatus
from agentrun.shell import render
from agentrun.shell.runner import pending_fork, prepare_run, resume_run, run_state
from agentrun.workspace import REJECTED, Run, load_examples, load_map, save_map

HELP = """commands:
  status            where the run is: node, cycle, round, counts, the fork it waits at
  weak              the map's weak nodes after the last evaluation
  go | pause        continue the run | stop it after the current step (resumable)
  A, B, none        answer the fork the run waits at (none: reject every alternative)
  edit B: TEXT      keep option B of an examples fork with your own wording
  why ID            why an example was rejected (an id or its first characters)
  rejected          rejections by reason
  quit              leave; the run stays resumable (`agentrun chat RUN` comes back)
anything else is an instruction for the map, e.g. "more dialogues on Kelpwax",
"merge Kelpwax and Brinefire", "stop generating for Fenwick Reef", "focus on transfer"."""
ANSWER = re.compile(r"(?i)^(?:answer |pick |keep |choose )?([a-z]|\d|none|reject)$")
EDIT = re.compile(r"(?is)^edit ([a-z]|\d)\s*:\s*(.+)$")
DIFF_LINES = 60
WHY = re.compile(r"(?i)^why(?: was| is)?(?: example)? ([\w:-]+)(?: rejected)?\??$")


class Chat:
    """One person steering one run: commands in, the run's progress and forks out."""

    def __init__(self, run: Run, out: Console, ask: Callable[[str], str]):
        self.run = run
        self.out = out
        self.ask = ask
        self.worker: threading.Thread | None = None
        self.pause_flag = threading.Event()
        self.edits: list[tuple[Any, str]] = []
        self.edits_lock = threading.Lock()
        self.state: dict[str, Any] = {}
        self.last_node = ""

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

    def _drive(self, answer: Any) -> None:
        try:
            _, self.state = resume_run(self.run.root, answer, should_stop=self.pause_flag.is_set,
                                       on_step=self._step, who="agentrun chat")
        except AgentrunError as exc:
            self.say(f"[red]{escape(str(exc))}[/]")
            return
        except Exception as exc:  # noqa: BLE001 - reported in one line, the run stays resumable
            self.say(f"[red]the run stopped on an error: {escape(type(exc).__name__)}: "
                     f"{escape(str(exc))}[/] "
                     f"(status: `agentrun status {self.run.root}`; `go` retries)")
            return
        self._report_end()

    def _step(self, node: str, update: dict[str, Any]) -> None:
        """Report a finished node; apply approved map edits before the next one starts."""
        self.last_node = node
        counts = ", ".join(f"{k} {update[k]}" for k in ("accepted", "rejected", "round",
                                                         "iteration") if k in update)
        self.say(f"[dim]· {node}{': ' + counts if counts else ''}[/]")
        self._apply_queued()

    def _report_end(self) -> None:
        if self.state.get("pending_fork"):
            render.show_fork(self.out, self.state["pending_fork"])
            self.say("answer with a label (or `none`), or keep talking")
        elif self.state.get("paused_before"):
            self.say(f"paused before {', '.join(self.state['paused_before'])}; `go` goes on")
        else:
            render.summary(self.out, self.run, self.state)

    def stop(self) -> None:
        """Pause a going run and wait for it to stop between two nodes."""
        if self.running:
            self.pause_flag.set()
            self.say(f"pausing after the current step (last done: {self.last_node or '-'})…")
            assert self.worker is not None
            self.worker.join()

    # ------------------------------------------------------------ commands

    def handle(self, line: str) -> bool:
        """Act on one line; False when the person leaves."""
        text = line.strip()
        low = text.lower()
        if not text:
            return True
        if low in ("quit", "exit", "bye", "q"):
            return False
        if low in ("help", "?", "h"):
            self.say(HELP)
        elif low in ("status", "s", "where are we"):
            self.status()
        elif low == "weak":
            self.weak()
        elif low in ("go", "resume", "continue", "run"):
            self.go_on()
        elif low in ("pause", "wait", "hold"):
            if self.running:
                self.pause_flag.set()
                self.say("pausing after the current step")
            else:
                self.say("the run is not going")
        elif low == "rejected":
            render.rejections(self.out, self.rejected())
        elif WHY.match(text):
            self.why(WHY.match(text).group(1))  # type: ignore[union-attr]
        elif EDIT.match(text):
            m = EDIT.match(text)
            assert m is not None
            self.answer({"choice": m.group(1), "text": m.group(2).strip()})
        elif ANSWER.match(text):
            self.answer(ANSWER.match(text).group(1))  # type: ignore[union-attr]
        else:
            self.instruct(text)
        return True

    def go_on(self) -> None:
        """`go`: continue a paused or interrupted run."""
        meta = self.run.meta()
        if self.running:
            self.say("the run is going; `pause` stops it after the current step")
        elif meta.status == RunStatus.waiting:
            self.say(f"the run waits at fork {meta.fork}: answer it first (`status` shows it)")
        elif meta.finished:
            self.say(f"the run is {meta.status}; start another with `agentrun chat "
                     f"{self.run.workspace.root}`")
        else:
            self.go()

    def answer(self, answer: Any) -> None:
        """Settle the fork the run waits at; an answer that is no option changes nothing."""
        if self.running:
            self.say("the run is going; no fork waits for an answer")
            return
        pending = pending_fork(self.run)
        if pending is None:
            self.say("no fork waits for an answer (`status` shows where the run is)")
            return
        try:
            check_answer(pending, answer, self.run.id)
        except AgentrunError as exc:
            self.say(f"[red]{escape(str(exc))}[/]; nothing changed")
            return
        self.go(answer)

    def status(self) -> None:
        """Print where the run is and the fork it waits at."""
        meta = self.run.meta()
        if self.running:
            self.say(f"run {self.run.id}: going (last step done: {self.last_node or '-'})")
            return
        self.say(render.status_line(self.run, meta, run_state(self.run)))
        weak = self._weak_nodes()
        if weak:
            self.say(f"weak nodes: {', '.join(n.id for n in weak)}")
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
            self.say("no weak node (no evaluation yet, or every node learned)")
        for node in weak:
            gains = ", ".join(f"{k} {node.metrics.after[k] - node.metrics.before[k]:+.2f}"
                              for k in node.metrics.after) if node.metrics else "-"
            quota = ", ".join(f"{k} {v}" for k, v in node.quota.items())
            self.say(escape(f"{node.id} ({node.title}): gain {gains}; quota {quota}"))

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
            self.say(f"{ref}: accepted, not rejected" if accepted
                     else f"{ref}: no rejected example of this run has that id")
            return
        ex = matches[0]
        self.say(f"{ex.id} ({ex.kind} on {ex.node_id}) was rejected:")
        for reason in ex.verdict.reasons if ex.verdict else []:
            other = f" (see {reason.other})" if reason.other else ""
            self.say(escape(f"  {reason.code}: {reason.detail}{other}"))
        body = ex.text or "\n".join(f"{m['role']}: {m['content']}" for m in ex.messages or [])
        self.say(escape(body[:600]))

    def instruct(self, text: str) -> None:
        """Turn words into a map edit, show the diff, apply it once approved."""
        ws = self.run.workspace
        if not ws.map_path.exists():
            self.say("the map is not planned yet; wait for the plan fork")
            return
        before = load_map(ws.map_path)
        try:
            edit = understand(text, before, self._architect())
            after = before.model_copy(deep=True)
            revision = apply_edit(after, edit, text)
        except (InstructionError, KeyError) as exc:
            self.say(f"[red]{escape(str(exc))}[/]; nothing changed")
            return
        diff = map_diff(before, after).rstrip().splitlines() or ["(the map would not change)"]
        shown = diff[:DIFF_LINES] + ([f"… {len(diff) - DIFF_LINES} more lines"]
                                     if len(diff) > DIFF_LINES else [])
        self.say(escape("\n".join(shown)))
        for change in revision.changes:
            self.say(f"  {escape(change)}")
        if self.ask("apply this edit? [y/N]").strip().lower() not in ("y", "yes"):
            self.say("not applied")
            return
        with self.edits_lock:
            self.edits.append((edit, text))
        if self.running:
            self.say("approved: applied before the run's next step")
        else:
            self._apply_queued()

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
                self.say(f"[red]not applied: {exc}[/]")
                continue
            save_map(dataset_map, ws.map_path)
            if self.run.map_path.exists():
                save_map(dataset_map, self.run.map_path)
            self.say(escape(f"applied: map v{revision.version} ({'; '.join(revision.changes)})"))


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
        session.say(f"run {run.id} ({'new' if new else meta.status}); `help` lists what you "
                    "can say")
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
    session.say(f"left run {run.id} ({run.meta().status}); come back with `agentrun chat "
                f"{run.root}`")
    return run
