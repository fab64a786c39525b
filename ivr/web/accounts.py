"""Web, accounts: officials' accounts run from the browser, each official's own password, and
the one-time reset link. Beside the road, like sign-in (ivr/web/auth.py).

    /accounts, /accounts/{id}, POST /accounts,          oversight only (Area.ACCOUNTS): list,
    POST /accounts/{id}[/disable|/enable|/reset]         add, change role and scope, disable,
    (+ /api/v1/accounts[/{id}[/reset]] JSON)             enable, issue a reset link
    /account/password (+ POST /api/v1/account/password)  any signed-in official: their own
    /reset?token=..., POST /reset                        anyone holding a live reset link

Every change goes through ivr.services.accounts, which checks a scope against the districts,
services and offices the data knows ("did you mean Lahore?") and writes the audit log (never
a password or a token). Forms carry the session's CSRF token (checked by the auth middleware);
the reset form, which may be used without a session, carries its own double-submit token,
bound to the reset token by the server's secret. A reset token is shown once, as a link, and
stored only as its SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import datetime
from typing import Any

from aiohttp import web

from ivr.accounts import (
    MAX_PASSWORD,
    RESET_TTL,
    Area,
    Role,
    User,
    describe_scope,
    is_locked,
    parse_role,
    scope_from_fields,
)
from ivr.errors import InputError, UnknownScope
from ivr.services import accounts as service
from ivr.web.common import (
    BODY_ERRORS,
    PAGE_HEADERS,
    SETTINGS,
    STORE,
    form_text,
    id_param,
    identity,
    is_api,
    json_error,
    now,
    read_json,
    render,
    require,
)
from ivr.web.i18n import N_

log = logging.getLogger(__name__)

RESET_SECRET = web.AppKey("reset_secret", bytes)  # binds a reset form to its reset token
RESET_COOKIE = "rabta_reset"
MAX_FIELD = 300  # a name or scope field longer than this is refused before any lookup
NOTICES = {"added": N_("The account was added."), "changed": N_("The account was changed."),
           "disabled": N_("The account is disabled; its sessions have ended."),
           "enabled": N_("The account is enabled."), "password": N_("Your password is changed.")}
DEAD_LINK = N_("This reset link is not valid: it was used, has expired, or was replaced by a "
               "newer one. Ask an oversight admin for a new link.")
FORM_EXPIRED = N_("The form had expired. Please try again.")
# Refusals of ivr.services.accounts and ivr.accounts whose words are fixed: the pages show
# them in the official's language (others name a value and stay as they are).
_FIXED = (N_("the current password is wrong"), N_("the two new passwords differ"),
          N_("the new password is the same as the current one"),
          N_("password too short (at least 10 characters)"),
          N_("you may not disable your own account or change your own role: ask another "
             "oversight admin"),
          N_("change your own password on your account page, not by a reset link"))
# States and scope kinds as the pages show them.
_WORDS = (N_("active"), N_("disabled"), N_("locked"), N_("district"), N_("service"),
          N_("office"))


# ---------------------------------------------------------------------------- access


def _admin(request: web.Request) -> User:
    return require(request, Area.ACCOUNTS, role=Role.OVERSIGHT, what="manage accounts")


def _official(request: web.Request) -> User:
    """Return any signed-in official; nobody or an API key is refused as `require` does."""
    who = identity(request)
    if who is not None and who.user is not None:
        return who.user
    return require(request, Area.ACCOUNTS)  # raises: 302 / 401 / 403 for a key


def _csrf(request: web.Request) -> str:
    who = identity(request)
    return who.session.csrf_token if who is not None and who.session is not None else ""


def _session_hash(request: web.Request) -> str | None:
    who = identity(request)
    return who.session.token_hash if who is not None and who.session is not None else None


# ---------------------------------------------------------------------------- views


def state_of(user: User, at: datetime) -> str:
    """Say an account's state: active, disabled or locked (until a time)."""
    if user.disabled:
        return "disabled"
    return "locked" if is_locked(user.locked_until, at) else "active"


def account_json(user: User, at: datetime) -> dict[str, Any]:
    """An account as the API shows it (never its hash)."""
    return {"id": user.id, "username": user.username, "role": user.role.value,
            "scope": list(user.scope), "state": state_of(user, at),
            "disabled": user.disabled,
            "locked_until": user.locked_until.isoformat() if user.locked_until else None,
            "last_login_at": user.last_login_at.isoformat() if user.last_login_at else None,
            "created_at": user.created_at.isoformat() if user.created_at else None}


