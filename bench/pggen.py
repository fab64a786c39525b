"""Synthetic data made inside PostgreSQL, for the benchmarks at a country's size (tens of
millions of rows): `INSERT … SELECT FROM generate_series`, no row crosses the wire.

- `results_data`: completed calls, each a transaction, its answered attempt and the answers of
  the default survey (visit confirmed, rating, bribe and, after a yes, two more: 3.24 a call),
  spread as bench/results_pages.py spreads them in SQLite: visits over 90 days, 36 districts
  x 3 offices x 5 officials, 10 services, a third sampled at 1/2.
- `pending_data`: due transactions as `Store.add_transactions` writes them (bench/pg_claims.py).

Every random choice is a hash of the row's number (`hashint8extended`), so a row is the same
whichever way and in whatever chunks it is made. For speed the bulk load runs with the
triggers and foreign-key checks off (`session_replication_role = replica`) and the plain
indexes dropped and built again afterwards (two connections at once); the result sums are
then counted by one GROUP BY each (the store's `rebuild_results`, less its latest-answer rule:
each call here answers each question once). `triggers=True` makes the same rows the slow way
instead (triggers on, each attempt inserted unanswered and then answered, as a live call
goes); tests/unit/test_bench_pggen.py checks that both give the same sums.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from typing import Any

import asyncpg

# The cluster's settings for the benchmarks (besides tests/pgcluster.py's fsync, synchronous
# commit and full-page writes off): memory for a big table, and WAL kept to what a crash needs.
BENCH_SETTINGS = {
    "shared_buffers": "2GB", "work_mem": "64MB", "maintenance_work_mem": "1GB",
    "max_wal_size": "4GB", "wal_level": "minimal", "max_wal_senders": "0",
}
# The only triggers on the generated tables: the result sums' (migrations 0009, 0051), which
# rebuild_results recounts. Another one would need its own recount: refuse to go on without.
KNOWN_TRIGGERS = {("answers", "answers_results"), ("attempts", "attempts_overview")}
TABLES = ("transactions", "attempts", "answers")
NOW = "2026-11-28 09:00:00"  # UTC; results_pages.NOW
DAYS = 90
CHUNK = 1_000_000
_STAMP = "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'"  # ivr.store.database.ts, as to_char writes it


def _u(row: str, stream: int) -> str:
    """SQL for a uniform number in [0, 1) from a row's number and a stream (a hash, no state)."""
    return f"((hashint8extended({row}, {stream}) & 140737488355327)::float8 / 140737488355328.0)"


def _pick(row: str, stream: int, n: int) -> str:
    return f"floor({_u(row, stream)} * {n})::int"


def _stamp(expr: str) -> str:
    return f"to_char({expr}, {_STAMP})"


# One surveyed transaction per g: the called time is two hours after the visit (never later
# than a minute before NOW).
_VISITED = f"(timestamp '{NOW}' - make_interval(mins => {_pick('g', 4, DAYS * 24 * 60)}))"
_CALLED = f"least(timestamp '{NOW}' - interval '1 minute', {_VISITED} + interval '2 hours')"
_TRANSACTIONS = f"""
    INSERT INTO transactions (id, office, ref, name, mobile, service, district, official,
        visited_at, language, status, attempts, last_outcome, next_try_at, created_at,
        updated_at, selection_probability, sampled)
    SELECT g, o.office, 'r' || g, '', '+92' || (3000000000 + g), 'service-' || {_pick('g', 3, 10)},
        'district-' || o.d, o.office || '-official-' || {_pick('g', 5, 5)}, {_stamp(_VISITED)},
        'ur', 'completed', 1, 'answered', {_stamp(_CALLED)}, {_stamp(_CALLED)},
        {_stamp(_CALLED)}, CASE WHEN g % 3 = 0 THEN 0.5 ELSE 1.0 END, 1
    FROM generate_series($1::bigint, $2::bigint) g,
         LATERAL (SELECT {_pick('g', 1, 36)} AS d) d0,
         LATERAL (SELECT 'office-' || d0.d || '-' || {_pick('g', 2, 3)} AS office, d0.d) o"""
_ATTEMPTS = """
    INSERT INTO attempts (id, transaction_id, number, started_at, answered_at, ended_at,
        outcome, result)
    SELECT id, id, mobile, next_try_at, {answered}, {answered}, {outcome}, {result}
    FROM transactions WHERE id BETWEEN $1 AND $2"""
