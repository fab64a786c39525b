"""Web, sign-in: who is asking (session cookie or API key), CSRF, and the login/landing pages.

Beside the road: officials sign in here before they see results, and office systems show
their API key before intake. Sessions live in the store: the cookie holds a random 32-byte
token, the store only its SHA-256. A session ends after `session_hours`, or sooner when unused
for `session_idle_minutes`. Every unsafe request (POST, PUT, PATCH, DELETE) made with a
session cookie must carry the session's CSRF token, as the form field `csrf_token` or the
header `X-CSRF-Token`, or it is refused with 403 before any handler runs. The login form,
which has no session yet, is guarded by a double-submit token the server signs (a cookie and
a field that match are not enough: the server must have issued them). Sign-in tries are
limited per address and per account (a 429 past the limit), on top of the account lockout;
a password hashed with older argon2 parameters is re-hashed when it is next used.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import math
import secrets
from datetime import timedelta

from aiohttp import web

from ivr.accounts import (
    LOCKOUT,
    MAX_FAILURES,
    MAX_PASSWORD,
    MAX_USERNAME,
    Throttle,
    describe_scope,
    hash_password,
    is_locked,
    landing,
    needs_rehash,
    new_token,
    token_hash,
    verify_password,
)
from ivr.web.common import (
    API_PREFIX,
    SETTINGS,
    STORE,
    Handler,
    Identity,
    form_text,
    identity,
    json_error,
    now,
    render,
    set_identity,
)

log = logging.getLogger(__name__)

SESSION_COOKIE = "rabta_session"
LOGIN_COOKIE = "rabta_login"  # the login form's double-submit CSRF token
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# These check their own double-submit token: there is no session yet (or, for a reset link,
# perhaps another official's session in the same browser).
OWN_CSRF = frozenset({"/login", "/reset"})
_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
TOUCH_EVERY = timedelta(minutes=1)  # a session's last use is written at most this often
FAILED_LOGIN = (f"Wrong username or password. After {MAX_FAILURES} failed tries an account is "
                f"locked for {int(LOCKOUT.total_seconds() // 60)} minutes.")
LOGIN_SECRET = web.AppKey("login_secret", bytes)  # signs the login form's tokens (per process)
BY_ADDRESS = web.AppKey("login_by_address", Throttle)
BY_ACCOUNT = web.AppKey("login_by_account", Throttle)


def _same(a: str, b: str) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(a.encode(), b.encode())


@functools.cache
def _dummy_hash() -> str:
    return hash_password("no account has this password")


async def _verify(password_hash: str | None, password: str) -> bool:
    """Check a password off the event loop; without a hash, spend the same time and fail."""
    if password_hash is None:
        await asyncio.to_thread(verify_password, _dummy_hash(), password)
        return False
    return await asyncio.to_thread(verify_password, password_hash, password)


def _sign(secret: bytes, nonce: str) -> str:
    return hmac.new(secret, nonce.encode(), hashlib.sha256).hexdigest()


def login_token(secret: bytes) -> str:
    """Return a new login form token: a random nonce and the server's signature of it."""
    nonce = new_token()
    return f"{nonce}.{_sign(secret, nonce)}"


def login_token_valid(secret: bytes, token: str) -> bool:
    """Tell whether the server signed this login form token."""
    nonce, _, signature = token.partition(".")
    return bool(nonce) and _same(signature, _sign(secret, nonce))


# ---------------------------------------------------------------------------- middleware


async def _csrf_token_sent(request: web.Request) -> str:
    header = request.headers.get(CSRF_HEADER)
    if header is not None:
        return header
    if request.content_type in _FORMS:
        return (await form_text(request)).get(CSRF_FIELD, "")
    return ""


