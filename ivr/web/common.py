"""Web, shared edge pieces: who is asking, the clock, and errors as {"error", "details"} JSON.

Domain errors become HTTP errors here, at the edge, and only here: under /api/ every error,
aiohttp's own 404/405 included, leaves as JSON; pages keep aiohttp's plain text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from ivr.accounts import ApiKey, Session, User
from ivr.errors import InputError, StoreError

log = logging.getLogger(__name__)

CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
API_PREFIX = "/api/"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Identity:
    """Who sent a request: a signed-in official (with a session) or an office's API key."""

    actor: str  # for the audit log: user:<name> | apikey:<id>
    session: Session | None = None
    key: ApiKey | None = None

    @property
    def user(self) -> User | None:
        return self.session.user if self.session else None


_IDENTITY: web.RequestKey[Identity | None] = web.RequestKey("identity")
_BAD_CREDENTIALS = web.RequestKey("bad_credentials", bool)


def identity(request: web.Request) -> Identity | None:
    """Return who sent the request, as the auth middleware found out, or None."""
    return request.get(_IDENTITY)


def set_identity(request: web.Request, who: Identity | None, *, bad_credentials: bool) -> None:
    request[_IDENTITY] = who
    request[_BAD_CREDENTIALS] = bad_credentials


def bad_credentials(request: web.Request) -> bool:
    """Tell whether the request carried an Authorization header that matched no live key."""
    return bool(request.get(_BAD_CREDENTIALS, False))


def now(request: web.Request) -> datetime:
    return request.app[CLOCK]()


def error_body(message: str, details: dict[str, Any] | None = None) -> str:
    return json.dumps({"error": message, "details": details or {}}, ensure_ascii=False)


def json_error(cls: type[web.HTTPException], message: str, details: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None, **init: Any) -> web.HTTPException:
    """Build an HTTP error whose body is {"error": message, "details": {...}}; raise it."""
    return cls(text=error_body(message, details), content_type="application/json",
               headers=headers, **init)


_KEEP_HEADERS = ("WWW-Authenticate", "Allow", "Retry-After")


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn errors under /api/ into JSON bodies; turn stray domain errors into clean 4xx/503."""
    api = request.path.startswith(API_PREFIX)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if not api or exc.status < 400 or exc.content_type == "application/json":
            raise
        headers = {k: v for k in _KEEP_HEADERS if (v := exc.headers.get(k))}
        return web.Response(status=exc.status, text=error_body(exc.reason),
                            content_type="application/json", headers=headers)
    except InputError as exc:
        if not api:
            raise web.HTTPBadRequest(text=str(exc)) from None
        return web.Response(status=400, text=error_body(str(exc)), content_type="application/json")
    except StoreError as exc:
        log.error("store error on %s %s: %s", request.method, request.path, exc)
        message = "the store is not available; try again"
        if not api:
            raise web.HTTPServiceUnavailable(text=message) from None
        return web.Response(status=503, text=error_body(message), content_type="application/json",
                            headers={"Retry-After": "30"})
