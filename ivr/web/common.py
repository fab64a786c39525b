"""Web, the shared edge every route module imports: app keys, the clock, who is asking, the one
access guard, strict parsing of what a request carries, rendering, and errors.

The routes (auth, api, cases, dashboard, prompts) import this module and nothing of each other's
plumbing; the app factory (ivr.web.app) imports the routes. Nothing here imports a route, so
ivr/web has no import cycle.

Domain errors become HTTP errors here, at the edge, and only here: under /api/ every error,
aiohttp's own 404/405 included, leaves as {"error": "...", "details": {...}} JSON; elsewhere as
an HTML page. A request body is read only through `read_form`, `read_json` or `read_body`:
within the route's size limit (small unless the route says otherwise), within a read timeout,
and with every way a body can be malformed turned into a 400 rather than a 500. Ids and the
Range header are read by one strict parser (ASCII digits only).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, cast

import jinja2
from aiohttp import ClientPayloadError, web
from multidict import CIMultiDict, MultiDictProxy

from ivr.accounts import ApiKey, Area, Role, Session, User, may
from ivr.config import Settings
from ivr.engine import Engine
from ivr.errors import ConfigError, FlowError, InputError, StoreError
from ivr.flows.definitions import SurveyBook, load_surveys
from ivr.store import SQLiteStore
from ivr.web import assets, i18n

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------- app keys

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", SQLiteStore)
ENGINE = web.AppKey("engine", Engine)
CLOCK: web.AppKey[Callable[[], datetime]] = web.AppKey("clock")
TEMPLATES = web.AppKey("templates", jinja2.Environment)
# The survey definitions, for showing answers in their own words (ivr.web.words); None if
# they cannot be read (the engine refuses to start then; a dashboard alone shows raw keys).
SURVEYS: web.AppKey[SurveyBook | None] = web.AppKey("surveys")
# Routes allowed a body larger than settings.web_max_body: handler -> a function of the
# settings giving its limit in bytes (uploads, intake batches).
BODY_LIMITS: web.AppKey[dict[Any, Callable[[Settings], int]]] = web.AppKey("body_limits")

API_PREFIX = "/api/"
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="rabta"'}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Every response gets these unless it set its own (pages set a CSP that lets their own styles
# in: `render` adds the page's nonce to style-src and script-src, so no 'unsafe-inline').
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
                               "form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
PAGE_HEADERS = {
    **SECURITY_HEADERS,
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; media-src 'self'; "
                               "font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
}
SERVER_NAME = "Rabta"  # no product versions in the Server header


def utcnow() -> datetime:
    return datetime.now(UTC)


def now(request: web.Request) -> datetime:
    """Return the app's clock reading (tests set the clock)."""
    return request.app[CLOCK]()


def is_api(request: web.Request) -> bool:
    return request.path.startswith(API_PREFIX)


def templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    i18n.configure(env)  # {{ _("...") }} in the official's language, the |data filter
    env.globals["static"] = assets.url  # {{ static('overview.js') }}: the content-hashed URL
    return env


def render(request: web.Request, template: str, status: int = 200,
           headers: dict[str, str] | None = None, **context: object) -> web.Response:
    """Render a page from ivr/web/templates with the security headers every page gets, in the
    official's language (ivr.web.i18n), with the notice of the change just made, if any."""
    said = _notice(request)
    html = request.app[TEMPLATES].get_template(template).render({**page_context(request),
                                                                 "flash": said, **context})
    response = web.Response(text=html, status=status, content_type="text/html",
                            headers=page_headers(request, headers or PAGE_HEADERS))
    if NOTICE_COOKIE in request.cookies:
        response.del_cookie(NOTICE_COOKIE, path="/")  # shown once
    return response


def page_context(request: web.Request) -> dict[str, Any]:
    """What every page's template needs: the official's language and the page's CSP nonce."""
    return {**i18n.context(request), "nonce": assets.nonce(request)}


