"""The dashboard's cells of the role x endpoint matrix in test_web_auth.py (kept apart to merge easily)."""

from __future__ import annotations

from ivr.web.i18n import font_name

# Open to anyone, signed in or not: the language switch (without ?to= it is a mistake: 400)
# and the Urdu font under its hashed name (ivr.web.i18n).
_OPEN = {"GET /language": 400, f"GET /static/{font_name()}": 200}

DASHBOARD_ROUTES = ["GET /results", "GET /overview", "GET /static/{name}",
                    "GET /api/v1/results", "GET /api/v1/overview", "GET /api/v1/overview/stream",
                    "GET /export/results.csv", "GET /export/results.xlsx",
                    "GET /export/responses.csv", "GET /export/responses.xlsx",
                    "POST /export/responses", *_OPEN]
_PAGES = ["GET /results", "GET /overview", "GET /export/results.csv", "GET /export/results.xlsx",
          "GET /export/responses.csv", "GET /export/responses.xlsx", "POST /export/responses"]
_API = ["GET /api/v1/results", "GET /api/v1/overview", "GET /api/v1/overview/stream"]
_RESPONSES = ["GET /export/responses.csv", "GET /export/responses.xlsx", "POST /export/responses"]

_ANON = {**dict.fromkeys(_PAGES, 302), **dict.fromkeys(_API, 401), "GET /static/{name}": 200,
         **_OPEN}
_NONE = {**dict.fromkeys(DASHBOARD_ROUTES, 403), "GET /static/{name}": 200, **_OPEN}
_ALL = {**dict.fromkeys(DASHBOARD_ROUTES, 200), **_OPEN}
_SCOPED = {**_ALL, **dict.fromkeys(_RESPONSES, 403)}  # results yes, single responses no

DASHBOARD_EXPECTED: dict[str, dict[str, int]] = {
    "anonymous": _ANON,
    "oversight": _ALL,
    "department": _SCOPED,
    "district": _SCOPED,
    "supervisor": _NONE,
    "telephony": _NONE,
    "dataentry": _NONE,
    "dataentry_other_office": _NONE,
    "apikey": _NONE,  # office keys are for intake only
    "apikey_other_office": _NONE,
    "apikey_revoked": _ANON,
    "apikey_bogus": _ANON,
}
