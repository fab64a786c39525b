"""Scheduler, dialer: claim due work, originate it over AMI, record what came of it.

The loop only claims, originates and records; every decision (window, retries) is a pure
function in scheduler.policy. Each attempt row is written before its Originate is sent, and a
concurrency slot is held until the call has really ended.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ivr import phone
from ivr.asterisk import variables as V
from ivr.asterisk.ami import AMI, HangupEvent, OriginateResult, Registration, outcome_from
from ivr.calls import CallRegistry
from ivr.config import Settings
from ivr.errors import AMIConnectionError, AMIError, StoreError
from ivr.models import OPEN, Attempt, Outcome, TxStatus
from ivr.store import SQLiteStore
from scheduler import dialstring, policy
from scheduler.admission_watch import AdmissionWatch
from scheduler.pacer import CLAIM_AHEAD_S, Pacer
from scheduler.rules import Rules
from scheduler.sampler import sample_new

log = logging.getLogger(__name__)

HANGUP_GRACE_S = 3.0  # after a hangup event, how long a survey session gets to close itself
NODE_DOWN_AFTER_S = 20.0  # an AMI gone this long means the node's calls are gone too
NODE_POLL_S = 2.0  # while its node's AMI is gone, how often a call in progress looks again
STORE_RETRY_S = 2.0  # after the database failed a claim (a restart, a failover)
IDLE_POLL_S = 0.5  # nothing claimed: look again after this long, doubling up to IDLE_MAX_S
IDLE_MAX_S = 2.0
SLOT_WAIT_S = 5.0  # every slot taken: the loop sleeps until a call ends, or this long at most
SESSION_WAIT_S = 2.0  # an answered call: how long its survey session may take to start here
# before the dialer stores the call as answered itself (a session stores it as it starts)
REGISTRATION_POLL_S = 5.0  # how often each node's trunk registrations are read (one AMI action)


def _now() -> datetime:
    return datetime.now(UTC)


def _loop_time() -> float:
    return asyncio.get_running_loop().time()


def trunk_states(registrations: Sequence[Registration]) -> dict[str, str]:
    """Map each registration's state to its trunk: the endpoint it names, else its section
    name without the renderer's "-reg" suffix."""
    return {(r.endpoint or r.name.removesuffix("-reg")): r.status for r in registrations}


@dataclass
class DialerStats:
    """Counters for progress displays and tests."""

    originated: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: Outcome) -> None:
        self.outcomes[outcome.value] = self.outcomes.get(outcome.value, 0) + 1