def page_headers(request: web.Request, headers: dict[str, str]) -> dict[str, str]:
    """Return a page's headers with its nonce in the CSP (its own <style>/<script> tags)."""
    out = dict(headers)
    if csp := out.get("Content-Security-Policy"):
        out["Content-Security-Policy"] = assets.with_nonce(csp, assets.nonce(request))
    return out


# ---------------------------------------------------------------------------- notices

# A notice after every change, shown on the page the change redirects to (post, redirect,
# get). The cookie carries only a key of this table and, for some, a code the page shows in
# words (a case status): never text from the request, so it cannot inject anything.
NOTICE_COOKIE = "rabta_notice"
NOTICES = {
    "case_moved": i18n.N_("Saved: the case is now “%(code)s”."),
    "case_noted": i18n.N_("Saved: your note is in the case's history below."),
    "prompt_uploaded": i18n.N_("Uploaded: the recording is a draft until it is approved."),
    "prompt_changed": i18n.N_("Saved: the prompt version is now “%(code)s”."),
}
_NOTICE_CODE = re.compile(r"[a-z_]{1,32}")


def see_other(location: str, notice: str, code: str = "") -> web.HTTPSeeOther:
    """Return a 303 to `location` that shows the notice `notice` (a key of NOTICES) there."""
    assert notice in NOTICES and (not code or _NOTICE_CODE.fullmatch(code))
    response = web.HTTPSeeOther(location)
    response.set_cookie(NOTICE_COOKIE, f"{notice}.{code}" if code else notice, path="/",
                        max_age=120, httponly=True, samesite="Lax")
    return response


def _notice(request: web.Request) -> str:
    """Return the notice a redirect left for this page, in the official's language, or ""."""
    raw = request.cookies.get(NOTICE_COOKIE, "")
    key, _, code = raw.partition(".")
    if key not in NOTICES or (code and not _NOTICE_CODE.fullmatch(code)):
        return ""
    text = i18n.gettext(request, NOTICES[key])
    return text % {"code": i18n.gettext(request, code)} if "%(code)s" in text else text


# ---------------------------------------------------------------------------- who is asking


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


def require(request: web.Request, area: Area = Area.RESULTS, *, role: Role | None = None,
            what: str = "see this") -> User:
    """Return the signed-in official if their role may use `area` (and is `role`, if given).

    The one access guard of every official's route. Nobody signed in: a page goes to /login,
    the API answers 401 with WWW-Authenticate. An office API key (keys are for intake only), or
    a role that may not: 403, JSON under /api/, a page elsewhere.
    """
    who = identity(request)
    user = who.user if who is not None else None
    if user is None:
        if who is not None:
            refuse(request, web.HTTPForbidden, "office API keys may only post transactions")
        if is_api(request):
            raise json_error(web.HTTPUnauthorized, "authentication required: sign in",
                             headers=WWW_AUTHENTICATE)
        raise web.HTTPFound("/login")
    if not may(user.role, area) or (role is not None and user.role is not role):
        refuse(request, web.HTTPForbidden, f"role {user.role.value} may not {what}",
               {"role": user.role.value})
    return user


# ---------------------------------------------------------------------------- errors


def error_body(message: str, details: dict[str, Any] | None = None) -> str:
    """Return {"error", "details"} as JSON text (escaped to ASCII if it holds a lone surrogate,
    which an error may quote from the request)."""
    body = {"error": message, "details": details or {}}
    text = json.dumps(body, ensure_ascii=False)
    return text if _clean_text(text) else json.dumps(body)


def json_error(cls: type[web.HTTPException], message: str, details: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None, **init: Any) -> web.HTTPException:
    """Build an HTTP error whose body is {"error": message, "details": {...}}; raise it."""
    return cls(text=error_body(message, details), content_type="application/json",
               headers=headers, **init)


