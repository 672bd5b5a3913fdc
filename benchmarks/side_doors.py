"""The audit's probes, for `benchmarks/reliability.py`: each break it found, tried again.

Each probe does what the audit did on 127.0.0.1 (a foreign WebSocket, a rewritten thread
state, a damaged file, a full disk, a slow or endless model server, two writers on one
workspace, Ctrl-C) and says whether the promise held. Run alone with
`python benchmarks/reliability.py --probes-only`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHEAP = """\
generation: {model_generators: false, quotas: {exercise: 2}}
budgets: {cycles: 0, max_examples: 16, max_rounds: 1}
steering: {mode: auto}
"""
Probe = Callable[[Path], tuple[bool, str]]


def cli(*args: str, timeout: float = 600, **kw: Any) -> tuple[int, str]:
    """Run the real CLI to its end; return (exit code, output)."""
    proc = subprocess.run([sys.executable, "-m", "agentrun.shell.cli", *args], text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200"}, **kw)
    return proc.returncode, proc.stdout


def one_line(code: int, out: str, names: str) -> tuple[bool, str]:
    """Held if the command failed in one line naming `names`, with no traceback."""
    last = out.strip().splitlines()[-1] if out.strip() else ""
    held = code != 0 and "Traceback" not in out and names in last
    return held, f"exit {code}: {last[:90]}"


def workspace(folder: Path, notes: int = 2, config: str = CHEAP) -> Path:
    """A workspace of the bundled example's first notes, structural generators only."""
    (folder / "sources").mkdir(parents=True)
    for note in sorted((ROOT / "examples" / "orvane" / "sources").glob("*.md"))[:notes]:
        shutil.copy(note, folder / "sources" / note.name)
    (folder / "agentrun.yaml").write_text(config)
    return folder


def finished_run(folder: Path) -> tuple[Path, Path]:
    """A workspace with one finished cheap run; return (workspace, run folder)."""
    ws = workspace(folder)
    code, out = cli("run", str(ws), "--auto", "--cycles", "0")
    assert code == 0, out
    (run,) = (ws / "runs").iterdir()
    return ws, run


class Counting(BaseHTTPRequestHandler):
    """A server a planted setting would send notes and keys to: counts what reaches it."""

    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        """Count the request; answer 500."""
        Counting.seen.append(self.path)
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST  # noqa: N815

    def log_message(self, *args: Any) -> None:
        """Keep quiet."""


@contextmanager
def listener() -> Iterator[str]:
    """Serve `Counting` on 127.0.0.1; yield its URL."""
    Counting.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@contextmanager
def studio(ws: Path) -> Iterator[int]:
    """`agentrun studio WS` on a free port; yield the port once it answers."""
    import urllib.request

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "agentrun.shell.cli", "studio", str(ws),
                             "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/ok", timeout=2):
                    break
            except OSError:
                time.sleep(0.5)
        yield port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


# --- security -----------------------------------------------------------------------------

def foreign_websockets(folder: Path) -> tuple[bool, str]:
    """A WebSocket with a foreign Origin, or a rebinding Host, is refused at the handshake."""
    from langgraph_sdk import get_sync_client
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect
    from websockets.typing import Origin

    ws = workspace(folder)
    with studio(ws) as port:
        tid = get_sync_client(url=f"http://127.0.0.1:{port}").threads.create()["thread_id"]
        path = f"/threads/{tid}/stream/events"
        statuses = []
        for uri, origin in ((f"ws://127.0.0.1:{port}{path}", "https://evil.example"),
                            (f"ws://attacker.example:{port}{path}", None)):
            with socket.create_connection(("127.0.0.1", port)) as sock:
                try:
                    connect(uri, sock=sock, origin=Origin(origin) if origin else None,
                            open_timeout=10).close()
                    statuses.append(101)
                except InvalidStatus as exc:
                    statuses.append(exc.response.status_code)
    return statuses == [403, 403], f"handshakes answered {statuses}"


def rewritten_state(folder: Path) -> tuple[bool, str]:
    """Settings and a run folder written into a thread's state reach no node."""
    from langgraph_sdk import get_sync_client

    ws = workspace(folder / "ws", config=CHEAP.replace("mode: auto", "mode: ask"))
    elsewhere = folder / "other"
    with listener() as url, studio(ws) as port:
        client = get_sync_client(url=f"http://127.0.0.1:{port}")
        tid = client.threads.create()["thread_id"]
        client.runs.wait(tid, "agentrun", input={}, context={"cycles": 0})
        values: Any = client.threads.get_state(tid)["values"]  # a dict: the graph's state
        run = Path(values["run_dir"])
        planted = {role: {"backend": "openai", "model": "m", "base_url": f"{url}/v1",
                          "api_key_env": "HOME"} for role in ("architect", "contractor")}
        tampered = {"settings": {"roles": planted, "generation": {"model_generators": True}},
                    "run_dir": str(elsewhere / "runs" / run.name)}
        client.threads.update_state(tid, values=tampered)
        client.runs.wait(tid, "agentrun", command={"resume": {"choice": "A"},
                                                   "update": tampered})
        values = client.threads.get_state(tid)["values"]
        status = values.get("status")
    held = not Counting.seen and not elsewhere.exists() and status == "done"
    return held, (f"planted server got {len(Counting.seen)} requests; other workspace "
                  f"{'written' if elsewhere.exists() else 'untouched'}; run {status}")