async def _known(request: web.Request) -> dict[str, list[str]]:
    store = request.app[STORE]
    return {"district": await store.known_scope("district"),
            "service": await store.known_scope("service"),
            "office": await store.known_scope("office")}


def _refusal(exc: InputError) -> dict[str, Any]:
    """An input refusal as the pages show it (and the API's details)."""
    if isinstance(exc, UnknownScope):
        return {"kind": exc.kind, "value": exc.value, "suggestion": exc.suggestion}
    return {"message": str(exc)}


def _refuse_api(exc: InputError) -> web.HTTPException:
    if isinstance(exc, service.NotFound):
        return json_error(web.HTTPNotFound, str(exc))
    details = _refusal(exc)
    if isinstance(exc, UnknownScope):
        details = {"field": exc.kind, "value": exc.value, "did_you_mean": exc.suggestion}
    return json_error(web.HTTPUnprocessableEntity, str(exc), details)


def _text(form: dict[str, str], name: str) -> str:
    value = form.get(name, "")
    if len(value) > MAX_FIELD:
        raise InputError(f"{name}: at most {MAX_FIELD} characters")
    return value


def _form_scope(role: Role, form: dict[str, str]) -> tuple[str, ...]:
    services = [s for s in _text(form, "service").split(",") if s.strip()]
    return scope_from_fields(role, {"district": [_text(form, "district")], "service": services,
                                    "office": [_text(form, "office")]})


async def _list_page(request: web.Request, admin: User, *, status: int = 200,
                     form: dict[str, str] | None = None,
                     refusal: dict[str, Any] | None = None) -> web.Response:
    store, at = request.app[STORE], now(request)
    users = await store.users()
    rows = [{"user": u, "state": state_of(u, at), "scope": describe_scope(u.role, u.scope)}
            for u in users]
    return render(request, "accounts.html", status, user=admin, rows=rows, roles=list(Role),
                  known=await _known(request), form=form or {}, refusal=refusal,
                  csrf_token=_csrf(request))


async def accounts_list(request: web.Request) -> web.Response:
    """Every account with its role, scope, state and last sign-in; the add form."""
    admin = _admin(request)
    if is_api(request):
        at = now(request)
        return web.json_response({"accounts": [account_json(u, at)
                                                for u in await request.app[STORE].users()],
                                  "known": await _known(request)})
    return await _list_page(request, admin)


async def add(request: web.Request) -> web.Response:
    """Add an account (form or JSON); a scope the data does not know is refused."""
    admin = _admin(request)
    store, at = request.app[STORE], now(request)
    if is_api(request):
        body = await read_json(request)
        if not isinstance(body, dict):
            raise json_error(web.HTTPBadRequest, "send a JSON object")
        try:
            scope = body.get("scope", [])
            if not isinstance(scope, list) or not all(isinstance(s, str) for s in scope):
                raise InputError("scope: a list of names")
            fields = [body.get(k) for k in ("username", "role", "password")]
            if not all(isinstance(f, str) for f in fields):
                raise InputError("username, role and password are strings")
            user = await service.add_account(
                store, f"user:{admin.username}", str(fields[0]), str(fields[1]), tuple(scope),
                str(fields[2])[:MAX_PASSWORD + 1], at, allow_new=body.get("allow_new") is True)
        except InputError as exc:
            raise _refuse_api(exc) from None
        return web.json_response(account_json(user, at), status=201)
    form = await form_text(request)
    try:
        role = parse_role(_text(form, "role"))
        user = await service.add_account(
            store, f"user:{admin.username}", _text(form, "username"), role.value,
            _form_scope(role, form), form.get("password", "")[:MAX_PASSWORD + 1], at,
            allow_new=form.get("allow_new") == "1")
    except InputError as exc:
        kept = {k: v[:MAX_FIELD] for k, v in form.items() if k not in ("password", "csrf_token")}
        return await _list_page(request, admin, status=422, form=kept, refusal=_refusal(exc))
    log.info("account %r added by %s", user.username, admin.username)
    raise web.HTTPSeeOther(f"/accounts/{user.id}?done=added")


async def _account_page(request: web.Request, admin: User, account: User, *,
                        status: int = 200, refusal: dict[str, Any] | None = None,
                        form: dict[str, str] | None = None, reset_link: str = "",
                        reset_expires: datetime | None = None) -> web.Response:
    store, at = request.app[STORE], now(request)
    done = request.query.get("done", "")
    return render(request, "account.html", status, user=admin, account=account,
                  state=state_of(account, at), scope=describe_scope(account.role, account.scope),
                  roles=list(Role), known=await _known(request), refusal=refusal,
                  form=form or {}, notice=NOTICES.get(done, ""),
                  history=await store.account_history(account.username),
                  reset_link=reset_link, reset_expires=reset_expires,
                  self_edit=account.id == admin.id, csrf_token=_csrf(request))


