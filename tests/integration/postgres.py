"""A throwaway PostgreSQL cluster on 127.0.0.1 for a test: initdb in a temp folder, pg_ctl
start on a free port, password login, stopped and removed afterwards.

The server comes from Debian's `postgresql` package (.ci/services installs it). PostgreSQL
refuses to run as root, so as root the cluster belongs to the package's `postgres` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PASSWORD = "pg-canary-5521"


def server_bin() -> Path | None:
    """Return the folder of PostgreSQL's server programs, if it is installed."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    folders = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(folders[-1]).parent if folders else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yield the URL of a fresh cluster's `postgres` database (user postgres, a password)."""
    folder = server_bin()
    if folder is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed: .ci/services installs it")
        pytest.skip("PostgreSQL is not installed (Debian's postgresql package)")
    root = Path(tempfile.mkdtemp(prefix="agentrun-pg-"))
    as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    (root / "pw").write_text(PASSWORD)
    if as_owner:
        shutil.chown(root, "postgres")
        shutil.chown(root / "pw", "postgres")
    data, port = root / "data", _free_port()

    def pg(*args: str) -> None:
        subprocess.run([*as_owner, *args], check=True, capture_output=True, text=True)

    try:
        pg(str(folder / "initdb"), "-D", str(data), "-U", "postgres", "--auth=scram-sha-256",
           f"--pwfile={root / 'pw'}", "-E", "UTF8")
        pg(str(folder / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
           f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start")
        yield f"postgresql://postgres:{PASSWORD}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_owner, str(folder / "pg_ctl"), "-D", str(data), "-m", "immediate",
                        "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