def escapes_in_names(folder: Path) -> tuple[bool, str]:
    """A note whose name and title carry terminal escapes prints none of them."""
    ws = workspace(folder, notes=1)
    (ws / "sources" / "\x1b[31mred.md").write_text(
        "# \x1b]0;owned\x07Title\n\nThe keeper lights the lamp at dusk.\n")
    code, out = cli("plan", str(ws), "--no-model")
    return code == 0 and "\x1b" not in out and "\x07" not in out, \
        f"exit {code}, escape bytes printed: {out.count(chr(27)) + out.count(chr(7))}"


def foreign_server_in_run_json(folder: Path) -> tuple[bool, str]:
    """A received run whose run.json names a server: status and resume do not contact it."""
    ws = workspace(folder)
    run = ws / "runs" / "20260101-000000-abcdef"
    run.mkdir(parents=True)
    with listener() as url:
        (run / "run.json").write_text(json.dumps({
            "workspace": str(ws), "status": "waiting", "driver": "langgraph server",
            "server": url, "thread": "00000000-0000-0000-0000-000000000000", "fork": "plan:x"}))
        outs = [cli("status", str(run)), cli("resume", str(run), "--answer", "A")]
    tracebacks = sum("Traceback" in out for _, out in outs)
    return not Counting.seen and not tracebacks, \
        f"requests to it: {len(Counting.seen)}, tracebacks: {tracebacks}"


# --- lost output, hangs, memory, duplicates ------------------------------------------------

def export_onto_its_card(folder: Path) -> tuple[bool, str]:
    """Refuse `export --out` onto its own card's name or onto a folder, before any work."""
    _, run = finished_run(folder)
    results = []
    for out in (folder / "out" / "README.md", folder):
        code, text = cli("export", str(run), "--out", str(out))
        results.append(one_line(code, text, "")[0] and not (folder / "out").exists())
    return all(results), f"refused {sum(results)} of {len(results)}"


def slow_and_huge_replies(folder: Path) -> tuple[bool, str]:
    """End a trickling (a byte every 0.5 s) or endless reply by its deadline, memory bounded.

    Each request ends as a failure with its reason, and the process does not grow.
    """
    import resource

    from agentrun.config import RoleSpec
    from agentrun.models import RoleModel, load_model
    from agentrun.models.base import GenRequest

    def trickle(handler: BaseHTTPRequestHandler, endless: bool) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.end_headers()
        chunk = b" " * (1 << 20) if endless else b" "
        try:
            while True:
                handler.wfile.write(chunk)
                handler.wfile.flush()
                if not endless:
                    time.sleep(0.5)
        except OSError:
            pass

    rows = []
    for endless in (False, True):
        class Handler(BaseHTTPRequestHandler):
            endless_body = endless

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers["content-length"]))
                trickle(self, self.endless_body)

            def log_message(self, *args: Any) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        spec = RoleSpec(backend="openai", model="m", max_retries=0, timeout_s=2.0,
                        temperature=0.0, max_new_tokens=8,
                        base_url=f"http://127.0.0.1:{httpd.server_address[1]}/v1",
                        **DEADLINE)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.monotonic()
        try:
            outcome = RoleModel.of(load_model(spec, "contractor"), spec).generate(
                [GenRequest(messages=[{"role": "user", "content": "hi"}], max_new_tokens=8)])
            result = f"returned {outcome!r:.40}"
        except Exception as exc:  # noqa: BLE001 - the failure and its reason are the result
            result = f"{type(exc).__name__}: …{str(exc)[-60:]}"
        seconds = time.monotonic() - start
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        httpd.shutdown()
        rows.append((seconds, grown_mb, result))
    deadline = float(DEADLINE["deadline_s"])
    held = (all(s <= deadline + 5 and mb < 200 for s, mb, _ in rows)
            and "deadline_s" in rows[0][2] and "max_reply_bytes" in rows[1][2])
    return held, "; ".join(f"{'endless' if i else 'trickle'}: {s:.1f} s, +{mb:.0f} MB, {r}"
                           for i, (s, mb, r) in enumerate(rows))


