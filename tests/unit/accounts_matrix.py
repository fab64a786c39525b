"""The accounts pages' cells of the role x endpoint matrix in test_web_auth.py (kept apart to
merge easily). {id} is 999: no such account, so an admin gets 404 and nobody else learns that."""

from __future__ import annotations

_ADMIN = {"GET /accounts": 200, "GET /api/v1/accounts": 200,
          "POST /accounts": 422,  # an empty form: no role
          "POST /api/v1/accounts": 400,  # no JSON body
          "GET /accounts/{id}": 404, "GET /api/v1/accounts/{id}": 404,
          "POST /accounts/{id}": 404, "POST /api/v1/accounts/{id}": 404,
          "POST /accounts/{id}/disable": 404, "POST /accounts/{id}/enable": 404,
          "POST /accounts/{id}/reset": 404, "POST /api/v1/accounts/{id}/reset": 404}
_OWN = {"GET /account/password": 200,
        "POST /account/password": 422,  # an empty form: the current password is wrong
        "POST /api/v1/account/password": 400}  # no JSON body
_RESET = {"GET /reset": 404, "POST /reset": 404}  # no token: the link is not valid, for anyone
ACCOUNTS_ROUTES = [*_ADMIN, *_OWN, *_RESET]
_API = [r for r in ACCOUNTS_ROUTES if " /api/" in r]
_PAGES = [r for r in ACCOUNTS_ROUTES if r not in _API and r not in _RESET]

_ANON = {**dict.fromkeys(_PAGES, 302), **dict.fromkeys(_API, 401), **_RESET}
_KEY = {**dict.fromkeys(_PAGES + _API, 403), **_RESET}  # office keys are for intake only
_OFFICIAL = {**dict.fromkeys(_ADMIN, 403), **_OWN, **_RESET}

ACCOUNTS_EXPECTED: dict[str, dict[str, int]] = {
    "anonymous": _ANON,
    "oversight": {**_ADMIN, **_OWN, **_RESET},
    "department": _OFFICIAL,
    "district": _OFFICIAL,
    "supervisor": _OFFICIAL,
    "telephony": _OFFICIAL,
    "dataentry": _OFFICIAL,
    "dataentry_other_office": _OFFICIAL,
    "apikey": _KEY,
    "apikey_other_office": _KEY,
    "apikey_revoked": _ANON,
    "apikey_bogus": _ANON,
}
