"""Web, cases: the corruption reports queue, each report's case, its recorded complaint,
officials' direct calls to citizens, the actions-per-district report and the audit log view.

Beside the road, after the answers. Who sees what (ivr.accounts):

    /cases, /cases/{id}, recordings, /reports/actions   oversight: all; department: its
        (+ /api/v1/... JSON of each)                     services; district: its district
    POST /cases/{id} (case change), POST .../call       the same scope
    POST /cases/{id}/reveal (the citizen's number)      oversight only
    /audit, /api/v1/audit                               oversight only

Anyone else signed in gets 403; nobody signed in is sent to /login (pages) or gets 401 (API).
A report outside one's scope is a 404, as if it did not exist. Every case change, reveal and
call is written to the audit log. Numbers are masked everywhere else.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, NoReturn

from aiohttp import web

from ivr import phone
from ivr.accounts import Area, User
from ivr.cases import CaseAction, CaseStatus, next_steps
from ivr.directcalls import DirectCalls
from ivr.errors import InputError, InvalidNumber, TelephonyError
from ivr.results import may_reveal, scope_of
from ivr.store.sms import SmsStore
from ivr.web import words
from ivr.web.accountability import deadlines_overdue
from ivr.web.common import (
    BODY_ERRORS,
    ENGINE,
    SETTINGS,
    STORE,
    SURVEYS,
    FileResponse,
    form_text,
    id_param,
    identity,
    is_api,
    json_error,
    now,
    page_param,
    read_json,
    refuse,
    render,
    require,
    see_other,
)
from scheduler import policy

log = logging.getLogger(__name__)

DIRECT_CALLS = web.AppKey("direct_calls", DirectCalls)
PAGE_SIZE = 50
AUDIO_TYPE = "audio/wav"


# ---------------------------------------------------------------------------- rules


def _scope(user: User) -> tuple[list[str] | None, str | None]:
    """Return the (services, district) a results role sees (ivr.results.scope_of); None: all."""
    scope = scope_of(user.role, user.scope)
    if scope is None:
        raise ValueError(f"role {user.role.value} sees no results")
    return (list(scope.services) if scope.services is not None else None), scope.district


def recording_file(rootfs: Path, value: str, node_dir: Path | None = None) -> Path | None:
    """Return the host file of a recording answer (a path on the PBX that recorded it), or None.

    node_dir (setting node_recordings): that node's spool as this host sees it; the file is its
    own name there (Asterisk records straight into astspooldir). Otherwise a lab node in the
    local rootfs: only files under the rootfs's /var/spool/rabta/. Only .wav files are served;
    anything else (another path, '..', a symlink out, a missing file) is None.
    """
    if not value.startswith("/") or not value.endswith(".wav") or "\x00" in value:
        return None
    if node_dir is not None:
        spool = node_dir.resolve()
        path = (spool / value.rsplit("/", 1)[1]).resolve()
    else:
        spool = (rootfs / "var/spool/rabta").resolve()
        path = (rootfs / value.lstrip("/")).resolve()
    if not path.is_relative_to(spool) or not path.is_file():
        return None
    return path


def _is_recording(value: str) -> bool:
    return value.startswith("/") and value.endswith(".wav")


# ---------------------------------------------------------------------------- access

_api = is_api


def _user(request: web.Request, area: Area = Area.RESULTS) -> User:
    """Return the signed-in official if their role may use `area`, or refuse (302/401/403)."""
    return require(request, area, what="see this page")


def _page(request: web.Request) -> int:
    return page_param(request)


def _tx_id(request: web.Request) -> int:
    return id_param(request, "tx", "report")


async def _report(request: web.Request, user: User) -> dict[str, Any]:
    """Return the report in the URL if the user's scope covers it; else 404 (as if absent)."""
    report = await request.app[STORE].bribe_report(_tx_id(request))
    services, district = _scope(user)
    if report is None or (services is not None and report["service"] not in services) or (
            district is not None and report["district"] != district):
        if _api(request):
            raise json_error(web.HTTPNotFound, "no such report")
        raise web.HTTPNotFound(text="No such report.")
    return report


def _csrf(request: web.Request) -> str:
    who = identity(request)
    assert who is not None and who.session is not None
    return who.session.csrf_token


