"""The accountability pages' cells of the role x endpoint matrix in test_web_auth.py (kept apart)."""

from __future__ import annotations

ACCT_ROUTES = ["GET /accountability", "GET /api/v1/accountability/integrity",
               "GET /api/v1/accountability/scorecard", "GET /api/v1/accountability/alerts",
               "GET /api/v1/accountability/trend",
               "GET /api/v1/accountability/escalated", "GET /export/integrity.csv",
               "GET /reports/monthly", "GET /api/v1/reports/monthly",
               "GET /api/v1/accountability/arms", "GET /export/arms.csv"]
_API = [r for r in ACCT_ROUTES if r.startswith("GET /api/")]
_PAGES = [r for r in ACCT_ROUTES if r not in _API]

_ANON = {**dict.fromkeys(_PAGES, 302), **dict.fromkeys(_API, 401)}
_NONE = dict.fromkeys(ACCT_ROUTES, 403)
_ALL = {**dict.fromkeys(ACCT_ROUTES, 200), "GET /export/arms.csv": 400}  # no experiment named

ACCT_EXPECTED: dict[str, dict[str, int]] = {
    "anonymous": _ANON,
    "oversight": _ALL,
    "department": {**_ALL, "GET /export/arms.csv": 403},  # cut to its services
    "district": {**_ALL, "GET /export/arms.csv": 403},  # cut to its district
    "supervisor": _NONE,
    "telephony": _NONE,
    "dataentry": _NONE,
    "dataentry_other_office": _NONE,
    "apikey": _NONE,  # office keys are for intake only
    "apikey_other_office": _NONE,
    "apikey_revoked": _ANON,
    "apikey_bogus": _ANON,
}
