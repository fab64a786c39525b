"""Web, the words officials read for the codes the engine stores: roles, case statuses and
actions, result groupings, prompt versions, and each answer in the survey's own words. Templates
show a code as `_(code)`; this module lists every such code once, marked for extraction, so the
catalogues hold a word for each (tests/unit/test_i18n.py checks that every code of these enums
has one). Answers are shown with the labels of the survey that asked them ("Rating: 2, poor");
those labels reach the catalogues through `extract_surveys` (babel.cfg), so they are read in
the official's language too. Pure: the survey book is passed in.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from ivr.errors import FlowError
from ivr.flows.definitions import Survey, SurveyBook
from ivr.flows.visit import VISIT_QUESTION
from ivr.web.i18n import N_

WORDS: dict[str, str] = {
    # roles (ivr.accounts.Role)
    "oversight": N_("oversight"), "department": N_("department"), "district": N_("district"),
    "supervisor": N_("supervisor"), "telephony": N_("telephony"), "dataentry": N_("dataentry"),
    # case statuses (ivr.cases.CaseStatus) and actions (ivr.cases.CaseAction)
    "new": N_("new"), "under_review": N_("under_review"), "action_taken": N_("action_taken"),
    "grievance_redressed": N_("grievance_redressed"), "warning": N_("warning"),
    "show_cause": N_("show_cause"), "transfer": N_("transfer"), "suspension": N_("suspension"),
    "unfounded": N_("unfounded"), "reports": N_("reports"),
    # the follow-up call (actions report columns) and its transaction's status on the case
    "closed": N_("closed"), "followups": N_("followups"), "resolved": N_("resolved"),
    "not_resolved": N_("not_resolved"), "pending": N_("pending"), "scheduled": N_("scheduled"),
    "dialing": N_("dialing"), "in_call": N_("in_call"), "partial": N_("partial"),
    "unreachable": N_("unreachable"), "opted_out": N_("opted_out"), "expired": N_("expired"),
    # result groupings and filters (ivr.results.GROUPS, TIME_GROUPS)
    "service": N_("service"), "office": N_("office"), "official": N_("official"),
    "day": N_("day"), "week": N_("week"),
    # prompt versions (ivr.studio.VersionStatus, Source)
    "draft": N_("draft"), "approved": N_("approved"), "live": N_("live"),
    "retired": N_("retired"), "phone": N_("phone"), "upload": N_("upload"),
}


# ---------------------------------------------------------------------------- the survey's words

# The visit confirmation is asked by the flow itself, not a survey's [[questions]]
# (ivr.flows.visit): its words are listed here.
VISIT_LABEL = N_("Visit confirmed")
VISIT_KEYS = {"1": N_("correct"), "2": N_("not me")}


def survey_of(book: SurveyBook | None, survey_id: str | None, service: str) -> Survey | None:
    """Return the survey that asked an answer: the one stamped on it, else the service's."""
    if book is None:
        return None
    if survey_id and survey_id in book.surveys:
        return book.surveys[survey_id]
    try:
        return book.for_service(service)
    except FlowError:
        return None


def question_label(survey: Survey | None, question: str) -> str:
    """Return the question's label from its survey ("Rating"), else its id (untranslated)."""
    if question == VISIT_QUESTION:
        return VISIT_LABEL
    try:
        q = survey.question(question) if survey is not None else None
    except FlowError:
        q = None
    return q.label if q is not None and q.label else question


def answer_label(survey: Survey | None, question: str, value: str) -> str | None:
    """Return the answer's label from its survey ("poor" for rating 2), or None if it has none."""
    if question == VISIT_QUESTION:
        return VISIT_KEYS.get(value)
    try:
        q = survey.question(question) if survey is not None else None
    except FlowError:
        return None
    return q.keys.get(value) if q is not None else None


def say_answer(gettext: Callable[[str], str], value: str, label: str | None) -> str:
    """Return an answer as officials read it: "2, poor" (the key, then its label translated)."""
    return f"{value}, {gettext(label)}" if label else value


def extract_surveys(fileobj: BinaryIO, keywords: Any, comment_tags: Any, options: Any
                    ) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extractor (babel.cfg): every question label and key label of a survey file, so the
    catalogues hold the survey's words in each language (`make i18n`)."""
    text = fileobj.read().decode("utf-8")
    data = tomllib.loads(text)
    lines = text.splitlines()

    def line_of(word: str) -> int:
        return next((n for n, line in enumerate(lines, 1) if f'"{word}"' in line), 1)

    for q in data.get("questions", []):
        words = [q.get("label", "")] + [v for v in (q.get("keys") or {}).values()]
        for word in words:
            if isinstance(word, str) and word.strip():
                yield line_of(word), "N_", word.strip(), []
