"""Cases: what officials do about a corruption report, beside the road (after the answers).

Every transaction whose answers report a bribe (`bribe` = "1") is a report; officials move its
case along one road and record what was done, as the programme published it:

    new -> under_review -> action_taken (grievance_redressed | warning | show_cause |
                                         transfer | suspension | unfounded)

Pure rules, no I/O: `transition()` says whether a change is allowed and what it leads to; the
store keeps the rows (ivr/store/cases.py) and the web asks these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ivr.errors import InputError

__all__ = ["BRIBE_QUESTION", "BRIBE_YES", "FOLLOWUP_QUESTION", "FOLLOWUP_REF",
           "FOLLOWUP_SERVICE", "MAX_NOTE", "RESOLVED_NO", "RESOLVED_YES", "CaseAction",
           "CaseStatus", "Change", "followup_answer", "next_steps", "transition"]

BRIBE_QUESTION = "bribe"  # the core question's id (surveys/*.toml)
BRIBE_YES = "1"  # its key for "yes, I was asked for a bribe"
# The follow-up call once a case reaches action taken (surveys/followup.toml): a transaction
# of service FOLLOWUP_SERVICE, ref FOLLOWUP_REF + the report's id, asking FOLLOWUP_QUESTION.
FOLLOWUP_SERVICE = "followup"
FOLLOWUP_REF = "followup-"
FOLLOWUP_QUESTION = "resolved"
RESOLVED_YES = "1"  # "my problem was resolved"
RESOLVED_NO = "2"  # "it was not"
MAX_NOTE = 4000


class CaseStatus(StrEnum):
    """Where a case is on its road."""

    NEW = "new"
    UNDER_REVIEW = "under_review"
    ACTION_TAKEN = "action_taken"


class CaseAction(StrEnum):
    """What was done once a case was reviewed (the programme's published categories)."""

    GRIEVANCE_REDRESSED = "grievance_redressed"
    WARNING = "warning"
    SHOW_CAUSE = "show_cause"
    TRANSFER = "transfer"
    SUSPENSION = "suspension"
    UNFOUNDED = "unfounded"


_NEXT = {CaseStatus.NEW: CaseStatus.UNDER_REVIEW, CaseStatus.UNDER_REVIEW: CaseStatus.ACTION_TAKEN}


@dataclass(frozen=True, slots=True)
class Change:
    """An allowed change: the case's new status and action (None until action is taken)."""

    status: CaseStatus
    action: CaseAction | None


def followup_answer(value: str | None) -> str | None:
    """Name a follow-up's answer: "resolved", "not_resolved", or None (no or another key)."""
    return {RESOLVED_YES: "resolved", RESOLVED_NO: "not_resolved"}.get(value or "")


def next_steps(current: CaseStatus) -> tuple[CaseStatus, ...]:
    """Return the statuses a case may be given now, as `transition` allows: where it is (a note
    or a new owner) and the one step after it, if it is not closed."""
    following = _NEXT.get(current)
    return (current,) if following is None else (current, following)


def transition(current: CaseStatus, action_now: CaseAction | None, to: CaseStatus,
               action: CaseAction | None, note: str = "") -> Change:
    """Return what a case becomes, or raise InputError saying why the change is not allowed.

    A case moves one step at a time (new -> under_review -> action_taken); action_taken
    needs an action and is final. Staying where it is records a note (or a new owner), which
    is allowed at any step, but then the note may not be empty.
    """
    if len(note) > MAX_NOTE:
        raise InputError(f"note too long (at most {MAX_NOTE} characters)")
    if to is current:
        if action is not None and action is not action_now:
            raise InputError("the action is recorded when the case moves to action_taken; "
                             "it cannot be changed afterwards")
        if not note.strip():
            raise InputError("nothing to record: give a note, or move the case on")
        return Change(current, action_now)
    if _NEXT.get(current) is not to:
        raise InputError(f"a case cannot move from {current.value} to {to.value}"
                         + (f" (next: {_NEXT[current].value})" if current in _NEXT else
                            " (it is closed)"))
    if to is CaseStatus.ACTION_TAKEN:
        if action is None:
            raise InputError("say which action was taken")
        return Change(to, action)
    if action is not None:
        raise InputError("an action is recorded only when the case moves to action_taken")
    return Change(to, None)