async def _target(request: web.Request) -> User:
    account = await request.app[STORE].user_by_id(id_param(request, "id", "account"))
    if account is None:
        if is_api(request):
            raise json_error(web.HTTPNotFound, "no such account")
        raise web.HTTPNotFound(text="no such account")
    return account


async def account_page(request: web.Request) -> web.Response:
    """One account: its role and scope to change, disable/enable, a reset link, its history."""
    admin = _admin(request)
    account = await _target(request)
    if is_api(request):
        return web.json_response({**account_json(account, now(request)),
                                  "history": await request.app[STORE].account_history(
                                      account.username)})
    return await _account_page(request, admin, account)


async def change(request: web.Request) -> web.Response:
    """Change an account's role and scope (form), or role, scope and state (JSON)."""
    admin = _admin(request)
    account = await _target(request)
    store, at = request.app[STORE], now(request)
    if is_api(request):
        body = await read_json(request)
        if not isinstance(body, dict):
            raise json_error(web.HTTPBadRequest, "send a JSON object")
        role, scope, disabled = body.get("role"), body.get("scope"), body.get("disabled")
        try:
            if role is not None and not isinstance(role, str):
                raise InputError("role: a string")
            if scope is not None and (not isinstance(scope, list)
                                      or not all(isinstance(s, str) for s in scope)):
                raise InputError("scope: a list of names")
            if disabled is not None and not isinstance(disabled, bool):
                raise InputError("disabled: true or false")
            changed = await service.change_account(store, admin, account.id, service.Change(
                role=role, scope=tuple(scope) if scope is not None else None,
                disabled=disabled, allow_new=body.get("allow_new") is True), at)
        except InputError as exc:
            raise _refuse_api(exc) from None
        return web.json_response(account_json(changed, at))
    form = await form_text(request)
    try:
        role = parse_role(_text(form, "role"))
        await service.change_account(store, admin, account.id, service.Change(
            role=role.value, scope=_form_scope(role, form),
            allow_new=form.get("allow_new") == "1"), at)
    except InputError as exc:
        kept = {k: v[:MAX_FIELD] for k, v in form.items() if k != "csrf_token"}
        return await _account_page(request, admin, account, status=422,
                                   refusal=_refusal(exc), form=kept)
    raise web.HTTPSeeOther(f"/accounts/{account.id}?done=changed")


async def _set_disabled(request: web.Request, disabled: bool) -> web.Response:
    admin = _admin(request)
    account = await _target(request)
    try:
        await service.change_account(request.app[STORE], admin, account.id,
                                     service.Change(disabled=disabled), now(request))
    except InputError as exc:
        return await _account_page(request, admin, account, status=422, refusal=_refusal(exc))
    raise web.HTTPSeeOther(f"/accounts/{account.id}?done={'disabled' if disabled else 'enabled'}")


async def disable(request: web.Request) -> web.Response:
    """Disable an account: its sessions and reset links end at once."""
    return await _set_disabled(request, True)


async def enable(request: web.Request) -> web.Response:
    """Enable an account again (clearing any lockout)."""
    return await _set_disabled(request, False)


def _reset_url(request: web.Request, token: str) -> str:
    return f"{request.scheme}://{request.host}/reset?token={token}"


async def issue_reset(request: web.Request) -> web.Response:
    """Issue a one-time reset link for an account (shown once; only its hash is kept)."""
    admin = _admin(request)
    account = await _target(request)
    at = now(request)
    try:
        account, token = await service.issue_reset(request.app[STORE], admin, account.id, at)
    except InputError as exc:
        if is_api(request):
            raise _refuse_api(exc) from None
        return await _account_page(request, admin, account, status=422, refusal=_refusal(exc))
    log.info("reset link issued for %r by %s", account.username, admin.username)
    if is_api(request):
        return web.json_response({"username": account.username, "token": token,
                                  "url": _reset_url(request, token),
                                  "expires_at": (at + RESET_TTL).isoformat()}, status=201)
    return await _account_page(request, admin, account, reset_link=_reset_url(request, token),
                               reset_expires=at + RESET_TTL)


# ---------------------------------------------------------------------------- own password


