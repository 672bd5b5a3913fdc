"""Every text a model or a person reads, as files (`<role>.<purpose>.md`).

They are rendered with Jinja2 StrictUndefined. A model prompt's first part, up to a line
`---user---`, is the system message; the rest is the user message. A structural template
(`structural.*.md`, `architect.probes.md`) holds one macro per form of its wording, rendered by
`phrase`. A missing variable fails loudly instead of rendering an empty string; the file's hash
goes into the provenance of what it wrote.
"""

from __future__ import annotations

import hashlib
import logging
from functools import lru_cache
from pathlib import Path

import jinja2

log = logging.getLogger(__name__)
FOLDER = Path(__file__).parent
SPLIT = "---user---"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(FOLDER),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=False,
    autoescape=False,
    auto_reload=False,  # package files: no stat of the file on every render (a planning hot path)
)


@lru_cache(maxsize=64)
def template_hash(name: str) -> str:
    """Return a short hash of a template's source (recorded in provenance)."""
    return hashlib.sha256((FOLDER / name).read_bytes()).hexdigest()[:12]


def render_chat(name: str, **variables: object) -> list[dict[str, str]]:
    """Render a template into chat messages (system + user)."""
    text = _env.get_template(name).render(**variables)
    system, _, user = text.partition(SPLIT)
    if not user:
        return [{"role": "user", "content": system.strip()}]
    return [
        {"role": "system", "content": system.strip()},
        {"role": "user", "content": user.strip()},
    ]


def localized(name: str, language: str) -> str:
    """Return a template's file in a language (`x.ru.md` for `x.md`), English where none is.

    A language without its own wording is said once, in a warning naming it.
    """
    if language and language != "en":
        candidate = f"{name.removesuffix('.md')}.{language}.md"
        if _shipped(candidate):
            return candidate
        if language not in _WARNED:
            _WARNED.add(language)
            log.warning("no wording for notes in '%s' yet: their probes, structural "
                        "examples and model briefs are worded in English", language)
    return name


_WARNED: set[str] = set()


@lru_cache(maxsize=256)
def _shipped(name: str) -> bool:
    """Whether a template file ships with the package (asked once per name)."""
    return (FOLDER / name).exists()


def phrase(name: str, form: str, language: str = "en", **variables: object) -> str:
    """Render one form (a macro) of a structural template in a language, trimmed.

    `phrase("structural.exercise.md", "reversal", "ru", title="Кельпвакс", answer="воск")`
    """
    macro = getattr(_env.get_template(localized(name, language)).module, form)
    return str(macro(**variables)).strip()
