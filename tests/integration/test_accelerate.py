"""Training through `accelerate launch` with 2 CPU processes (DDP over gloo), from the same
entry point and recipe as one process: its loss curve matches one process at the same
global batch, and a run killed takes every training process with it."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agentrun.agents.trainer import train_adapter
from agentrun.training.sft import COMPLETE
from tests.unit.test_training import corpus, recipe

pytestmark = pytest.mark.integration


def test_two_cpu_processes_train_like_one_at_the_same_global_batch(tiny_model, tmp_path):
    steps = 12
    one = train_adapter(corpus(), tiny_model, tmp_path / "one", recipe(
        batch_size=4, max_steps=steps, padding_free=False), tmp_path / "one.log")
    two = train_adapter(corpus(), tiny_model, tmp_path / "two", recipe(
        batch_size=2, processes=2, max_steps=steps, padding_free=False), tmp_path / "two.log")
    assert (tmp_path / "two" / COMPLETE).exists()
    assert (tmp_path / "two" / "adapter_model.safetensors").exists()
    assert one.metrics["processes"] == 1 and two.metrics["processes"] == 2
    a, b = one.metrics["losses"], two.metrics["losses"]
    assert len(a) == len(b) == steps
    assert b[-1] < b[0]  # the two processes learned
    # the same global batch of 4 rows a step: the curves agree within a few percent
    gaps = [abs(x - y) / x for x, y in zip(a, b, strict=True)]
    assert max(gaps) < 0.01, list(zip(a, b, strict=True))


DRIVER = """
import sys
from pathlib import Path
from agentrun.agents.trainer import train_adapter
from tests.unit.test_training import corpus, recipe
train_adapter(corpus(), Path(sys.argv[1]), Path(sys.argv[2]),
              recipe(batch_size=2, processes=2, max_steps=100000, save_steps=100000),
              Path(sys.argv[2] + ".log"))
"""


def trainers_of(out):
    """Return the pids of live processes whose command line names `out`."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(out).encode() in (proc / "cmdline").read_bytes() \
                    and (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z":
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def test_a_killed_run_takes_every_training_process_with_it(tiny_model, tmp_path):
    out = tmp_path / "adapter"
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, str(tiny_model), str(out)],
                              cwd=Path(__file__).resolve().parents[2])
    deadline = time.time() + 300
    # the launcher and its two training processes (which read the training data)
    while len(trainers_of(out)) < 3:
        assert driver.poll() is None and time.time() < deadline, "training never started"
        time.sleep(0.2)
    time.sleep(3)  # well into training
    assert len(trainers_of(out)) >= 3
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    deadline = time.time() + 20
    while trainers_of(out) and time.time() < deadline:
        time.sleep(0.1)
    left = trainers_of(out)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == [], "training processes outlived their run"
