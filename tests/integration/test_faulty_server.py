"""A whole `agentrun run` with every role behind a server that fails 30% of its replies.

The reliability benchmark's own experiment at a small size: the server answers 500, 503,
429, 400, an HTML page, a body that is not JSON or JSON without `choices`, and 10% of its
completions are not the JSON asked for.
"""

import pytest

from tests.unit.test_benchmarks import load

pytestmark = pytest.mark.integration


def test_a_run_against_a_faulty_server_ends_and_accounts_for_every_request(tmp_path,
                                                                         monkeypatch):
    reliability = load("reliability", monkeypatch)
    rows = dict(reliability.faulty_run(tmp_path, seed=3, notes=2))
    assert rows["run ended (goal: exit 0, done)"] == "exit 0, done"
    assert rows["tracebacks in the output (goal 0)"] == 0
    asked = rows["contractor requests"]
    assert asked > 10
    assert rows["HTTP attempts (all roles)"] > asked  # faults were met and retried
    # every contractor request became an example or a failure row with its reason
    assert rows["  as examples"] + rows["  as failure rows with a reason"] == asked
    assert rows["accounted for (goal: all)"] == f"{asked} of {asked}"
    accepted, _ = rows["examples accepted / rejected"].split(" / ")
    assert int(accepted) > 0
