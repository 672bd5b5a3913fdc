"""Errors a user can fix: each carries one line that names the file or setting and the fix."""


class AgentrunError(Exception):
    """A problem with the user's input or environment, reported as one line (no traceback)."""


class ConfigError(AgentrunError):
    """`agentrun.yaml`, an environment variable or a flag is invalid."""


class SourceError(AgentrunError):
    """A source file cannot be used (missing, empty, binary, unreadable)."""


class BackendError(AgentrunError):
    """A model backend cannot serve a request (server down, model missing, bad output)."""


class TrainingError(AgentrunError):
    """Training failed in its child process; the cause is recorded in the run."""
