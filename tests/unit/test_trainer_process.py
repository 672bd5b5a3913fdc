"""The trainer child dies with its run: killed with its parent, stopped if left behind, and
holding the run's writer lock while it lives."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

from agentrun.agents.trainer import stop_stale_trainer
from agentrun.workspace import Run
from tests.unit.test_benchmarks import BENCHMARKS


def load(name):
    sys.path.insert(0, str(BENCHMARKS))  # for its `common`
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCHMARKS))
    return module


# The stand-ins of benchmarks/reliability.py (the same experiment): a trainer with the real
# one's start (die_with_parent), one progress line, then it trains "forever"; its command line
# names the module, as the real one's does. And a run that drives it under its writer lock.
RELIABILITY = load("reliability")
FAKE_TRAINER, PARENT = RELIABILITY.STAND_IN, RELIABILITY.DRIVER


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_for(check, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_killed_run_takes_its_trainer_with_it_and_frees_the_run(tmp_path):
    run = Run(tmp_path / "runs" / "r1")
    run.create()
    pid_file = run.root / "iter-1.trainer.pid"
    ready = tmp_path / "ready"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(run.root), FAKE_TRAINER],
                              env={**os.environ, "READY": str(ready)})
    wait_for(ready.exists)
    trainer = int(pid_file.read_text())
    assert alive(trainer) and os.getpgid(trainer) == trainer  # a process group of its own
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    wait_for(lambda: not alive(trainer), timeout=10)
    with run.writer("agentrun resume"):  # the lock the trainer kept is free again
        assert "agentrun resume" in (run.root / "run.lock").read_text()


def test_a_trainer_left_behind_is_stopped_before_another_starts(tmp_path):
    pid_file = tmp_path / "iter-1.trainer.pid"
    orphan = subprocess.Popen([sys.executable, "-c", FAKE_TRAINER, "agentrun.training.sft"],
                              stdout=subprocess.PIPE, start_new_session=True,
                              env={**os.environ, "READY": str(tmp_path / "ready")})
    assert json.loads(orphan.stdout.readline())["event"] == "begin"
    pid_file.write_text(str(orphan.pid))
    stop_stale_trainer(pid_file)
    assert orphan.wait(timeout=10) == -signal.SIGKILL and not pid_file.exists()
    # a pid that is not a trainer (recycled by another program) is left alone
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    pid_file.write_text(str(other.pid))
    stop_stale_trainer(pid_file)
    assert other.poll() is None and not pid_file.exists()
    other.kill()
    other.wait()
