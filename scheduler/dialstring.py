"""Scheduler, dial strings: the one place an Originate channel is built from the rules.

``dial_string(rules, "+923001234567", "jazz")`` -> ``"PJSIP/923001234567@jazz"`` (the
``dial_template`` setting, with ``{digits}``, ``{national}`` and ``{trunk}``). The dialer dials
on the trunk its claim-time router chose; click-to-call on the trunk the router would try first.
"""

from __future__ import annotations

from ivr import phone
from scheduler.policy import operator_of, trunk_order
from scheduler.rules import Rules


def operator(rules: Rules, number: str) -> str | None:
    """Return the mobile operator of an E.164 number, by its national prefix."""
    return operator_of(phone.national(number), rules.prefixes)


def preferred_trunk(rules: Rules, number: str) -> str:
    """Return the trunk a number goes out on first (its operator's, else a general one)."""
    order = trunk_order(operator(rules, number), rules.trunks)
    return order[0].name if order else rules.default_trunk


def dial_string(rules: Rules, number: str, trunk: str = "") -> str:
    """Return the Originate channel for an E.164 number on a trunk (empty: the default one)."""
    return rules.dial_template.format(digits=phone.digits(number),
                                      national=phone.national(number),
                                      trunk=trunk or rules.default_trunk)
