"""Store: the only place with SQL. A Database (SQLite, the embedded default, or PostgreSQL) and
one repository per area over it; `Store` is all of them together.

The names below are loaded on first use (PEP 562): importing one repository module
(``ivr.store.calls``) must not import every area's, because the classic AGI script starts a
Python process per call and imports only what a survey session writes (ivr/classic_agi.py).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ivr.store.calls import SurveyContext
    from ivr.store.database import Database, parse_url
    from ivr.store.engines import open_database
    from ivr.store.store import Store, open_store

    SQLiteStore = Store

# name -> (module, attribute); SQLiteStore is the name callers have used since the first release
_LAZY = {"SurveyContext": ("ivr.store.calls", "SurveyContext"),
         "Database": ("ivr.store.database", "Database"),
         "parse_url": ("ivr.store.database", "parse_url"),
         "open_database": ("ivr.store.engines", "open_database"),
         "Store": ("ivr.store.store", "Store"),
         "SQLiteStore": ("ivr.store.store", "Store"),
         "open_store": ("ivr.store.store", "open_store")}


def __getattr__(name: str) -> Any:
    """Import a public name's module the first time the name is asked for."""
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


__all__ = ["Database", "SQLiteStore", "Store", "SurveyContext", "open_database", "open_store",
           "parse_url"]
