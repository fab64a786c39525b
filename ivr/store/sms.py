"""Store, SMS: messages planned beside the calls, their delivery reports, citizens' replies.

Beside the road (migration 0020, either engine). `SmsStore` is a repository over the store's
Database (SQLite or PostgreSQL), so SMS writes take turns with the dialer's. A message is one row,
unique per (transaction, kind): planning twice plans once, and the row's state, changed only
by guarded UPDATEs, decides whether it may be handed to the gateway, so it goes at most once
(see docs/SMS.md for the one case, a hand-over in doubt, where it may go again).

States: queued -> sending (written before the hand-over) -> sent (the gateway took it) ->
delivered | failed | expired. Delivery reports only move a message forward.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from ivr.errors import InputError, StoreError
from ivr.store.database import Database, Repository, SQLiteDatabase
from ivr.store.database import ts as _ts

FINAL_STATES = ("delivered", "failed", "expired")
_RANK = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "failed": 3, "expired": 3}
CORE_QUESTIONS = ("rating", "bribe")  # the SMS survey's questions, in order
_OPEN = "('pending', 'scheduled', 'unreachable', 'partial')"  # may still take SMS answers
_NOT_DNC = "NOT EXISTS (SELECT 1 FROM dnc WHERE dnc.number = t.mobile)"
# A follow-up call about a closed case (migration 0060) gets no SMS of its own (the outcome
# SMS went on the report) and takes no SMS answers (they are the report's core questions).
_NOT_FOLLOWUP = "t.followup_of IS NULL"


class SmsStore(Repository):
    """SMS rows of one store: `SmsStore(store)` (or over a Database), on either engine."""

    def __init__(self, store: Repository | Database) -> None:
        super().__init__(store if isinstance(store, Database) else store.db)

    # The raw SQLite connection and write transaction, for code not yet written against the
    # Database (SQLite only; StoreError on PostgreSQL). New queries use self.db.
    @property
    def _db(self) -> aiosqlite.Connection:
        return self._sqlite().conn

    def _write(self) -> contextlib.AbstractAsyncContextManager[aiosqlite.Connection]:
        return self._sqlite().raw_write()

    def _sqlite(self) -> SQLiteDatabase:
        if not isinstance(self.db, SQLiteDatabase):
            raise StoreError(f"{self.db.url}: not a SQLite database")
        return self.db

    # ------------------------------------------------------------------ planning

    async def plan(self, now: datetime, *, notice_lead: float, max_age: float,
                   changed_since: datetime | None = None) -> dict[str, int]:
        """Queue every message now due to be planned; return how many new ones of each kind.

        notice: a transaction not yet called whose first call is within notice_lead seconds
        (the sender drops it once the first call was placed). thanks: a completed survey.
        case: a bribe report. outcome: a case that reached action taken. survey: a
        transaction the calls could not reach. Only transactions changed within max_age
        seconds (and since changed_since, when the caller planned everything older already),
        never a do-not-call number, never a follow-up call's transaction; at most one message
        of each kind per transaction (the table's UNIQUE).
        """
        oldest = now - timedelta(seconds=max_age)
        if changed_since is not None:
            oldest = max(oldest, changed_since)
        stamp, since = _ts(now), _ts(oldest)
        later = _ts(now + timedelta(seconds=max_age))
        lead = _ts(now + timedelta(seconds=notice_lead))
        # each plan: its condition on transactions t, and the condition's parameters
        plans: dict[str, tuple[str, tuple[str, ...]]] = {
            "notice": ("t.status IN ('pending', 'scheduled') AND t.attempts = 0 "
                       "AND t.next_try_at <= ? AND t.next_try_at > ?", (lead, stamp)),
            "thanks": ("t.status = 'completed' AND t.updated_at >= ?", (since,)),
            "case": ("t.updated_at >= ? AND EXISTS (SELECT 1 FROM answers a WHERE "
                     "a.transaction_id = t.id AND a.question = 'bribe' AND a.value = '1')",
                     (since,)),
            "outcome": ("t.id IN (SELECT transaction_id FROM cases WHERE status = 'action_taken' "
                        "AND closed_at >= ?)", (since,)),
            "survey": ("t.status = 'unreachable' AND t.updated_at >= ? "
                       "AND NOT EXISTS (SELECT 1 FROM attempts a WHERE a.transaction_id = t.id "
                       "AND a.node = 'sms')", (since,)),
        }
        out = {}
        async with self.db.write() as tx:
            for kind, (where, args) in plans.items():
                out[kind] = await tx.execute(
                    f"INSERT INTO sms_messages (transaction_id, kind, number, not_before, "
                    f"expires_at, created_at) SELECT t.id, '{kind}', t.mobile, ?, ?, ? "
                    f"FROM transactions t WHERE {where} AND {_NOT_DNC} AND {_NOT_FOLLOWUP} "
                    f"ON CONFLICT (transaction_id, kind) DO NOTHING",
                    (stamp, later, stamp, *args))
        return out

    async def queue(self, transaction_id: int, kind: str, now: datetime,
                    expires_at: datetime) -> bool:
        """Queue one message of a kind for a transaction; False if it already has one."""
        async with self.db.write() as tx:
            n = await tx.execute(
                "INSERT INTO sms_messages (transaction_id, kind, number, not_before, expires_at, "
                "created_at) SELECT id, ?, mobile, ?, ?, ? FROM transactions WHERE id = ? "
                "ON CONFLICT (transaction_id, kind) DO NOTHING",
                (kind, _ts(now), _ts(expires_at), _ts(now), transaction_id))
            return n == 1

    # ------------------------------------------------------------------ sending

    async def due(self, now: datetime, *, doubt_after: float, limit: int) -> list[dict[str, Any]]:
        """Return messages to hand over now, with what their text needs, oldest first.

        Queued ones whose time has come, and ones left `sending` for doubt_after seconds with
        no delivery report (the hand-over was cut off: the gateway never said it took them).
        """
        doubt = _ts(now - timedelta(seconds=doubt_after))
        rows = await self.db.fetch(
            "SELECT m.id, m.transaction_id, m.kind, m.number, m.state, m.expires_at, "
            "m.tries, t.office, t.service, t.visited_at, t.language, t.attempts, "
            "t.status AS tx_status, c.action AS action "
            "FROM sms_messages m JOIN transactions t ON t.id = m.transaction_id "
            "LEFT JOIN cases c ON c.transaction_id = t.id "
            "WHERE (m.state = 'queued' AND m.not_before <= ?) "
            "OR (m.state = 'sending' AND m.sending_at <= ? AND NOT EXISTS "
            "(SELECT 1 FROM sms_reports r WHERE r.message_id = m.id)) "
            "ORDER BY m.not_before, m.id LIMIT ?", (_ts(now), doubt, limit))
        return [dict(r) for r in rows]

    async def start_sending(self, message_id: int, text: str, parts: int, operator: str,
                            now: datetime, *, from_state: str) -> bool:
        """Mark a message as being handed over (before the request); False if it moved on."""
        async with self.db.write() as tx:
            n = await tx.execute(
                "UPDATE sms_messages SET state = 'sending', text = ?, parts = ?, operator = ?, "
                "sending_at = ?, tries = tries + 1 WHERE id = ? AND state = ?",
                (text, parts, operator, _ts(now), message_id, from_state))
            return n == 1

    async def sent(self, message_id: int, now: datetime) -> None:
        """Record that the gateway took a message (unless a report already moved it on)."""
        async with self.db.write() as tx:
            await tx.execute("UPDATE sms_messages SET state = 'sent', sent_at = COALESCE(sent_at, ?) "
                             "WHERE id = ? AND state = 'sending'", (_ts(now), message_id))

    async def retry_at(self, message_id: int, when: datetime, error: str) -> None:
        """Put a message the gateway could not take back in the queue, to go at `when`."""
        async with self.db.write() as tx:
            await tx.execute("UPDATE sms_messages SET state = 'queued', not_before = ?, error = ? "
                             "WHERE id = ? AND state = 'sending'", (_ts(when), error, message_id))

    async def postpone(self, message_id: int, when: datetime) -> None:
        """Hold a queued message until `when` (outside the calling window)."""
        async with self.db.write() as tx:
            await tx.execute("UPDATE sms_messages SET not_before = ? WHERE id = ? "
                             "AND state = 'queued'", (_ts(when), message_id))

    async def finish(self, message_id: int, state: str, error: str, now: datetime) -> None:
        """Close a message that will not go: failed (refused, do-not-call) or expired."""
        async with self.db.write() as tx:
            await tx.execute("UPDATE sms_messages SET state = ?, error = ?, done_at = ? "
                             "WHERE id = ? AND state IN ('queued', 'sending')",
                             (state, error, _ts(now), message_id))

    async def on_dnc(self, number: str) -> bool:
        """Say whether a number is on the do-not-call list."""
        return await self.db.fetchone("SELECT 1 FROM dnc WHERE number = ?", (number,)) is not None

    # ------------------------------------------------------------------ delivery reports

    async def report(self, message_id: int, status: int, state: str | None, answer: str,
                     now: datetime) -> str:
        """Record a delivery report and move the message forward to `state` (None: keep).

        Returns the message's state afterwards. Raises InputError if there is no such message
        or it was never handed to the gateway (a report for it cannot be genuine).
        """
        async with self.db.write() as tx:
            # two reports for one message at once (PostgreSQL): the second waits for the first
            row = await tx.fetchone("SELECT state FROM sms_messages WHERE id = ?"
                                    + self.db.for_update(), (message_id,))
            if row is None or row[0] == "queued":
                raise InputError(f"no message {message_id} was handed to the gateway")
            current = str(row[0])
            await tx.execute("INSERT INTO sms_reports (message_id, at, status, answer) "
                             "VALUES (?, ?, ?, ?)", (message_id, _ts(now), status, answer))
            if state is None or _RANK[state] <= _RANK[current] or current in FINAL_STATES:
                return current
            at = _ts(now)
            await tx.execute(
                "UPDATE sms_messages SET state = ?, sent_at = COALESCE(sent_at, ?), "
                "done_at = ?, error = COALESCE(?, error) WHERE id = ?",
                (state, at, at if state in FINAL_STATES else None,
                 answer[:200] if state == "failed" else None, message_id))
            return state

    # ------------------------------------------------------------------ replies

    async def open_transaction(self, number: str, now: datetime, max_age: float) -> int | None:
        """Return the most recent transaction of a number that may still take SMS answers."""
        since = _ts(now - timedelta(seconds=max_age))
        core = ", ".join(f"'{q}'" for q in CORE_QUESTIONS)
        row = await self.db.fetchone(
            f"SELECT t.id FROM transactions t WHERE t.mobile = ? AND t.status IN {_OPEN} "
            f"AND {_NOT_FOLLOWUP} "
            f"AND t.visited_at >= ? AND (SELECT COUNT(DISTINCT question) FROM answers a "
            f"WHERE a.transaction_id = t.id AND a.question IN ({core})) < 2 "
            f"ORDER BY t.visited_at DESC, t.id DESC LIMIT 1", (number, since))
        return int(row[0]) if row else None

    async def unanswered(self, transaction_id: int) -> list[str]:
        """Return the core questions a transaction has no answer to yet, in order."""
        have = {r[0] for r in await self.db.fetch(
            "SELECT question FROM answers WHERE transaction_id = ?", (transaction_id,))}
        return [q for q in CORE_QUESTIONS if q not in have]

    async def record_answers(self, transaction_id: int, number: str, text: str,
                             answers: Sequence[tuple[str, str]], now: datetime) -> None:
        """Store SMS answers on a transaction (as its `sms` attempt) and the message itself.

        The transaction becomes completed when both core questions are answered, else partial.
        """
        at = _ts(now)
        core = ", ".join(f"'{q}'" for q in CORE_QUESTIONS)
        async with self.db.write() as tx:
            # two replies of one citizen at once (PostgreSQL): one sms attempt, taken in turn
            await tx.fetchone("SELECT id FROM transactions WHERE id = ?" + self.db.for_update(),
                              (transaction_id,))
            row = await tx.fetchone(
                "SELECT id FROM attempts WHERE transaction_id = ? AND node = 'sms'",
                (transaction_id,))
            if row is None:
                row = await tx.fetchone(
                    "INSERT INTO attempts (transaction_id, number, node, started_at, answered_at, "
                    "ended_at, outcome) VALUES (?, ?, 'sms', ?, ?, ?, 'sms') RETURNING id",
                    (transaction_id, number, at, at, at))
                assert row is not None
            attempt_id = row[0]
            await tx.executemany(
                "INSERT INTO answers (attempt_id, transaction_id, question, value, answered_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (attempt_id, question) DO NOTHING",
                [(attempt_id, transaction_id, q, v, at) for q, v in answers])
            n = await tx.fetchone(
                f"SELECT COUNT(DISTINCT question) FROM answers WHERE transaction_id = ? "
                f"AND question IN ({core})", (transaction_id,))
            status = "completed" if n is not None and n[0] >= len(CORE_QUESTIONS) else "partial"
            await tx.execute("UPDATE attempts SET result = ?, ended_at = ? WHERE id = ?",
                             (status, at, attempt_id))
            await tx.execute(
                f"UPDATE transactions SET status = ?, updated_at = ? WHERE id = ? "
                f"AND status IN {_OPEN}", (status, at, transaction_id))
            await tx.execute(
                "INSERT INTO sms_inbound (number, text, received_at, kind, transaction_id) "
                "VALUES (?, ?, ?, 'answer', ?)", (number, text, at, transaction_id))

    async def record_inbound(self, number: str, text: str, kind: str, now: datetime,
                             transaction_id: int | None = None) -> int:
        """Store a citizen's message that is not an answer (free text, STOP); return its id."""
        async with self.db.write() as tx:
            row = await tx.fetchone(
                "INSERT INTO sms_inbound (number, text, received_at, kind, transaction_id) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id", (number, text, _ts(now), kind,
                                                        transaction_id))
            assert row is not None
            return int(row[0])

    async def stop(self, number: str, text: str, now: datetime) -> None:
        """Put a number on the do-not-call list (source optout) and drop its queued messages."""
        at = _ts(now)
        async with self.db.write() as tx:
            await tx.execute("INSERT INTO dnc (number, source, added_at, note) "
                             "VALUES (?, 'optout', ?, 'SMS STOP') ON CONFLICT (number) DO NOTHING",
                             (number, at))
            await tx.execute("UPDATE sms_messages SET state = 'failed', error = 'do-not-call', "
                             "done_at = ? WHERE number = ? AND state = 'queued'", (at, number))
            await tx.execute("INSERT INTO sms_inbound (number, text, received_at, kind) "
                             "VALUES (?, ?, ?, 'stop')", (number, text, at))

    async def replies(self, *, uncategorised: bool = False, limit: int = 100,
                      offset: int = 0, services: Sequence[str] | None = None,
                      district: str | None = None) -> list[dict[str, Any]]:
        """Return citizens' free-text messages, newest first (optionally only uncategorised).

        A scope (services, district; None: all) keeps only replies matched to a visit in it.
        """
        where = "kind = 'text'" + (" AND category IS NULL" if uncategorised else "")
        params: list[Any] = []
        if services is not None:
            where += f" AND t.service IN ({', '.join('?' * len(services)) or 'NULL'})"
            params.extend(services)
        if district is not None:
            where += " AND t.district = ?"
            params.append(district)
        rows = await self.db.fetch(
            f"SELECT i.id, i.number, i.text, i.received_at, i.transaction_id, i.category, "
            f"i.categorised_by, i.categorised_at, i.case_id, t.office, t.service, "
            f"t.district FROM sms_inbound i LEFT JOIN transactions t "
            f"ON t.id = i.transaction_id WHERE {where} ORDER BY i.id DESC LIMIT ? OFFSET ?",
            (*params, limit, offset))
        return [dict(r) for r in rows]

    async def latest_transaction(self, number: str) -> int | None:
        """Return a number's most recent visit (not a follow-up call), whatever its status."""
        row = await self.db.fetchone(
            f"SELECT t.id FROM transactions t WHERE t.mobile = ? AND {_NOT_FOLLOWUP} "
            f"ORDER BY t.visited_at DESC, t.id DESC LIMIT 1", (number,))
        return int(row[0]) if row else None

    async def categorise(self, reply_id: int, category: str, actor: str, now: datetime) -> bool:
        """Put a free-text reply in a category (with an audit entry); False if no such reply."""
        at = _ts(now)
        async with self.db.write() as tx:
            n = await tx.execute(
                "UPDATE sms_inbound SET category = ?, categorised_by = ?, categorised_at = ? "
                "WHERE id = ? AND kind = 'text'", (category, actor, at, reply_id))
            if n != 1:
                return False
            await tx.execute(
                "INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                (at, actor, "sms_categorise",
                 json.dumps({"reply": reply_id, "category": category}, ensure_ascii=False)))
            return True

    # ------------------------------------------------------------------ views and figures

    async def messages_of(self, transaction_id: int) -> list[dict[str, Any]]:
        """Return a transaction's messages with their states, in the order they were planned."""
        return [dict(r) for r in await self.db.fetch(
            "SELECT id, kind, state, parts, tries, error, created_at, sent_at, done_at "
            "FROM sms_messages WHERE transaction_id = ? ORDER BY id", (transaction_id,))]

    async def message(self, message_id: int) -> dict[str, Any] | None:
        """Return one message row, or None."""
        row = await self.db.fetchone("SELECT * FROM sms_messages WHERE id = ?", (message_id,))
        return dict(row) if row else None

    async def day_counts(self, start: datetime, end: datetime, *,
                         services: Sequence[str] | None = None,
                         district: str | None = None) -> dict[str, int]:
        """Return the SMS handed to the gateway and the citizens' messages received in
        [start, end): `sms_sent`, `sms_replied`. A scope (services, district; None: all) counts
        only messages of transactions in it (a reply matched to none counts only unscoped)."""
        clauses, params = ["1 = 1"], list[Any]()
        if services is not None:
            clauses.append(f"t.service IN ({', '.join('?' * len(services)) or 'NULL'})")
            params.extend(services)
        if district is not None:
            clauses.append("t.district = ?")
            params.append(district)
        scoped = services is not None or district is not None
        where = " AND ".join(clauses)
        join = "JOIN" if scoped else "LEFT JOIN"
        sent = await self.db.fetchval(
            f"SELECT COUNT(*) FROM sms_messages m {join} transactions t "
            f"ON t.id = m.transaction_id WHERE m.sent_at >= ? AND m.sent_at < ? AND {where}",
            (_ts(start), _ts(end), *params))
        replied = await self.db.fetchval(
            f"SELECT COUNT(*) FROM sms_inbound i {join} transactions t "
            f"ON t.id = i.transaction_id WHERE i.received_at >= ? AND i.received_at < ? "
            f"AND {where}", (_ts(start), _ts(end), *params))
        return {"sms_sent": int(sent), "sms_replied": int(replied)}

    async def figures(self) -> dict[str, Any]:
        """Return messages by kind and state, failures by operator, and replies by kind."""
        out: dict[str, Any] = {}
        out["messages"] = [(r[0], r[1], r[2]) for r in await self.db.fetch(
            "SELECT kind, state, COUNT(*) FROM sms_messages GROUP BY kind, state")]
        out["failed_by_operator"] = {r[0] or "-": r[1] for r in await self.db.fetch(
            "SELECT operator, COUNT(*) FROM sms_messages WHERE state = 'failed' "
            "AND error != 'do-not-call' GROUP BY operator")}
        out["inbound"] = {r[0]: r[1] for r in await self.db.fetch(
            "SELECT kind, COUNT(*) FROM sms_inbound GROUP BY kind")}
        out["queue"] = int(await self.db.fetchval(
            "SELECT COUNT(*) FROM sms_inbound WHERE kind = 'text' AND category IS NULL") or 0)
        return out
