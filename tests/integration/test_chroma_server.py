"""Memory on a Chroma server (`chroma run` on 127.0.0.1): two workers add to one corpus at
once with nothing lost or doubled, and a near duplicate one worker wrote is rejected for the
other, whose index was loaded before it was written."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentrun.agents.checker import Checker
from agentrun.config import CheckerSettings
from agentrun.errors import ConfigError
from agentrun.memory.store import Memory
from tests.unit.test_architect import example_map
from tests.unit.test_checker import GOOD, GOOD2, ex

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def chroma(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tmp_path_factory.mktemp("chroma-server")
    chroma_cli = Path(sys.executable).parent / "chroma"
    proc = subprocess.Popen([str(chroma_cli), "run", "--path", str(folder), "--host",
                             "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            Memory(folder / "probe", url, "probe")
            break
        except ConfigError:
            assert proc.poll() is None and time.time() < deadline, "chroma run did not start"
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


WRITER = """
import json, sys
import numpy as np
from pathlib import Path
from agentrun.memory.store import Memory
from agentrun.schemas import Example, ExampleKind, Provenance

url, collection, first, count, folder = sys.argv[1:6]
memory = Memory(Path(folder), url, collection)
memory.near_index(0.85, 128)
prov = Provenance(role="contractor", generator="test", run=f"w{first}", iteration=1)
examples = [Example(node_id="n", kind=ExampleKind.exercise, provenance=prov, messages=[
    {"role": "user", "content": f"What is item {i}?"},
    {"role": "assistant", "content": f"Item {i} is the {i}th lamp of the harbour."}]).with_id()
    for i in range(int(first), int(first) + int(count))]
rng = np.random.default_rng(int(first))
for start in range(0, len(examples), 10):
    batch = examples[start:start + 10]
    memory.add(batch, rng.random((len(batch), 8)).astype("float32"), f"w{first}/01-01")
print(json.dumps([e.id for e in examples]))
"""


def test_two_workers_add_to_one_corpus_at_once(chroma, tmp_path):
    # worker 1 writes items 0-149, worker 2 items 100-249: 50 in both
    workers = [subprocess.Popen([sys.executable, "-c", WRITER, chroma, "two-writers", first,
                                 "150", str(tmp_path / f"w{first}")],
                                stdout=subprocess.PIPE, text=True) for first in ("0", "100")]
    written = [json.loads(w.communicate(timeout=300)[0]) for w in workers]
    assert all(w.returncode == 0 for w in workers)
    ids = set(written[0]) | set(written[1])
    assert len(ids) == 250 and len(set(written[0]) & set(written[1])) == 50
    memory = Memory(tmp_path / "reader", chroma, "two-writers")
    assert memory.count() == 250  # no example lost, none doubled
    assert set(memory.existing(sorted(ids))) == ids


def test_a_near_duplicate_one_worker_wrote_is_rejected_for_the_other(chroma, tmp_path,
                                                                    embedder):
    other = Checker(example_map(), Memory(tmp_path / "b", chroma, "near"), embedder,
                    CheckerSettings())
    assert other.check([GOOD2], "b/01-01").examples[0].verdict.accepted  # loads its index
    # the first worker, another process, accepts GOOD and commits it to the server
    script = (
        "import sys; from pathlib import Path\n"
        "from agentrun.agents.checker import Checker\n"
        "from agentrun.config import CheckerSettings\n"
        "from agentrun.memory.embeddings import load_embedder\n"
        "from agentrun.memory.store import Memory\n"
        "from tests.unit.test_architect import example_map\n"
        "from tests.unit.test_checker import GOOD\n"
        "c = Checker(example_map(), Memory(Path(sys.argv[2]), sys.argv[1], 'near'),\n"
        "            load_embedder(), CheckerSettings())\n"
        "r = c.check([GOOD], 'a/01-01')\n"
        "assert r.examples[0].verdict.accepted\n"
        "c.commit(r, 'a/01-01')\n")
    done = subprocess.run([sys.executable, "-c", script, chroma, str(tmp_path / "a")],
                          capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-2000:]
    # the MinHash index takes in what the other worker added (the embedding check, on the
    # server, sees it anyway)
    settings = CheckerSettings()
    assert GOOD.id in other.memory.near_index(settings.minhash_threshold, settings.num_perm)
    near = ex("brinefire", "What is brinefire refined from, exactly?",
              "Brinefire is a lamp fuel refined from the oil of red kelp.")
    got = other.check([GOOD, near], "b/01-02").examples
    assert got[0].verdict.reasons[0].code == "duplicate_of"
    assert got[1].verdict.reasons[0].code == "near_duplicate_of"
    assert got[1].verdict.reasons[0].other == GOOD.id
    # the first worker forgets GOOD (its fork kept another alternative): the other worker's
    # index still holds it, and an example only its punctuation away (MinHash: the same
    # word 3-grams) is no longer rejected for it
    twin = ex("brinefire", "What is brinefire refined from?",
              "Brinefire is a lamp fuel refined from the oil of red kelp!")
    assert other.memory.near_index(settings.minhash_threshold, settings.num_perm).query(
        twin.content())[1] == 1.0
    Memory(tmp_path / "a", chroma, "near").remove([GOOD.id])
    assert other.check([twin], "b/01-03").examples[0].verdict.accepted


def test_a_memory_server_that_does_not_answer_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"memory.server: http://127.0.0.1:9: the Chroma "
                                          "server does not answer"):
        Memory(tmp_path / "x", "http://127.0.0.1:9")
