"""Store, cases: corruption reports, their cases, officials' calls to citizens, the audit view.

A repository over a Database (migration 0010, either engine), beside the road: it reads the
answers the survey stored and keeps what officials did about them. Every case change and its
audit entry are written in one transaction. Which role sees what is decided by the caller, who
passes a scope: `services` (None: all) and `district` (None: all).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ivr.cases import (
    BRIBE_QUESTION,
    BRIBE_YES,
    FOLLOWUP_QUESTION,
    FOLLOWUP_REF,
    FOLLOWUP_SERVICE,
    RESOLVED_NO,
    RESOLVED_YES,
    CaseAction,
    CaseStatus,
    Change,
    followup_answer,
    transition,
)
from ivr.errors import InputError
from ivr.store.database import Repository, Tx
from ivr.store.database import ts as _ts

# A report: a transaction whose answers report a bribe, or one an official opened a case on
# from the citizen's SMS (open_case_from_reply).
_REPORTS = (f"SELECT transaction_id FROM answers WHERE question = '{BRIBE_QUESTION}' "
            f"AND value = '{BRIBE_YES}' UNION SELECT transaction_id FROM cases")


def _scope(services: Sequence[str] | None, district: str | None) -> tuple[str, list[Any]]:
    """Return an SQL condition on transactions `t` for a scope, and its parameters."""
    clauses, params = ["1 = 1"], list[Any]()
    if services is not None:
        clauses.append(f"t.service IN ({', '.join('?' * len(services)) or 'NULL'})")
        params.extend(services)
    if district is not None:
        clauses.append("t.district = ?")
        params.append(district)
    return " AND ".join(clauses), params


class CasesRepository(Repository):
    """Reports, cases, direct calls and the audit log's pages."""

    # ------------------------------------------------------------------ reports

    async def bribe_reports(self, *, services: Sequence[str] | None = None,
                            district: str | None = None, status: CaseStatus | None = None,
                            limit: int = 100, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Return one page of bribe reports in a scope (newest visit first) and how many there are."""
        where, params = _scope(services, district)
        if status is not None:
            where += " AND COALESCE(c.status, 'new') = ?"
            params.append(status.value)
        base = (f"FROM transactions t LEFT JOIN cases c ON c.transaction_id = t.id "
                f"WHERE t.id IN ({_REPORTS}) AND {where}")
        total = int(await self.db.fetchval(f"SELECT COUNT(*) {base}", params) or 0)
        rows = await self.db.fetch(
            f"SELECT t.id, t.office, t.ref, t.service, t.district, t.official, t.visited_at, "
            f"t.mobile, COALESCE(c.status, 'new') AS case_status, c.action, c.owner, "
            f"c.updated_at {base} ORDER BY t.visited_at DESC, t.id DESC LIMIT ? OFFSET ?",
            [*params, limit, offset])
        return [dict(r) for r in rows], total

    async def cases_waiting(self, *, services: Sequence[str] | None = None,
                            district: str | None = None) -> dict[str, int]:
        """Return how many reports in a scope wait for action: {"new": n, "under_review": m}."""
        where, params = _scope(services, district)
        rows = await self.db.fetch(
            f"SELECT COALESCE(c.status, 'new') AS s, COUNT(*) AS n FROM transactions t "
            f"LEFT JOIN cases c ON c.transaction_id = t.id WHERE t.id IN ({_REPORTS}) AND "
            f"{where} AND COALESCE(c.status, 'new') <> ? GROUP BY 1",
            [*params, CaseStatus.ACTION_TAKEN.value])
        out = {CaseStatus.NEW.value: 0, CaseStatus.UNDER_REVIEW.value: 0}
        out.update({r["s"]: int(r["n"]) for r in rows})
        return out

    async def bribe_report(self, transaction_id: int) -> dict[str, Any] | None:
        """Return one report with its answers, case, case history and direct calls; None if none."""
        row = await self.db.fetchone(
            f"SELECT t.id, t.office, t.ref, t.name, t.service, t.district, t.official, "
            f"t.visited_at, t.mobile, t.status, COALESCE(c.status, 'new') AS case_status, "
            f"c.action, c.owner, c.opened_at, c.updated_at, c.closed_at, c.id AS case_id "
            f"FROM transactions t LEFT JOIN cases c ON c.transaction_id = t.id "
            f"WHERE t.id = ? AND t.id IN ({_REPORTS})", (transaction_id,))
        if row is None:
            return None
        report = dict(row)
        report["answers"] = [dict(r) for r in await self.db.fetch(
            "SELECT id, attempt_id, question, value, answered_at, survey FROM answers "
            "WHERE transaction_id = ? ORDER BY id", (transaction_id,))]
        report["events"] = [dict(r) for r in await self.db.fetch(
            "SELECT e.at, e.actor, e.from_status, e.to_status, e.action, e.owner, e.note "
            "FROM case_events e JOIN cases c ON c.id = e.case_id "
            "WHERE c.transaction_id = ? ORDER BY e.id", (transaction_id,))]
        report["calls"] = await self.direct_calls_of(transaction_id)
        report["followup"] = await self.followup_of(transaction_id)
        return report

    async def recording_of(self, transaction_id: int, answer_id: int) -> tuple[str, str] | None:
        """Return one answer of a bribe report: (its value, a recording's path on the PBX;
        the node whose PBX recorded it), or None."""
        row = await self.db.fetchone(
            f"SELECT a.value, t.node FROM answers a LEFT JOIN attempts t ON t.id = a.attempt_id "
            f"WHERE a.id = ? AND a.transaction_id = ? "
            f"AND a.transaction_id IN ({_REPORTS})", (answer_id, transaction_id))
        return None if row is None else (str(row[0]), str(row[1] or ""))

    # ------------------------------------------------------------------ cases

    async def change_case(self, transaction_id: int, actor: str, to: CaseStatus,
                          action: CaseAction | None, owner: str | None, note: str,
                          now: datetime, *, followup_at: datetime | None = None) -> Change:
        """Apply one change to a report's case (rules: ivr.cases.transition), with its audit entry.

        owner None keeps the owner (the actor, if there is none yet). Raises InputError for a
        change the rules refuse or if the transaction is not a bribe report. followup_at: when
        the case reaches action taken, the follow-up call that asks the citizen whether the
        problem was resolved is planned for then, in the same transaction (None: none).
        """
        at = _ts(now)
        async with self.db.write() as tx:
            if self.db.dialect == "postgresql":  # two officials acting at once take turns
                await tx.execute("SELECT pg_advisory_xact_lock(?)", (transaction_id,))
            row = await tx.fetchone(
                f"SELECT t.id, c.id, COALESCE(c.status, 'new'), c.action, c.owner "
                f"FROM transactions t LEFT JOIN cases c ON c.transaction_id = t.id "
                f"WHERE t.id = ? AND t.id IN ({_REPORTS})", (transaction_id,))
            if row is None:
                raise InputError(f"transaction {transaction_id} is not a bribe report")
            case_id, current = row[1], CaseStatus(row[2])
            action_now = CaseAction(row[3]) if row[3] else None
            change = transition(current, action_now, to, action, note)
            # Whoever first acts on a case owns it, unless an owner is named.
            new_owner = owner if owner is not None else row[4] or actor.removeprefix("user:")
            closed = at if change.status is CaseStatus.ACTION_TAKEN and current is not to else None
            if case_id is None:
                new = await tx.fetchone(
                    "INSERT INTO cases (transaction_id, status, action, owner, opened_at, "
                    "updated_at, closed_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (transaction_id, change.status.value,
                     change.action.value if change.action else None, new_owner, at, at, closed))
                assert new is not None
                case_id = new[0]
            else:
                await tx.execute(
                    "UPDATE cases SET status = ?, action = ?, owner = ?, updated_at = ?, "
                    "closed_at = COALESCE(closed_at, ?) WHERE id = ?",
                    (change.status.value, change.action.value if change.action else None,
                     new_owner, at, closed, case_id))
            if closed is not None and followup_at is not None:
                await self._plan_followup(tx, transaction_id, followup_at, at)
            await tx.execute(
                "INSERT INTO case_events (case_id, at, actor, from_status, to_status, action, "
                "owner, note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (case_id, at, actor, current.value, change.status.value,
                 change.action.value if change.action else None, new_owner, note))
            detail = {"transaction": transaction_id, "case": case_id, "from": current.value,
                      "to": change.status.value, "action": change.action.value
                      if change.action else None, "owner": new_owner}
            await tx.execute(
                "INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                (at, actor, "case_change", json.dumps(detail, sort_keys=True)))
            return change

    @staticmethod
    async def _plan_followup(tx: Tx, transaction_id: int, due: datetime, at: str) -> None:
        """Add the follow-up transaction of a report: same citizen, office and visit, service
        `followup`, due at `due`, already sampled; at most one per report."""
        await tx.execute(
            f"INSERT INTO transactions (office, ref, name, mobile, service, district, official, "
            f"visited_at, language, next_try_at, created_at, updated_at, sampled, followup_of) "
            f"SELECT office, CAST(? AS TEXT) || CAST(id AS TEXT), name, mobile, '{FOLLOWUP_SERVICE}', "
            f"district, official, visited_at, language, ?, ?, ?, 1, id FROM transactions "
            f"WHERE id = ? ON CONFLICT DO NOTHING",
            (FOLLOWUP_REF, _ts(due), at, at, transaction_id))

    async def followup_of(self, transaction_id: int) -> dict[str, Any] | None:
        """Return a report's follow-up: its status, when it is due, and the citizen's answer
        (`resolved` or `not_resolved`, None while unanswered); None if none was planned."""
        row = await self.db.fetchone(
            f"SELECT f.id, f.status, f.next_try_at, f.attempts, "
            f"(SELECT a.value FROM answers a WHERE a.transaction_id = f.id "
            f"AND a.question = '{FOLLOWUP_QUESTION}' ORDER BY a.id DESC LIMIT 1) AS value, "
            f"(SELECT a.answered_at FROM answers a WHERE a.transaction_id = f.id "
            f"AND a.question = '{FOLLOWUP_QUESTION}' ORDER BY a.id DESC LIMIT 1) AS answered_at "
            f"FROM transactions f WHERE f.followup_of = ?", (transaction_id,))
        if row is None:
            return None
        out = dict(row)
        out["answer"] = followup_answer(out.pop("value"))
        return out

    async def followups_by_action(self, *, services: Sequence[str] | None = None,
                                  district: str | None = None) -> list[dict[str, Any]]:
        """Return per action taken: cases closed with it, follow-ups planned, and how many
        citizens said the problem was resolved / not resolved (scope: the report's)."""
        where, params = _scope(services, district)
        answer = (f"(SELECT a.value FROM answers a WHERE a.transaction_id = f.id "
                  f"AND a.question = '{FOLLOWUP_QUESTION}' ORDER BY a.id DESC LIMIT 1)")
        sql = (f"SELECT c.action, COUNT(*) AS closed, COUNT(f.id) AS followups, "
               f"COUNT(*) FILTER (WHERE {answer} = '{RESOLVED_YES}') AS resolved, "
               f"COUNT(*) FILTER (WHERE {answer} = '{RESOLVED_NO}') AS not_resolved "
               f"FROM cases c JOIN transactions t ON t.id = c.transaction_id "
               f"LEFT JOIN transactions f ON f.followup_of = t.id "
               f"WHERE c.status = 'action_taken' AND {where} GROUP BY c.action")
        got = {r["action"]: dict(r) for r in await self.db.fetch(sql, params)}
        return [{"action": a.value, **{k: int(got.get(a.value, {}).get(k) or 0) for k in
                                       ("closed", "followups", "resolved", "not_resolved")}}
                for a in CaseAction]

    async def open_case_from_reply(self, reply_id: int, actor: str, now: datetime, *,
                                   services: Sequence[str] | None = None,
                                   district: str | None = None) -> int:
        """Open a case (status new, owned by the actor) on the visit a citizen's free-text SMS
        was matched to, with its history and audit entries; return the transaction's id.

        A reply whose visit already has a case is linked to that case (nothing new opened).
        Raises InputError if there is no such free-text reply in the scope (services,
        district; None: all), or it was matched to no visit.
        """
        at = _ts(now)
        where, params = _scope(services, district)
        async with self.db.write() as tx:
            row = await tx.fetchone(
                f"SELECT i.id, i.transaction_id, i.text, i.case_id, t.id FROM sms_inbound i "
                f"LEFT JOIN transactions t ON t.id = i.transaction_id AND {where} "
                f"WHERE i.id = ? AND i.kind = 'text'", (*params, reply_id))
            scoped = services is not None or district is not None
            if row is None or ((row[1] is not None or scoped) and row[4] is None):
                raise InputError(f"no free-text reply {reply_id}")
            transaction_id = row[1]
            if transaction_id is None:
                raise InputError("this reply was matched to no visit, so no case can be "
                                 "opened on it")
            if self.db.dialect == "postgresql":  # the same lock as change_case
                await tx.execute("SELECT pg_advisory_xact_lock(?)", (transaction_id,))
            case = await tx.fetchone("SELECT id FROM cases WHERE transaction_id = ?",
                                     (transaction_id,))
            opened = case is None
            if case is None:
                owner = actor.removeprefix("user:")
                case = await tx.fetchone(
                    "INSERT INTO cases (transaction_id, status, action, owner, opened_at, "
                    "updated_at, closed_at) VALUES (?, 'new', NULL, ?, ?, ?, NULL) RETURNING id",
                    (transaction_id, owner, at, at))
                assert case is not None
                await tx.execute(
                    "INSERT INTO case_events (case_id, at, actor, from_status, to_status, "
                    "action, owner, note) VALUES (?, ?, ?, 'new', 'new', NULL, ?, ?)",
                    (case[0], at, actor, owner, f"opened from the citizen's SMS: {row[2]}"[:4000]))
            await tx.execute("UPDATE sms_inbound SET case_id = ? WHERE id = ?",
                             (case[0], reply_id))
            await tx.execute(
                "INSERT INTO audit_log (at, actor, action, detail) VALUES (?, ?, ?, ?)",
                (at, actor, "case_open" if opened else "case_link",
                 json.dumps({"transaction": transaction_id, "case": case[0], "reply": reply_id},
                            sort_keys=True)))
            return int(transaction_id)

    async def actions_by_district(self, *, services: Sequence[str] | None = None,
                                  district: str | None = None) -> list[dict[str, Any]]:
        """Return per district: reports, new, under review, action taken, and each action's count."""
        where, params = _scope(services, district)
        actions = ", ".join(f"COUNT(*) FILTER (WHERE c.action = '{a.value}') AS {a.value}"
                            for a in CaseAction)
        sql = (f"SELECT t.district, COUNT(*) AS reports, "
               f"COUNT(*) FILTER (WHERE COALESCE(c.status, 'new') = 'new') AS new, "
               f"COUNT(*) FILTER (WHERE c.status = 'under_review') AS under_review, "
               f"COUNT(*) FILTER (WHERE c.status = 'action_taken') AS action_taken, {actions} "
               f"FROM transactions t LEFT JOIN cases c ON c.transaction_id = t.id "
               f"WHERE t.id IN ({_REPORTS}) AND {where} GROUP BY t.district ORDER BY t.district")
        return [{k: int(v or 0) if k != "district" else v for k, v in dict(r).items()}
                for r in await self.db.fetch(sql, params)]

    # ------------------------------------------------------------------ officials' phones

    async def set_user_phone(self, username: str, phone: str | None) -> bool:
        """Set (or clear, with None) an official's own phone, in E.164; False if no such user."""
        async with self.db.write() as tx:
            return await tx.execute("UPDATE users SET phone = ? WHERE username = ?",
                                    (phone, username)) == 1

    async def user_phone(self, user_id: int) -> str | None:
        """Return an official's own phone (E.164), or None if none is set."""
        phone = await self.db.fetchval("SELECT phone FROM users WHERE id = ?", (user_id,))
        return phone or None

    # ------------------------------------------------------------------ direct calls

    async def add_direct_call(self, caller: str, transaction_id: int, official_phone: str,
                              now: datetime) -> int:
        """Record a call an official is about to place (before the Originate); return its id."""
        async with self.db.write() as tx:
            row = await tx.fetchone(
                "INSERT INTO direct_calls (caller, transaction_id, official_phone, started_at) "
                "VALUES (?, ?, ?, ?) RETURNING id",
                (caller, transaction_id, official_phone, _ts(now)))
            assert row is not None
            return int(row[0])

    async def direct_call_official(self, call_id: int, outcome: str, now: datetime) -> None:
        """Record how the official's own phone answered; a call it did not answer ends here."""
        async with self.db.write() as tx:
            await tx.execute(
                "UPDATE direct_calls SET official_outcome = ?, ended_at = COALESCE(?, ended_at) "
                "WHERE id = ?", (outcome, None if outcome == "answered" else _ts(now), call_id))

    async def direct_call_ended(self, call_id: int, citizen_status: str, now: datetime) -> None:
        """Record how the citizen's leg ended (Dial's DIALSTATUS) once the official hangs up."""
        async with self.db.write() as tx:
            await tx.execute(
                "UPDATE direct_calls SET citizen_status = ?, ended_at = COALESCE(ended_at, ?) "
                "WHERE id = ?", (citizen_status or "NONE", _ts(now), call_id))

    async def direct_calls_of(self, transaction_id: int) -> list[dict[str, Any]]:
        """Return the direct calls to one transaction's citizen, oldest first."""
        return [dict(r) for r in await self.db.fetch(
            "SELECT * FROM direct_calls WHERE transaction_id = ? ORDER BY id", (transaction_id,))]

    async def direct_call(self, call_id: int) -> dict[str, Any] | None:
        """Return one direct call row."""
        row = await self.db.fetchone("SELECT * FROM direct_calls WHERE id = ?", (call_id,))
        return dict(row) if row else None

    # ------------------------------------------------------------------ audit pages

    async def audit_page(self, *, actor: str | None = None, action: str | None = None,
                         limit: int = 50, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Return one page of the audit log, newest first, filtered by actor/action; and the total."""
        clauses, params = ["1 = 1"], list[Any]()
        if actor:
            clauses.append("actor = ?")
            params.append(actor)
        if action:
            clauses.append("action = ?")
            params.append(action)
        where = " AND ".join(clauses)
        total = int(await self.db.fetchval(
            f"SELECT COUNT(*) FROM audit_log WHERE {where}", params) or 0)
        rows = await self.db.fetch(
            f"SELECT id, at, actor, action, detail FROM audit_log WHERE {where} "
            f"ORDER BY id DESC LIMIT ? OFFSET ?", [*params, limit, offset])
        return [{**dict(r), "detail": json.loads(r["detail"])} for r in rows], total

    async def audit_actions(self) -> list[str]:
        """Return the distinct actions in the audit log (for the filter's choices)."""
        return [r[0] for r in await self.db.fetch(
            "SELECT DISTINCT action FROM audit_log ORDER BY action")]
