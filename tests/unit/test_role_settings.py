"""Every role setting reaches the request: temperature and max_new_tokens from agentrun.yaml
are what a real OpenAI-compatible server receives (a local HTTP server that records each
request's body), and roles that name the same model share one loaded backend.
"""

import json

import pytest

from agentrun.agents.contractors import candidates_for
from agentrun.agents.enrichment import enrich_summaries
from agentrun.agents.structural import Job
from agentrun.config import load_config
from agentrun.graphs.deps import Deps
from agentrun.models.base import GenRequest
from agentrun.schemas import ExampleKind
from agentrun.workspace import Workspace
from tests.conftest import chat_server, small_workspace
from tests.unit.test_architect import example_map


@pytest.fixture
def server():
    """A chat-completions server that answers every schema with one valid JSON object."""

    def answer(body):
        fields = body["response_format"]["json_schema"]["schema"]["properties"]
        text = {"summary": "Brinefire is refined from kelp in the Orvane vats."} \
            if "summary" in fields else {"text": "Brinefire is refined from kelp, slowly."}
        return 200, json.dumps(text)

    with chat_server(answer) as served:
        yield served


def workspace_with(tmp_path, url: str, roles: str):
    root = small_workspace(tmp_path)
    (root / "agentrun.yaml").write_text(f"roles:\n{roles.format(url=url)}")
    ws = Workspace.open(root)
    return Deps(load_config(ws.root), ws)


ROLES = """\
  architect: {{backend: openai, model: served, base_url: "{url}", temperature: 0.1,
               max_new_tokens: 40}}
  contractor: {{backend: openai, model: served, base_url: "{url}", temperature: 0.2,
                max_new_tokens: 300}}
  checker: {{backend: openai, model: served, base_url: "{url}"}}
"""


def test_each_roles_temperature_and_token_cap_reach_the_server(tmp_path, server):
    url, seen = server
    deps = workspace_with(tmp_path, url, ROLES)
    m = example_map()
    assert enrich_summaries(m, deps.model("architect"), retries=0, seed=0) > 0
    architect = list(seen)
    assert architect and {(r["temperature"], r["max_tokens"]) for r in architect} == {(0.1, 40)}
    seen.clear()
    job = Job(run="r", iteration=1, round=1, seed=0)
    deficits = {n.id: {ExampleKind.rephrasing: 2} for n in m.nodes}
    out = candidates_for(m, deficits, set(), job, deps.model("contractor"), retries=0)
    assert seen and {r["temperature"] for r in seen} == {0.2}
    # a call asks for what its level needs (micro 120, meso 240 tokens); a macro passage's 420
    # is capped at the role's 300
    assert {r["max_tokens"] for r in seen} == {120, 240, 300}
    written = [e for e in out if e.provenance.generator.startswith("model:")]
    assert written and {e.provenance.params["temperature"] for e in written} == {0.2}
    seen.clear()
    deps.model("checker").generate([GenRequest(
        messages=[{"role": "user", "content": "judge"}],
        schema={"type": "object", "properties": {"text": {"type": "string"}}})])
    assert [(r["temperature"], r["max_tokens"]) for r in seen] == [(0.0, 160)]  # its defaults


def test_a_role_cap_below_a_calls_length_lowers_it(tmp_path, server):
    url, seen = server
    deps = workspace_with(tmp_path, url, ROLES.replace("max_new_tokens: 300",
                                                       "max_new_tokens: 100"))
    m = example_map()
    job = Job(run="r", iteration=1, round=1, seed=0)
    candidates_for(m, {"brinefire": {ExampleKind.rephrasing: 2}}, set(), job,
                   deps.model("contractor"), retries=0)
    assert seen and {r["max_tokens"] for r in seen} == {100}


def test_roles_naming_the_same_model_share_one_backend(tmp_path, server):
    url, _ = server
    deps = workspace_with(tmp_path, url, ROLES)
    architect, contractor = deps.model("architect"), deps.model("contractor")
    assert architect.backend.inner is contractor.backend.inner  # one client, one model
    assert (architect.temperature, contractor.temperature) == (0.1, 0.2)
    other = workspace_with(tmp_path / "other", url, ROLES.replace(
        'contractor: {{backend: openai, model: served,', 'contractor: {{backend: openai, '
        'model: another,'))
    assert other.model("architect").backend.inner is not other.model("contractor").backend.inner


def test_the_students_sampling_settings_are_refused_in_one_line(tmp_path):
    from agentrun.errors import ConfigError

    root = small_workspace(tmp_path)
    (root / "agentrun.yaml").write_text("roles:\n  student: {temperature: 0.7}\n")
    with pytest.raises(ConfigError, match="roles.student: the student answers probes greedily"):
        load_config(root)
