"""The `ray` backend: a local Ray cluster sends batches to OpenAI-compatible servers on 127.0.0.1.

Its replies, faults and failures must be the `openai` backend's for the same requests; a
whole run through it must accept the same examples as a run through `openai`.
"""

import json
import shutil
import time

import pytest
import ray

from agentrun.errors import BackendError
from agentrun.models.base import BatchFaults, GenRequest
from agentrun.models.openai_backend import OpenAIBackend
from agentrun.models.ray_backend import RayBackend, connect
from tests.conftest import chat_server, small_workspace
from tests.integration.conftest import agentrun, free_port, transformers_serve

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def local_ray():
    connect(None, "roles.contractor")
    yield
    ray.shutdown()


def requests(n: int) -> list[GenRequest]:
    """Requests whose JSON schemas differ in shape (the rows Arrow would merge)."""
    return [GenRequest(messages=[{"role": "user", "content": f"q{i}"}],
                       schema={"type": "object",
                               "properties": {f"k{i % 3}": {"type": "array" if i % 2 else
                                                            "string"}}},
                       max_new_tokens=16, temperature=0.0, seed=i) for i in range(n)]


def echo(body: dict) -> tuple:
    """A reply that depends on the whole request: its prompt, schema and sampling."""
    schema = body["response_format"]["json_schema"]["schema"]
    return 200, json.dumps({"q": body["messages"][0]["content"], "keys": sorted(
        schema["properties"]), "seed": body["seed"], "max_tokens": body["max_tokens"]})


def test_same_replies_as_the_openai_backend_spread_over_both_servers(local_ray):
    with chat_server(echo) as (one, seen_one), chat_server(echo) as (two, seen_two):
        reqs = requests(48)
        expected = OpenAIBackend("m", [one, two], max_concurrency=4).generate(reqs)
        seen_one.clear()
        seen_two.clear()
        arrived: list[int] = []
        texts = RayBackend("m", [one, two], max_concurrency=4).generate(
            reqs, on_result=lambda i, t: arrived.append(i))
    assert texts == expected
    assert json.loads(texts[7]) == {"q": "q7", "keys": ["k1"], "seed": 7, "max_tokens": 16}
    assert sorted(arrived) == list(range(48))
    # every request sent once, and both servers took a fair share
    assert len(seen_one) + len(seen_two) == 48
    assert min(len(seen_one), len(seen_two)) >= 12


def test_a_bad_reply_is_retried_elsewhere_and_a_4xx_fails_alone(local_ray):
    sent: dict[str, int] = {}

    def flaky(body: dict) -> tuple:
        q = body["messages"][0]["content"]
        sent[q] = sent.get(q, 0) + 1
        if q == "q3" and sent[q] == 1:  # a proxy's page once: retried
            return 200, "", ("text/html", b"<html>bad gateway</html>")
        if q == "q5":
            return 400, ""
        return echo(body)

    with chat_server(flaky) as (one, _), chat_server(flaky) as (two, _):
        with pytest.raises(BatchFaults) as caught:
            RayBackend("m", [one, two], max_concurrency=2).generate(requests(8))
    assert set(caught.value.faults) == {5}
    assert "HTTP 400" in caught.value.faults[5]
    assert sent["q5"] == 1  # a 4xx is not sent again
    assert json.loads(caught.value.texts[3])["q"] == "q3"
    assert all(caught.value.texts[i] for i in range(8) if i != 5)


def test_servers_that_are_down_stop_the_batch_in_one_line(local_ray):
    down = [f"http://127.0.0.1:{free_port()}/v1" for _ in range(2)]
    backend = RayBackend("m", down, max_concurrency=2, max_retries=0, timeout_s=2)
    with pytest.raises(BackendError) as caught:
        backend.generate(requests(4))
    line = str(caught.value)
    assert "\n" not in line and line.startswith("roles.contractor:")
    assert "not reachable" in line


def test_a_cluster_address_that_does_not_answer_is_one_line():
    start = time.monotonic()
    with pytest.raises(BackendError) as caught:
        RayBackend("m", "http://127.0.0.1:1/v1", address=f"127.0.0.1:{free_port()}",
                   setting="roles.checker")
    assert time.monotonic() - start < 10
    line = str(caught.value)
    assert line.startswith("roles.checker.ray_address: no Ray cluster answers at 127.0.0.1:")
    with pytest.raises(BackendError, match="not HOST:PORT"):
        RayBackend("m", "http://127.0.0.1:1/v1", address="nowhere", setting="roles.checker")


def test_the_cli_refuses_a_cluster_that_does_not_answer_before_any_run_folder(tmp_path):
    ws = small_workspace(tmp_path)
    (ws / "agentrun.yaml").write_text(
        "roles:\n  contractor: {backend: ray, model: m, base_url: 'http://127.0.0.1:9/v1', "
        f"ray_address: '127.0.0.1:{free_port()}'}}\n")
    out, _ = agentrun("run", str(ws), "--auto").communicate(timeout=120)
    assert out.strip().splitlines()[-1].startswith(
        "error: roles.contractor.ray_address: no Ray cluster answers at 127.0.0.1:"), out
    assert "Traceback" not in out and not (ws / "runs").exists()


@pytest.mark.slow
def test_a_run_through_ray_accepts_what_a_run_through_openai_accepts(tmp_path, monkeypatch):
    from tests.unit.test_benchmarks import load

    reliability = load("reliability", monkeypatch)
    server = reliability.FaultyServer(0.0, seed=5, invalid_rate=0.0)
    try:
        plain = reliability.served_workspace(tmp_path / "openai", server.url, notes=2)
        on_ray = tmp_path / "ray"
        shutil.copytree(plain, on_ray)
        config = on_ray / "agentrun.yaml"
        config.write_text(config.read_text().replace(
            "contractor: {backend: openai", "contractor: {backend: ray"))
        for ws in (plain, on_ray):
            out, _ = reliability.cli("run", str(ws), "--auto", "--cycles", "0").communicate(
                timeout=900)
            assert "Traceback" not in out and " done" in out, out[-2000:]
    finally:
        server.close()
    runs = [reliability.ledgers(next((ws / "runs").iterdir())) for ws in (plain, on_ray)]
    assert runs[0]["accepted"] and runs[0]["model candidates"] > 5
    assert runs[1]["candidates"] == runs[0]["candidates"]
    assert runs[1]["accepted"] == runs[0]["accepted"]
    assert runs[1]["rejected"] == runs[0]["rejected"]


@pytest.mark.slow
def test_two_real_servers_answer_ray_as_they_answer_openai(local_ray, smollm2):
    """Two `transformers serve` processes of the embedded model, greedy: the same texts."""
    reqs = [GenRequest(messages=[{"role": "user", "content": f"Name {i + 2} colours of the sea."}],
                       max_new_tokens=24, temperature=0.0, seed=i) for i in range(6)]
    with transformers_serve(smollm2) as one, transformers_serve(smollm2) as two:
        expected = OpenAIBackend(str(smollm2), [one, two], max_concurrency=2).generate(reqs)
        texts = RayBackend(str(smollm2), [one, two], max_concurrency=2).generate(reqs)
    assert all(expected) and len(set(expected)) > 1
    assert texts == expected
