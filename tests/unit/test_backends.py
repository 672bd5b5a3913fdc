"""Backends: batched local generation on a tiny model, schema-constrained decoding, the
response cache, and the OpenAI-compatible client's retry policy against a real HTTP server."""

import gzip
import json
import random
import threading
import time
from dataclasses import replace

import pytest
from pydantic import BaseModel, Field

from agentrun.errors import BackendError
from agentrun.memory.cache import CachedBackend, ResponseCache
from agentrun.models.base import BatchFaults, GenRequest
from agentrun.models.local import LocalBackend
from agentrun.models.openai_backend import OpenAIBackend
from agentrun.models.structured import generate_structured, json_schema
from tests.conftest import chat_server


class Short(BaseModel):
    word: str = Field(max_length=6)


def chats(n):
    return [GenRequest(messages=[{"role": "user", "content": f"Brinefire fact {i}"}],
                       max_new_tokens=12, temperature=0.0, seed=i) for i in range(n)]


@pytest.fixture(scope="module")
def local(tiny_model):
    return LocalBackend(tiny_model, batch_size=4, device="cpu")


def test_local_batches_n_prompts_into_padded_generate_calls(local, monkeypatch):
    calls = []
    real = local.model.generate

    def counting(**kw):
        calls.append(kw["input_ids"].shape[0])
        return real(**kw)

    monkeypatch.setattr(local.model, "generate", counting)
    seen = []
    out = local.generate(chats(10), on_result=lambda i, t: seen.append(i))
    assert calls == [4, 4, 2]
    assert len(out) == 10 and sorted(seen) == list(range(10))
    # greedy decoding is deterministic and independent of batch composition order
    assert local.generate(chats(10)) == out


def test_schema_is_enforced_while_decoding_even_for_a_random_model(local):
    requests = [replace(r, max_new_tokens=40) for r in chats(6)]
    results = generate_structured(local, requests, Short, retries=0)
    # a random-init model cannot write JSON by itself; the grammar makes it valid
    assert sum(r is not None for r in results) >= 4
    assert all(len(r.word) <= 6 for r in results if r is not None)


def test_cache_answers_repeats_without_calling_the_model(local, tmp_path):
    cached = CachedBackend(local, ResponseCache(tmp_path / "cache.sqlite"))
    first = cached.generate(chats(5))
    # fresh responses count toward a token budget, cached ones do not
    assert cached.fresh_tokens == sum(local.count_tokens(t) for t in first) > 0
    spent = cached.fresh_tokens
    calls = []
    cached.inner = type("Boom", (), {"generate": lambda *a, **k: calls.append(1),
                                     "model_id": local.model_id})()
    assert cached.generate(chats(5)) == first
    assert calls == [] and cached.hits == 5 and cached.fresh_tokens == spent


class Script:
    """What the OpenAI-compatible endpoint answers: a script of status codes, then 200."""

    script: list[int] = []
    seen: list[dict] = []


@pytest.fixture()
def server():
    Script.script = []

    def answer(body):
        return (Script.script.pop(0) if Script.script else 200), '{"word": "kelp"}'

    with chat_server(answer) as (url, seen):
        Script.seen = seen
        yield url


def test_openai_retries_429_and_5xx_then_succeeds(server):
    Script.script = [429, 503]
    backend = OpenAIBackend("m", server, max_retries=3)
    out = generate_structured(backend, chats(1), Short, retries=0)
    assert out[0].word == "kelp" and len(Script.seen) == 3
    assert Script.seen[0]["response_format"]["type"] == "json_schema"


def test_openai_does_not_retry_a_missing_model(server):
    Script.script = [404]
    backend = OpenAIBackend("no-such-model", server, max_retries=3, setting="roles.architect")
    with pytest.raises(BackendError, match="model 'no-such-model' not found.*roles.architect"):
        backend.generate(chats(1))
    assert len(Script.seen) == 1


def test_openai_server_down_is_one_clear_error():
    backend = OpenAIBackend("m", "http://127.0.0.1:9/v1", max_retries=1, timeout_s=2)
    with pytest.raises(BackendError, match="server not reachable"):
        backend.generate(chats(1))


def test_openai_requests_run_concurrently(server):
    backend = OpenAIBackend("m", server, max_concurrency=8)
    assert backend.generate(chats(16)) == ['{"word": "kelp"}'] * 16
    assert len(Script.seen) == 16


NOT_A_COMPLETION = {
    "html": ("text/html", b"<html><body>502 Bad Gateway</body></html>"),
    "garbage": ("application/json", b"{not json"),
    "no choices": ("application/json", b'{"id": "x", "object": "chat.completion"}'),
    "empty choices": ("application/json", b'{"id": "x", "choices": []}'),
    "a list": ("application/json", b"[1, 2]"),
}


@pytest.fixture()
def no_backoff(monkeypatch):
    monkeypatch.setattr("agentrun.models.openai_backend.time.sleep", lambda s: None)


