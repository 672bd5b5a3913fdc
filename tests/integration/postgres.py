"""A throwaway PostgreSQL cluster for a test (benchmarks/common.py starts and removes it).

The server comes from Debian's `postgresql` package, which .ci/services installs; without it
a test is skipped here and fails in CI.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PASSWORD = "pg-canary-5521"
_COMMON = Path(__file__).resolve().parents[2] / "benchmarks" / "common.py"


def _common():
    spec = importlib.util.spec_from_file_location("agentrun_bench_common", _COMMON)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yield the URL of a fresh cluster's `postgres` database (user postgres, a password)."""
    common = _common()
    if common.postgres_bin() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: .ci/services installs it")
        pytest.skip("PostgreSQL is not installed (Debian's postgresql package)")
    with common.postgres_cluster(PASSWORD) as url:
        yield url
