"""Web, prompt studio: each prompt with its text in every language and what plays now (a
recording or the synthesised voice, playable in the browser), filtered by survey, language and
state; recorded prompts by upload, listened to, approved and made live.

Beside the road, before the calls. Who may do what (ivr.accounts, Area.PROMPTS):

    /prompts, /api/v1/prompts, a version's audio,
        /prompts/now/{language}/{prompt} (what plays now)   supervisor and oversight (view)
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
import mimetypes
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from ivr import audio, prompt_files
from ivr.accounts import Area, Role, User
from ivr.config import Settings
from ivr.errors import InputError, RabtaError
from ivr.flows import definitions
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
from ivr.web.i18n import N_

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


def survey_prompts() -> dict[str, tuple[str, set[str]]]:
    """Return each survey's id -> (title, the prompt ids it may play); {} if they cannot load."""
    try:
        book = definitions.load_surveys()
    except RabtaError as exc:  # the engine refuses to start on this too; the studio still works
        log.warning("prompt studio: surveys not loaded for the filter: %s", exc)
        return {}
    return {s.id: (s.title or s.id, s.prompt_ids()) for s in book.surveys.values()}


STATES = (prompt_files.MISSING, prompt_files.SYNTHESISED, prompt_files.RECORDED, "review")
RTL = frozenset({"ur", "pa"})  # Urdu, and Punjabi in Shahmukhi
# The words officials read for the codes (translated where shown; marked for extraction here).
LANGUAGE_NAMES = {"ur": N_("Urdu"), "pa": N_("Punjabi"), "en": N_("English")}
STATE_NAMES = {prompt_files.MISSING: N_("nothing plays"),
               prompt_files.SYNTHESISED: N_("synthesised voice"),
               prompt_files.RECORDED: N_("recording"), "review": N_("waiting for approval")}


def overview(versions: list[PromptVersion], settings: Settings,
             surveys: dict[str, tuple[str, set[str]]] | None = None) -> list[dict[str, Any]]:
    """Return one row per prompt id x language: its text, what is played now and every version.

    state: what plays now (missing | synthesised | recorded); review: a draft or approved
    version waits for a supervisor.
    """
    texts = {(p.id, p.language): p.text for p in audio.load_manifest()}
    rows = []
    for pid in prompt_ids():
        used_by = sorted(sid for sid, (_, ids) in (surveys or {}).items() if pid in ids)
        for lang in audio.LANGUAGES:
            mine = [v for v in versions if v.prompt == pid and v.language == lang]
            live = next((v for v in mine if v.status is VersionStatus.LIVE), None)
            state, _ = prompt_files.now_playing(settings, pid, lang)
            if live is not None and state == prompt_files.RECORDED:
                current = f"live recording (version {live.id})"
            elif state == prompt_files.RECORDED:
                current = "recording (placed by hand)"
            elif state == prompt_files.SYNTHESISED:
                current = "synthesised"
            else:
                current = "nothing: not built yet" if texts.get((pid, lang)) else "nothing: no text"
            rows.append({"prompt": pid, "language": lang, "text": texts.get((pid, lang), ""),
                         "state": state, "current": current, "surveys": used_by,
                         "review": any(v.status in (VersionStatus.DRAFT, VersionStatus.APPROVED)
                                       for v in mine),
                         "audio": f"/prompts/now/{lang}/{pid}" if state != prompt_files.MISSING
                         else None,
                         "versions": [v.public() for v in mine]})
    return rows


def chosen(rows: list[dict[str, Any]], surveys: dict[str, tuple[str, set[str]]],
           survey: str, language: str, state: str) -> list[dict[str, Any]]:
    """Return the rows a filter keeps (an unknown value filters nothing)."""
    ids = surveys[survey][1] if survey in surveys else None
    return [r for r in rows
            if (ids is None or r["prompt"] in ids)
            and (language not in audio.LANGUAGES or r["language"] == language)
            and (state not in STATES or (r["review"] if state == "review"
                                         else r["state"] == state))]


def grouped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the rows as one card per prompt: {prompt, number, surveys, languages: [rows]}."""
    numbers = {pid: n for n, pid in enumerate(prompt_ids(), 1)}
    cards: dict[str, dict[str, Any]] = {}
    for r in rows:
        card = cards.setdefault(r["prompt"], {"prompt": r["prompt"], "number": numbers[r["prompt"]],
                                              "surveys": r["surveys"], "languages": []})
        card["languages"].append(r)
    return list(cards.values())


async def prompts_page(request: web.Request, *, error: str = "", notice: str = "",
                       status: int = 200) -> web.Response:
    """Each prompt with its text in every language, what plays now (playable), its versions;
    filtered by ?survey=, ?language= and ?state=."""
    user = _user(request)
    settings = request.app[SETTINGS]
    versions = await request.app[STORE].prompt_versions()
    surveys = await asyncio.to_thread(survey_prompts)
    rows = await asyncio.to_thread(overview, versions, settings, surveys)
    q = request.query
    survey, language, state = q.get("survey", ""), q.get("language", ""), q.get("state", "")
    shown = chosen(rows, surveys, survey, language, state)
    if _api(request):
        return web.json_response({"prompts": shown})
    who = identity(request)
    assert who is not None and who.session is not None
    counts = {s: sum(1 for r in rows if (r["review"] if s == "review" else r["state"] == s))
              for s in STATES}
    return render(request, "prompts.html", status, user=user, cards=grouped(shown),
                  ids=prompt_ids(), languages=audio.LANGUAGES, rtl=RTL, states=STATES,
                  language_names=LANGUAGE_NAMES, state_names=STATE_NAMES,
                  counts=counts, surveys=surveys,
                  picked={"survey": survey, "language": language, "state": state},
                  may_change=user.role is Role.SUPERVISOR,
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


async def playing(request: web.Request) -> web.StreamResponse:
    """GET /prompts/now/{language}/{prompt}: the audio the PBX plays now for that prompt."""
    _user(request)
    pid, lang = request.match_info["prompt"], request.match_info["language"]
    if lang not in audio.LANGUAGES or pid not in prompt_ids():
        raise web.HTTPNotFound(text="No such prompt.")
    _, path = prompt_files.now_playing(request.app[SETTINGS], pid, lang)
    if path is None:
        raise web.HTTPNotFound(text="Nothing plays for this prompt yet: build the prompts "
                                    "(rabta prompts build) or make a recording live.")
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if not kind.startswith("audio/"):
        raise web.HTTPNotFound(text="The prompt's file is not audio a browser can play.")
    return FileResponse(path, headers={"Content-Type": "audio/wav" if path.suffix == ".wav"
                                       else kind, "Cache-Control": "private, no-cache"})


ROUTES = [
    ("GET", "/prompts", prompts_get), ("GET", "/api/v1/prompts", prompts_get),
    ("POST", "/prompts", upload),
    ("GET", "/prompts/versions/{version}/audio", listen),
    ("GET", "/prompts/now/{language}/{prompt}", playing),
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
