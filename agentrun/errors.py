"""Errors a user can fix: each carries one line that names the file or setting and the fix."""

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
