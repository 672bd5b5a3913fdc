"""Real backends: SmolLM2 under the schema constraint, and `transformers serve` on 127.0.0.1."""


import pytest
from pydantic import BaseModel, Field

from agentrun.agents.briefs import RephrasingOut
from agentrun.models.base import GenRequest
from agentrun.models.local import LocalBackend
from agentrun.models.openai_backend import OpenAIBackend
from agentrun.models.structured import generate_structured
from agentrun.prompts import render_chat
from agentrun.schemas import ProbeKind
from agentrun.workspace import load_map
from tests.integration.conftest import agentrun, transformers_serve

pytestmark = pytest.mark.integration


class Answer(BaseModel):
    answer: str = Field(max_length=80)


def requests(n):
    return [GenRequest(messages=render_chat("contractors.rephrasing.md", title="Brinefire",
                                            facts=[f"Brinefire burns for {i + 2} hours.",
                                                   "It is refined from red kelp."],
                                            style="plain", length="one or two sentences"),
                       max_new_tokens=120, temperature=0.7, seed=i) for i in range(n)]


def test_embedded_model_writes_valid_json_under_the_constraint(smollm2):
    backend = LocalBackend(smollm2, batch_size=8, device="cpu")
    out = generate_structured(backend, requests(8), RephrasingOut, retries=0)
    valid = [o for o in out if o is not None]
    # the grammar makes the JSON well-formed; only length bounds can still fail validation
    assert len(valid) >= 6
    assert all(20 <= len(o.text) <= 700 for o in valid)


@pytest.fixture(scope="module")
def served(smollm2):
    with transformers_serve(smollm2) as base_url:
        yield base_url, str(smollm2)


@pytest.mark.slow
def test_openai_backend_against_transformers_serve(served):
    base_url, model = served
    backend = OpenAIBackend(model, base_url, max_concurrency=4, timeout_s=120)
    seen = []
    texts = backend.generate(requests(4), on_result=lambda i, t: seen.append(i))
    assert len(texts) == 4 and all(texts) and sorted(seen) == [0, 1, 2, 3]
    # the server may ignore response_format: validation and the bounded retry still hold
    out = generate_structured(backend, requests(2), Answer, retries=1)
    assert len(out) == 2


@pytest.mark.slow
def test_plan_with_the_architect_behind_the_server(served, fast_workspace):
    base_url, model = served
    (fast_workspace / "agentrun.yaml").write_text(
        f"roles:\n  architect: {{backend: openai, model: '{model}', base_url: '{base_url}'}}\n")
    proc = agentrun("plan", str(fast_workspace))
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "3 nodes" in out and (fast_workspace / "map.yaml").exists()
    # a non-embedded architect also types anchors and writes transfer probes; whatever it
    # wrote passed the check against the sources, and the rest stayed structural
    m = load_map(fast_workspace / "map.yaml")
    facts = {f.id: f.text for n in m.nodes for f in n.facts}
    transfer = [p for p in m.probes() if p.kind == ProbeKind.transfer]
    assert transfer and all(p.answer.lower() in facts[p.fact_ids[-1]].lower() for p in transfer)
    assert {p.origin for p in transfer} <= {"structural", f"model:{model}"}
