"""Store: the only place with SQL. A Database (SQLite, the embedded default, or PostgreSQL) and
one repository per area over it; `Store` is all of them together."""

from ivr.store.calls import SurveyContext
from ivr.store.database import Database, parse_url
from ivr.store.engines import open_database
from ivr.store.store import Store, open_store

SQLiteStore = Store  # the name callers have used since the first release

__all__ = ["Database", "SQLiteStore", "Store", "SurveyContext", "open_database", "open_store",
           "parse_url"]
