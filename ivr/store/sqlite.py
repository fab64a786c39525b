"""Store, SQLite: the embedded default (the names callers have used since the first release).

The engine lives in ivr.store.database (SQLiteDatabase); the queries in the repositories;
`SQLiteStore` is the Store facade, whichever database it was opened on.
"""

from __future__ import annotations

from ivr.store.calls import SurveyContext
from ivr.store.database import MIGRATIONS, parse_ts, ts
from ivr.store.store import Store, open_store

SQLiteStore = Store

__all__ = ["MIGRATIONS", "SQLiteStore", "SurveyContext", "open_store", "parse_ts", "ts"]
