"""Store, session: only the repositories a survey session writes through, for a process per call.

The classic AGI script (ivr/classic_agi.py) starts Python for every call; the full `Store`
imports every area's module (accountability, results, accounts...), which costs that process
more CPU than the survey itself. `SessionStore` has the same methods for what a session does
(the attempt answered, its answers, the language chosen, an opt-out, the result), from the
same repositories, over the same Database.
"""

from __future__ import annotations

from ivr.store.calls import CallsRepository
from ivr.store.dnc import DncRepository
from ivr.store.engines import open_database


class SessionStore(CallsRepository, DncRepository):
    """The calls and do-not-call repositories over one Database."""

    @classmethod
    async def open(cls, url: str, *, migrate: bool = True, blocking: bool = False) -> SessionStore:
        """Open (and migrate) the database a URL names (sqlite:///... or postgresql://...).

        blocking: an SQLite database in the calling thread, whose awaitables never suspend,
        so the session runs without an event loop (ivr.asterisk.agi.script.run_blocking).
        """
        return cls(await open_database(url, migrate=migrate, blocking=blocking))

    async def close(self) -> None:
        """Close the connection or pool."""
        await self.db.close()


__all__ = ["SessionStore"]
