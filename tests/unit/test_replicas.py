"""Several OpenAI-compatible servers behind one role: least-loaded, no server idle while
requests wait, a server that fails set aside and its requests answered by the others.

Real HTTP servers on 127.0.0.1 (tests/conftest.py `chat_server`), each answering after a
fixed delay and recording how many requests it held at once.
"""

import threading
import time
from contextlib import ExitStack

import pytest

from agentrun.config import RoleSpec
from agentrun.errors import BackendError
from agentrun.models.openai_backend import OpenAIBackend
from tests.conftest import chat_server
from tests.unit.test_backends import NOT_A_COMPLETION, chats


class Served:
    """A server's record: requests answered and the most it held at once."""

    def __init__(self, delay_s: float, fault=None):
        self.delay_s, self.fault = delay_s, fault
        self.lock = threading.Lock()
        self.now = self.most = self.answered = 0

    def answer(self, body):
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        threading.Event().wait(self.delay_s)  # not time.sleep: tests replace that
        with self.lock:
            self.now -= 1
            self.answered += 1
        if self.fault is not None:
            return 200, "", NOT_A_COMPLETION[self.fault]
        return 200, f'{{"word": "{body["messages"][-1]["content"][-6:]}"}}'


def serve(stack, *served):
    return [stack.enter_context(chat_server(s.answer))[0] for s in served]


def test_requests_go_least_loaded_and_each_server_holds_at_most_its_share():
    servers = [Served(0.05) for _ in range(3)]
    with ExitStack() as stack:
        urls = serve(stack, *servers)
        backend = OpenAIBackend("m", urls, max_concurrency=4)
        start = time.perf_counter()
        out = backend.generate(chats(60))
        seconds = time.perf_counter() - start
    assert out == [f'{{"word": "{c.messages[-1]["content"][-6:]}"}}' for c in chats(60)]
    assert sum(s.answered for s in servers) == 60
    assert all(15 <= s.answered <= 25 for s in servers)  # a third each, give or take timing
    assert all(s.most <= 4 for s in servers)
    # 60 requests of 50 ms over 3 × 4 slots: 5 waves, not the 15 of one server
    assert seconds < 0.05 * 15 * 0.8


def test_a_server_that_is_down_is_set_aside_and_the_others_answer(monkeypatch):
    sleeps = []
    monkeypatch.setattr("agentrun.models.openai_backend.time.sleep", sleeps.append)
    up = Served(0.0)
    with ExitStack() as stack:
        (url,) = serve(stack, up)
        backend = OpenAIBackend("m", ["http://127.0.0.1:9/v1", url], max_concurrency=2,
                                timeout_s=2, max_retries=2)
        assert len(backend.generate(chats(12))) == 12
    assert up.answered == 12
    assert sleeps == []  # every retry went to the other server at once, no backoff
    down = backend.replicas.members[0]
    assert down.down_until > time.monotonic() and down.failures_in_row >= 1
    # the next batch does not try the server set aside
    with ExitStack() as stack:
        (url,) = serve(stack, up)
        backend.replicas.members[1].client = OpenAIBackend("m", url).replicas.members[0].client
        sent_before = down.sent
        backend.generate(chats(6))
    assert down.sent == sent_before


def test_a_server_answering_garbage_has_its_requests_answered_elsewhere(monkeypatch):
    monkeypatch.setattr("agentrun.models.openai_backend.time.sleep", lambda s: None)
    good, bad = Served(0.01), Served(0.0, fault="html")
    with ExitStack() as stack:
        urls = serve(stack, bad, good)
        out = OpenAIBackend("m", urls, max_concurrency=2, max_retries=2).generate(chats(10))
    assert all(o.startswith('{"word"') for o in out)
    assert good.answered == 10 and bad.answered >= 1


def test_every_server_down_is_one_line_naming_the_setting(monkeypatch):
    monkeypatch.setattr("agentrun.models.openai_backend.time.sleep", lambda s: None)
    backend = OpenAIBackend("m", ["http://127.0.0.1:9/v1", "http://127.0.0.1:11/v1"],
                            timeout_s=2, max_retries=2, setting="roles.contractor")
    with pytest.raises(BackendError, match=r"roles.contractor: http://127.0.0.1:\d+/v1: server "
                                           "not reachable"):
        backend.generate(chats(3))


def test_a_list_of_servers_is_a_setting_and_an_empty_one_is_refused():
    spec = RoleSpec(backend="openai", model="m", base_url=["http://a:8000/v1", "http://b/v1"])
    assert spec.base_url == ["http://a:8000/v1", "http://b/v1"]
    with pytest.raises(ValueError, match="at least one server"):
        RoleSpec(backend="openai", model="m", base_url=[])