_ANSWER = """
    INSERT INTO answers (id, attempt_id, transaction_id, question, value, answered_at, survey,
        survey_version, prompts)
    SELECT 5 * id - 5 + {k}, id, id, '{question}', {value}, next_try_at, 'default', 2,
        '["{prompt}"]'
    FROM transactions WHERE id BETWEEN $1 AND $2{only}"""
# The default survey (surveys/default.toml, version 2), completed: the visit confirmed, a
# rating 1..5 (weighted 1, 1, 2, 4, 4 out of 12), the bribe question ("1", asked for: 12 in
# 100) and, after a yes, the amount and the complaint offer (declined): 3.24 answers a call.
_BRIBED = f"{_u('id', 7)} < 0.12"
_RATING = (f"(CASE WHEN {_u('id', 6)} < 1/12.0 THEN '1' WHEN {_u('id', 6)} < 2/12.0 THEN '2' "
           f"WHEN {_u('id', 6)} < 4/12.0 THEN '3' WHEN {_u('id', 6)} < 8/12.0 THEN '4' "
           f"ELSE '5' END)")
QUESTIONS = (  # (id offset, question, value, prompt, only for)
    (1, "visit_confirmed", "'1'", "visit", ""),
    (2, "rating", _RATING, "rating", ""),
    (3, "bribe", f"(CASE WHEN {_BRIBED} THEN '1' ELSE '2' END)", "bribe", ""),
    (4, "bribe_amount", f"(1 + {_pick('id', 8, 4)})::text", "bribe-amount", f" AND {_BRIBED}"),
    (5, "complaint_offer", "'2'", "complaint-offer", f" AND {_BRIBED}"),
)
ANSWERS_PER_CALL = 3 + 2 * 0.12
WORKERS = 2  # connections loading at once (the machine's cores)

# The result sums of the rows just made, as the triggers keep them (tests/unit/
# test_bench_pggen.py): each call has one rating and one bribe answer, so each counts.
_W = "(1.0 / t.selection_probability)"
_DAY = "to_char(rtrim({}, 'Z')::timestamp + $1::text::interval, 'YYYY-MM-DD')"
_CELLS = f"""
    INSERT INTO result_cells (day, district, service, office, official, rated, rated_w,
        rated_w2, satisfied_w, rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    SELECT {_DAY.format('t.visited_at')}, t.district, t.service, t.office, t.official,
        SUM(s.rated), SUM(s.rated * {_W}), SUM(s.rated * {_W} * {_W}), SUM(s.satisfied * {_W}),
        SUM(s.rated * {_W} * s.rating), SUM(s.bribe), SUM(s.bribe * {_W}),
        SUM(s.bribe * {_W} * {_W}), SUM(s.bribe_yes * {_W})
    FROM answers a JOIN transactions t ON t.id = a.transaction_id
    JOIN answer_scores s ON s.question = a.question AND s.value = a.value
    GROUP BY 1, 2, 3, 4, 5"""
_DAYS = """
    INSERT INTO result_days (day, district, service, rated, rated_w, rated_w2, satisfied_w,
        rating_sum_w, bribe_n, bribe_w, bribe_w2, bribe_yes_w)
    SELECT day, district, service, SUM(rated), SUM(rated_w), SUM(rated_w2), SUM(satisfied_w),
        SUM(rating_sum_w), SUM(bribe_n), SUM(bribe_w), SUM(bribe_w2), SUM(bribe_yes_w)
    FROM result_cells GROUP BY 1, 2, 3"""
_OVERVIEW = f"""
    INSERT INTO overview_days (day, district, service, calls, answered, completed)
    SELECT {_DAY.format('a.started_at')}, t.district, t.service, COUNT(*), COUNT(a.answered_at),
        COUNT(*) FILTER (WHERE a.result = 'completed')
    FROM attempts a JOIN transactions t ON t.id = a.transaction_id GROUP BY 1, 2, 3"""


def log(msg: str) -> None:
    print(msg, flush=True)


