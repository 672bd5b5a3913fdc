"""Every prompt has its Russian wording, picked for a Russian node, with the English variables."""

import jinja2
import pytest
from jinja2 import meta

from agentrun.prompts import FOLDER, _env, localized, render_chat

ENGLISH = sorted(p.name for p in FOLDER.glob("*.md") if p.name.count(".") == 2)
PASSED_TOO = {"contractors.rephrasing.md": {"level"}}
"""Variables a caller passes beside the English file's own (the Russian words lengths by level)."""


def variables(name: str) -> set[str]:
    return meta.find_undeclared_variables(_env.parse((FOLDER / name).read_text()))


def macros(name: str) -> set[str]:
    """Return the forms a structural template offers (`phrase` renders one by name)."""
    parsed = _env.parse((FOLDER / name).read_text())
    return {m.name for m in parsed.find_all(jinja2.nodes.Macro)}


@pytest.mark.parametrize("english", ENGLISH)
def test_a_russian_node_gets_the_russian_file_with_the_same_variables(english):
    russian = localized(english, "ru")
    assert russian == english.removesuffix(".md") + ".ru.md"
    assert localized(english, "en") == english
    # a Russian file needs no variable the caller does not pass (StrictUndefined would fail)
    assert variables(russian) <= variables(english) | PASSED_TOO.get(english, set())
    assert macros(russian) == macros(english)


@pytest.mark.parametrize("english", ["checker.judge.md", "architect.instruction.md",
                                     "architect.relation.md"])
def test_the_newest_russian_prompts_take_exactly_the_english_variables(english):
    assert variables(localized(english, "ru")) == variables(english)


def test_the_russian_judge_renders_in_russian_and_misses_no_variable():
    values = {"facts": ["Маяк стоит в гавани с 1820 года."], "example": "Маяк построили в 1820."}
    system, user = render_chat(localized("checker.judge.md", "ru"), **values)
    assert "заметкам" in system["content"] and "1. Маяк стоит в гавани" in user["content"]
    assert '"verdict": "consistent" | "contradicts" | "unsupported"' in user["content"]
    with pytest.raises(jinja2.UndefinedError):  # StrictUndefined: a missing variable fails
        render_chat(localized("checker.judge.md", "ru"), facts=values["facts"])