class Dialer:
    """Works the queue of due transactions through one AMI connection."""

    def __init__(self, store: SQLiteStore, ami: AMI | Sequence[AMI], settings: Settings,
                 calls: CallRegistry, rules: Rules,
                 *, clock: Callable[[], datetime] = _now,
                 progress: Callable[[Dialer], None] | None = None,
                 admission: AdmissionWatch | None = None) -> None:
        self.store = store
        # One AMI per PBX node. A node whose AMI is down is skipped; work flows to the others.
        self.amis: list[AMI] = [ami] if isinstance(ami, AMI) else list(ami)
        self.ami = self.amis[0]
        self._by_node: dict[str, set[int]] = {a.name: set() for a in self.amis}
        self.settings = settings
        self.calls = calls
        self.clock = clock
        self.progress = progress
        self.stats = DialerStats()
        self.rules = rules
        # Per-node gates: a node past its high marks gets no new calls (they stay due).
        self.admission = admission
        self.calling, self.retry = rules.calling, rules.retry
        self._tasks: set[asyncio.Task[None]] = set()
        self._originating: set[int] = set()  # attempts whose own _dial task settles them
        self._slot_freed = asyncio.Event()  # set when a call gives back its node/trunk slot
        # Send times and trunk channels, on the loop's own clock (what asyncio.sleep uses).
        self.pacer = Pacer(rules.trunks, settings.calls_per_second, clock=_loop_time)
        # Per node: registering trunks that carry no call now (trunk -> its state), and when
        # their registrations are read next. Until the first read a registering trunk is held.
        self.unregistered: dict[str, dict[str, str]] = {
            a.name: {t: "not yet read" for t in rules.registering} for a in self.amis}
        self._registrations_at: dict[str, float] = {}
        for a in self.amis:
            a.subscribe(HangupEvent, self.on_hangup)

    # ------------------------------------------------------------------ the loop

    async def run(self, *, until_idle: bool = False, stop: asyncio.Event | None = None) -> None:
        """Dial due work until stopped (or, with until_idle, until nothing is left to do)."""
        stop = stop or asyncio.Event()
        leases_at = asyncio.get_running_loop().time() + self.settings.worker_lease / 3
        idle = IDLE_POLL_S
        while not stop.is_set():
            now = self.clock()
            if asyncio.get_running_loop().time() >= leases_at:  # workers sharing a database
                leases_at = asyncio.get_running_loop().time() + self.settings.worker_lease / 3
                try:
                    await self.store.renew_leases(self.settings.worker_name,
                                                  now + timedelta(seconds=self.settings.worker_lease))
                    # a dead worker's, once expired, and any of this worker's own that no
                    # task here settles any more (a step cut off by a database restart)
                    await self.reconcile(untracked=True)
                except StoreError as exc:
                    log.error("cannot renew leases: %s; retrying", exc)
            only, excluded = self._services_now(now)
            if only == []:
                opens = min(policy.next_allowed(now, svc, self.calling)
                            for svc in ("", *self.calling.service_windows))
                log.info("outside every calling window; next opens %s",
                         opens.astimezone(UTC).isoformat(timespec="minutes"))
                await self._sleep(stop, min(60.0, max(0.5, (opens - now).total_seconds())))
                continue
            batch: list[Attempt] = []
            self._slot_freed.clear()
            full = True  # every node skipped only because its slots are taken
            sampling = self.settings.daily_capacity > 0
            if sampling:  # decide who of today's new visits is called before any is claimed
                await sample_new(self.store, now, self.settings.daily_capacity,
                                 self.settings.timezone)
            for ami in self.amis:  # max_concurrent is per node
                held = len(self._by_node[ami.name])
                free = self.settings.max_concurrent - held
                # Free trunk channels, and no more than about two seconds of dialling at the
                # paced rate, so a claimed attempt is dialled soon after its row is written.
                limit = min(free, self.pacer.claimable(), 50)
                if not ami.connected:
                    full = False
                    continue
                if self.admission is not None:
                    if not self.admission.check(ami.name, held).open:
                        full = False
                        continue  # closed: nothing claimed here; its calls stay due
                    room = self.admission.room(ami.name, held)
                    limit = limit if room is None else min(limit, room)
                if limit <= 0:
                    continue  # node, trunk or channel slots all taken: a call's end frees one
                full = False
                closed = await self._closed_trunks(ami)
                try:
                    claimed = await self.store.claim_due(
                        now, limit, node=ami.name,
                        expire_before=now - timedelta(seconds=self.settings.max_age),
                        cooldown_since=now - timedelta(days=self.settings.cooldown_days),
                        services_only=only, services_except=excluded,
                        route=self.pacer.router(self._operator, closed), sampled_only=sampling,
                        worker=self.settings.worker_name,
                        lease_until=now + timedelta(seconds=self.settings.worker_lease),
                        trunk_channels={t.name: t.channels for t in self.pacer.trunks})
                except StoreError as exc:  # e.g. PostgreSQL restarting: wait, then resume
                    log.error("cannot claim work: %s; retrying in %.0f s", exc, STORE_RETRY_S)
                    await self._sleep(stop, STORE_RETRY_S)
                    break
                # Each Originate gets its send time now, on the engine-wide and the trunk's
                # pace (the trunk's shared with every worker, through the database); its task
                # waits for it, so a slow trunk never holds up the others.
                times = await self._send_times(claimed)
                for attempt in claimed:
                    send_at = times[attempt.id]
                    self.calls.track(attempt.id)
                    self._by_node[ami.name].add(attempt.id)
                    self.pacer.hold(attempt.trunk, attempt.id)
                    self._spawn(self._dial(attempt, ami, send_at), f"dial-{attempt.id}")
                batch += claimed
            if self.progress:
                self.progress(self)
            if batch:
                idle = IDLE_POLL_S
                continue
            if self.pacer.backlog() > CLAIM_AHEAD_S / 2:
                await self._sleep(stop, 0.1)  # paced queue still full: let it drain a little
                continue
            if until_idle and not self.calls.in_flight and await self._nothing_left():
                break
            if full and self.calls.in_flight:
                await self._until_slot_freed(stop)  # nothing can be claimed until a call ends
                idle = IDLE_POLL_S
                continue
            # Nothing due: look again soon, then less often while nothing comes (an idle
            # engine's CPU is mostly this look; new work waits IDLE_MAX_S at most).
            await self._sleep(stop, idle)
            idle = min(idle * 2, IDLE_MAX_S)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _send_times(self, claimed: Sequence[Attempt]) -> dict[int, float]:
        """Book each claimed Originate's send time (on the loop's clock): this worker's pace
        first, then the trunk's calls per second, booked in the database for every worker
        together (store.book_sends). If the database cannot book, this worker's own pace
        holds (and the error is logged)."""
        local = {a.id: self.pacer.reserve(a.trunk) for a in claimed}
        if not claimed:
            return local
        now, base = self.clock(), self.pacer.clock()  # one instant on both clocks
        wanted = [(a.id, a.trunk, now + timedelta(seconds=max(0.0, local[a.id] - base)))
                  for a in claimed]
        try:
            booked = await self.store.book_sends(
                wanted, {t.name: t.cps for t in self.pacer.trunks}, now,
                worker=self.settings.worker_name)
        except StoreError as exc:
            log.error("cannot book shared send times: %s; pacing this worker alone", exc)
            return local
        times = {}
        for a in claimed:
            at = base + (booked[a.id] - now).total_seconds()
            times[a.id] = max(local[a.id], at)
            self.pacer.booked(a.trunk, times[a.id])
        return times
    async def _closed_trunks(self, ami: AMI) -> frozenset[str]:
        """Return the trunks this node must not dial through now: their registration is not
        Registered (read from the PBX every REGISTRATION_POLL_S; each change is logged)."""
        if not self.rules.registering:
            return frozenset()
        held = self.unregistered[ami.name]
        now = _loop_time()
        if now < self._registrations_at.get(ami.name, 0.0):
            return frozenset(held)
        self._registrations_at[ami.name] = now + REGISTRATION_POLL_S
        try:
            regs = await ami.registrations()
        except (AMIError, AMIConnectionError) as exc:
            log.warning("%s: cannot read trunk registrations (%s); trunks held so far stay held",
                        ami.name, exc)
            return frozenset(held)
        now_held = policy.unregistered_trunks(self.rules.registering, trunk_states(regs))
        for trunk, state in now_held.items():
            if held.get(trunk) != state:
                log.warning("%s: trunk %s registration is %s: its calls wait until it is "
                            "Registered (`rabta asterisk status`; the PBX's log says why)",
                            ami.name, trunk, state)
        for trunk in held.keys() - now_held.keys():
            log.info("%s: trunk %s is Registered: its calls go", ami.name, trunk)
        self.unregistered[ami.name] = now_held
        return frozenset(now_held)

    def _operator(self, number: str) -> str | None:
        return dialstring.operator(self.rules, number)

    async def _wait_until(self, send_at: float) -> None:
        """Sleep until the pacer's clock reaches a booked send time (never wake early)."""
        wait = send_at - self.pacer.clock()
        if wait > 0:
            await asyncio.sleep(wait)

    def _services_now(self, now: datetime) -> tuple[list[str] | None, list[str]]:
        """Which services may be called now: (only these | None for all, all but these)."""
        overrides = list(self.calling.service_windows)
        open_overrides = [s for s in overrides if policy.may_call(now, s, self.calling)]
        # "" stands for any service without its own window.
        if policy.may_call(now, "", self.calling):
            return None, [s for s in overrides if s not in open_overrides]
        return open_overrides, []

    async def _nothing_left(self) -> bool:
        counts = await self.store.status_counts()
        waiting = sum(counts.get(s, 0) for s in OPEN)
        return waiting == 0

    @staticmethod
    async def _sleep(stop: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(stop.wait(), max(0.05, seconds))
        except TimeoutError:
            pass

    # ------------------------------------------------------------------ one call

    async def _dial(self, attempt: Attempt, ami: AMI, send_at: float = 0.0) -> None:
        ended = self.calls.track(attempt.id)
        self._originating.add(attempt.id)
        try:
            await self._wait_until(send_at)
            variables = {V.inherit(V.LANGUAGE): attempt.language} if attempt.language else {}
            try:
                result = await ami.originate(
                    attempt.id, dialstring.dial_string(self.rules, attempt.number, attempt.trunk),
                    context=V.CTX_SURVEY,
                    ring_timeout=self.settings.ring_timeout, variables=variables,
                    caller_id=self.settings.caller_id)
            except AMIConnectionError as exc:
                # Never sent: it was no attempt at all. Give the transaction back, due now.
                log.warning("attempt %d to %s not placed: %s", attempt.id,
                            phone.mask(attempt.number), exc)
                await self.store.attempt_not_sent(attempt.id, self.clock())
                return
            except AMIError as exc:
                log.warning("attempt %d to %s: %s", attempt.id, phone.mask(attempt.number), exc)
                result = OriginateResult(attempt.id, Outcome.UNKNOWN)
            self.stats.originated += 1
            self.stats.count(result.outcome)
            log.info("attempt %d to %s: %s", attempt.id, phone.mask(attempt.number),
                     result.outcome)
            if result.outcome is Outcome.ANSWERED:
                # Its survey session, here, stores the call as answered as it starts (in one
                # trip with its first read): wait a moment for it rather than write it twice.
                if not await self.calls.wait_session(attempt.id, SESSION_WAIT_S):
                    await self.store.attempt_answered(attempt.id, self.clock())
                await self._until_ended(attempt.id, ended, ami, answered=True)
            elif result.outcome is Outcome.UNKNOWN:
                await self._settle_unknown(attempt, ended, ami)
            else:
                await self._record_unanswered(attempt, result.outcome, result.reason,
                                              result.cause)
        finally:
            self._originating.discard(attempt.id)
            self._by_node[ami.name].discard(attempt.id)
            self.pacer.release(attempt.id)
            self._slot_freed.set()
            ami.forget(attempt.id)
            self.calls.end(attempt.id)

    async def _until_ended(self, attempt_id: int, ended: asyncio.Event, ami: AMI, *,
                           answered: bool) -> None:
        """Wait for a call's end: its survey session here, or its hangup on the node's AMI (the
        session may run on another worker). A node whose AMI has been gone NODE_DOWN_AFTER_S
        took the call with it, and no hangup will come: settle it here (answered: partial, a
        call-back per policy, a no-op if a session here or elsewhere closed it; not answered:
        unknown, retried)."""
        loop = asyncio.get_running_loop()
        down_since: float | None = None
        while not ended.is_set():
            if ami.connected:
                down_since = None
                await self._end_or_loss(ended, ami)  # no polling while the node answers
                continue
            if attempt_id in self.calls.sessions:
                down_since = None
            elif down_since is None:
                down_since = loop.time()
            elif loop.time() - down_since >= NODE_DOWN_AFTER_S:
                log.warning("attempt %d: node %s down for %.0f s; its call ended with it",
                            attempt_id, ami.name, NODE_DOWN_AFTER_S)
                if answered:
                    await self._finish_answered(attempt_id, None)
                else:
                    await self._record_unanswered(await self.store.attempt_row(attempt_id),
                                                  Outcome.UNKNOWN)
                return
            await self._sleep(ended, NODE_POLL_S)

    async def _until_slot_freed(self, stop: asyncio.Event) -> None:
        """Wait until a call gives back its slot, stop is set, or SLOT_WAIT_S passes."""
        waits = (asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._slot_freed.wait()))
        try:
            await asyncio.wait(waits, timeout=SLOT_WAIT_S, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    @staticmethod
    async def _end_or_loss(ended: asyncio.Event, ami: AMI) -> None:
        """Wait until the call ends or the node's AMI connection drops, whichever is first."""
        waits = (asyncio.ensure_future(ended.wait()), asyncio.ensure_future(ami.wait_lost()))
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def _follow(self, attempt_id: int, ami: AMI, answered: bool) -> None:
        """Follow a call taken over from a previous run (or a dead worker) to its end."""
        try:
            await self._until_ended(attempt_id, self.calls.track(attempt_id), ami,
                                    answered=answered)
        finally:
            self._release(attempt_id)
            self.calls.end(attempt_id)

    async def _record_unanswered(self, attempt: Attempt, outcome: Outcome,
                                 reason: int | None = None, cause: int | None = None) -> None:
        now = self.clock()
        tx_attempts, _ = await self.store.attempt_counts(attempt.id)
        status, next_at = policy.retry_after(outcome, tx_attempts, now, self.retry)
        await self.store.attempt_failed(attempt.id, outcome, now, next_status=status,
                                        next_try_at=next_at, reason=reason, cause=cause)

    async def _settle_unknown(self, attempt: Attempt, ended: asyncio.Event, ami: AMI) -> None:
        """The AMI link dropped before the result came: ask Asterisk, wait, never redial."""
        while not ended.is_set() and attempt.id not in self.calls.sessions:
            try:
                await ami.wait_ready(timeout=NODE_DOWN_AFTER_S)
                live = await ami.channels()
            except AMIConnectionError:
                # The node is down: its calls died with it. Close the attempt (retried
                # elsewhere); a node that was only unreachable is covered by the same rule,
                # since this attempt is never dialled again, only a new one.
                log.warning("attempt %d: node %s down for %.0f s; closing it as unknown",
                            attempt.id, ami.name, NODE_DOWN_AFTER_S)
                break
            except AMIError:
                continue
            if not any(c["vars"].get(V.ATTEMPT) == str(attempt.id) for c in live):
                # Gone. A session that is just starting still gets to say so.
                await self._sleep(ended, HANGUP_GRACE_S)
                if attempt.id not in self.calls.sessions:
                    break
            # Still ringing or talking: its hangup event or its survey session ends it.
            await self._sleep(ended, 5.0)
        if attempt.id in self.calls.sessions:
            await ended.wait()
        # Whatever it was, close it; a no-op if the survey session already did (it answered).
        cause = ami.hangup_cause(attempt.id)  # seen on AMI while the result was unknown
        outcome = outcome_from(None, cause) if cause is not None else Outcome.UNKNOWN
        await self._record_unanswered(attempt, outcome, cause=cause)

    # ------------------------------------------------------------------ AMI events

    def on_hangup(self, event: HangupEvent) -> None:
        """AMI subscriber: a channel of ours hung up."""
        if event.attempt_id in self.calls.sessions:
            return  # the survey session closes the attempt itself
        if self.calls.settled(event.attempt_id):
            # Its session stored the result: nothing to read or write, only its slots to
            # free (already done by its own dial task, unless a restart adopted the call).
            self._release(event.attempt_id)
            return
        self._spawn(self._after_hangup(event), f"hangup-{event.attempt_id}")

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed (a bug; the attempt stays open for the next reconcile)",
                      task.get_name(), exc_info=task.exception())

    async def _after_hangup(self, event: HangupEvent) -> None:
        await asyncio.sleep(HANGUP_GRACE_S)
        if event.attempt_id in self.calls.sessions:
            return
        if self.calls.settled(event.attempt_id):  # its session ended and stored the result
            self._release(event.attempt_id)
            self.calls.end(event.attempt_id)
            return
        try:
            await self._settle_hangup(event)
        finally:
            self._release(event.attempt_id)
            self.calls.end(event.attempt_id)

    def _release(self, attempt_id: int) -> None:
        """Free the node and trunk slots a call held (one left over from a previous run)."""
        for held in self._by_node.values():
            held.discard(attempt_id)
        self.pacer.release(attempt_id)
        self._slot_freed.set()

    async def _settle_hangup(self, event: HangupEvent) -> None:
        # Answered but no survey session ever ran (FastAGI unreachable, or it crashed):
        # close it as partial with whatever answers exist, so it is never left in_call.
        if await self._finish_answered(event.attempt_id, event.cause):
            log.warning("attempt %d: call ended without a survey session (cause %s)",
                        event.attempt_id, event.cause)
        elif event.attempt_id not in self._originating:
            # Left ringing by a previous run or a lost AMI link: nobody else will settle it.
            attempt = await self.store.attempt_row(event.attempt_id)
            await self._record_unanswered(attempt, outcome_from(None, event.cause),
                                          cause=event.cause)

    async def _finish_answered(self, attempt_id: int, cause: int | None) -> bool:
        """Close an answered call that no survey session closed: partial, call-back per policy."""
        now = self.clock()
        attempts, callbacks = await self.store.attempt_counts(attempt_id)
        status, when = policy.after_survey(TxStatus.PARTIAL, attempts, callbacks, now, self.retry)
        return await self.store.finish_call(attempt_id, TxStatus.PARTIAL, now, cause,
                                            next_status=status, next_try_at=when)

    # ------------------------------------------------------------------ restart

    async def reconcile(self, *, others_only: bool = False, untracked: bool = False) -> int:
        """Settle attempts a previous run left open (engine crash); return how many.

        Several workers on one database: this worker's own, and any other's whose lease ran
        out (its worker died); others_only: just the latter (while this worker runs);
        untracked: the latter and this worker's own that no call, session or task of this
        process holds any more (a step of theirs failed, e.g. the database restarting).
        """
        now = self.clock()
        open_attempts = await self.store.open_attempts(
            self.settings.worker_name, now, now + timedelta(seconds=self.settings.worker_lease),
            others_only=others_only)
        if untracked:
            open_attempts = [a for a in open_attempts if not self.calls.holds(a[0])]
        if not open_attempts:
            return 0
        live: dict[str | None, AMI] = {}
        for ami in self.amis:
            if ami.connected:
                live |= {c["vars"].get(V.ATTEMPT): ami for c in await ami.channels()}
        for attempt_id, _count, _status, answered in open_attempts:
            if (on := live.get(str(attempt_id))) is not None:
                # Still on the line: its hangup event (or its node's end) will close it. It
                # holds its slots.
                self.calls.track(attempt_id)
                self._by_node[on.name].add(attempt_id)
                trunk = (await self.store.attempt_row(attempt_id)).trunk
                self.pacer.hold(trunk, attempt_id)
                self._spawn(self._follow(attempt_id, on, answered), f"follow-{attempt_id}")
                continue
            if answered:
                await self._finish_answered(attempt_id, None)
            else:
                tx = await self.store.attempt_row(attempt_id)
                await self._record_unanswered(tx, Outcome.UNKNOWN)
        log.warning("reconciled %d call(s) left open by a previous run", len(open_attempts))
        return len(open_attempts)
