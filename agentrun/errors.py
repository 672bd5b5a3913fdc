"""Errors a user can fix: each carries one line that names the file or setting and the fix."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentrun.redact import redact


class AgentrunError(Exception):
    """A problem with the user's input or environment, reported as one line (no traceback).

    The line is redacted when the error is made (credentials in URLs, values of key
    variables), so it carries no secret to the terminal, `run.json` or a checkpoint.
    """

    def __init__(self, *args: object):
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class ConfigError(AgentrunError):
    """`agentrun.yaml`, an environment variable or a flag is invalid."""


class SourceError(AgentrunError):
    """A source file cannot be used (missing, empty, binary, unreadable)."""


class BackendError(AgentrunError):
    """A model backend cannot serve a request (server down, model missing, bad output)."""


class TrainingError(AgentrunError):
    """Training failed in its child process; the cause is recorded in the run."""


class DamagedFileError(AgentrunError):
    """A file agentrun keeps cannot be read: truncated, corrupted, or edited into nonsense."""


OS_FIXES = {
    errno.ENOSPC: "free some space, then run the command again (`agentrun resume RUN` "
                  "continues a run)",
    errno.EDQUOT: "free some space, then run the command again",
    errno.EACCES: "give yourself access to it, or choose another place",
    errno.EPERM: "give yourself access to it, or choose another place",
    errno.EROFS: "choose a place on a writable disk",
    errno.EISDIR: "a folder is where a file goes: move it aside or choose another path",
    errno.ENOTDIR: "a file is where a folder goes: move it aside or choose another path",
    errno.EEXIST: "move it aside or choose another path",
}
"""What to do about the OS errors a user causes (a full disk, permissions, a wrong path)."""


def os_error_line(exc: OSError) -> str:
    """Return an OS error as one line: the file, the system's reason, and the fix."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    fix = OS_FIXES.get(exc.errno or 0)
    where = f"{exc.filename}: " if exc.filename is not None else ""  # a socket, a pipe: no file
    return redact(f"{where}{reason}" + (f"; {fix}" if fix else ""))


@contextmanager
def sqlite_file(path: Path, what: str, fix: str) -> Iterator[None]:
    """Turn a damaged SQLite file's error into one line naming it, what it held, and the fix.

    Only damage is turned (not a database, malformed); a locked or full database is not.
    """
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if type(exc) is not sqlite3.DatabaseError:  # OperationalError & co: not damage
            raise
        raise DamagedFileError(f"{path}: {what} is damaged ({exc}); {fix}") from None
