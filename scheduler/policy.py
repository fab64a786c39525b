"""Scheduler, policy: pure rules of when and whether to call. Every function takes `now`.

Nothing here does I/O; the dialer asks these functions and obeys. Local rules (windows, blocked
dates, quiet periods) are read in the rules' time zone, Asia/Karachi unless told otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.models import Outcome, TxStatus
from ivr.trunks import Trunk as Trunk
from ivr.trunks import parse_prefixes as parse_prefixes

T = TypeVar("T")

#: How far `next_allowed` looks ahead before it gives up.
SEARCH_DAYS = 370

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


# --- calling window ---------------------------------------------------------------------------


def parse_window(spec: str) -> tuple[time, time | None]:
    """Parse 'HH:MM-HH:MM' into (start, end); end None means midnight (24:00)."""
    try:
        start_s, end_s = spec.strip().split("-")
        start = time.fromisoformat(start_s.strip())
        end_s = end_s.strip()
        end = None if end_s in ("24:00", "24:00:00") else time.fromisoformat(end_s)
        if start.tzinfo is not None or (end is not None and end.tzinfo is not None):
            raise ValueError("a window is local wall-clock time, with no offset")
    except ValueError:
        raise ValueError(f"{spec!r} is not a window like 09:00-20:00") from None
    if end is not None and end <= start:
        raise ValueError(f"{spec!r}: the window must end after it starts")
    return start, end


def in_calling_window(now: datetime, window: str, tz: str = "Asia/Karachi") -> bool:
    """Say whether `now` (aware) falls inside the local calling window."""
    start, end = parse_window(window)
    local = now.astimezone(ZoneInfo(tz)).time()
    return start <= local and (end is None or local < end)


def next_window_start(now: datetime, window: str, tz: str = "Asia/Karachi") -> datetime:
    """Return `now` if inside the window, else the next moment the window opens."""
    if in_calling_window(now, window, tz):
        return now
    start, _ = parse_window(window)
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    candidate = local.replace(hour=start.hour, minute=start.minute, second=start.second,
                              microsecond=0)
    if candidate <= local:
        candidate += timedelta(days=1)
    return candidate.astimezone(now.tzinfo)


# --- calling rules: windows per service, holidays, quiet periods ------------------------------


@dataclass(frozen=True)
class QuietPeriod:
    """A weekly local stretch with no calls, e.g. Friday prayers; [start, end) on one weekday."""

    weekday: int  # Monday=0 .. Sunday=6, local time
    start: time
    end: time  # end > start, same day

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"quiet period: weekday {self.weekday} is not 0 (Monday) .. 6 (Sunday)")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet period: times are local wall-clock times, with no offset")
        if self.end <= self.start:
            raise ValueError(f"quiet period: {self.end:%H:%M} must be after {self.start:%H:%M} "
                             f"on the same day")

    @classmethod
    def parse(cls, spec: str) -> QuietPeriod:
        """Parse 'fri 12:30-14:30' (weekday mon..sun, any case) into a quiet period."""
        example = "like 'fri 12:30-14:30'"
        parts = spec.split()
        if len(parts) != 2:
            raise ValueError(f"quiet period {spec!r} is not a weekday and a time range, {example}")
        day_s, range_s = parts[0].lower(), parts[1]
        if day_s in _WEEKDAYS:
            weekday = _WEEKDAYS.index(day_s)
        elif day_s in _WEEKDAY_NAMES:
            weekday = _WEEKDAY_NAMES.index(day_s)
        else:
            raise ValueError(f"quiet period {spec!r}: {parts[0]!r} is not a weekday "
                             f"(mon, tue, wed, thu, fri, sat, sun)")
        try:
            start_s, end_s = range_s.split("-")
            start, end = time.fromisoformat(start_s), time.fromisoformat(end_s)
            if start.tzinfo is not None or end.tzinfo is not None:
                raise ValueError("local wall-clock time has no offset")
        except ValueError:
            raise ValueError(f"quiet period {spec!r}: {range_s!r} is not a time range "
                             f"HH:MM-HH:MM within one day, {example}") from None
        if end <= start:
            raise ValueError(f"quiet period {spec!r}: the end must be after the start, same day")
        return cls(weekday, start, end)

    def covers(self, local: datetime) -> bool:
        """Say whether a local (wall-clock) moment falls inside this quiet period."""
        return local.weekday() == self.weekday and self.start <= local.time() < self.end


@dataclass(frozen=True)
class CallingRules:
    """When calls may be placed: a local window (per service if overridden), minus holidays and
    weekly quiet periods."""

    window: str = "09:00-20:00"  # default local window
    service_windows: Mapping[str, str] = field(default_factory=dict)  # service -> window override
    blocked_dates: frozenset[date] = frozenset()  # public holidays (local dates): no calls all day
    quiet: tuple[QuietPeriod, ...] = ()  # e.g. Friday prayers
    tz: str = "Asia/Karachi"

    def __post_init__(self) -> None:
        # Fail when the rules are built, not at 3 a.m. inside the dialer loop.
        parse_window(self.window)
        for service, spec in self.service_windows.items():
            try:
                parse_window(spec)
            except ValueError as exc:
                raise ValueError(f"service window for {service!r}: {exc}") from None
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{self.tz!r} is not a known time zone") from None

    def window_for(self, service: str) -> str:
        """Return the window that applies to `service`: its override, else the default."""
        return self.service_windows.get(service, self.window)


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"{now.isoformat()} has no time zone; policy needs aware datetimes")


def may_call(now: datetime, service: str, rules: CallingRules) -> bool:
    """Say whether `service` may call at `now`: in its window, not a blocked date, not quiet."""
    _require_aware(now)
    local = now.astimezone(ZoneInfo(rules.tz))
    if local.date() in rules.blocked_dates:
        return False
    if any(q.covers(local) for q in rules.quiet):
        return False
    start, end = parse_window(rules.window_for(service))
    wall = local.time()
    return start <= wall and (end is None or wall < end)


def next_allowed(now: datetime, service: str, rules: CallingRules) -> datetime:
    """Return `now` if calling is allowed, else the earliest later moment when it is."""
    _require_aware(now)
    if may_call(now, service, rules):
        return now
    zone = ZoneInfo(rules.tz)
    start, _ = parse_window(rules.window_for(service))
    local_now = now.astimezone(zone)
    limit = now + timedelta(days=SEARCH_DAYS)
    # The allowed set is window ∩ not-blocked ∩ not-quiet. Each of its stretches begins where one
    # of those turns true: the window opens, a quiet period ends, or a blocked day ends; the last
    # is midnight, which matters only when the window is open then, i.e. starts at 00:00. So the
    # window start and the day's quiet ends are the only candidates to test, day by day.
    day = local_now.date()
    for _ in range(SEARCH_DAYS + 2):
        walls = {start, *(q.end for q in rules.quiet if q.weekday == day.weekday())}
        for wall in sorted(walls):
            candidate = datetime.combine(day, wall, tzinfo=zone)
            if candidate <= now:
                continue
            if candidate > limit:
                break
            if may_call(candidate, service, rules):
                return candidate.astimezone(now.tzinfo)
        day += timedelta(days=1)
    raise ValueError(f"no moment within {SEARCH_DAYS} days of {now.isoformat()} allows calling "
                     f"{service!r} (window {rules.window_for(service)!r}, "
                     f"{len(rules.blocked_dates)} blocked dates, {len(rules.quiet)} quiet periods)")


# --- retries --------------------------------------------------------------------------------


def _default_delays() -> dict[Outcome, float]:
    return {Outcome.BUSY: 900.0, Outcome.NO_ANSWER: 3600.0, Outcome.CONGESTION: 1800.0,
            Outcome.FAILED: 1800.0, Outcome.UNKNOWN: 900.0}


def _check_delay(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of seconds >= 0, not {value!r}")


@dataclass(frozen=True)
class RetryRules:
    """How often and how soon to call again after an unanswered dial or an unfinished survey."""

    max_attempts: int = 3
    delays: Mapping[Outcome, float] = field(default_factory=_default_delays)
    default_delay: float = 900.0  # for any retryable outcome missing from delays
    partial_callbacks: int = 1  # answered but unfinished: this many call-backs
    callback_delay: float = 1800.0

    def __post_init__(self) -> None:
        if self.max_attempts < 0:
            raise ValueError(f"max_attempts must be >= 0, not {self.max_attempts}")
        if self.partial_callbacks < 0:
            raise ValueError(f"partial_callbacks must be >= 0, not {self.partial_callbacks}")
        for outcome, delay in self.delays.items():
            _check_delay(f"delay for {outcome}", delay)
        _check_delay("default_delay", self.default_delay)
        _check_delay("callback_delay", self.callback_delay)

    def delay_for(self, outcome: Outcome) -> float:
        """Return the seconds to wait before retrying after `outcome`."""
        return self.delays.get(outcome, self.default_delay)


def retry_after(outcome: Outcome, attempts: int, now: datetime,
                rules: RetryRules) -> tuple[TxStatus, datetime | None]:
    """Decide the next status and retry time after a dial, with a delay per outcome."""
    if outcome is Outcome.ANSWERED:
        return TxStatus.IN_CALL, None
    if outcome.retryable and attempts < rules.max_attempts:
        return TxStatus.SCHEDULED, now + timedelta(seconds=rules.delay_for(outcome))
    return TxStatus.UNREACHABLE, None


def after_survey(result: TxStatus, attempts: int, callbacks_used: int, now: datetime,
                 rules: RetryRules) -> tuple[TxStatus, datetime | None]:
    """Decide what follows an answered call: keep a final result or schedule a call-back."""
    if result in (TxStatus.COMPLETED, TxStatus.OPTED_OUT, TxStatus.UNREACHABLE):
        return result, None  # unreachable: "not me", a shared or wrong phone; never again
    if result is not TxStatus.PARTIAL:
        raise ValueError(f"{result!r} is not a survey result "
                         f"(completed, opted_out, unreachable or partial)")
    if (callbacks_used < rules.partial_callbacks
            and attempts < rules.max_attempts + rules.partial_callbacks):
        return TxStatus.SCHEDULED, now + timedelta(seconds=rules.callback_delay)
    return TxStatus.PARTIAL, None


# --- timing of a transaction ----------------------------------------------------------------


def followup_at(closed_at: datetime, delay_days: float) -> datetime:
    """Return when to ask the citizen whether a closed case's problem was resolved."""
    _require_aware(closed_at)
    if delay_days < 0:
        raise ValueError(f"followup_delay_days must be 0 or more, not {delay_days}")
    return closed_at + timedelta(days=delay_days)


