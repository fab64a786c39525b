"""SMS, inbox: what happens to a citizen's message once the gateway delivered it to Rabta.

Stage: after the SMS survey. Reads the message (ivr.sms.replies, pure) and records it:
answers on the number's most recent open transaction (ivr.store.sms.open_transaction),
STOP on the do-not-call list, anything else (and answers that fit no open transaction) in the
replies queue officials work through, linked to the number's open (else latest) visit.
"""

from __future__ import annotations

import logging
from datetime import datetime

from ivr.phone import mask
from ivr.sms import replies
from ivr.store.sms import SmsStore

log = logging.getLogger(__name__)


async def receive(sms: SmsStore, number: str, text: str, now: datetime, max_age: float) -> str:
    """Record one citizen's message; return what it became: answer, stop or text."""
    text = text[:replies.MAX_TEXT]
    reply = replies.classify(text)
    if reply.kind == "stop":
        await sms.stop(number, text, now)
        log.info("SMS from %s: STOP, on the do-not-call list", mask(number))
        return "stop"
    tx = await sms.open_transaction(number, now, max_age)
    if reply.kind == "answers" and tx is not None:
        pairs = replies.assign(reply.digits, await sms.unanswered(tx))
        if pairs is not None:
            await sms.record_answers(tx, number, text, pairs, now)
            log.info("SMS from %s: answers %s for transaction %d", mask(number),
                     dict(pairs), tx)
            return "answer"
    # Free text is linked to the number's open visit, else its latest one (a reply to the
    # outcome SMS comes days after the visit), so an official can open a case on it.
    await sms.record_inbound(number, text, "text", now,
                             tx if tx is not None else await sms.latest_transaction(number))
    log.info("SMS from %s: free text, in the replies queue", mask(number))
    return "text"
