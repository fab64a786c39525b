"""Store: the only place with SQL. SQLite (WAL) is the embedded default."""

from ivr.store.sqlite import SQLiteStore, SurveyContext, open_store

__all__ = ["SQLiteStore", "SurveyContext", "open_store"]
