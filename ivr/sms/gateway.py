"""SMS, gateway: hand one message to the SMS gateway. Kannel's HTTP sendsms today.

Stage: the edge between the SMS sender (ivr.sms.sender) and the operator's SMS centre. The
`Gateway` protocol is all the sender knows; `KannelGateway` speaks Kannel's smsbox
`/cgi-bin/sendsms` (GET, UTF-8, coding=2 for UCS-2, a dlr-url that carries our message id).
An HTTP SMS API of an aggregator can be added as another class with the same `submit`.

Outcomes of a hand-over, as exceptions of ivr.errors' tree or a return:
- returns: the gateway took the message (Kannel: ``0: Accepted for delivery`` or
  ``3: Queued for later delivery``);
- `GatewayDown`: it certainly did not take it (connection refused, 5xx, Kannel's 503 without
  bearerbox, an authorisation the operator must fix): the message waits and goes again;
- `GatewayInDoubt`: the request may have arrived (cut off, timed out): the message is not
  resent until a grace period passed without a delivery report for it;
- `GatewayRefused`: the gateway refused this message (4xx): it fails and is not resent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

import aiohttp

from ivr.errors import RabtaError
from ivr.phone import mask

log = logging.getLogger(__name__)

DLR_MASK = 1 | 2 | 8 | 16  # delivered, failed, SMSC accepted, SMSC rejected (not 4, buffered)


class GatewayError(RabtaError):
    """The SMS gateway did not take a message."""


class GatewayDown(GatewayError):
    """The gateway certainly did not take the message; try again later."""


class GatewayInDoubt(GatewayError):
    """The hand-over was cut off: the gateway may or may not have the message."""


class GatewayRefused(GatewayError):
    """The gateway refused this message; sending it again would not help."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to hand over: our id, the number (E.164), the text and its coding."""

    id: int
    to: str
    text: str
    coding: int  # 0: GSM 7-bit, 2: UCS-2


class Gateway(Protocol):
    """What the sender needs of an SMS gateway."""

    async def submit(self, msg: Outgoing) -> None:
        """Hand one message over; raise a GatewayError subclass if it was not taken."""

    async def close(self) -> None:
        """Release connections."""


class KannelGateway:
    """Kannel smsbox's sendsms interface, with a delivery report URL per message."""

    def __init__(self, url: str, username: str, password: str, sender: str, dlr_url: str, *,
                 timeout: float = 10.0) -> None:
        self.url = url  # e.g. http://127.0.0.1:13013/cgi-bin/sendsms
        self.username = username
        self.password = password
        self.sender = sender  # short code or sender id
        self.dlr_url = dlr_url  # ours, with {id}: Kannel fills %d (type) and %A (answer)
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    def params(self, msg: Outgoing) -> dict[str, str]:
        """Return sendsms's query parameters for a message (pure; tested)."""
        dlr = self.dlr_url.replace("{id}", str(msg.id))
        params = {"username": self.username, "password": self.password, "from": self.sender,
                  "to": msg.to.lstrip("+"), "text": msg.text, "charset": "UTF-8",
                  "coding": str(msg.coding), "dlr-mask": str(DLR_MASK), "dlr-url": dlr}
        return params

    async def submit(self, msg: Outgoing) -> None:
        """Send one message through sendsms; raise GatewayDown/InDoubt/Refused if not taken."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout))
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in self.params(msg).items())
        try:
            async with self._session.get(f"{self.url}?{query}") as resp:
                body = (await resp.text(errors="replace")).strip()
                status = resp.status
        except aiohttp.ClientConnectorError as exc:
            raise GatewayDown(f"Kannel sendsms not reachable at {self.url}: "
                              f"{exc.strerror or exc}") from None
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise GatewayInDoubt(f"Kannel sendsms cut off: {type(exc).__name__} {exc}") from None
        if 200 <= status < 300:
            log.debug("SMS %d to %s: %s", msg.id, mask(msg.to), body)
            return
        if status in (401, 403) or status >= 500:
            raise GatewayDown(f"Kannel sendsms answered {status}: {body[:200]}")
        raise GatewayRefused(f"Kannel sendsms refused it ({status}): {body[:200]}")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def dlr_state(status: int, answer: str) -> str | None:
    """Map a Kannel delivery report type (%d) to a message state; None if it changes nothing.

    1 delivered -> delivered; 2 failed -> failed (expired if the SMSC says EXPIRED);
    8 accepted by the SMSC -> sent; 16 rejected by the SMSC -> failed; 4 buffered -> None.
    """
    if status == 1:
        return "delivered"
    if status == 2:
        return "expired" if "EXPIRED" in answer.upper() else "failed"
    if status == 8:
        return "sent"
    if status == 16:
        return "failed"
    return None
