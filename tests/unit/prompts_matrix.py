"""The prompt studio's cells of the role x endpoint matrix in test_web_auth.py (kept apart to merge easily).

Version 999 does not exist: a role allowed through gets 404 (or 422 for an upload without a
file), one refused gets 302/401/403 before the version is looked up.
"""

from __future__ import annotations

PROMPT_ROUTES = ["GET /prompts", "GET /api/v1/prompts", "POST /prompts",
                 "GET /prompts/versions/{version}/audio", "POST /prompts/versions/{version}",
                 "GET /prompts/now/{language}/{prompt}",
                 "POST /api/v1/prompts/versions/{version}"]
PROMPT_FORMS = {"POST /prompts": {}, "POST /prompts/versions/{version}": {"to": "approved"}}
PROMPT_JSON = {"POST /api/v1/prompts/versions/{version}": {"to": "approved"}}
_API = ["GET /api/v1/prompts", "POST /api/v1/prompts/versions/{version}"]
_PAGES = [r for r in PROMPT_ROUTES if r not in _API]

_ANON = {**dict.fromkeys(_PAGES, 302), **dict.fromkeys(_API, 401)}
_NONE = dict.fromkeys(PROMPT_ROUTES, 403)
_KEY = _NONE  # an office key is known, and refused (403), on pages and API alike
# what plays now: nothing is built in the test's home, so an allowed role gets 404
_VIEW = {**_NONE, "GET /prompts": 200, "GET /api/v1/prompts": 200,
         "GET /prompts/versions/{version}/audio": 404, "GET /prompts/now/{language}/{prompt}": 404}
_CHANGE = {"GET /prompts": 200, "GET /api/v1/prompts": 200, "POST /prompts": 422,
           "GET /prompts/versions/{version}/audio": 404, "POST /prompts/versions/{version}": 404,
           "GET /prompts/now/{language}/{prompt}": 404,
           "POST /api/v1/prompts/versions/{version}": 404}

PROMPT_EXPECTED: dict[str, dict[str, int]] = {
    "anonymous": _ANON,
    "oversight": _VIEW,  # may see, not change
    "department": _NONE,
    "district": _NONE,
    "supervisor": _CHANGE,
    "telephony": _NONE,
    "dataentry": _NONE,
    "dataentry_other_office": _NONE,
    "apikey": _KEY,  # office keys are for intake only
    "apikey_other_office": _KEY,
    "apikey_revoked": _ANON,
    "apikey_bogus": _ANON,
}