def refuse(request: web.Request, cls: type[web.HTTPException], message: str,
           details: dict[str, Any] | None = None, **init: Any) -> NoReturn:
    """Raise an HTTP error: JSON under /api/, a page (with the message) elsewhere."""
    if is_api(request):
        raise json_error(cls, message, details, **init)
    raise cls(text=message, **init)


_ERROR_TITLES = {400: i18n.N_("That request could not be read"),
                 403: i18n.N_("You may not see this"),
                 404: i18n.N_("Not found"),
                 405: i18n.N_("That cannot be done here"),
                 413: i18n.N_("That is too large"),
                 500: i18n.N_("Something went wrong on our side"),
                 503: i18n.N_("Not available just now")}
_KEEP_HEADERS = ("WWW-Authenticate", "Allow", "Retry-After", "Location")


def _error_page(request: web.Request, status: int, message: str,
                headers: dict[str, str]) -> web.Response:
    who = identity(request)
    referer = request.headers.get("Referer", "")
    back = referer if referer.startswith(f"{request.scheme}://{request.host}/") else "/"
    html = request.app[TEMPLATES].get_template("error.html").render(
        **page_context(request), status=status, message=message, back=back,
        title=i18n.gettext(request, _ERROR_TITLES.get(status, i18n.N_("Something is wrong"))),
        user=who.user if who is not None else None)
    return web.Response(status=status, text=html, content_type="text/html",
                        headers=page_headers(request, {**PAGE_HEADERS, **headers}))


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every error into JSON under /api/ and a page elsewhere; never a traceback page."""
    api = is_api(request)
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type in ("application/json", "text/html"):
            raise
        headers = {k: v for k in _KEEP_HEADERS if (v := exc.headers.get(k))}
        message = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") \
            else exc.reason
        if api:
            return web.Response(status=exc.status, text=error_body(message or exc.reason),
                                content_type="application/json", headers=headers)
        return _error_page(request, exc.status, message or exc.reason, headers)
    except InputError as exc:
        if not api:
            return _error_page(request, 400, str(exc), {})
        return web.Response(status=400, text=error_body(str(exc)), content_type="application/json")
    except StoreError as exc:
        log.error("store error on %s %s: %s", request.method, request.path, exc)
        message = i18n.N_("the store is not available; try again")
        if not api:
            return _error_page(request, 503, message, {"Retry-After": "30"})
        return web.Response(status=503, text=error_body(message), content_type="application/json",
                            headers={"Retry-After": "30"})
    except (ConnectionResetError, ClientPayloadError) as exc:
        # The client went away mid-request (a dropped upload): nobody to answer, nothing of ours
        # broke. One line at info, no traceback.
        log.info("%s %s: the client went away (%s)", request.method, request.path,
                 type(exc).__name__)
        raise web.HTTPBadRequest() from None
    except Exception:  # our bug: logged with its traceback, answered like any other error
        log.exception("unexpected error on %s %s", request.method, request.path)
        message = i18n.N_("something went wrong on our side; it has been logged")
        if not api:
            return _error_page(request, 500, message, {})
        return web.Response(status=500, text=error_body(message), content_type="application/json")


async def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Give every response the security headers (unless it set its own) and no version."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if "Cache-Control" not in response.headers and not isinstance(response, web.FileResponse):
        response.headers["Cache-Control"] = "no-store"
    response.headers["Server"] = SERVER_NAME


# ---------------------------------------------------------------------------- strict parsing

_ASCII_ID = re.compile(r"[0-9]{1,12}")
_RANGE = re.compile(r"bytes=(?:([0-9]{1,15})-([0-9]{0,15})|-([0-9]{1,15}))")


def parse_id(raw: str | None) -> int | None:
    """Return an id written in 1 to 12 ASCII digits, or None (so '²', '١' and '-1' are None)."""
    if raw is None or not _ASCII_ID.fullmatch(raw):
        return None
    return int(raw)


def id_param(request: web.Request, name: str, what: str) -> int:
    """Return the id in the URL's {name}, or refuse with 404 ("no such <what>")."""
    value = parse_id(request.match_info.get(name))
    if value is None:
        refuse(request, web.HTTPNotFound, f"no such {what}")
    return value


