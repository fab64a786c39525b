"""Web, prompt studio: recorded prompts by upload, listened to, approved and made live.

Beside the road, before the calls. Who may do what (ivr.accounts, Area.PROMPTS):

    /prompts, /api/v1/prompts, a version's audio        supervisor and oversight (view)
    POST /prompts (upload a draft), POST /prompts/versions/{id}
        and POST /api/v1/prompts/versions/{id} (approve, make live)   supervisor only

An upload in any common audio format is decoded with pydub/ffmpeg and kept as 8 kHz mono wav
(ivr.prompt_files); anything else is refused with the reason. Making a version live installs
it into the PBX at once (a recording beats synthesis) and retires the previous live one.
Every change is audited (by the store, in the same transaction).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from ivr import audio, prompt_files
from ivr.accounts import Area, Role, User
from ivr.errors import InputError, RabtaError
from ivr.store.prompts import PromptVersion
from ivr.studio import Source, VersionStatus, transition
from ivr.web.common import (
    BODY_ERRORS,
    SETTINGS,
    STORE,
    FileResponse,
    allow_body,
    form_text,
    id_param,
    identity,
    is_api,
    json_error,
    now,
    read_form,
    read_json,
    render,
    require,
    see_other,
)

log = logging.getLogger(__name__)


_api = is_api


def _user(request: web.Request, *, write: bool = False) -> User:
    """Return the signed-in official allowed here (write: supervisors only), or refuse."""
    if write:
        return require(request, Area.PROMPTS, role=Role.SUPERVISOR, what="change prompts")
    return require(request, Area.PROMPTS, what="see prompts")


def prompt_ids() -> list[str]:
    """Return every prompt id of the manifest, in its order (the phone studio's numbering)."""
    return list(dict.fromkeys(p.id for p in audio.load_manifest()))


def overview(versions: list[PromptVersion], live_dir: Path) -> list[dict[str, Any]]:
    """Return one row per prompt id x language: what is played now and every version."""
    rows = []
    for pid in prompt_ids():
        for lang in audio.LANGUAGES:
            mine = [v for v in versions if v.prompt == pid and v.language == lang]
            live = next((v for v in mine if v.status is VersionStatus.LIVE), None)
            if live is not None:
                current = f"live recording (version {live.id})"
            elif any(live_dir.joinpath(lang).glob(f"{pid}.*")):
                current = "recording (placed by hand)"
            else:
                current = "synthesised"
            rows.append({"prompt": pid, "language": lang, "current": current,
                         "versions": [v.public() for v in mine]})
    return rows


async def prompts_page(request: web.Request, *, error: str = "", notice: str = "",
                       status: int = 200) -> web.Response:
    """List prompt ids x languages with what is played and their versions."""
    user = _user(request)
    versions = await request.app[STORE].prompt_versions()
    rows = overview(versions, prompt_files.live_dir(request.app[SETTINGS]))
    if _api(request):
        return web.json_response({"prompts": rows})
    who = identity(request)
    assert who is not None and who.session is not None
    return render(request, "prompts.html", status, user=user, rows=rows, ids=prompt_ids(),
                  languages=audio.LANGUAGES, may_change=user.role is Role.SUPERVISOR,
                  error=error, notice=notice, csrf_token=who.session.csrf_token)


async def prompts_get(request: web.Request) -> web.Response:
    """GET /prompts and /api/v1/prompts."""
    return await prompts_page(request)


async def upload(request: web.Request) -> web.Response:
    """Take an uploaded recording as a new draft version (converted to 8 kHz mono wav)."""
    user = _user(request, write=True)
    form = await read_form(request)
    pid, lang, file = str(form.get("prompt", "")), str(form.get("language", "")), form.get("file")
    try:
        if pid not in prompt_ids() or lang not in audio.LANGUAGES:
            raise InputError("choose a prompt and a language from the lists")
        if not isinstance(file, web.FileField):
            raise InputError("choose a file to upload")
        at: datetime = now(request)
        dest = prompt_files.version_path(request.app[SETTINGS], pid, lang,
                                         f"upload-{at.strftime('%Y%m%dT%H%M%S%f')}")
        data = file.file.read(prompt_files.MAX_UPLOAD + 1)
        if len(data) > prompt_files.MAX_UPLOAD:
            raise InputError(f"the file is larger than {prompt_files.MAX_UPLOAD // 2**20} MiB")
        await asyncio.to_thread(prompt_files.convert_bytes, data, dest)
    except InputError as exc:
        return await prompts_page(request, error=f"Upload refused: {exc}", status=422)
    version = await request.app[STORE].add_prompt_version(
        pid, lang, str(dest), Source.UPLOAD, user.username, f"user:{user.username}", at)
    log.info("prompt %s/%s: version %d uploaded by %s", lang, pid, version, user.username)
    raise see_other(f"/prompts#v{version}", "prompt_uploaded")


async def _version(request: web.Request) -> PromptVersion:
    version = await request.app[STORE].prompt_version(id_param(request, "version",
                                                               "prompt version"))
    if version is None:
        if _api(request):
            raise json_error(web.HTTPNotFound, "no such prompt version")
        raise web.HTTPNotFound(text="No such prompt version.")
    return version


async def change(request: web.Request) -> web.Response:
    """Approve a draft, or make an approved version live (installing it); audited."""
    user = _user(request, write=True)
    version = await _version(request)
    if _api(request):
        body = await read_json(request)
        raw = str(body.get("to", "")) if isinstance(body, dict) else ""
    else:
        raw = (await form_text(request)).get("to", "")
    try:
        to = transition(version.status, VersionStatus(raw) if raw in set(VersionStatus)
                        else _no_status(raw))
        if to is VersionStatus.LIVE:
            await asyncio.to_thread(prompt_files.publish, request.app[SETTINGS], version.prompt,
                                    version.language, Path(version.file))
        changed, retired = await request.app[STORE].set_prompt_version_status(
            version.id, to, f"user:{user.username}", now(request))
    except (InputError, RabtaError) as exc:
        if _api(request):
            raise json_error(web.HTTPUnprocessableEntity, str(exc)) from None
        return await prompts_page(request, error=str(exc), status=422)
    log.info("prompt %s/%s: version %d %s -> %s by %s", version.language, version.prompt,
             version.id, version.status.value, to.value, user.username)
    if _api(request):
        return web.json_response({**changed.public(), "retired": retired})
    raise see_other(f"/prompts#v{version.id}", "prompt_changed", to.value)


def _no_status(raw: str) -> VersionStatus:
    raise InputError(f"not a version status: {raw!r} (approved or live)")


async def listen(request: web.Request) -> web.StreamResponse:
    """Stream one version's audio (a file under <home>/prompts/versions only)."""
    _user(request)
    version = await _version(request)
    root = prompt_files.versions_dir(request.app[SETTINGS]).resolve()
    path = Path(version.file).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise web.HTTPNotFound(text="The version's file is gone.")
    return FileResponse(path, headers={"Content-Type": "audio/wav",
                                           "Cache-Control": "private, no-store",
                                           "X-Content-Type-Options": "nosniff"})


ROUTES = [
    ("GET", "/prompts", prompts_get), ("GET", "/api/v1/prompts", prompts_get),
    ("POST", "/prompts", upload),
    ("GET", "/prompts/versions/{version}/audio", listen),
    ("POST", "/prompts/versions/{version}", change),
    ("POST", "/api/v1/prompts/versions/{version}", change),
]


def setup(app: web.Application) -> None:
    """Add the prompt studio's pages and API."""
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    # uploads alone take large bodies (multipart, spooled to disk as it arrives)
    allow_body(app, upload, lambda _settings: prompt_files.MAX_UPLOAD + 2**16)


def openapi_parts() -> dict[str, Any]:
    """Return the prompt studio API's OpenAPI paths (merged into the intake API's document)."""
    err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    refusals = {"401": {"description": "not signed in", **err},
                "403": {"description": "an office API key, a role that may not see (or, for "
                                       "POST, change) prompts, or no CSRF token (POST)", **err}}
    ok = {"content": {"application/json": {"schema": {"type": "object"}}}}
    return {
        "/api/v1/prompts": {"get": {
            "summary": "Every prompt id x language: what is played now and its recorded versions",
            "operationId": "getPrompts", "security": [{"session": []}],
            "responses": {"200": {"description": "{prompts: [{prompt, language, current, "
                                                 "versions}]}", **ok}, **refusals}}},
        "/api/v1/prompts/versions/{version}": {"post": {
            "summary": "Approve a draft version, or make an approved one live (supervisors)",
            "operationId": "changePromptVersion", "security": [{"session": [], "csrf": []}],
            "parameters": [{"name": "version", "in": "path", "required": True,
                            "schema": {"type": "integer"}}],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["to"], "properties": {
                    "to": {"type": "string", "enum": ["approved", "live"]}}}}}},
            "responses": {**BODY_ERRORS,
                          "200": {"description": "the version, and the id of the live version "
                                                 "it retired (or null)", **ok},
                          "404": {"description": "no such version", **err},
                          "422": {"description": "a change the rules refuse, or the recording "
                                               "could not be installed", **err},
                          **refusals}}},
    }