async def password_page(request: web.Request) -> web.Response:
    """The form to change one's own password."""
    user = _official(request)
    notice = NOTICES["password"] if request.query.get("done") == "password" else ""
    return render(request, "password.html", user=user, csrf_token=_csrf(request),
                  notice=notice, error="")


async def change_password(request: web.Request) -> web.Response:
    """Change one's own password: the current one, then the new one twice (form) or once."""
    user = _official(request)
    at = now(request)
    if is_api(request):
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("current"), str) \
                or not isinstance(body.get("new"), str):
            raise json_error(web.HTTPBadRequest, "send {\"current\": ..., \"new\": ...}")
        try:
            await service.change_own_password(
                request.app[STORE], user, body["current"][:MAX_PASSWORD + 1],
                body["new"][:MAX_PASSWORD + 1], _session_hash(request), at)
        except InputError as exc:
            raise _refuse_api(exc) from None
        return web.json_response({"changed": True})
    form = await form_text(request)
    new = form.get("new", "")[:MAX_PASSWORD + 1]
    try:
        if new != form.get("again", "")[:MAX_PASSWORD + 1]:
            raise InputError("the two new passwords differ")
        await service.change_own_password(request.app[STORE], user,
                                          form.get("current", "")[:MAX_PASSWORD + 1], new,
                                          _session_hash(request), at)
    except InputError as exc:
        return render(request, "password.html", 422, user=user, csrf_token=_csrf(request),
                      notice="", error=str(exc))
    raise web.HTTPSeeOther("/account/password?done=password")


# ---------------------------------------------------------------------------- reset link


def _form_token(request: web.Request, token: str) -> str:
    return hmac.new(request.app[RESET_SECRET], token.encode("utf-8", "surrogatepass"),
                    hashlib.sha256).hexdigest()


def _reset_page(request: web.Request, token: str, account: User | None, *, status: int = 200,
                error: str = "", done: bool = False) -> web.Response:
    form_token = _form_token(request, token) if account is not None else ""
    response = render(request, "reset.html", status, token=token, account=account,
                      reset_csrf=form_token, error=error, done=done,
                      headers={**PAGE_HEADERS, "Referrer-Policy": "no-referrer"})
    if form_token:
        response.set_cookie(RESET_COOKIE, form_token, path="/reset", httponly=True,
                            samesite="Strict", secure=request.app[SETTINGS].cookie_secure,
                            max_age=int(RESET_TTL.total_seconds()))
    return response


async def reset_form(request: web.Request) -> web.Response:
    """The page a reset link opens: a new password for the account, or why the link is dead."""
    token = request.query.get("token", "")
    account = await service.reset_target(request.app[STORE], token, now(request))
    return _reset_page(request, token, account, status=200 if account else 404,
                       error="" if account else DEAD_LINK)


async def reset(request: web.Request) -> web.Response:
    """Set a new password with a reset link; every session of the account ends."""
    form = await form_text(request)
    token = form.get("token", "")[:200]
    store, at = request.app[STORE], now(request)
    account = await service.reset_target(store, token, at)
    if account is None:
        return _reset_page(request, token, None, status=404, error=DEAD_LINK)
    expected = _form_token(request, token)
    sent, cookie = form.get("csrf_token", ""), request.cookies.get(RESET_COOKIE, "")
    if not (hmac.compare_digest(sent.encode(), expected.encode())
            and hmac.compare_digest(cookie.encode(), expected.encode())):
        return _reset_page(request, token, account, status=403,
                           error=FORM_EXPIRED)
    new = form.get("new", "")[:MAX_PASSWORD + 1]
    try:
        if new != form.get("again", "")[:MAX_PASSWORD + 1]:
            raise InputError("the two new passwords differ")
        await service.reset_password(store, token, new, at)
    except InputError as exc:
        return _reset_page(request, token, account, status=422, error=str(exc))
    log.info("password of %r reset with a reset link", account.username)
    response = _reset_page(request, "", None, done=True)
    response.del_cookie(RESET_COOKIE, path="/reset")
    return response


ROUTES = [
    ("GET", "/accounts", accounts_list), ("GET", "/api/v1/accounts", accounts_list),
    ("POST", "/accounts", add), ("POST", "/api/v1/accounts", add),
    ("GET", "/accounts/{id}", account_page), ("GET", "/api/v1/accounts/{id}", account_page),
    ("POST", "/accounts/{id}", change), ("POST", "/api/v1/accounts/{id}", change),
    ("POST", "/accounts/{id}/disable", disable), ("POST", "/accounts/{id}/enable", enable),
    ("POST", "/accounts/{id}/reset", issue_reset),
    ("POST", "/api/v1/accounts/{id}/reset", issue_reset),
    ("GET", "/account/password", password_page), ("POST", "/account/password", change_password),
    ("POST", "/api/v1/account/password", change_password),
    ("GET", "/reset", reset_form), ("POST", "/reset", reset),
]