def page_param(request: web.Request) -> int:
    """Return ?page= as a number from 1 (anything else is page 1)."""
    value = parse_id(request.query.get("page"))
    return value if value is not None and 0 < value < 1_000_000 else 1


def valid_range(header: str) -> bool:
    """Tell whether a Range header is one byte range in ASCII digits, start before end."""
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return False
    start, end = match.group(1), match.group(2)
    return not (start and end and int(end) < int(start))


def _without_range(request: web.BaseRequest) -> web.BaseRequest:
    headers: CIMultiDict[str] = CIMultiDict(request.headers)
    del headers["Range"]
    return request.clone(headers=headers)


class FileResponse(web.FileResponse):
    """aiohttp's FileResponse, ignoring a Range header that is not one strict byte range.

    (aiohttp prepares a handler's response with the request as it arrived, not the one the
    edge's middlewares passed on, so the file checks the header itself.)
    """

    async def prepare(self, request: web.BaseRequest) -> Any:
        if "Range" in request.headers and not valid_range(request.headers["Range"]):
            request = _without_range(request)
        return await super().prepare(request)


def body_limit(request: web.Request) -> int:
    """Return how many bytes this route's request body may have."""
    settings = request.app[SETTINGS]
    route = request.match_info.route
    larger = request.app[BODY_LIMITS].get(route.handler) if route is not None else None
    return larger(settings) if larger is not None else settings.web_max_body


def allow_body(app: web.Application, handler: Handler, limit: Callable[[Settings], int]) -> None:
    """Let one route take bodies up to limit(settings) bytes (every other: web_max_body)."""
    app[BODY_LIMITS][handler] = limit


def _too_large(request: web.Request, limit: int) -> NoReturn:
    refuse(request, web.HTTPRequestEntityTooLarge, "request body too large",
           {"max_bytes": limit}, max_size=limit, actual_size=request.content_length or limit + 1)


@web.middleware
async def limits_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Hold the route's body limit before anything reads the body; drop a malformed Range."""
    limit = body_limit(request)
    if request.content_length is not None and request.content_length > limit:
        _too_large(request, limit)
    if "Range" in request.headers and not valid_range(request.headers["Range"]):
        request = cast(web.Request, _without_range(request))  # RFC 9110: may ignore it
    return await handler(request.clone(client_max_size=limit))


MIN_BODY_RATE = 64 * 1024  # bytes/s: a body may take web_read_timeout + its size at this rate


async def _within_time(request: web.Request, read: Awaitable[Any]) -> Any:
    # A total deadline (not one per chunk), so a body sent a byte at a time cannot hold a
    # connection; a large upload gets time in proportion to its size.
    size = request.content_length or request.client_max_size
    timeout = request.app[SETTINGS].web_read_timeout + size / MIN_BODY_RATE
    try:
        return await asyncio.wait_for(read, timeout)
    except TimeoutError:
        log.info("%s %s: the body did not arrive within %.0f s", request.method, request.path,
                 timeout)
        refuse(request, web.HTTPRequestTimeout, f"the request body did not arrive within "
                                                f"{timeout:.0f} s", {"timeout_s": timeout})
    except web.HTTPRequestEntityTooLarge:
        _too_large(request, request.client_max_size)


