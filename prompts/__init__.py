"""Every text a model or a person reads, as files (`<role>.<purpose>.md`).

They are rendered with Jinja2 StrictUndefined. A model prompt's first part, up to a line
`---user---`, is the system message; the rest is the user message. A structural template
(`structural.*.md`, `architect.probes.md`) holds one macro per form of its wording, rendered by
`phrase`. A missing variable fails loudly instead of rendering an empty string; the file's hash
goes into the provenance of what it wrote.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import jinja2

FOLDER = Path(__file__).parent
SPLIT = "---user---"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(FOLDER),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=False,
    autoescape=False,
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


def phrase(name: str, form: str, **variables: object) -> str:
    """Render one form (a macro) of a structural template, trimmed.

    `phrase("structural.exercise.md", "reversal", title="Kelpwax", answer="grey wax")`
    """
    macro = getattr(_env.get_template(name).module, form)
    return str(macro(**variables)).strip()
