"""Web, the words officials read for the codes the engine stores: roles, case statuses and
actions, result groupings, prompt versions. Templates show a code as `_(code)`; this module
lists every such code once, marked for extraction, so the catalogues hold a word for each
(tests/unit/test_i18n.py checks that every code of these enums has one).
"""

from __future__ import annotations

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