DEADLINE: dict[str, Any] = {"deadline_s": 6.0, "max_reply_bytes": 8 << 20}
"""The openai backend's total deadline and reply cap for the probe above."""


def huge_note(folder: Path) -> tuple[bool, str]:
    """A 50 MB one-line note: `plan` sets it aside in one line naming it, at once."""
    ws = workspace(folder, notes=1)
    (ws / "sources" / "huge.md").write_text("word " * (10 << 20))
    start = time.monotonic()
    code, out = cli("plan", str(ws), "--no-model", timeout=300)
    seconds = time.monotonic() - start
    named = [line.strip() for line in out.splitlines() if "huge.md" in line]
    held = "Traceback" not in out and len(named) == 1 and seconds < 60
    return held, f"{seconds:.0f} s, exit {code}: {named[0][:80] if named else 'not named'}"


def planning_is_linear(folder: Path) -> tuple[bool, str]:
    """Time `plan --no-model` on a 1 MB and a 4 MB one-line note, less a tiny note's time."""
    times = []
    for mb in (0, 1, 4):
        ws = workspace(folder / f"{mb}mb", notes=0,
                       config=CHEAP + "planning: {max_note_mb: 20}\n")
        line = " ".join(f"Keeper K{i} lit lamp L{i % 997} at dusk." for i in
                        range(max(mb * 28_000, 2)))  # one paragraph of many sentences
        (ws / "sources" / "long.md").write_text(f"# Long\n\n{line}\n")
        start = time.monotonic()
        code, out = cli("plan", str(ws), "--no-model", timeout=900)
        times.append(time.monotonic() - start)
        if code != 0:
            return False, out.strip().splitlines()[-1][:90]
    one, four = times[1] - times[0], times[2] - times[0]
    ratio = four / max(one, 0.1)
    return ratio < 6, (f"beyond a tiny note's {times[0]:.0f} s: 1 MB {one:.1f} s, 4 MB "
                       f"{four:.1f} s: ratio {ratio:.1f} (linear: 4)")


def two_writers(folder: Path) -> tuple[bool, str]:
    """Run two `agentrun run` at once on one workspace: no lock error, nothing accepted twice."""
    ws = workspace(folder)
    procs = [subprocess.Popen([sys.executable, "-m", "agentrun.shell.cli", "run", str(ws),
                               "--auto", "--cycles", "0"], text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT) for _ in range(2)]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    locked = sum("database is locked" in o or "Traceback" in o for o in outs)
    ledgers = [run / "data" / "accepted.jsonl" for run in (ws / "runs").iterdir()]
    ids = [json.loads(line)["id"] for path in ledgers if path.exists()
           for line in path.read_text().splitlines()]
    twice = len(ids) - len(set(ids))
    codes = sorted(p.returncode for p in procs)
    refused = [o.strip().splitlines()[-1] for p, o in zip(procs, outs, strict=True)
               if p.returncode]
    one_line_refusal = all("already has a writer" in line for line in refused)
    held = not locked and not twice and codes[0] == 0 and one_line_refusal
    return held, (f"exits {codes}, tracebacks or lock errors {locked}, accepted twice {twice}"
                  + (f"; the second: {refused[0][:70]}" if refused else ""))


# --- one line, not a traceback --------------------------------------------------------------

def damaged_files(folder: Path) -> tuple[bool, str]:
    """A truncated ledger, run.json, checkpoints or memory: one line each; other runs go on."""
    ws, run = finished_run(folder)
    results = {}
    ledger = run / "data" / "accepted.jsonl"
    ledger.write_text(ledger.read_text()[:-40])
    code, out = cli("run", str(ws), "--auto", "--cycles", "0")
    results["accepted.jsonl: a new run"] = code == 0 and "Traceback" not in out
    (run / "run.json").write_text('{"status": "runn')
    results["run.json: status"] = one_line(*cli("status", str(run)), "run.json")[0]
    code, out = cli("status", str(ws))
    results["run.json: status of the workspace"] = code == 0 and "Traceback" not in out
    (run / "run.json").write_text(json.dumps({"workspace": str(ws), "status": "interrupted"}))
    (run / "checkpoints.sqlite").write_bytes(b"not a database" * 100)
    results["checkpoints"] = one_line(*cli("resume", str(run)), "checkpoints.sqlite")[0]
    for db in (ws / "memory").rglob("chroma.sqlite3"):
        db.write_bytes(b"not a database" * 100)
    (ws / "sources" / "Extra.md").write_text(  # new facts: the run must check, with memory
        "# Extra\n\nThe tide bell of Orvane rings twice at dawn. It was cast in Lisk.\n")
    code, out = cli("run", str(ws), "--auto", "--cycles", "0")
    results["memory"] = one_line(code, out, "memory")[0]
    held = [k for k, v in results.items() if v]
    return len(held) == len(results), f"held {len(held)} of {len(results)}: " + ", ".join(
        k for k, v in results.items() if not v)