@pytest.mark.parametrize("body", NOT_A_COMPLETION, ids=list(NOT_A_COMPLETION))
def test_a_200_that_is_not_a_completion_is_retried(body, no_backoff):
    replies = [NOT_A_COMPLETION[body]]

    def answer(req):
        return (200, '{"word": "kelp"}', replies.pop()) if replies else (200, '{"word": "kelp"}')

    with chat_server(answer) as (url, seen):
        out = generate_structured(OpenAIBackend("m", url, max_retries=2), chats(1), Short,
                                  retries=0)
    assert out[0].word == "kelp" and len(seen) == 2


def test_a_request_that_never_gets_a_completion_fails_alone(tmp_path, no_backoff):
    def answer(req):
        if "fact 1" in req["messages"][-1]["content"]:
            return 200, "", NOT_A_COMPLETION["no choices"]
        return 200, '{"word": "kelp"}'

    with chat_server(answer) as (url, seen):
        cached = CachedBackend(OpenAIBackend("m", url, max_retries=2),
                               ResponseCache(tmp_path / "cache.sqlite"))
        failures: dict[int, str] = {}
        out = generate_structured(cached, chats(4), Short, retries=1, failures=failures)
        # the backend retried it twice; the structured retry does not ask it again
        assert [o is None for o in out] == [False, True, False, False]
        assert list(failures) == [1] and "no choices" in failures[1]
        assert len(seen) == 3 + 3
        # the three that came are cached; only the failed one goes out again
        again = [replace(r, schema=json_schema(Short)) for r in chats(4)]
        with pytest.raises(BatchFaults) as caught:
            cached.generate(again)
        assert list(caught.value.faults) == [1] and len(seen) == 6 + 3
        assert caught.value.texts[0] == '{"word": "kelp"}'


def test_a_bad_request_fails_alone_and_a_refused_key_stops_the_batch(server):
    Script.script = [400]
    with pytest.raises(BatchFaults, match="HTTP 400") as caught:
        OpenAIBackend("m", server, max_retries=3).generate(chats(1))
    assert list(caught.value.faults) == [0] and len(Script.seen) == 1  # 4xx: not retried
    Script.script = [401]
    with pytest.raises(BackendError, match="refused the key.*roles.contractor.api_key_env"):
        OpenAIBackend("m", server, max_retries=3).generate(chats(1))


def test_a_faulty_server_leaves_every_request_answered_or_failed_with_a_reason(no_backoff):
    rng = random.Random(7)
    faults = [503, 429, 500, *NOT_A_COMPLETION]

    def answer(req):
        if rng.random() < 0.3:
            fault = rng.choice(faults)
            if isinstance(fault, int):
                return fault, ""
            return 200, "", NOT_A_COMPLETION[fault]
        if rng.random() < 0.1:
            return 200, "this is not json"  # content the structured retry asks again
        return 200, '{"word": "kelp"}'

    with chat_server(answer) as (url, seen):
        failures: dict[int, str] = {}
        out = generate_structured(OpenAIBackend("m", url, max_retries=2, max_concurrency=8),
                                  chats(200), Short, retries=1, failures=failures)
    ok = {i for i, o in enumerate(out) if o is not None}
    assert ok | set(failures) == set(range(200)) and not ok & set(failures)
    # 0.3³ of requests exhaust the backend's retries; a few more stay invalid after one retry
    assert 185 <= len(ok) < 200
    assert all(why.startswith(("roles.contractor", "invalid Short")) for why in failures.values())


def test_a_round_run_again_after_a_kill_counts_the_tokens_it_spent_before(local, tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    round_1 = [replace(r, tags={"origin": "run-a/1.1"}) for r in chats(4)]
    killed = CachedBackend(local, cache)
    killed.generate(round_1[:3])  # three replies stored, then the process died
    spent_before = killed.fresh_tokens
    assert spent_before > 0
    resumed = CachedBackend(local, ResponseCache(tmp_path / "cache.sqlite"))
    out = resumed.generate(round_1)
    # the round's usage holds all four replies: three from before the kill, one made now
    assert resumed.hits == 3
    assert resumed.fresh_tokens == spent_before + local.count_tokens(out[3])
    # another run served the same replies from the cache spent nothing on them
    other = CachedBackend(local, cache)
    other.generate([replace(r, tags={"origin": "run-b/1.1"}) for r in chats(4)])
    assert other.hits == 4 and other.fresh_tokens == 0


def test_a_cache_written_by_an_earlier_version_is_read_and_extended(tmp_path):
    import sqlite3

    path = tmp_path / "cache.sqlite"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, text TEXT)")
    old.execute("INSERT INTO responses VALUES ('k1', 'an old reply')")
    old.commit()
    old.close()
    cache = ResponseCache(path)
    assert cache.get_many(["k1"])["k1"].text == "an old reply"
    cache.put("k2", "a new reply", 3, "run/1.1")
    assert cache.get_many(["k2"])["k2"] == ("a new reply", 3, "run/1.1")