async def _triggers(con: asyncpg.Connection) -> set[tuple[str, str]]:
    rows = await con.fetch(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE NOT t.tgisinternal AND c.relname = ANY($1::text[])", list(TABLES))
    return {(r[0], r[1]) for r in rows}


async def _plain_indexes(con: asyncpg.Connection) -> list[tuple[str, str]]:
    """The generated tables' indexes that back no constraint: (name, CREATE statement)."""
    rows = await con.fetch(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indrelid WHERE c.relname = ANY($1::text[]) "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
        list(TABLES))
    return [(r[0], r[1]) for r in rows]


async def _autovacuum(con: asyncpg.Connection, on: bool) -> None:
    for table in TABLES:
        await con.execute(f"ALTER TABLE {table} RESET (autovacuum_enabled)" if on else
                          f"ALTER TABLE {table} SET (autovacuum_enabled = false)")


Job = tuple[str, tuple[Any, ...], str]  # SQL, its arguments, what to log when done (or "")


async def _run(url: str, jobs: list[Job], t0: float, *, verbose: bool, bulk: bool,
               workers: int = WORKERS) -> None:
    """Run the jobs in order on `workers` connections at once (bulk: triggers and foreign-key
    checks off, memory for index builds)."""
    queue = list(reversed(jobs))

    async def worker() -> None:
        con = await asyncpg.connect(url)
        try:
            if bulk:
                await con.execute("SET session_replication_role = replica")
            await con.execute("SET maintenance_work_mem = '1GB'")
            await con.execute("SET work_mem = '512MB'")
            while queue:
                sql, args, done = queue.pop()
                await con.execute(sql, *args)
                if done and verbose:
                    log(f"  {done} ({time.perf_counter() - t0:.0f} s)")
        finally:
            await con.close()
    await asyncio.gather(*(worker() for _ in range(min(workers, len(jobs)) or 1)))


def _chunked(sql: str, first: int, n: int, what: str) -> list[Job]:
    """One job per CHUNK rows numbered first..first + n - 1."""
    out: list[Job] = []
    for lo in range(first, first + n, CHUNK):
        hi = min(first + n - 1, lo + CHUNK - 1)
        out.append((sql, (lo, hi), f"{what}: {hi - first + 1:,} of {n:,}" if n > CHUNK else ""))
    return out


async def results_data(url: str, n: int, *, triggers: bool = False) -> float:
    """Make n completed calls (a transaction, its answered attempt and its answers, 3.24 on
    average: ANSWERS_PER_CALL) and their result sums in a migrated, empty database; return
    the seconds it took."""
    t0, loud = time.perf_counter(), n > CHUNK
    con = await asyncpg.connect(url)
    try:
        found = await _triggers(con)
        if found != KNOWN_TRIGGERS:
            raise RuntimeError(f"triggers on {TABLES} are {sorted(found)}, not "
                               f"{sorted(KNOWN_TRIGGERS)}: the recount would miss what a new "
                               f"one keeps")
        if await con.fetchval("SELECT COUNT(*) FROM transactions"):
            raise RuntimeError("the database already holds transactions")
        modifier = await con.fetchval("SELECT modifier FROM results_clock WHERE id = 1")
        indexes = [] if triggers else await _plain_indexes(con)
        for name, _ in indexes:
            await con.execute(f"DROP INDEX {name}")
        await _autovacuum(con, False)  # not halfway through the load: once, at the end
        answers = [job for k, question, value, prompt, only in QUESTIONS
                   for job in _chunked(_ANSWER.format(k=k, question=question, value=value,
                                                      prompt=prompt, only=only),
                                       1, n, f"{question} answers")]
        await _run(url, _chunked(_TRANSACTIONS, 1, n, "transactions"), t0, verbose=loud, bulk=not triggers)
        if triggers:  # as a live call goes: the attempt starts, is answered, then ends
            await _run(url, [
                (_ATTEMPTS.format(answered="NULL", outcome="NULL", result="NULL"), (1, n), ""),
                ("UPDATE attempts SET answered_at = started_at", (), ""),
                ("UPDATE attempts SET ended_at = started_at, outcome = 'answered', "
                 "result = 'completed'", (), ""),
                *answers], t0, verbose=loud, bulk=False, workers=1)
        else:
            attempts = _chunked(_ATTEMPTS.format(answered="next_try_at", outcome="'answered'",
                                                 result="'completed'"), 1, n, "attempts")
            await _run(url, attempts + answers, t0, verbose=loud, bulk=True)
            await _run(url, [(create, (), f"index {name} built") for name, create in indexes],
                       t0, verbose=loud, bulk=True)
            await _run(url, [(f"ANALYZE {table}", (), "") for table in TABLES], t0,
                       verbose=loud, bulk=True)  # statistics first: the sums join them
            await _run(url, [(_CELLS, (modifier,), "result_cells summed"),
                             (_OVERVIEW, (modifier,), "overview_days counted")], t0, verbose=loud, bulk=True)
            await _run(url, [(_DAYS, (), "result_days summed")], t0, verbose=loud, bulk=True)
        for table in TABLES:
            await con.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                              f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)")
        await _autovacuum(con, True)
        # the visibility map (index-only scans) and the statistics: what autovacuum would
        # reach on its own soon after such a load
        await _run(url, [(f"VACUUM ANALYZE {table}", (), f"{table} vacuumed") for table in
                         (*TABLES, "result_cells", "result_days", "overview_days")],
                   t0, verbose=loud, bulk=False)
    finally:
        await con.close()
    return time.perf_counter() - t0


