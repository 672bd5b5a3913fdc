"""Write a synthetic Obsidian-style vault of any size, for scaling tests and benchmarks.

python -m agentrun.examples.synthetic /tmp/vault 500

Every note is an invented place with facts about its founding, its trade and its neighbours,
linked to three other notes by `[[wikilinks]]` (one through an alias, one to a heading), so
planning meets the same structures as in a person's vault at any size.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

SYLLABLES = ["mar", "vel", "tor", "ash", "quin", "dor", "bre", "lis", "kan", "ob", "ru", "sel",
             "fen", "gal", "ith", "nor", "pel", "zar", "hum", "cly"]
GOODS = ["amber", "salt", "copper", "kelp", "glass", "wool", "tin", "cedar", "pearls", "flax"]


def place_name(i: int) -> str:
    """Return a distinct invented name for note number `i`."""
    rng = random.Random(i)
    stem = "".join(rng.choice(SYLLABLES) for _ in range(2)).capitalize()
    return f"{stem} {i}"


def word(rng: random.Random) -> str:
    """Return an invented lower-case word (so notes differ the way real ones do)."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))


def write_vault(folder: Path, n_notes: int, seed: int = 0) -> Path:
    """Write `n_notes` linked notes under `folder/sources` and return that folder."""
    rng = random.Random(seed)
    sources = folder / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    for i in range(n_notes):
        name = place_name(i)
        others = [place_name(j) for j in rng.sample(range(n_notes), min(3, n_notes))
                  if j != i] or [name]
        year = 1200 + rng.randrange(600)
        good, other_good = rng.sample(GOODS, 2)
        w = [word(rng) for _ in range(8)]
        body = [
            f"---\naliases: [{name.split()[0]} Town]\ntags: [place]\n---\n# {name}\n",
            f"{name} is a {w[0]} harbour founded in the year {year} by {w[1]} traders. "
            f"Its market sells {good} and {w[2]} to the towns along the coast. "
            f"The town trades {other_good} with [[{others[0]}]] every {w[3]} spring.",
            "\n## Trade\n",
            f"The {w[4]} guild of {name} keeps a ledger of every cargo. "
            f"Ships from {name} carry {good} to [[{others[-1]}|the northern port]]. "
            f"Merchants of {name} pay their {w[5]} tax in {other_good}.",
            "\n## Neighbours\n",
            f"The road to [[{others[min(1, len(others) - 1)]}#Trade]] crosses {w[6]} rivers. "
            f"Travellers from {name} rest at an inn called the {w[7].capitalize()} Lantern.",
        ]
        (sources / f"{name}.md").write_text("\n".join(body) + "\n", encoding="utf-8")
    return sources


if __name__ == "__main__":
    target, count = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 50
    print(write_vault(target, count))