def first_try_at(visited_at: datetime, min_delay: float) -> datetime:
    """Return the earliest moment to call about a visit: `min_delay` seconds after it."""
    return visited_at + timedelta(seconds=min_delay)


def expired(visited_at: datetime, now: datetime, max_age: float) -> bool:
    """Say whether a visit is too old to ask about: more than `max_age` seconds ago."""
    return now - visited_at > timedelta(seconds=max_age)


def in_cooldown(last_surveyed_at: datetime | None, now: datetime, cooldown: float) -> bool:
    """Say whether the citizen was surveyed less than `cooldown` seconds ago."""
    if last_surveyed_at is None:
        return False
    return now - last_surveyed_at < timedelta(seconds=cooldown)


@dataclass(frozen=True, slots=True)
class DialFacts:
    """What the store knows about a due transaction at dial time (fetched in the claim)."""

    on_dnc: bool  # the citizen's number is on the do-not-call list
    visited_at: datetime
    last_surveyed_at: datetime | None  # latest answered call about another of their visits
    call_in_progress: bool  # the citizen is on the line (or being rung) for another visit
    followup: bool = False  # a follow-up call about a closed case (store: followup_of set)


# What a closing decision makes of the transaction: its final status.
CLOSES_AS = {"dnc": TxStatus.OPTED_OUT, "too_old": TxStatus.EXPIRED,
             "cooldown": TxStatus.EXPIRED}