# ------------------------------------------------------------------ pending (claims)

PENDING_VISITED = "2026-11-28T03:00:00.000000Z"  # pg_claims.NOW - 3 hours
PENDING_STAMP = "2026-11-28T05:59:00.000000Z"  # pg_claims.NOW - 1 minute


def pending_row(i: int) -> dict[str, Any]:
    """Transaction i of `pending_data`, as the keyword arguments of ivr.models.Transaction
    (its visit at PENDING_VISITED; add it with now = PENDING_STAMP)."""
    return {"office": f"office-{i % 900}", "ref": f"r{i}", "name": "",
            "mobile": f"+92300{i:07d}", "service": ("police", "health")[i % 2],
            "district": f"d{i % 36}", "official": f"o{i % 5000}", "language": "ur"}


_PENDING = f"""
    INSERT INTO transactions (office, ref, name, mobile, service, district, official,
        visited_at, language, next_try_at, created_at, updated_at)
    SELECT 'office-' || (g % 900), 'r' || g, '', '+92300' || lpad(g::text, greatest(7,
        length(g::text)), '0'), (ARRAY['police', 'health'])[g % 2 + 1], 'd' || (g % 36),
        'o' || (g % 5000), '{PENDING_VISITED}', 'ur', '{PENDING_STAMP}', '{PENDING_STAMP}',
        '{PENDING_STAMP}'
    FROM generate_series($1::bigint, $2::bigint) g"""


async def pending_data(url: str, n: int) -> float:
    """Make transactions 0..n-1 (pending_row), due since PENDING_STAMP, in a migrated, empty
    database (plain indexes dropped for the load and built again); return the seconds."""
    t0, loud = time.perf_counter(), n > CHUNK
    con = await asyncpg.connect(url)
    try:
        if await con.fetchval("SELECT COUNT(*) FROM transactions"):
            raise RuntimeError("the database already holds transactions")
        if await con.fetchval("SELECT COUNT(*) FROM experiments WHERE stopped_at IS NULL"):
            raise RuntimeError("a running experiment would give each transaction an arm")
        indexes = await _plain_indexes(con)
        for name, _ in indexes:
            await con.execute(f"DROP INDEX {name}")
        await _autovacuum(con, False)
        await _run(url, _chunked(_PENDING, 0, n, "pending"), t0, verbose=loud, bulk=True)
        await _autovacuum(con, True)
    finally:
        await con.close()
    await _run(url, [(create, (), f"index {name} built") for name, create in indexes], t0,
               verbose=loud, bulk=True)
    await _run(url, [("VACUUM ANALYZE transactions", (), "")], t0, verbose=loud, bulk=False)
    return time.perf_counter() - t0


async def size_gb(url: str) -> float:
    con = await asyncpg.connect(url)
    try:
        return float(await con.fetchval("SELECT pg_database_size(current_database())")) / 1e9
    finally:
        await con.close()


# ------------------------------------------------------------------ measuring

@contextlib.contextmanager
def measuring(lock: str | None, pgid: int | None) -> Iterator[None]:
    """Hold the machine's benchmark lock (flock on `lock`, if given) and run at normal
    priority (this process and the cluster's process group `pgid`) while measuring; the
    generation around it runs niced (`nice -n 10 python bench/...`)."""
    handle = open(lock, "a") if lock else None
    before = os.getpriority(os.PRIO_PROCESS, 0)
    try:
        if handle is not None:
            t0 = time.perf_counter()
            fcntl.flock(handle, fcntl.LOCK_EX)
            log(f"  (lock {lock} taken after {time.perf_counter() - t0:.0f} s)")
        _renice(0, pgid)
        yield
    finally:
        _renice(before, pgid)
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()


def _renice(value: int, pgid: int | None) -> None:
    with contextlib.suppress(PermissionError):  # lowering niceness needs root
        os.setpriority(os.PRIO_PROCESS, 0, value)
        if pgid is not None:
            os.setpriority(os.PRIO_PGRP, pgid, value)
