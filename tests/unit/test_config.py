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