def _public(request: web.Request, report: dict[str, Any], revealed: bool = False
            ) -> dict[str, Any]:
    """Return a report as views show it: the number masked unless revealed, no name; each
    answer with the labels of the survey that asked it (ivr.web.words, in English: pages
    translate them)."""
    out = {k: v for k, v in report.items() if k not in ("mobile", "name")}
    out["mobile"] = report["mobile"] if revealed else phone.mask(report["mobile"])
    if "answers" in report:
        book = request.app[SURVEYS]
        out["answers"] = []
        for a in report["answers"]:
            survey = words.survey_of(book, a.get("survey"), report["service"])
            out["answers"].append({
                **a, "recording": _is_recording(a["value"]),
                "question_label": words.question_label(survey, a["question"]),
                "value_label": words.answer_label(survey, a["question"], a["value"])})
    if "calls" in report:
        out["calls"] = [{k: (phone.mask(v) if k == "official_phone" else v) for k, v in c.items()}
                        for c in report["calls"]]
    return out


# ---------------------------------------------------------------------------- queue


async def queue(request: web.Request) -> web.Response:
    """List the bribe reports in the user's scope, newest first, by case status if asked."""
    user = _user(request)
    services, district = _scope(user)
    raw = request.query.get("status", "")
    status = CaseStatus(raw) if raw in set(CaseStatus) else None
    page = _page(request)
    rows, total = await request.app[STORE].bribe_reports(
        services=services, district=district, status=status, limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE)
    reports = [_public(request, r) for r in rows]
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if _api(request):
        return web.json_response({"reports": reports, "total": total, "page": page,
                                  "pages": pages})
    return render(request, "cases.html", user=user, reports=reports, total=total, page=page,
                  pages=pages, selected=status.value if status else "", statuses=list(CaseStatus),
                  csrf_token=_csrf(request))


# ---------------------------------------------------------------------------- one case


async def case_page(request: web.Request) -> web.Response:
    """Show one report: its answers, the recorded complaint, the case and its history."""
    user = _user(request)
    report = await _report(request, user)
    if _api(request):
        return web.json_response(_public(request, report))
    return await _render_case(request, user, report)


async def _render_case(request: web.Request, user: User, report: dict[str, Any], *,
                       revealed: bool = False, error: str = "", notice: str = "",
                       status: int = 200) -> web.Response:
    phone_set = await request.app[STORE].user_phone(user.id) is not None
    return render(request, "case.html", status, user=user, r=_public(request, report, revealed),
                  revealed=revealed, may_reveal=may_reveal(user.role), error=error,
                  notice=notice, steps=next_steps(CaseStatus(report["case_status"])),
                  actions=list(CaseAction), action_taken=CaseStatus.ACTION_TAKEN,
                  can_call=DIRECT_CALLS in request.app, phone_set=phone_set,
                  csrf_token=_csrf(request),
                  sms=await SmsStore(request.app[STORE]).messages_of(report["id"]))


async def _form(request: web.Request) -> dict[str, str]:
    return await form_text(request)


async def change_case(request: web.Request) -> web.Response:
    """Move a case on, or add a note or an owner (rules: ivr.cases.transition); audited."""
    user = _user(request)
    report = await _report(request, user)
    if _api(request):
        form = await read_json(request)
        if not isinstance(form, dict):
            raise json_error(web.HTTPBadRequest, "send a JSON object")
    else:
        form = await _form(request)
    try:
        to = CaseStatus(str(form.get("to") or report["case_status"]))
        raw_action = str(form.get("action") or "")
        action = CaseAction(raw_action) if raw_action else None
    except ValueError as exc:
        _refuse(request, f"not a case status or action: {exc}")
    owner = str(form.get("owner") or "").strip()[:64] or None
    note = str(form.get("note") or "")
    at = now(request)
    try:
        change = await request.app[STORE].change_case(
            report["id"], f"user:{user.username}", to, action, owner, note, at,
            followup_at=policy.followup_at(at, request.app[SETTINGS].followup_delay_days))
    except InputError as exc:
        _refuse(request, str(exc))
    log.info("case of transaction %d: %s -> %s by %s", report["id"], report["case_status"],
             change.status.value, user.username)
    if _api(request):
        return web.json_response({"status": change.status.value,
                                  "action": change.action.value if change.action else None})
    moved = change.status.value != report["case_status"]
    raise see_other(f"/cases/{report['id']}", "case_moved" if moved else "case_noted",
                    change.status.value if moved else "")


def _refuse(request: web.Request, message: str) -> NoReturn:
    """Refuse a case change: 422 JSON for the API, the case page again for a form."""
    if _api(request):
        raise json_error(web.HTTPUnprocessableEntity, message)
    raise _Refused(message)


