"""The trainer child dies with its run: killed with its parent, stopped if left behind, and
holding the run's writer lock while it lives."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

from agentrun.agents.trainer import stop_stale_trainer
from agentrun.workspace import Run

# A stand-in for `python -m agentrun.training.sft`: the same start (die_with_parent), one
# progress line, then it trains "forever". Its command line names the module, as the real one.
FAKE_TRAINER = textwrap.dedent("""
    import os, pathlib, time
    from agentrun.training.sft import die_with_parent
    die_with_parent()
    print('{"event": "begin", "max_steps": 10}', flush=True)
    if os.environ.get("READY"):  # from here on it writes nothing that could fail it
        pathlib.Path(os.environ["READY"]).touch()
    time.sleep(120)
""")

PARENT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from agentrun.agents.trainer import _run_child
    from agentrun.workspace import Run
    run = Run(Path(sys.argv[1]))
    with run.writer("agentrun resume (test)"):
        _run_child([sys.executable, "-c", sys.argv[2], "agentrun.training.sft"],
                   run.logs_dir / "train.log", "train", run.root / "iter-1.trainer.pid")
""")


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
                              stdout=subprocess.PIPE, start_new_session=True)
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
