from pathlib import Path

import pytest

from agentrun.config import load_config
from agentrun.errors import ConfigError


def write(ws: Path, text: str) -> None:
    (ws / "agentrun.yaml").write_text(text)


def test_precedence_defaults_yaml_env_cli(tmp_path, monkeypatch):
    write(tmp_path, "budgets:\n  cycles: 2\n  max_examples: 50\n  max_rounds: 3\n")
    monkeypatch.setenv("AGENTRUN_BUDGETS__MAX_EXAMPLES", "40")
    monkeypatch.setenv("AGENTRUN_BUDGETS__MAX_ROUNDS", "4")
    cfg = load_config(tmp_path, {"budgets": {"max_rounds": 5}})
    assert cfg.budgets.cycles == 2  # YAML over default
    assert cfg.budgets.max_examples == 40  # env over YAML
    assert cfg.budgets.max_rounds == 5  # CLI over env
    assert cfg.budgets.wall_time_s == 3600.0  # default kept


def test_unknown_key_is_named(tmp_path):
    write(tmp_path, "roles:\n  architekt: {model: embedded}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'roles.architekt'"):
        load_config(tmp_path)


def test_malformed_yaml_names_file_and_line(tmp_path):
    write(tmp_path, "budgets:\n  cycles: [1,\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert str(tmp_path / "agentrun.yaml") in str(info.value)
    assert "line" in str(info.value)


def test_wrong_type_names_key(tmp_path):
    write(tmp_path, "training:\n  lora_r: many\n")
    with pytest.raises(ConfigError, match=r"training.lora_r"):
        load_config(tmp_path)


def test_recipe_is_preset_with_overrides(tmp_path):
    write(tmp_path, "training:\n  preset: gpu-96gb\n  lora_r: 8\n")
    recipe = load_config(tmp_path).recipe()
    assert recipe.lora_r == 8
    assert recipe.max_seq_len == 4096 and recipe.bf16 is True
    assert recipe.preset == "gpu-96gb"


def test_frozen_settings_come_back_as_they_were_whatever_the_environment(tmp_path, monkeypatch):
    from agentrun.config import frozen_config

    write(tmp_path, "budgets: {cycles: 2}\nroles:\n  contractor: {temperature: 0.2}\n")
    frozen = load_config(tmp_path).model_dump(mode="json")
    monkeypatch.setenv("AGENTRUN_BUDGETS__CYCLES", "5")
    again = frozen_config(frozen)
    assert again.budgets.cycles == 2 and again.roles.contractor.temperature == 0.2
    assert again == load_config(tmp_path).model_copy(update={"budgets": again.budgets})
    assert load_config(tmp_path).budgets.cycles == 5  # a new run reads the environment


def test_a_run_keeps_its_settings_and_the_next_run_reads_an_edited_file(tmp_path):
    """What a long-running server sees: each run freezes agentrun.yaml as ingest reads it."""
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph

    from agentrun.graphs.context import Context
    from agentrun.graphs.deps import settings_of
    from agentrun.graphs.nodes import ingest
    from agentrun.graphs.state import State
    from tests.conftest import small_workspace

    root = small_workspace(tmp_path)
    write(root, "budgets: {max_rounds: 3}\n")
    g = StateGraph(State, context_schema=Context)
    g.add_node("ingest", ingest)
    g.add_edge(START, "ingest")
    g.add_edge("ingest", END)
    graph = g.compile(checkpointer=InMemorySaver())
    context = Context(workspace=str(root))
    first = graph.invoke({}, {"configurable": {"thread_id": "1"}}, context=context)
    write(root, "budgets: {max_rounds: 5}\n")
    second = graph.invoke({}, {"configurable": {"thread_id": "2"}}, context=context)
    assert settings_of(first).budgets.max_rounds == 3  # frozen when it started
    assert settings_of(second).budgets.max_rounds == 5
    assert first["run_dir"] != second["run_dir"]