_TOKEN_IN_URL = re.compile(r"([?&]token=)[^&\s\"]+")


class RedactResetTokens(logging.Filter):
    """Keep reset tokens out of the access log: `GET /reset?token=...` is logged as
    `token=[redacted]` (a link lives for a day; a log file lives longer)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "token=" in record.msg:
            record.msg = _TOKEN_IN_URL.sub(r"\1[redacted]", record.msg)
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_URL.sub(r"\1[redacted]", a) if isinstance(a, str)
                                else a for a in record.args)
        return True


REDACT = RedactResetTokens()


def setup(app: web.Application) -> None:
    """Add the accounts pages and API, the reset form's secret (per process), and the access
    log's redaction of reset tokens."""
    app[RESET_SECRET] = secrets.token_bytes(32)
    logging.getLogger("aiohttp.access").addFilter(REDACT)  # the same filter once, however often
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)


def openapi_parts() -> dict[str, Any]:
    """Return the accounts API's OpenAPI paths (merged into the intake API's document)."""
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    refusals = {"401": {"description": "not signed in", **err},
                "403": {"description": "an office API key, a role that may not manage "
                                       "accounts, or no CSRF token (POST)", **err}}
    refused = {"422": {"description": "refused: a bad role, username, scope (with "
                                      "did_you_mean) or password, or a change to one's own "
                                      "account that would lock the admin out", **err}}
    missing = {"404": {"description": "no such account", **err}}
    read: list[dict[str, list[str]]] = [{"session": []}]
    write: list[dict[str, list[str]]] = [{"session": [], "csrf": []}]
    ident = {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"},
             "description": "the account's id"}
    names = {"type": "array", "maxItems": 50, "items": {"type": "string", "maxLength": 200}}

    def ok(what: str) -> dict[str, Any]:
        return {"description": what, "content": {"application/json": {"schema": {
            "type": "object"}}}}

    def body(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return {"required": True, "content": {"application/json": {"schema": schema}}}

    role = {"type": "string", "enum": [r.value for r in Role]}
    return {
        "/api/v1/accounts": {
            "get": {"summary": "Every account: role, scope, state, last sign-in (oversight)",
                    "operationId": "getAccounts", "security": read,
                    "responses": {"200": ok("{accounts, known: {district, service, office}}"),
                                  **refusals}},
            "post": {"summary": "Add an account; its scope must name what the data knows",
                     "operationId": "addAccount", "security": write,
                     "requestBody": body({"username": {"type": "string"}, "role": role,
                                          "scope": names, "password": {"type": "string"},
                                          "allow_new": {"type": "boolean"}},
                                         ["username", "role", "password"]),
                     "responses": {**BODY_ERRORS, "201": ok("the account"), **refused,
                                   **refusals}}},
        "/api/v1/accounts/{id}": {
            "get": {"summary": "One account and its audit history (oversight)",
                    "operationId": "getAccount", "security": read, "parameters": [ident],
                    "responses": {"200": ok("the account"), **missing, **refusals}},
            "post": {"summary": "Change an account's role, scope or state (disabled ends its "
                                "sessions)",
                     "operationId": "changeAccount", "security": write, "parameters": [ident],
                     "requestBody": body({"role": role, "scope": names,
                                          "disabled": {"type": "boolean"},
                                          "allow_new": {"type": "boolean"}}),
                     "responses": {**BODY_ERRORS, "200": ok("the account"), **refused,
                                   **missing, **refusals}}},
        "/api/v1/accounts/{id}/reset": {"post": {
            "summary": "Issue a one-time password reset link (24 h, single use, shown once)",
            "operationId": "issueReset", "security": write, "parameters": [ident],
            "responses": {"201": ok("{username, token, url, expires_at}"), **refused,
                          **missing, **refusals}}},
        "/api/v1/account/password": {"post": {
            "summary": "Change one's own password (any signed-in official)",
            "operationId": "changeOwnPassword", "security": write,
            "requestBody": body({"current": {"type": "string"}, "new": {"type": "string"}},
                                ["current", "new"]),
            "responses": {**BODY_ERRORS, "200": ok("{changed: true}"), **refused,
                          "401": refusals["401"], "403": {
                              "description": "an office API key, or no CSRF token", **err}}}},
    }
