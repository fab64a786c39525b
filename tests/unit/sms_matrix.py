"""The SMS routes' cells of the role x endpoint matrix in test_web_auth.py (kept apart to merge easily).

Kannel's callbacks take no session or key: only `sms_secret`, which the matrix's settings do
not set, so every caller gets 403. The replies queue is the results roles' (scoped);
categories are oversight's, whose POST without a category is a 400 after the access check.
"""

from __future__ import annotations

SMS_ROUTES = ["GET /sms/kannel/dlr", "POST /sms/kannel/inbound", "GET /sms/replies",
              "POST /sms/replies/{id}", "POST /sms/replies/{id}/case"]
_CALLBACKS = {"GET /sms/kannel/dlr": 403, "POST /sms/kannel/inbound": 403}
_OUT = {**_CALLBACKS, "GET /sms/replies": 302, "POST /sms/replies/{id}": 302,
        "POST /sms/replies/{id}/case": 302}
_NONE = {**_CALLBACKS, "GET /sms/replies": 403, "POST /sms/replies/{id}": 403,
         "POST /sms/replies/{id}/case": 403}
# Results roles see the queue (scoped) and may open a case on a reply in scope (none here: 404).
_SCOPED = {**_CALLBACKS, "GET /sms/replies": 200, "POST /sms/replies/{id}": 403,
           "POST /sms/replies/{id}/case": 404}

SMS_EXPECTED: dict[str, dict[str, int]] = {
    "anonymous": _OUT,
    "oversight": {**_CALLBACKS, "GET /sms/replies": 200, "POST /sms/replies/{id}": 400,
                  "POST /sms/replies/{id}/case": 404},
    "department": _SCOPED,
    "district": _SCOPED,
    "supervisor": _NONE,
    "telephony": _NONE,
    "dataentry": _NONE,
    "dataentry_other_office": _NONE,
    "apikey": _NONE,  # office keys are for intake only
    "apikey_other_office": _NONE,
    "apikey_revoked": _OUT,
    "apikey_bogus": _OUT,
}