def completion(content: str) -> bytes:
    return json.dumps({"id": "x", "object": "chat.completion", "created": 0, "model": "m",
                       "choices": [{"index": 0, "finish_reason": "stop", "message": {
                           "role": "assistant", "content": content}}]}).encode()


def trickle(phase: str, sent: list[int]):
    """A reply that comes one byte every 0.5 s, from its status line or after its headers.

    It stops after 6 s, so that a client without a deadline ends too (with a broken reply).
    """
    head = b"HTTP/1.0 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9999\r\n\r\n"

    def write(handler):
        if phase == "body":
            handler.wfile.write(head)
        rest = (head if phase == "headers" else b"") + b" " * 9999
        try:
            for byte in rest[:12]:
                handler.wfile.write(bytes([byte]))
                sent.append(1)
                threading.Event().wait(0.5)
        except OSError:  # the client hung up: what it should do
            pass

    return write


@pytest.mark.parametrize("phase", ["headers", "body"])
def test_a_trickling_reply_ends_at_its_deadline_and_fails_alone(phase, no_backoff):
    sent: list[int] = []

    def answer(req):
        if "fact 1" in req["messages"][-1]["content"]:
            return 200, "", trickle(phase, sent)
        return 200, '{"word": "kelp"}'

    with chat_server(answer) as (url, seen):
        backend = OpenAIBackend("m", url, timeout_s=1, deadline_s=1, max_retries=1)
        failures: dict[int, str] = {}
        start = time.monotonic()
        out = generate_structured(backend, chats(4), Short, retries=0, failures=failures)
        seconds = time.monotonic() - start
    # retried once within the retry budget, each try cut at its 1 s deadline (a byte every
    # 0.5 s never trips the 1 s read timeout), then the request fails alone with its reason
    assert seconds < 2 * 1 + 1
    assert len([b for b in seen if "fact 1" in b["messages"][-1]["content"]]) == 2
    assert len(sent) <= 2 * 4  # of the 12 bytes it would send
    assert list(failures) == [1] and "within deadline_s (1 s)" in failures[1]
    assert [o.word for i, o in enumerate(out) if i != 1] == ["kelp"] * 3


def test_a_huge_reply_is_read_no_further_than_the_cap_and_fails_alone(no_backoff):
    """A 64 MB reply (a valid completion after 64 MB of blanks) against a 1 MB cap."""
    sent, done = [0], threading.Event()

    def huge(handler):
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.end_headers()
        try:
            for _ in range(64):
                handler.wfile.write(b" " * 1_000_000)
                sent[0] += 1_000_000
            handler.wfile.write(completion('{"word": "huge"}'))
        except OSError:  # the client hung up once it had read its cap
            pass
        finally:
            done.set()

    def answer(req):
        if "fact 1" in req["messages"][-1]["content"]:
            return 200, "", huge
        return 200, '{"word": "kelp"}'

    with chat_server(answer) as (url, seen):
        backend = OpenAIBackend("m", url, max_reply_bytes=1_000_000, max_retries=2)
        failures: dict[int, str] = {}
        out = generate_structured(backend, chats(4), Short, retries=0, failures=failures)
        assert done.wait(5)
    assert list(failures) == [1] and "larger than max_reply_bytes (1,000,000" in failures[1]
    # not retried: the same request would get the same reply
    assert len([b for b in seen if "fact 1" in b["messages"][-1]["content"]]) == 1
    # what left the server is the cap and what the sockets buffer (a few MB), not the 64 MB
    assert sent[0] < 32_000_000, sent
    assert [o.word for i, o in enumerate(out) if i != 1] == ["kelp"] * 3


def test_a_compressed_reply_is_refused_before_it_is_unpacked(no_backoff):
    asked: list[str] = []

    def gzipped(handler):
        asked.append(handler.headers["accept-encoding"])
        body = gzip.compress(completion('{"word": "kelp"}'))
        handler.send_response(200)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-encoding", "gzip")
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with chat_server(lambda req: (200, "", gzipped)) as (url, seen):
        with pytest.raises(BatchFaults, match=r"reply compressed \(gzip\) though none was asked"):
            OpenAIBackend("m", url, max_retries=1).generate(chats(1))
    assert asked == ["identity", "identity"]  # retried like any reply that is no completion


def test_a_role_s_deadline_and_reply_cap_reach_its_backend():
    from agentrun.config import RoleSpec
    from agentrun.models import load_model

    spec = RoleSpec(backend="openai", model="m", timeout_s=5, max_reply_bytes=4096)
    backend = load_model(spec, "checker")
    assert (backend.bounds.deadline_s, backend.bounds.max_bytes) == (15, 4096)  # 3 × timeout_s
    spec = RoleSpec(backend="openai", model="m", timeout_s=5, deadline_s=7)
    assert load_model(spec).bounds.deadline_s == 7
    with pytest.raises(ValueError, match=r"deadline_s \(4\) .* at least timeout_s \(5\)"):
        RoleSpec(backend="openai", timeout_s=5, deadline_s=4)
