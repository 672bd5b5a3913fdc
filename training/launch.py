"""Launch the training child on several processes with `accelerate launch` (DDP, FSDP, DeepSpeed).

    python -m agentrun.training.launch --num_processes 2 [--config_file F] \
        --module agentrun.training.sft --model … --data … --out … --recipe …

`accelerate launch` itself, run in this process, which dies with the run that started it and
passes that on: each training process dies with this launcher (`die_with_parent`), so
killing a run takes every process of its training with it. On a machine without a GPU the
processes train on the CPU and sync over gloo.
"""

from __future__ import annotations

import os
import sys

from agentrun.training.sft import PARENT_ENV, die_with_parent


def launch_args(processes: int, config_file: str | None, gpus: int) -> list[str]:
    """Return the `accelerate launch` options for `processes` processes."""
    args = ["--num_processes", str(processes), "--num_machines", "1", "--dynamo_backend", "no"]
    if config_file:
        return ["--config_file", config_file, *args]
    # `--multi_gpu` is accelerate's multi-process launcher (torchrun); without a GPU the
    # processes find none and train on the CPU over gloo (accelerate's MULTI_CPU)
    return [*args, "--multi_gpu", "--mixed_precision", "no"] if processes > 1 or gpus > 1 \
        else [*args, "--mixed_precision", "no"]


def main(argv: list[str]) -> int:
    """Run `accelerate launch` with `argv`; its training processes die with this one."""
    from accelerate.commands.launch import launch_command, launch_command_parser

    die_with_parent()
    os.environ[PARENT_ENV] = str(os.getpid())  # the processes' parent is this launcher
    launch_command(launch_command_parser().parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
