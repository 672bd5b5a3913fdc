"""A vault of 20,000 notes with every kind of bad note in it is planned, each bad note in a line.

The real CLI in a subprocess, as a person runs it: `agentrun plan DIR --no-model`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from agentrun.examples.synthetic import write_vault
from agentrun.workspace import load_map
from tests.integration.conftest import agentrun

pytestmark = pytest.mark.integration

NOTES = 20_000
BAD = {
    "empty.md": (b"", "empty.md: empty file"),
    "blob.md": (b"\x00\x01\x02binary", "blob.md: looks binary"),
    "only code.md": (b"# Only code\n\n```python\nprint('hi')\n```\n", "no text to learn from"),
    "broken front matter.md": (b"---\ntitle: [unclosed\n---\nThe lamp burns all night long.\n",
                               "front-matter is not valid YAML"),
}
ODD = {  # notes that are strange but readable: planned without a word
    "bom crlf.md": "\ufeff# Bom Crlf\r\n\r\nThe tower is old.\r\nIt was built in 1821.\r\n",
    "deep list.md": "# Deep List\n\n" + "".join("  " * i + f"- level {i} of the list\n"
                                               for i in range(300)),
    "japanese.md": "# 灯台\n\n灯台守は毎晩灯りをともします。霧の夜は鐘を鳴らします。\n",
    "self link.md": "# Self Link\n\nThis note links [[Self Link]] to itself on purpose.\n",
    "embed a.md": "# Embed A\n\nNote A embeds the other note here.\n\n![[Embed B]]\n",
    "embed b.md": "# Embed B\n\nNote B embeds the first note back.\n\n![[Embed A]]\n",
}


@pytest.mark.slow
def test_twenty_thousand_notes_and_every_bad_note_are_planned_or_skipped_in_a_line(
        tmp_path: Path):
    sources = write_vault(tmp_path, NOTES)
    for name, (content, _) in BAD.items():
        (sources / name).write_bytes(content)
    for name, text in ODD.items():
        (sources / name).write_bytes(text.encode("utf-8"))
    proc = agentrun("plan", str(tmp_path), "--no-model")
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    assert "Traceback" not in out
    flat = " ".join(out.split())
    for name, (_, expected) in BAD.items():
        assert expected in flat, (name, out[-3000:])
    m = load_map(tmp_path / "map.yaml")
    # every readable note is a node ("broken front matter" keeps its text; the 300-item list
    # is cut into parts of at most 40 facts)
    parts = [n for n in m.nodes if n.title.startswith("Deep List")]  # 300 facts
    assert len(m.nodes) == NOTES + len(ODD) + 1 + len(parts) - 1 and len(parts) == 8
    assert all(len(n.facts) <= 40 for n in parts) and any("split into" in p for p in m.problems)
    # the terminal gets a readable summary, not twenty thousand branches
    assert len(out.splitlines()) < 600 and f"{len(m.nodes) - 60:,} more nodes" in flat
    assert not m.unresolved_links
    assert {("embed-a", "embed-b"), ("embed-b", "embed-a")} <= {(a.src, a.dst)
                                                                for a in m.anchors}
    assert not any(a.src == a.dst for a in m.anchors)