class _Refused(Exception):
    """A form's change was refused: show the case page again with the reason."""


async def change_case_page(request: web.Request) -> web.Response:
    """Change a case from the page's form; show the page again with the reason if refused."""
    try:
        return await change_case(request)
    except _Refused as exc:
        user = _user(request)
        report = await _report(request, user)
        return await _render_case(request, user, report, error=str(exc), status=422)


async def reveal(request: web.Request) -> web.Response:
    """Show the citizen's number to a role allowed to see it; audited."""
    user = _user(request)
    report = await _report(request, user)
    if not may_reveal(user.role):
        refuse(request, web.HTTPForbidden, f"Your role ({user.role.value}) may not see numbers.")
    await request.app[STORE].audit(f"user:{user.username}", "reveal",
                                   {"transaction": report["id"]}, now(request))
    return await _render_case(request, user, report, revealed=True)


async def call(request: web.Request) -> web.Response:
    """Ring the official's own phone, then bridge to the citizen (ivr.directcalls); audited."""
    user = _user(request)
    report = await _report(request, user)
    store = request.app[STORE]
    if DIRECT_CALLS not in request.app:
        return await _render_case(request, user, report, status=503,
                                  error="Calls need the engine: this dashboard runs without it.")
    own = await store.user_phone(user.id)
    if own is None:
        return await _render_case(request, user, report, status=409,
                                  error="Your own phone is not set: ask an admin "
                                        "(rabta users phone <you> <number>).")
    try:
        call_id = await request.app[DIRECT_CALLS].call(user.username, own, report["id"],
                                                       report["mobile"])
    except (TelephonyError, InvalidNumber) as exc:
        return await _render_case(request, user, report, status=503,
                                  error=f"The call could not be placed: {exc}")
    await store.audit(f"user:{user.username}", "call",
                      {"transaction": report["id"], "direct_call": call_id}, now(request))
    report = await _report(request, user)
    return await _render_case(request, user, report,
                              notice=f"Calling your phone ({phone.mask(own)}) now; when you "
                                     f"answer, Rabta connects you to the citizen.")


async def recording(request: web.Request) -> web.StreamResponse:
    """Stream a recorded complaint (only a file an answer of this report names)."""
    user = _user(request)
    report = await _report(request, user)
    answer = id_param(request, "answer", "recording")
    found = await request.app[STORE].recording_of(report["id"], answer)
    path = None
    if found is not None:
        value, node = found
        settings = request.app[SETTINGS]
        path = recording_file(settings.rootfs, value, settings.recording_dirs().get(node))
    if path is None:
        raise web.HTTPNotFound(text="No such recording.")
    if request.http_range.start in (None, 0):  # a player fetches in ranges: log it once
        await request.app[STORE].audit(f"user:{user.username}", "recording_listen",
                                       {"transaction": report["id"], "answer": answer},
                                       now(request))
    return FileResponse(path, headers={"Content-Type": AUDIO_TYPE,
                                           "Cache-Control": "private, no-store",
                                           "X-Content-Type-Options": "nosniff"})


# ---------------------------------------------------------------------------- reports


async def actions_report(request: web.Request) -> web.Response:
    """Actions taken per district, as the programme published them (scope applies)."""
    user = _user(request)
    services, district = _scope(user)
    rows = await request.app[STORE].actions_by_district(services=services, district=district)
    overdue = await deadlines_overdue(request, services, district)  # escalated cases
    rows = [{**r, "overdue": overdue.get(r["district"], {}).get("overdue", 0)} for r in rows]
    columns = ["reports", "new", "under_review", "action_taken", *[a.value for a in CaseAction],
               "overdue"]
    totals = {c: sum(r[c] for r in rows) for c in columns}
    # the follow-up calls' answers per action kind ("resolved, says the citizen")
    followups = await request.app[STORE].followups_by_action(services=services,
                                                             district=district)
    if _api(request):
        return web.json_response({"districts": rows, "total": totals, "followups": followups})
    return render(request, "actions.html", user=user, rows=rows, columns=columns,
                  totals=totals, followups=followups,
                  followup_columns=["closed", "followups", "resolved", "not_resolved"],
                  csrf_token=_csrf(request))


