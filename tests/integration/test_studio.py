"""What LangGraph Studio does, through the SDK: `agentrun studio` serves a workspace's graph on
127.0.0.1; a thread runs to the plan fork, the fork survives a server restart, a wrong answer is
asked again, the person's choice resumes it, and the final state matches the run's files."""

import json
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agentrun.schemas import Example
from tests.integration.conftest import agentrun, free_port

pytestmark = pytest.mark.integration


def serve(workspace, port):
    proc = agentrun("studio", str(workspace), "--port", str(port))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ok", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    raise AssertionError("langgraph dev did not start in 120 s")


def stop(proc):
    proc.send_signal(signal.SIGTERM)  # a clean shutdown: the server saves its threads
    proc.communicate(timeout=60)


def status_of(port, method="GET", path="/ok", headers=None, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, data=body,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def hostile_requests_are_refused(client, port, workspace, tmp):
    """What a web page or a local process must not get from the server."""
    search = {"method": "POST", "path": "/assistants/search", "body": b"{}"}
    json_body = {"content-type": "application/json"}
    assert status_of(port, **search, headers=json_body)[0] == 200
    studio, headers = status_of(port, **search, headers={**json_body,
                                                        "Origin": "https://smith.langchain.com"})
    assert studio == 200 and headers["access-control-allow-origin"] == \
        "https://smith.langchain.com"
    assert status_of(port, **search, headers={**json_body, "Origin": "https://evil.example"}
                     )[0] == 403
    assert status_of(port, headers={"Host": "evil.example"})[0] == 403  # DNS rebinding
    assert status_of(port, **search, headers={"content-type": "text/plain"})[0] == 415
    tid = client.threads.create()["thread_id"]
    websockets_are_guarded(port, tid)
    for context, where in (({"overrides": {"roles": {"architect": {
            "base_url": "http://evil.example/v1", "api_key_env": "HOME"}}}}, {}),
            ({"workspace": str(tmp)}, {}), ({"cycles": 0}, {"run_dir": str(tmp / "run")})):
        with pytest.raises(Exception, match="cannot be set|outside|internal error"):
            client.runs.wait(tid, "agentrun", input=where, context=context)
    assert not (tmp / "run").exists() and not (workspace / "runs").exists()


def websockets_are_guarded(port, tid):
    """The thread's event stream (a WebSocket that takes commands) answers this machine's
    processes and refuses a foreign page's Origin or a rebinding DNS name's Host."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    path = f"/threads/{tid}/stream/events"
    with connect(f"ws://127.0.0.1:{port}{path}", open_timeout=10) as served:
        served.send(json.dumps({"id": 1, "method": "agent.getTree", "params": {}}))
        assert json.loads(served.recv(timeout=10))["id"] == 1
    for uri, origin in ((f"ws://127.0.0.1:{port}{path}", "https://evil.example"),
                        (f"ws://attacker.example:{port}{path}", None)):
        with socket.create_connection(("127.0.0.1", port)) as sock, \
                pytest.raises(InvalidStatus) as refused:
            connect(uri, sock=sock, origin=origin, open_timeout=10)
        assert refused.value.response.status_code == 403


class Listener(BaseHTTPRequestHandler):
    """A server a planted setting would send the notes and the key to: it counts requests."""

    seen: list[str] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        Listener.seen.append(self.headers.get("authorization", ""))
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST  # noqa: N815

    def log_message(self, *args):
        pass


def planted(port):
    """Settings a caller would write into a thread's state: its server, the user's key."""
    return {"roles": {role: {"backend": "openai", "model": "m", "api_key_env": "HOME",
                             "base_url": f"http://127.0.0.1:{port}/v1"}
                      for role in ("architect", "contractor", "checker")},
            "generation": {"model_generators": True}}


def test_sdk_drives_a_run_through_the_plan_fork(fast_workspace, tmp_path):
    from langgraph_sdk import get_sync_client

    port = free_port()
    server = serve(fast_workspace, port)
    client = get_sync_client(url=f"http://127.0.0.1:{port}")
    hostile_requests_are_refused(client, port, fast_workspace, tmp_path / "elsewhere")
    (assistant,) = client.assistants.search(graph_id="agentrun")
    # the context schema is Studio's form: every field described, the workspace by default
    schemas = client.assistants.get_schemas(assistant["assistant_id"])
    form = schemas["context_schema"]["properties"]
    assert {"workspace", "cycles", "max_examples", "auto"} <= set(form)
    assert all(field.get("description") for field in form.values())

    thread = client.threads.create()
    tid = thread["thread_id"]
    # the structural generators only: this test is about the server, not the contractor
    context = {"cycles": 0, "max_examples": 12,
               "overrides": {"generation": {"model_generators": False}}}
    client.runs.wait(tid, "agentrun", input={}, context=context)
    state = client.threads.get_state(tid)
    (waiting,) = state["interrupts"]
    assert waiting["value"]["fork"]["kind"] == "plan" and state["next"] == ["review"]
    run_dir = fast_workspace / "runs" / state["values"]["run_dir"].rsplit("/", 1)[1]
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "waiting" and meta["driver"] == "langgraph server"
    assert meta["thread"] == tid and meta["server"] == f"http://127.0.0.1:{port}"
    assert meta["fork"] == waiting["value"]["fork"]["id"]
    assert not (run_dir / "data" / "rounds").exists()  # nothing generated before approval

    # a caller writes the thread's state: settings of its own, a run folder elsewhere
    listener = ThreadingHTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    frozen = (run_dir / "settings.json").read_text()
    elsewhere = tmp_path / "other-workspace"
    tampered = {"settings": planted(listener.server_address[1]),
                "run_dir": str(elsewhere / "runs" / run_dir.name)}
    client.threads.update_state(tid, values=tampered)
    client.runs.wait(tid, "agentrun", input=None)  # the steps after the edit run again
    assert client.threads.get_state(tid)["interrupts"][0]["value"]["fork"]["kind"] == "plan"
    stop(server)
    proc = agentrun("resume", str(run_dir), "--answer", "A")  # the server is down
    down, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "does not answer" in down and "Traceback" not in down
    assert json.loads((run_dir / "run.json").read_text())["status"] == "waiting"
    server = serve(fast_workspace, port)

    # the fork survives a restart of the server; the answers below carry no context: the run
    # keeps the one it started with (cycles 0: no training)
    client = get_sync_client(url=f"http://127.0.0.1:{port}")
    assert client.threads.get_state(tid)["interrupts"][0]["value"]["fork"]["kind"] == "plan"

    # an answer that is not an option is asked again, with the error, and changes nothing
    client.runs.wait(tid, "agentrun", command={"resume": {"choice": "maybe"},
                                               "update": tampered})
    state = client.threads.get_state(tid)
    assert "not one of the options" in state["interrupts"][0]["value"]["error"]
    assert not (run_dir / "data" / "rounds").exists()

    # the same fork answered from the CLI: it resumes the thread on the server
    proc = agentrun("status", str(run_dir))
    shown, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "fork plan:" in shown and "--answer LABEL" in shown, shown
    proc = agentrun("resume", str(run_dir), "--answer", "C")
    refused, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "not one of the options" in refused, refused
    proc = agentrun("resume", str(run_dir), "--answer", "A")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    answers = 1
    state = client.threads.get_state(tid)
    while state["interrupts"] and answers < 6:  # and any later fork from Studio's side
        client.runs.wait(tid, "agentrun", command={"resume": {"choice": "A"}})
        state = client.threads.get_state(tid)
        answers += 1
    stop(server)
    proc = agentrun("resume", str(run_dir), "--answer", "A")
    finished, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "already finished" in finished
    values = state["values"]
    assert not state["interrupts"] and state["next"] == [] and values["status"] == "done"
    accepted = [Example.model_validate_json(line) for line in
                (run_dir / "data" / "accepted.jsonl").read_text().splitlines()]
    assert values["accepted"] == len(accepted) > 0
    assert json.loads((run_dir / "run.json").read_text())["status"] == "done"
    assert not (run_dir / "adapters").exists()
    # the run kept its own settings and folder: nothing reached the planted server
    listener.shutdown()
    assert Listener.seen == [] and not elsewhere.exists()
    assert (run_dir / "settings.json").read_text() == frozen
    decisions = [json.loads(line) for line in
                 (run_dir / "data" / "decisions.jsonl").read_text().splitlines()]
    assert decisions[0]["fork_id"].startswith("plan:") and decisions[0]["by"] == "human"
    assert sum(d["by"] == "human" for d in decisions) == answers