async def read_body(request: web.Request) -> bytes:
    """Read the whole body within the route's size limit and the read timeout."""
    body: bytes = await _within_time(request, request.read())
    return body


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes | web.FileField]:
    """Read a form (urlencoded or multipart) within the limits; a malformed one is a 400."""
    try:
        form: MultiDictProxy[str | bytes | web.FileField] = await _within_time(request,
                                                                               request.post())
    except (ValueError, LookupError, AssertionError, UnicodeError) as exc:
        # bad UTF-8 or percent-encoding, an unknown charset, a multipart body without or with
        # a wrong boundary: each a client's mistake
        log.info("%s %s: malformed form (%s)", request.method, request.path, type(exc).__name__)
        refuse(request, web.HTTPBadRequest, "the form could not be read: send it as a browser "
                                            "would (UTF-8, urlencoded or multipart)")
    for value in form.values():
        if isinstance(value, str) and not _clean_text(value):
            refuse(request, web.HTTPBadRequest, "the form holds text that is not Unicode")
    return form


async def form_text(request: web.Request) -> dict[str, str]:
    """Return the form's text fields (files and repeated names dropped to the first)."""
    form = await read_form(request)
    out: dict[str, str] = {}
    for k, v in form.items():
        if isinstance(v, str):
            out.setdefault(k, v)
    return out


def _clean_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no store or file can keep it
        return False
    return True


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_strings(value: Any, depth: int = 0) -> None:
    if depth > 64:
        raise ValueError("nested too deeply")
    if isinstance(value, str):
        if not _clean_text(value):
            raise ValueError("a string holds a lone surrogate (\\ud800-\\udfff)")
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_strings(k, depth + 1)
            _check_strings(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            _check_strings(v, depth + 1)


def parse_json(body: bytes, *, unicode_only: bool = True) -> Any:
    """Decode a JSON body, or raise a 400 JSON error saying what is wrong with it.

    Unless told otherwise (intake checks every field itself and names the bad one), a string
    with a lone surrogate is refused here: nothing can store or show it.
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise json_error(web.HTTPBadRequest, "the body is not UTF-8",
                         {"byte_offset": exc.start}) from None
    try:
        data = json.loads(text, parse_constant=_no_constants)
        if unicode_only:
            _check_strings(data)
    except json.JSONDecodeError as exc:
        raise json_error(web.HTTPBadRequest, "malformed JSON",
                         {"line": exc.lineno, "column": exc.colno, "reason": exc.msg}) from None
    except RecursionError:
        raise json_error(web.HTTPBadRequest, "malformed JSON",
                         {"reason": "nested too deeply"}) from None
    except ValueError as exc:  # NaN/Infinity, an integer of thousands of digits, a surrogate
        raise json_error(web.HTTPBadRequest, "malformed JSON", {"reason": str(exc)}) from None
    return data


async def read_json(request: web.Request) -> Any:
    """Read a JSON body within the route's limits; anything malformed is a 400 JSON error."""
    return parse_json(await read_body(request))


_ERROR_CONTENT = {"content": {"application/json": {"schema": {
    "$ref": "#/components/schemas/Error"}}}}
# The refusals every operation with a body may give (OpenAPI responses), from the edge itself.
BODY_ERRORS: dict[str, Any] = {
    "400": {"description": "the body is not UTF-8 or not JSON, nests too deeply, or holds a "
                           "lone surrogate", **_ERROR_CONTENT},
    "408": {"description": "the body did not arrive within web_read_timeout", **_ERROR_CONTENT},
    "413": {"description": "the body is larger than the route allows (web_max_body)",
            **_ERROR_CONTENT},
}


def _surveys() -> SurveyBook | None:
    try:
        return load_surveys()
    except (FlowError, ConfigError, OSError) as exc:
        log.warning("survey definitions not readable, answers are shown as keys: %s", exc)
        return None


def setup(app: web.Application) -> None:
    """Install the edge: the clock, templates, survey words, error mapping, limits and security
    headers."""
    app.setdefault(CLOCK, utcnow)
    if SURVEYS not in app:
        app[SURVEYS] = _surveys()
    app[TEMPLATES] = templates()
    app[BODY_LIMITS] = {}
    app.middlewares.append(errors_middleware)
    app.middlewares.append(limits_middleware)
    app.on_response_prepare.append(secure_headers)
