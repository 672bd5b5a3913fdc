"""Grounded model rewrites: precision and recall of accepting real embedded-model outputs.

tests/fixtures/rewrites.jsonl holds rephrasings and dialogues the embedded contractor model
(SmolLM2-135M-Instruct) wrote for the bundled example and the English and Russian test
vaults, with the facts each was written from. The labels below were given by hand, one per
output, by these criteria: an output is *supported* when every sentence of its answers says
only what its node's (or an anchored node's) facts say, names and numbers as the facts give
them; it is *unsupported* when any sentence adds a claim, changes a name or number, or
attributes a fact to the wrong thing. The checker must keep what is supported and reject
the rest: precision of acceptance ≥ 0.98 at recall ≥ 0.5.
"""

import json
from pathlib import Path

import pytest

from agentrun.agents.checker import Checker
from agentrun.config import CheckerSettings
from agentrun.memory.store import Memory
from agentrun.schemas import DatasetMap, Example, Fact, Node, Provenance

CASES = Path(__file__).parents[1] / "fixtures" / "rewrites.jsonl"
