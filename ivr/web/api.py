"""Web, intake API: office systems POST transactions here; the first stage of the road, by HTTP.

    POST /api/v1/transactions   one JSON object or an array of them -> intake.validate_batch
                                (the same rules as `rabta import`) -> services.intake.accept
    GET  /api/v1/openapi.json   the OpenAPI 3 description of the above

A batch is all or nothing: one bad item and nothing is saved; the 422 names every bad item by
index, field and reason. Re-posting is harmless: (office, ref) already present are counted,
not duplicated. An office's API key writes only its own office; of the officials, oversight
writes any office and dataentry its own. Bad input is always a clean 4xx, never a 5xx, and
every refusal of an identified caller (400, 403, 413, 415, 422) is audited as intake_refused.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from ivr import intake
from ivr.accounts import Area, Role, may, may_write_office
from ivr.services.intake import accept
from ivr.web.common import (
    SETTINGS,
    STORE,
    WWW_AUTHENTICATE,
    Handler,
    Identity,
    allow_body,
    bad_credentials,
    identity,
    json_error,
    now,
    parse_json,
    read_body,
)

log = logging.getLogger(__name__)

TRANSACTIONS = "/api/v1/transactions"
OPENAPI = "/api/v1/openapi.json"
_SHOW_FORBIDDEN = 100  # indexes listed in a 403 (enough to find the mistake, not a flood)


# ---------------------------------------------------------------------------- reading


def _parse(body: bytes, max_items: int) -> list[object]:
    """Decode the body into a list of items, or refuse with 400/413 saying why."""
    data = parse_json(body, unicode_only=False)  # validate_batch names each bad field
    if isinstance(data, dict):
        return [data]
    if not isinstance(data, list):
        raise json_error(web.HTTPBadRequest,
                         "the body must be a transaction object or an array of them",
                         {"reason": f"got {type(data).__name__}"})
    if not data:
        raise json_error(web.HTTPBadRequest, "empty array: send at least one transaction")
    if len(data) > max_items:
        raise json_error(web.HTTPRequestEntityTooLarge,
                         f"too many transactions in one request ({len(data)}, max {max_items}): "
                         f"split the batch", {"max_items": max_items, "items": len(data)},
                         max_size=max_items, actual_size=len(data))
    return data


# ---------------------------------------------------------------------------- rules


def _may_write(who: Identity, office: str) -> bool:
    if who.key is not None:
        return who.key.office == office
    user = who.user
    return user is not None and may_write_office(user.role, user.scope, office)


def _allowed_offices(who: Identity) -> list[str] | str:
    if who.key is not None:
        return [who.key.office]
    user = who.user
    if user is not None and user.role is Role.OVERSIGHT:
        return "any"
    return list(user.scope[:1]) if user is not None else []


def _authorize(request: web.Request) -> Identity:
    """Return the caller if it may use intake at all, or refuse with 401/403."""
    who = identity(request)
    if who is None:
        message = ("invalid or revoked API key" if bad_credentials(request)
                   else "authentication required: send an API key (Authorization: Bearer ...) "
                        "or sign in")
        raise json_error(web.HTTPUnauthorized, message, headers=WWW_AUTHENTICATE)
    user = who.user
    if user is not None and not may(user.role, Area.INTAKE):
        raise json_error(web.HTTPForbidden, f"role {user.role.value} may not post transactions",
                         {"role": user.role.value})
    return who


# ---------------------------------------------------------------------------- handlers


async def post_transactions(request: web.Request) -> web.Response:
    """Validate a batch with the CSV's rules and store it whole, or refuse it whole."""
    who = _authorize(request)
    if request.content_type != "application/json":
        raise json_error(web.HTTPUnsupportedMediaType, "send Content-Type: application/json",
                         {"content_type": request.content_type[:100]})
    settings, store, when = request.app[SETTINGS], request.app[STORE], now(request)
    items = _parse(await read_body(request), settings.api_max_batch)
    txs, errors = intake.validate_batch(items, default_tz=settings.timezone, now=when)
    if errors:
        log.info("intake by %s refused: %d of %d items invalid", who.actor,
                 len({i for i, _f, _r in errors}), len(items))
        raise json_error(web.HTTPUnprocessableEntity,
                         f"{len(errors)} invalid item(s); nothing was saved",
                         {"errors": [{"index": i, "field": f, "message": m} for i, f, m in errors]})
    forbidden = [i for i, tx in enumerate(txs) if not _may_write(who, tx.office)]
    if forbidden:
        raise json_error(web.HTTPForbidden,
                         f"{len(forbidden)} item(s) are for an office you may not write; "
                         f"nothing was saved",
                         {"allowed_offices": _allowed_offices(who),
                          "items": forbidden[:_SHOW_FORBIDDEN]})
    done = await accept(store, settings, txs, when)
    created, present = done.created, done.already_present
    await store.audit(who.actor, "intake", {"received": len(txs), "created": created,
                                            "already_present": present}, when)
    log.info("intake by %s: %d created, %d already present", who.actor, created, present)
    return web.json_response({"received": len(txs), "created": created,
                              "already_present": present}, status=201 if created else 200)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.app[SETTINGS].api_max_batch))