@web.middleware
async def identify(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Find who is asking; refuse unsafe session requests without the right CSRF token."""
    store = request.app[STORE]
    who: Identity | None = None
    header = request.headers.get("Authorization")
    if header is not None:
        # An API key never comes from a cookie, so it needs no CSRF token; the cookie,
        # if any, is ignored rather than mixed in.
        scheme, _, key = header.strip().partition(" ")
        if scheme.lower() == "bearer" and key.strip():
            api_key = await store.api_key(token_hash(key.strip()))
            if api_key is not None:
                who = Identity(actor=f"apikey:{api_key.id}", key=api_key)
        set_identity(request, who, bad_credentials=who is None)
        return await handler(request)
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        when = now(request)
        idle = timedelta(minutes=request.app[SETTINGS].session_idle_minutes)
        session = await store.session(token_hash(token), when, idle)
        if session is not None:
            if session.last_seen_at is None or when - session.last_seen_at >= TOUCH_EVERY:
                await store.touch_session(session.token_hash, when)
            who = Identity(actor=f"user:{session.user.username}", session=session)
            if (request.method not in SAFE_METHODS and request.path not in OWN_CSRF
                    and not _same(await _csrf_token_sent(request), session.csrf_token)):
                log.warning("CSRF token missing or wrong: %s %s by %s", request.method,
                            request.path, who.actor)
                if not request.path.startswith(API_PREFIX):
                    raise web.HTTPForbidden(text="CSRF token missing or wrong: go back, reload "
                                                 "the page and try again.")
                raise json_error(web.HTTPForbidden, "CSRF token missing or wrong",
                                 {"expected_in": [CSRF_FIELD, CSRF_HEADER]})
    set_identity(request, who, bad_credentials=False)
    return await handler(request)


# ---------------------------------------------------------------------------- pages


def _redirect(location: str, status: int = 303) -> web.Response:
    """Redirect (303 after a POST) as a plain response, so the cookies set on it are sent."""
    return web.Response(status=status, headers={"Location": location, "Cache-Control": "no-store"})


def _login_page(request: web.Request, status: int = 200, error: str = "",
                username: str = "", retry_after: float | None = None) -> web.Response:
    secret = request.app[LOGIN_SECRET]
    token = request.cookies.get(LOGIN_COOKIE, "")
    if not login_token_valid(secret, token):
        token = login_token(secret)
    response = render(request, "login.html", status, csrf_token=token, error=error,
                      username=username)
    if retry_after is not None:
        response.headers["Retry-After"] = str(math.ceil(retry_after))
    response.set_cookie(LOGIN_COOKIE, token, path="/login", httponly=True, samesite="Strict",
                        secure=request.app[SETTINGS].cookie_secure, max_age=3600)
    return response


async def login_form(request: web.Request) -> web.Response:
    return _login_page(request)


async def login(request: web.Request) -> web.Response:
    """Check the form; on success start a session and go to the landing page."""
    store, when = request.app[STORE], now(request)
    wait = request.app[BY_ADDRESS].hit(request.remote or "?", when.timestamp())
    if wait is not None:
        log.warning("login: too many tries from %s", request.remote)
        return _too_many(request, wait)
    form = await form_text(request)
    sent, cookie = form.get(CSRF_FIELD, ""), request.cookies.get(LOGIN_COOKIE, "")
    if not _same(sent, cookie) or not login_token_valid(request.app[LOGIN_SECRET], cookie):
        return _login_page(request, 403, "The sign-in form had expired. Please try again.")
    username, password = form.get("username"), form.get("password")
    if username is None or password is None:
        return _login_page(request, 400, "Give a username and a password.")
    username = username.strip()[:MAX_USERNAME]
    password = password[:MAX_PASSWORD]
    wait = request.app[BY_ACCOUNT].hit(username.casefold(), when.timestamp())
    if wait is not None:
        log.warning("login: too many tries for %r", username)
        return _too_many(request, wait, username)
    user = await store.user_by_name(username) if username else None
    usable = user is not None and not user.disabled and not is_locked(user.locked_until, when)
    ok = await _verify(user.password_hash if usable and user else None, password)
    if not ok or user is None:
        if usable and user is not None:
            locked = await store.login_failed(user.id, when)
            if locked is not None:
                log.warning("login: account %r locked until %s", user.username, locked)
        reason = ("no_such_user" if user is None else "disabled" if user.disabled
                  else "locked" if not usable else "wrong_password")
        log.info("login refused for %r: %s", username, reason)
        await store.audit("anonymous" if user is None else f"user:{user.username}",
                          "login_refused", {"username": username, "reason": reason}, when)
        return _login_page(request, 401, FAILED_LOGIN, username)
    await store.login_succeeded(user.id, when)
    if needs_rehash(user.password_hash):  # argon2's parameters changed since it was hashed
        await store.set_password_hash(user.id, await asyncio.to_thread(hash_password, password))
        log.info("login: %r's password re-hashed with today's argon2 parameters", user.username)
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        await store.delete_session(token_hash(old))  # no session fixation: always a new one
    token, settings = new_token(), request.app[SETTINGS]
    lifetime = timedelta(hours=settings.session_hours)
    await store.create_session(token_hash(token), user.id, new_token(), when, when + lifetime)
    await store.audit(f"user:{user.username}", "login_ok", {}, when)
    log.info("login: %r signed in (%s)", user.username, user.role.value)
    response = _redirect(landing(user.role))  # the overview, for those who see results
    response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True, samesite="Lax",
                        secure=settings.cookie_secure, max_age=int(lifetime.total_seconds()))
    response.del_cookie(LOGIN_COOKIE, path="/login")
    return response


def _too_many(request: web.Request, wait: float, username: str = "") -> web.Response:
    return _login_page(request, 429, f"Too many sign-in tries. Wait {math.ceil(wait)} seconds "
                                     f"and try again.", username, retry_after=wait)


async def logout(request: web.Request) -> web.Response:
    """End the session (the middleware has checked its CSRF token) and go to the login page."""
    who = identity(request)
    if who is not None and who.session is not None:
        await request.app[STORE].delete_session(who.session.token_hash)
        await request.app[STORE].audit(who.actor, "logout", {}, now(request))
    response = _redirect("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


async def home(request: web.Request) -> web.Response:
    """The landing page: who you are and what your role reaches."""
    who = identity(request)
    if who is None or who.session is None:
        response = _redirect("/login", 302)
        if SESSION_COOKIE in request.cookies:
            response.del_cookie(SESSION_COOKIE, path="/")  # expired or ended elsewhere
        return response
    user = who.session.user
    return render(request, "home.html", user=user, scope=describe_scope(user.role, user.scope),
                  csrf_token=who.session.csrf_token,
                  expires=who.session.expires_at.strftime("%Y-%m-%d %H:%M UTC"))


def setup(app: web.Application) -> None:
    """Add the identity middleware, the sign-in limits and the pages (after common.setup)."""
    settings = app[SETTINGS]
    app.middlewares.append(identify)
    app[LOGIN_SECRET] = secrets.token_bytes(32)
    app[BY_ADDRESS] = Throttle(settings.login_per_minute_address)
    app[BY_ACCOUNT] = Throttle(settings.login_per_minute_account)
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", home)
