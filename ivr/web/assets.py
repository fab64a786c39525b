"""Web, light on slow links: static assets under content-hashed names, gzip for text responses,
and the per-page CSP nonce that lets a page's own <style> and <script> in without
'unsafe-inline'.

Every file in ivr/web/static is served as /static/<stem>.<hash><suffix> (the first 12 hex digits
of its SHA-256) with `Cache-Control: public, max-age=31536000, immutable`: a browser fetches it
once per version and never asks again; a new version has a new name. Templates get the name
through one helper, `static('overview.js')` (a Jinja global). The plain name still answers, with
`no-cache`, for a page a browser kept from before.

Compression: a text response (HTML, JSON, CSV, JavaScript, CSS, SVG) of at least
MIN_COMPRESS bytes is sent gzip'd to a client that accepts it; a server-sent event stream never
is (each event must leave at once), nor a file download (FileResponse streams from disk), nor
anything already compressed (the woff2 font, audio). Static text is compressed once, at start.
`web_compression = false` turns compression off and serves assets `no-cache` (the baseline of
bench/slow_link.py).
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from aiohttp import web

STATIC = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
MIN_COMPRESS = 512  # bytes: below this gzip's header and a round of CPU cost more than it saves
_TEXT_TYPES = ("text/html", "text/plain", "text/csv", "text/css", "text/javascript",
               "application/json", "application/javascript", "image/svg+xml",
               "application/problem+json")
_TYPES = {".js": "text/javascript", ".css": "text/css", ".woff2": "font/woff2",
          ".svg": "image/svg+xml"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
COMPRESSION = web.AppKey("compression", bool)
_NONCE: web.RequestKey[str] = web.RequestKey("csp_nonce")


@dataclass(frozen=True, slots=True)
class Asset:
    """One static file, read once: its bytes, gzip'd bytes if it is text, and its hashed name."""

    name: str  # as in ivr/web/static
    hashed: str  # name.<hash>.suffix
    content_type: str
    body: bytes
    gzipped: bytes | None


def hashed_name(path: Path, body: bytes) -> str:
    """Return the name a file is served under: its stem, 12 hex digits of SHA-256, its suffix.

    A name that already carries its hash (the font, built by tools/build_font.py) keeps it.
    """
    digest = hashlib.sha256(body).hexdigest()[:12]
    if digest in path.stem:
        return path.name
    return f"{path.stem}.{digest}{path.suffix}"


@cache
def assets() -> dict[str, Asset]:
    """Return every static asset by its plain name (read from disk once per process)."""
    out: dict[str, Asset] = {}
    for path in sorted(STATIC.iterdir()):
        if not path.is_file() or path.name.startswith(".") or path.suffix == ".woff2":
            continue  # the font has its own hashed route (ivr.web.i18n)
        body = path.read_bytes()
        kind = _TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] \
            or "application/octet-stream"
        text = kind.startswith("text/") or kind == "image/svg+xml"
        out[path.name] = Asset(path.name, hashed_name(path, body), kind, body,
                               gzip.compress(body, 9, mtime=0) if text else None)
    return out


def url(name: str) -> str:
    """Return the URL of a static asset under its content-hashed name (templates: `static()`)."""
    try:
        return f"/static/{assets()[name].hashed}"
    except KeyError:
        raise LookupError(f"no static asset {name!r} in {STATIC}") from None


@cache
def _by_served_name() -> dict[str, tuple[Asset, bool]]:
    out: dict[str, tuple[Asset, bool]] = {}
    for asset in assets().values():
        out[asset.name] = (asset, False)
        out[asset.hashed] = (asset, True)
    return out


def accepts_gzip(request: web.BaseRequest) -> bool:
    """Tell whether the client said it takes gzip (and did not refuse it with q=0)."""
    for part in request.headers.get("Accept-Encoding", "").lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            q = params.strip().removeprefix("q=").strip()
            return q not in ("0", "0.0", "0.00", "0.000")
    return False


async def static_file(request: web.Request) -> web.Response:
    """GET /static/{name}: an asset; immutable under its hashed name, revalidated under its own."""
    found = _by_served_name().get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound(text="no such file")
    asset, hashed = found
    light = request.app[COMPRESSION]
    etag = f'"{asset.hashed}"'
    headers = {"Cache-Control": IMMUTABLE if hashed and light else "no-cache",
               "ETag": etag, "Vary": "Accept-Encoding"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    body = asset.body
    if light and asset.gzipped is not None and accepts_gzip(request):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    response = web.Response(body=body, headers=headers)
    response.content_type = asset.content_type
    return response


def nonce(request: web.Request) -> str:
    """Return this request's CSP nonce (made on first use; the page's tags carry it)."""
    value = request.get(_NONCE)
    if value is None:
        value = secrets.token_urlsafe(16)
        request[_NONCE] = value
    return value


def with_nonce(csp: str, value: str) -> str:
    """Put 'nonce-<value>' into a policy's style-src and script-src (where it has them)."""
    out = []
    for directive in csp.split(";"):
        name = directive.strip().split(" ", 1)[0]
        if name in ("style-src", "script-src"):
            directive = f"{directive.rstrip()} 'nonce-{value}'"
        out.append(directive)
    return ";".join(out)


def compressible(response: web.StreamResponse) -> bool:
    """Tell whether a response should leave gzip'd: text, large enough, not a stream or file."""
    if not isinstance(response, web.Response) or isinstance(response, web.FileResponse):
        return False  # a StreamResponse (SSE, streamed export) or a file from disk
    if response.status < 200 or response.status in (204, 304):
        return False
    if "Content-Encoding" in response.headers:
        return False
    kind = response.content_type
    if kind not in _TEXT_TYPES:
        return False
    body = response.body
    return isinstance(body, bytes | bytearray) and len(body) >= MIN_COMPRESS


@web.middleware
async def compress(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Gzip a text response to a client that takes it.

    A middleware, outermost (error pages too): aiohttp decides on compression before the
    on_response_prepare signal runs.
    """
    response = await handler(request)
    if compressible(response):
        response.headers.setdefault("Vary", "Accept-Encoding")
        if request.app[COMPRESSION] and accepts_gzip(request):
            assert isinstance(response, web.Response)
            response.enable_compression(web.ContentCoding.gzip)
    return response


def setup(app: web.Application, compression: bool) -> None:
    """Serve ivr/web/static under hashed names and gzip text responses (if `compression`)."""
    app[COMPRESSION] = compression
    app.router.add_get("/static/{name}", static_file)
    app.middlewares.insert(0, compress)