# ---------------------------------------------------------------------------- OpenAPI


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def openapi_document(max_batch: int) -> dict[str, Any]:
    """Return the OpenAPI 3 description of the intake API."""
    text = {"type": "string", "maxLength": intake.MAX_TEXT}
    transaction = {
        "type": "object",
        "additionalProperties": False,
        "required": [*intake.REQUIRED_FIELDS, "visited_at"],
        "properties": {
            "ref": {"type": "string", "maxLength": intake.MAX_REF,
                    "description": "the office's own reference, unique per office "
                                   "(numbers are accepted and read as text)"},
            "name": {**text, "description": "the citizen's name (may be empty)"},
            "mobile": {"type": "string", "example": "03001234567",
                       "description": "a Pakistani mobile number, national or E.164"},
            "service": text,
            "office": {**text, "description": "an API key may only write its own office"},
            "district": text,
            "official": {**text, "description": "who served the citizen (may be empty)"},
            "visited_at": {"type": "string", "example": "2024-05-01T09:30:00+05:00",
                           "description": "ISO 8601 date and time; without an offset it is "
                                          "Asia/Karachi time; at most a day in the future"},
            "language": {"type": "string", "enum": [*intake.LANGUAGES, ""],
                         "description": "language of the call; empty: the default"},
        },
    }
    from ivr.web.cases import openapi_parts as case_paths  # reports, cases, audit
    from ivr.web.dashboard import openapi_parts  # results, overview: read by officials

    more_paths, more_schemas = openapi_parts()
    from ivr.web.accountability import openapi_parts as acct_paths  # issue 16
    from ivr.web.accounts import openapi_parts as account_paths  # accounts, own password
    from ivr.web.prompts import openapi_parts as prompt_paths  # the prompt studio

    more_paths = {**more_paths, **case_paths(), **prompt_paths(), **acct_paths(),
                  **account_paths()}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Rabta API", "version": "1",
                 "description": "Office systems send the transactions whose citizens Rabta "
                                "will call; officials read results. See docs/API.md."},
        "paths": {
            TRANSACTIONS: {"post": {
                "summary": "Add transactions (one object or an array), all or nothing",
                "operationId": "postTransactions",
                "security": [{"apiKey": []}, {"session": [], "csrf": []}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "oneOf": [{"$ref": "#/components/schemas/Transaction"},
                              {"type": "array", "minItems": 1, "maxItems": max_batch,
                               "items": {"$ref": "#/components/schemas/Transaction"}}]}}}},
                "responses": {
                    "201": {"description": "at least one transaction was new",
                            "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/Result"}}}},
                    "200": {"description": "every transaction was already present (a re-post)",
                            "content": {"application/json": {
                                "schema": {"$ref": "#/components/schemas/Result"}}}},
                    "400": _error_response("malformed JSON, not UTF-8, empty array or not an "
                                           "object/array"),
                    "401": _error_response("no credentials, or an unknown or revoked API key"),
                    "403": _error_response("role may not post, an item's office is not yours, "
                                           "or the CSRF token is missing (session callers)"),
                    "408": _error_response("the body did not arrive within web_read_timeout"),
                    "413": _error_response(f"body too large, or more than {max_batch} items"),
                    "415": _error_response("Content-Type is not application/json"),
                    "422": _error_response("one or more invalid items (details.errors); "
                                           "nothing was saved"),
                },
            }},
            **more_paths,
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer",
                           "description": "an office key from `rabta apikeys add --office X`"},
                "session": {"type": "apiKey", "in": "cookie", "name": "rabta_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            },
            "schemas": {
                "Transaction": transaction,
                "Result": {"type": "object", "properties": {
                    "received": {"type": "integer"}, "created": {"type": "integer"},
                    "already_present": {"type": "integer"}}},
                "Error": {"type": "object", "required": ["error", "details"], "properties": {
                    "error": {"type": "string"},
                    "details": {"type": "object", "properties": {"errors": {
                        "type": "array", "items": {"type": "object", "properties": {
                            "index": {"type": "integer"}, "field": {"type": "string"},
                            "message": {"type": "string"}}}}}}}},
                **more_schemas,
            },
        },
    }


def audited_refusals(handler: Handler) -> Handler:
    """Wrap the intake handler so that every refusal of a known caller leaves an audit row."""
    async def audited(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            who = identity(request)
            if who is not None and exc.status >= 400:
                try:
                    reason = json.loads(exc.text or "{}").get("error", exc.reason)
                except ValueError:
                    reason = exc.reason
                await request.app[STORE].audit(who.actor, "intake_refused", {
                    "status": exc.status, "reason": str(reason)[:200]}, now(request))
            raise
    return audited


def setup(app: web.Application) -> None:
    """Add the intake API's routes; intake batches alone may be up to api_max_body bytes."""
    handler = audited_refusals(post_transactions)
    app.router.add_post(TRANSACTIONS, handler)
    allow_body(app, handler, lambda settings: settings.api_max_body)
    app.router.add_get(OPENAPI, openapi)
