"""Secrets kept off disk and screen: credentials in URLs and the values of key variables.

A `base_url` may carry a user and password (`https://user:pass@host/v1`) or a key in its query
(`?api_key=…`); a role's `api_key_env` names a variable whose value is sent as a Bearer token.
Neither may reach an error line, a log, `run.json`, a checkpoint, a queue file or a card:
everything agentrun writes about settings or failures passes through `redact`.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")
_QUERY_KEY = re.compile(
    r"(?i)(?P<name>[?&;](?:api[_-]?key|key|token|access[_-]?token|auth|password|secret|sig)=)"
    r"[^&;#\s\"']+")
MIN_SECRET = 6
"""Shorter values are not masked (masking every "abc" in a text would garble it)."""

_secrets: set[str] = set()
_lock = threading.Lock()


def remember_secret(value: str | None) -> None:
    """Mask `value` (a key variable's value) wherever `redact` sees it from now on."""
    if value and len(value) >= MIN_SECRET:
        with _lock:
            _secrets.add(value)


def redact_url(text: str) -> str:
    """Return `text` with credentials in its URLs masked (user:password@ and key parameters)."""
    text = _USERINFO.sub(lambda m: f"{m['scheme']}{MASK}@", text)
    return _QUERY_KEY.sub(lambda m: f"{m['name']}{MASK}", text)


def redact(text: str) -> str:
    """Return `text` with URL credentials and every remembered key value masked."""
    text = redact_url(text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_data(value: Any) -> Any:
    """Return a JSON-like value with every string in it redacted (settings, run contexts)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message before any handler writes it."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the record's message once, redacted; always keep the record."""
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True