def at_dial(facts: DialFacts, now: datetime, *, max_age: float | None,
            cooldown: float | None) -> str:
    """Decide a due transaction's fate at dial time: "dial", "wait" (a call to the citizen is
    in progress), or why it closes uncalled: "dnc", "too_old" or "cooldown" (see CLOSES_AS).
    max_age / cooldown None: that rule is off. A follow-up about a closed case skips the age
    and cooldown rules (its visit is old and the citizen was surveyed on the report itself,
    by design); the do-not-call list and one call at a time still hold, and the calling
    window is the dialer's (it claims only services open now)."""
    if facts.on_dnc:
        return "dnc"
    if facts.followup:
        return "wait" if facts.call_in_progress else "dial"
    if max_age is not None and expired(facts.visited_at, now, max_age):
        return "too_old"
    if cooldown is not None and in_cooldown(facts.last_surveyed_at, now, cooldown):
        return "cooldown"
    if facts.call_in_progress:
        return "wait"  # one call per citizen at a time; the cooldown decides afterwards
    return "dial"


# --- sampling ---------------------------------------------------------------------------------


def _largest_remainder(extra: int, weights: list[int], rooms: list[int]) -> list[int]:
    """Share `extra` seats in proportion to `weights`, no stratum getting more than its room."""
    from fractions import Fraction  # here: the classic AGI script imports policy, never samples

    alloc = [0] * len(weights)
    room = list(rooms)
    active = [i for i, r in enumerate(room) if r > 0]
    remaining = extra
    while remaining > 0 and active:
        total = sum(weights[i] for i in active)
        quota = {i: Fraction(remaining * weights[i], total) for i in active}
        full = [i for i in active if quota[i] >= room[i]]
        if full:
            # These strata would get all they have left; fill them and share again among the rest.
            for i in full:
                alloc[i] += room[i]
                remaining -= room[i]
                room[i] = 0
            active = [i for i in active if room[i] > 0]
            continue
        for i in active:
            alloc[i] += math.floor(quota[i])
        left = remaining - sum(math.floor(quota[i]) for i in active)
        # Ties go to the stratum seen first, so the allocation never depends on the seed.
        by_remainder = sorted(active, key=lambda i: (-(quota[i] - math.floor(quota[i])), i))
        for i in by_remainder[:left]:
            alloc[i] += 1
        remaining = 0
    return alloc


