"""Web, SMS: Kannel's delivery reports and citizens' messages in; the replies queue page.

Beside the road. Kannel calls two URLs, each with the deployment's `sms_secret` in the query
(a request without it, or with another, is a 403 and changes nothing):

    GET  /sms/kannel/dlr?secret=&id=&status=%d&answer=%A     a delivery report (dlr-url)
    POST /sms/kannel/inbound?secret=&from=%p   body: the text  a citizen's message (post-url)

Malformed ones (missing or non-numeric fields, an unknown message id, a body that is not
valid text in its charset, a number that is not a Pakistani mobile) get a 4xx with the reason,
and change nothing. Officials work through free-text replies at /sms/replies: oversight sees
all and puts each in a configured category (POST /sms/replies/{id}, audited); department and
district officials see those matched to a visit in their scope. Any of them may open a case
on a reply's visit (POST /sms/replies/{id}/case, scoped, audited as case_open).
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from ivr import phone
from ivr.accounts import Area, Role, User
from ivr.errors import InputError, InvalidNumber
from ivr.results import scope_of
from ivr.sms import inbox
from ivr.sms.gateway import dlr_state
from ivr.store.sms import SmsStore
from ivr.web.common import SETTINGS, STORE, identity, now, render, require

log = logging.getLogger(__name__)

MAX_BODY = 8192  # a citizen's message: 10 concatenated parts is far less


def _refuse(cls: type[web.HTTPException], reason: str) -> web.HTTPException:
    return cls(text=reason + "\n", content_type="text/plain")


def _too_large() -> web.HTTPException:
    return web.HTTPRequestEntityTooLarge(MAX_BODY, MAX_BODY + 1,
                                         text=f"a message body over {MAX_BODY} bytes\n",
                                         content_type="text/plain")


def _check_secret(request: web.Request) -> None:
    expected = request.app[SETTINGS].sms_secret
    sent = request.query.get("secret", "")
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        log.warning("SMS callback with a wrong or no secret from %s", request.remote)
        raise _refuse(web.HTTPForbidden, "wrong or missing secret")


def _int(request: web.Request, name: str) -> int:
    raw = request.query.get(name, "")
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise _refuse(web.HTTPBadRequest, f"{name}: expected a whole number, got {raw[:20]!r}")
    return int(raw)


async def dlr(request: web.Request) -> web.Response:
    """Record a delivery report for one of our messages."""
    _check_secret(request)
    message_id, status = _int(request, "id"), _int(request, "status")
    if status not in (1, 2, 4, 8, 16):
        raise _refuse(web.HTTPBadRequest, f"status: {status} is not a Kannel DLR type")
    answer = request.query.get("answer", "")[:500]
    try:
        state = await SmsStore(request.app[STORE]).report(
            message_id, status, dlr_state(status, answer), answer, now(request))
    except InputError as exc:
        raise _refuse(web.HTTPNotFound, str(exc)) from None
    return web.Response(text=f"ok {state}\n")


async def inbound(request: web.Request) -> web.Response:
    """Record a citizen's message: an answer, STOP, or free text for the queue."""
    _check_secret(request)
    try:
        number = phone.normalize(request.query.get("from", ""))
    except InvalidNumber as exc:
        raise _refuse(web.HTTPBadRequest, f"from: {exc}") from None
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise _too_large()
    body = await request.content.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise _too_large()
    charset = (request.charset or "utf-8").lower()
    try:
        text = body.decode(charset)
    except LookupError:
        raise _refuse(web.HTTPBadRequest, f"unknown charset {charset!r}") from None
    except UnicodeDecodeError:
        raise _refuse(web.HTTPBadRequest, f"the body is not valid {charset}") from None
    if not text.strip() or "\x00" in text:
        raise _refuse(web.HTTPBadRequest, "an empty message (or one with NUL characters)")
    settings = request.app[SETTINGS]
    kind = await inbox.receive(SmsStore(request.app[STORE]), number, text, now(request),
                               settings.max_age)
    return web.Response(text=f"ok {kind}\n")


# ---------------------------------------------------------------------------- replies queue


def _official(request: web.Request) -> User:
    """Return the signed-in oversight official (categories are the oversight role's)."""
    return require(request, Area.RESULTS, role=Role.OVERSIGHT, what="see this page")


def _scope(user: User) -> tuple[list[str] | None, str | None]:
    """Return the (services, district) a results role sees; None: all."""
    scope = scope_of(user.role, user.scope)
    assert scope is not None  # require(Area.RESULTS) let only results roles in
    return (list(scope.services) if scope.services is not None else None), scope.district


async def replies_page(request: web.Request) -> web.Response:
    """List citizens' free-text messages, uncategorised first if asked, numbers masked.

    Oversight sees every reply and puts them in categories; a department or district official
    sees the replies matched to a visit in their scope, and may open a case on one.
    """
    user = require(request, Area.RESULTS, what="see this page")
    services, district = _scope(user)
    only_new = request.query.get("new") == "1"
    rows = await SmsStore(request.app[STORE]).replies(uncategorised=only_new, limit=200,
                                                      services=services, district=district)
    for r in rows:
        r["number"] = phone.mask(r["number"])
    who = identity(request)
    assert who is not None and who.session is not None
    return render(request, "sms_replies.html", replies=rows, only_new=only_new,
                  categories=request.app[SETTINGS].sms_categories,
                  may_categorise=user.role is Role.OVERSIGHT,
                  csrf_token=who.session.csrf_token, user=who.user)


def _reply_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 12:
        raise web.HTTPNotFound()
    return int(raw)


async def categorise(request: web.Request) -> web.Response:
    """Put one reply in a category (from the configured list); audited."""
    user = _official(request)
    reply_id = _reply_id(request)
    form = await request.post()
    category = form.get("category")
    if category not in request.app[SETTINGS].sms_categories:
        raise web.HTTPBadRequest(text=f"category: {str(category)[:40]!r} is not one of "
                                      f"{', '.join(request.app[SETTINGS].sms_categories)}")
    ok = await SmsStore(request.app[STORE]).categorise(reply_id, str(category),
                                                      f"user:{user.username}", now(request))
    if not ok:
        raise web.HTTPNotFound(text="No such reply.")
    raise web.HTTPSeeOther("/sms/replies")


async def open_case(request: web.Request) -> web.Response:
    """Open a case on the visit a free-text reply was matched to (scope applies); audited.

    A reply outside the official's scope is a 404, as if it did not exist; one matched to no
    visit is a 409 saying so. The case page opens; its visit's case if it already had one.
    """
    user = require(request, Area.RESULTS, what="open a case")
    services, district = _scope(user)
    reply_id = _reply_id(request)
    try:
        tx = await request.app[STORE].open_case_from_reply(
            reply_id, f"user:{user.username}", now(request), services=services,
            district=district)
    except InputError as exc:
        if "matched to no visit" in str(exc):
            raise web.HTTPConflict(text=str(exc)) from None
        raise web.HTTPNotFound(text="No such reply.") from None
    log.info("case on transaction %d opened from SMS reply %d by %s", tx, reply_id,
             user.username)
    raise web.HTTPSeeOther(f"/cases/{tx}")


def setup(app: web.Application) -> None:
    """Add the Kannel callbacks and the replies queue."""
    app.router.add_get("/sms/kannel/dlr", dlr)
    app.router.add_post("/sms/kannel/inbound", inbound)
    app.router.add_get("/sms/replies", replies_page)
    app.router.add_post("/sms/replies/{id}", categorise)
    app.router.add_post("/sms/replies/{id}/case", open_case)
