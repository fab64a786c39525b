"""Plain data that travels the whole road: transactions, attempts, outcomes and answers.

No I/O here; every stage imports these and nothing else imports back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class TxStatus(StrEnum):
    """Where a transaction is on its way from intake to a final result."""

    PENDING = "pending"
    SCHEDULED = "scheduled"
    DIALING = "dialing"
    IN_CALL = "in_call"
    COMPLETED = "completed"
    PARTIAL = "partial"
    UNREACHABLE = "unreachable"
    OPTED_OUT = "opted_out"
    EXPIRED = "expired"

    @property
    def final(self) -> bool:
        return self in FINAL


# The sets every stage reads: a status list is written here once, never again elsewhere.
FINAL = frozenset(
    {TxStatus.COMPLETED, TxStatus.PARTIAL, TxStatus.UNREACHABLE, TxStatus.OPTED_OUT,
     TxStatus.EXPIRED}
)
DUE = frozenset({TxStatus.PENDING, TxStatus.SCHEDULED})  # waiting for their (next) dial
IN_FLIGHT = frozenset({TxStatus.DIALING, TxStatus.IN_CALL})  # a dial or a call under way
OPEN = DUE | IN_FLIGHT  # not final yet: what "waiting" and "pending" count
ORDER = tuple(TxStatus)  # every status, in the order of the road (for listings)
FINAL_STATUSES, DUE_STATUSES, IN_FLIGHT_STATUSES = FINAL, DUE, IN_FLIGHT  # older names


class Outcome(StrEnum):
    """What one dial attempt came to, as far as the network is concerned."""

    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CONGESTION = "congestion"
    REJECTED = "rejected"
    FAILED = "failed"
    UNKNOWN = "unknown"  # the AMI link dropped before the result arrived

    @property
    def retryable(self) -> bool:
        return self in RETRYABLE_OUTCOMES


RETRYABLE_OUTCOMES = frozenset(
    {Outcome.BUSY, Outcome.NO_ANSWER, Outcome.CONGESTION, Outcome.FAILED, Outcome.UNKNOWN}
)


@dataclass(frozen=True, slots=True)
class Transaction:
    """One citizen's visit to one office, as logged by the office."""

    office: str
    ref: str
    name: str
    mobile: str  # E.164, e.g. +923001234567
    service: str
    district: str
    official: str
    visited_at: datetime  # timezone-aware
    language: str | None = None  # ur | pa | en
    id: int | None = None
    status: TxStatus = TxStatus.PENDING
    attempts: int = 0
    last_outcome: Outcome | None = None
    next_try_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One dial. Written before the Originate is sent; its id travels as RABTA_ATTEMPT."""

    id: int
    transaction_id: int
    number: str
    started_at: datetime
    language: str | None = None
    outcome: Outcome | None = None
    ended_at: datetime | None = None
    trunk: str = ""  # the trunk it went out on ("" before 0003 or with no routing)


@dataclass(frozen=True, slots=True)
class Answer:
    """One key press the citizen gave to one question, stored the moment it was given."""

    attempt_id: int
    question: str
    value: str
    answered_at: datetime