def batch_quota(capacity: int, selected: int, seen: int, batch: int, expected: float) -> int:
    """Return how many of a new batch of one day's visits to call.

    capacity: surveys the lines can carry that day (0 or less: no limit, call all).
    selected / seen: that day's visits already kept / already sampled. expected: how many
    visits the day is expected to bring in all (e.g. the mean of recent days). The day's
    rate is capacity / max(expected, seen + batch), so early batches don't use up the day;
    no batch ever takes more than the capacity left.
    """
    if capacity <= 0:
        return batch
    left = max(0, capacity - selected)
    total = max(float(expected), float(seen + batch), 1.0)
    rate = min(1.0, capacity / total)
    return min(left, batch, math.ceil(rate * batch - 1e-9))


def stratified_sample(items: Sequence[T], capacity: int, stratum: Callable[[T], Hashable],
                      seed: int) -> list[tuple[T, float]]:
    """Pick up to `capacity` items covering every stratum; return each with its selection
    probability, in the order the items were given.

    With capacity >= number of strata: one item per stratum, the rest shared in proportion to
    stratum size (largest remainder, capped at a stratum's size; ties to the stratum seen
    first). With fewer seats than strata: `capacity` strata at random, one item each.
    """
    from fractions import Fraction
    if capacity <= 0:
        return []
    if capacity >= len(items):
        return [(item, 1.0) for item in items]
    groups: dict[Hashable, list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault(stratum(item), []).append(index)
    members = list(groups.values())  # in order of first appearance
    import random  # here: the classic AGI script imports this module and never samples

    rng = random.Random(seed)
    n_strata = len(members)
    picked: dict[int, float] = {}
    if capacity < n_strata:
        for s in rng.sample(range(n_strata), capacity):
            size = len(members[s])
            picked[rng.choice(members[s])] = float(Fraction(capacity, n_strata * size))
    else:
        sizes = [len(m) for m in members]
        extra = _largest_remainder(capacity - n_strata, sizes, [n - 1 for n in sizes])
        for group, size, more in zip(members, sizes, extra, strict=True):
            take = 1 + more
            probability = float(Fraction(take, size))
            for index in rng.sample(group, take):
                picked[index] = probability
    return [(items[i], picked[i]) for i in sorted(picked)]


# ---------------------------------------------------------------------- trunks and operators


def operator_of(national: str, prefixes: Mapping[str, str]) -> str | None:
    """Return the mobile operator of a national number by its longest matching prefix."""
    for length in range(len(national), 0, -1):
        found = prefixes.get(national[:length])
        if found is not None:
            return found
    return None


def trunk_order(operator: str | None, trunks: Sequence[Trunk]) -> list[Trunk]:
    """Return the trunks a number may use, best first: its operator's own, then the general ones."""
    preferred = [t for t in trunks if operator is not None and operator in t.operators]
    general = [t for t in trunks if not t.only and t not in preferred]
    return preferred + general


def choose_trunk(operator: str | None, trunks: Sequence[Trunk],
                 in_use: Mapping[str, int]) -> Trunk | None:
    """Return the first trunk in preference order with a free channel, or None."""
    for trunk in trunk_order(operator, trunks):
        if in_use.get(trunk.name, 0) < trunk.channels:
            return trunk
    return None


REGISTERED = "Registered"  # the one state of an outbound registration that carries calls


def unregistered_trunks(registering: frozenset[str] | set[str],
                        states: Mapping[str, str]) -> dict[str, str]:
    """Return the registering trunks that must carry no call now, each with its state.

    registering: the trunks that register with their carrier; states: trunk -> the state its
    node's PBX reports for that registration (Registered, Unregistered, Rejected, Stopped...).
    A trunk the PBX does not report at all has no registration there: "missing". Calls for a
    held trunk wait (nothing is claimed for it); they are not attempted and fail.
    """
    return {t: states.get(t, "missing") for t in sorted(registering)
            if states.get(t) != REGISTERED}


def nested_sample(items: Sequence[T], capacity: int, outer: Callable[[T], Hashable],
                  inner: Callable[[T], Hashable], seed: int) -> list[tuple[T, float]]:
    """Sample in two levels (office, then official within it); return items with probabilities.

    Seats go to the outer strata first, as stratified_sample gives them (every outer stratum
    covered when capacity allows), then each outer stratum's seats are spread over its inner
    strata. When capacity covers every inner stratum, each outer stratum first gets a seat per
    inner stratum, so every official is covered. Each probability is the product of the two
    levels', so weights stay unbiased.
    """
    if capacity <= 0:
        return []
    if capacity >= len(items):
        return [(item, 1.0) for item in items]
    groups: dict[Hashable, list[T]] = {}
    for item in items:
        groups.setdefault(outer(item), []).append(item)
    seats: dict[Hashable, int] = {}
    inner_counts = [len({inner(item) for item in group}) for group in groups.values()]
    if capacity >= sum(inner_counts):
        # A seat for every inner stratum (office, official) first, the rest in proportion to
        # size: every official is covered and every weight is exact.
        sizes = [len(group) for group in groups.values()]
        extra = _largest_remainder(capacity - sum(inner_counts), sizes,
                                   [n - k for n, k in zip(sizes, inner_counts, strict=True)])
        seats = {key: k + more for key, k, more
                 in zip(groups, inner_counts, extra, strict=True)}
    else:
        for item, _ in stratified_sample(items, capacity, outer, seed):
            seats[outer(item)] = seats.get(outer(item), 0) + 1
    # With fewer seats than outer strata, which strata get one is itself random.
    level = 1.0 if capacity >= len(groups) else capacity / len(groups)
    picked: dict[int, float] = {}
    index = {id(item): i for i, item in enumerate(items)}
    for n, (key, group) in enumerate(groups.items()):
        for item, p in stratified_sample(group, seats.get(key, 0), inner, seed + n + 1):
            picked[index[id(item)]] = level * p
    return [(items[i], picked[i]) for i in sorted(picked)]