def full_disk(folder: Path) -> tuple[bool, str]:
    """A run on a full disk: one line, `run.json` not left `running`, no `.tmp` left."""
    mount = folder / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        return True, "not measured: a small tmpfs needs root (unit tests simulate ENOSPC)"
    try:
        ws = workspace(mount / "ws", notes=1)
        code, out = cli("run", str(ws), "--auto", "--cycles", "0")
        left = [p.name for p in ws.rglob("*.tmp")]
        states = [json.loads(p.read_text()).get("status") for p in ws.glob("runs/*/run.json")]
        held, detail = one_line(code, out, "")
        return held and not left and "running" not in states, \
            f"{detail}; run.json {states}; .tmp left {len(left)}"
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def init_onto_a_file(folder: Path) -> tuple[bool, str]:
    """`init` onto a file: one line."""
    (folder / "file").write_text("x")
    return one_line(*cli("init", str(folder / "file")), "file")


def interrupted(folder: Path) -> tuple[bool, str]:
    """Ctrl-C in a run leaves it `interrupted` (resumable); in `plan`, no advice to resume."""
    ws = workspace(folder / "run", notes=3, config=CHEAP.replace(
        "model_generators: false, ", ""))  # the embedded model writes: a run long enough
    results = []
    for args, check in ((["run", str(ws), "--auto", "--cycles", "0"], "run"),
                        (["plan", str(ws)], "plan")):
        proc = subprocess.Popen([sys.executable, "-m", "agentrun.shell.cli", *args], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        started = time.monotonic()  # a run: once it has its folder; plan: while it enriches
        while check == "run" and not list(ws.glob("runs/*/run.json")) \
                and time.monotonic() - started < 120:
            time.sleep(0.2)
        time.sleep(1 if check == "run" else 8)
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=120)[0]
        if check == "run":
            states = [json.loads(p.read_text()).get("status")
                      for p in ws.glob("runs/*/run.json")]
            results.append((states == ["interrupted"], f"run.json {states}"))
        else:
            results.append(("resume" not in out and "Traceback" not in out,
                            out.strip().splitlines()[-1][:60] if out.strip() else "silent"))
    return all(h for h, _ in results), "; ".join(d for _, d in results)


PROBES: list[tuple[str, Probe]] = [
    ("a WebSocket from a foreign page or a rebinding DNS name is refused", foreign_websockets),
    ("settings and run_dir written into a thread's state reach no node", rewritten_state),
    ("terminal escapes in a note's name and title are not printed", escapes_in_names),
    ("status and resume contact no server a received run.json names",
     foreign_server_in_run_json),
    ("export refuses --out onto its own card or a folder, before any work",
     export_onto_its_card),
    ("a trickling or endless model reply ends by its deadline, memory bounded",
     slow_and_huge_replies),
    ("a 50 MB note is set aside in one line naming it, at once", huge_note),
    ("planning is linear in a note's size", planning_is_linear),
    ("two runs on one workspace: no lock error, nothing accepted twice", two_writers),
    ("damaged ledger, run.json, checkpoints, memory: one line each, other runs go on",
     damaged_files),
    ("a full disk: one line, run.json not left running, no .tmp left", full_disk),
    ("init onto a file: one line", init_onto_a_file),
    ("Ctrl-C: a run is interrupted (not failed); plan does not advise a resume", interrupted),
]


def audit(work: Path) -> list[list[object]]:
    """Run every probe in a folder of its own; one row each: probe, held or broke, measured."""
    rows: list[list[object]] = []
    for i, (promise, probe) in enumerate(PROBES):
        folder = work / f"probe-{i}"
        folder.mkdir(parents=True)
        try:
            held, detail = probe(folder)
        except Exception as exc:  # noqa: BLE001 - a probe that crashes is a break, reported
            held, detail = False, f"{type(exc).__name__}: {exc}"[:100]
        result = "not measured" if detail.startswith("not measured") else \
            "held" if held else "broke"
        detail = detail.replace(str(folder), "…").replace("|", "/")  # no machine's paths
        rows.append([promise, result, detail])
        print(f"{result}: {promise}: {detail}", flush=True)
    return rows


def main() -> None:
    """Run the probes and print one line each (`reliability.py --probes-only` also records)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AGENTRUN_CACHE"] = str(Path(tmp) / "cache")
        broke = sum(row[1] == "broke" for row in audit(Path(tmp)))
    sys.exit(1 if broke else 0)


if __name__ == "__main__":
    main()