async def audit_view(request: web.Request) -> web.Response:
    """The audit log, newest first, filtered by actor and action; for admins (oversight)."""
    user = _user(request, Area.ACCOUNTS)
    actor = request.query.get("actor", "").strip()[:100]
    action = request.query.get("action", "").strip()[:50]
    page = _page(request)
    store = request.app[STORE]
    entries, total = await store.audit_page(actor=actor or None, action=action or None,
                                            limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    if _api(request):
        return web.json_response({"entries": entries, "total": total, "page": page,
                                  "pages": pages})
    return render(request, "audit.html", user=user, entries=entries, total=total, page=page,
                  pages=pages, actor=actor, action=action, actions=await store.audit_actions(),
                  csrf_token=_csrf(request))


ROUTES = [
    ("GET", "/cases", queue), ("GET", "/api/v1/cases", queue),
    ("GET", "/cases/{tx}", case_page), ("GET", "/api/v1/cases/{tx}", case_page),
    ("POST", "/cases/{tx}", change_case_page), ("POST", "/api/v1/cases/{tx}", change_case),
    ("POST", "/cases/{tx}/reveal", reveal), ("POST", "/cases/{tx}/call", call),
    ("GET", "/cases/{tx}/recordings/{answer}", recording),
    ("GET", "/reports/actions", actions_report), ("GET", "/api/v1/reports/actions", actions_report),
    ("GET", "/audit", audit_view), ("GET", "/api/v1/audit", audit_view),
]


def setup(app: web.Application) -> None:
    """Add the cases pages and API; wire the engine's click-to-call service if there is one."""
    engine = app.get(ENGINE)
    if engine is not None and getattr(engine, "direct_calls", None) is not None:
        app[DIRECT_CALLS] = engine.direct_calls
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)


def openapi_parts() -> dict[str, Any]:
    """Return the cases API's OpenAPI paths (merged into the intake API's document)."""
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    refusals = {"401": {"description": "not signed in", **err},
                "403": {"description": "an office API key, a role that sees no reports, or "
                                       "no CSRF token (POST)", **err}}
    security: list[dict[str, list[str]]] = [{"session": []}]
    page = {"name": "page", "in": "query", "required": False, "schema": {"type": "integer"}}
    tx = {"name": "tx", "in": "path", "required": True, "schema": {"type": "integer"},
          "description": "the report's transaction id"}

    def ok(what: str) -> dict[str, Any]:
        return {"description": what, "content": {"application/json": {"schema": {
            "type": "object"}}}}

    return {
        "/api/v1/cases": {"get": {
            "summary": "Corruption reports in the caller's scope, newest visit first, 50 a page",
            "operationId": "getCases", "security": security,
            "parameters": [{"name": "status", "in": "query", "required": False, "schema": {
                "type": "string", "enum": ["new", "under_review", "action_taken"]}}, page],
            "responses": {"200": ok("{reports, total, page, pages}; numbers masked"),
                          **refusals}}},
        "/api/v1/cases/{tx}": {
            "get": {"summary": "One report: visit, answers, case, history, direct calls",
                    "operationId": "getCase", "security": security, "parameters": [tx],
                    "responses": {"200": ok("the report"), "404": {
                        "description": "no such report in your scope", **err}, **refusals}},
            "post": {"summary": "Move the case along new -> under_review -> action_taken",
                     "operationId": "changeCase", "security": [{"session": [], "csrf": []}],
                     "parameters": [tx],
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"type": "object", "properties": {
                             "to": {"type": "string"}, "action": {"type": "string"},
                             "owner": {"type": "string"}, "note": {"type": "string"}}}}}},
                     "responses": {**BODY_ERRORS, "200": ok("{status, action}"), "422": {
                         "description": "a change the case rules refuse (the reason)", **err},
                         "404": {"description": "no such report in your scope", **err},
                         **refusals}}},
        "/api/v1/reports/actions": {"get": {
            "summary": "Actions taken per district, as the programme publishes them",
            "operationId": "getActionsReport", "security": security,
            "responses": {"200": ok("{districts: one row per district, total, followups: per "
                                    "action, cases closed, follow-up calls planned, resolved "
                                    "and not resolved, says the citizen}"), **refusals}}},
        "/api/v1/audit": {"get": {
            "summary": "The audit log, newest first, 50 a page (oversight only)",
            "operationId": "getAudit", "security": security,
            "parameters": [{"name": "actor", "in": "query", "required": False,
                            "schema": {"type": "string"}},
                           {"name": "action", "in": "query", "required": False,
                            "schema": {"type": "string"}}, page],
            "responses": {"200": ok("{entries, total, page, pages}"), **refusals}}},
    }
