"""The guard in front of `agentrun studio`'s server: Studio and this machine drive it, no one else.

`langgraph dev` answers any origin (`access-control-allow-origin: *`), any `Host` and any body
type, so a web page the person happens to open could start runs on their machine: a
`text/plain` POST needs no preflight, and a rebinding DNS name reaches 127.0.0.1 under a
foreign `Host`. This app, mounted as the server's `http.app`, puts one middleware before all of
the server's routes, HTTP and WebSocket alike (the server streams a thread's events, and takes
commands that start runs, over `/threads/{id}/stream/events`), that refuses, with 403 or 415 and
one line (a refused WebSocket handshake is closed before it is accepted: the client reads 403):

- a `Host` that is not the address the server was started on (or a loopback name);
- an `Origin` that is neither LangGraph Studio's nor a loopback page;
- a POST, PUT or PATCH whose body is not JSON (forms and plain text are what a foreign page
  can send without asking the browser first).

Any other kind of connection than HTTP, WebSocket and the server's own lifespan events is
refused too: a protocol the guard does not read is not served.

CORS itself is narrowed in the server's `langgraph.json` (`http.cors`, studio.py).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware

log = logging.getLogger(__name__)

STUDIO_ORIGINS = ("https://smith.langchain.com", "https://eu.smith.langchain.com")
LOOPBACK_ORIGIN = r"^https?://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?$"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
HOSTS_ENV = "AGENTRUN_STUDIO_HOSTS"
"""Comma-separated host names the server answers besides loopback (set by `agentrun studio`);
`*` when it was bound to every interface on purpose."""
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
                Awaitable[None]]


def refusal(method: str, headers: dict[str, str], hosts: frozenset[str]) -> tuple[int, str] | None:
    """Return (status, reason) for a request the server must not serve, or None."""
    host = _host_name(headers.get("host", ""))
    if "*" not in hosts and host not in hosts:
        return 403, f"Host '{host}' is not this server's address"
    origin = headers.get("origin")
    if origin and origin not in STUDIO_ORIGINS and not re.match(LOOPBACK_ORIGIN, origin):
        return 403, f"Origin '{origin}' may not drive this server (only LangGraph Studio)"
    if method in BODY_METHODS and _has_body(headers):
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            return 415, f"a {method} body must be application/json, not '{kind or 'none'}'"
    return None


def _host_name(host: str) -> str:
    if host.startswith("["):  # [::1]:2024
        return host[1:].split("]")[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _has_body(headers: dict[str, str]) -> bool:
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


def served_hosts() -> frozenset[str]:
    """Return the host names this server answers: loopback and `AGENTRUN_STUDIO_HOSTS`."""
    extra = {h.strip() for h in os.environ.get(HOSTS_ENV, "").split(",") if h.strip()}
    return LOOPBACK_HOSTS | extra


class Guard:
    """ASGI middleware that refuses what `refusal` names before any route runs."""

    def __init__(self, app: ASGI):
        self.app = app
        self.hosts = served_hosts()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        """Serve the request, or answer it with the refusal."""
        kind = scope["type"]
        if kind == "lifespan":  # the server's start and stop, from no caller
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        refused = (refusal(scope.get("method", "GET"), headers, self.hosts)
                   if kind in ("http", "websocket") else (403, f"{kind}: not served"))
        if refused is None:
            await self.app(scope, receive, send)
        elif kind == "http":
            await self._answer(send, *refused)
        elif kind == "websocket":  # closed before accepting: the handshake gets 403
            log.warning("refused a WebSocket: %r", refused[1])  # %r: a header's escapes stay inert
            await send({"type": "websocket.close", "code": 1008, "reason": refused[1][:120]})
        else:
            log.warning("refused a connection: %r", refused[1])

    @staticmethod
    async def _answer(send: Any, status: int, reason: str) -> None:
        body = json.dumps({"detail": reason}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


app = Starlette(middleware=[Middleware(Guard)])
"""Mounted by the server's `langgraph.json` (`http.app`): no routes, only the guard."""
