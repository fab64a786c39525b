"""SMS, sender: the engine's loop that plans messages beside the calls and hands them over.

Stage: beside the dialer, in the engine process. Each round it plans (ivr.store.sms.plan:
notices before first calls, thanks, case numbers, outcomes, SMS surveys), then takes the due
messages oldest first and, for each: expired -> expired; do-not-call -> failed; outside the
calling window (the same rules as calls) -> held until the window opens; else rendered from
the templates, marked `sending`, handed to the gateway at most `sms_per_second`, and marked
`sent`. If the gateway is down the message goes back to the queue and the round ends: the
loop tries again after `sms_retry_delay` seconds, so a Kannel restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ivr.config import Settings
from ivr.errors import ConfigError, InputError, StoreError
from ivr.phone import mask, national
from ivr.sms import text as smstext
from ivr.sms.gateway import (
    Gateway,
    GatewayDown,
    GatewayInDoubt,
    GatewayRefused,
    KannelGateway,
    Outgoing,
)
from ivr.store.sms import SmsStore
from scheduler import policy
from scheduler.rules import Rules

log = logging.getLogger(__name__)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def kannel_from_settings(settings: Settings) -> KannelGateway:
    """Build the Kannel gateway a deployment's settings describe."""
    dlr = (f"{settings.sms_callback_url.rstrip('/')}/sms/kannel/dlr?secret={settings.sms_secret}"
           f"&id={{id}}&status=%d&answer=%A")
    return KannelGateway(settings.sms_url, settings.sms_username, settings.sms_password,
                         settings.sms_sender, dlr)


class SmsSender:
    """Plans and sends SMS for one store through one gateway."""

    def __init__(self, store: Any, settings: Settings, gateway: Gateway,
                 templates: smstext.Templates, *, rules: Rules | None = None,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self.sms = SmsStore(store)
        self.settings = settings
        self.gateway = gateway
        self.templates = templates
        self.clock = clock
        rules = rules or Rules.from_settings(settings)  # the engine passes its own, built once
        self.rules = rules.calling
        self.prefixes = rules.prefixes
        self.zone = ZoneInfo(settings.timezone)
        self.handed_over = 0  # messages the gateway took since start
        self._planned_at: datetime | None = None  # the last round's plan saw changes until then
        self.gateway_up = True
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_settings(cls, store: Any, settings: Settings,
                      rules: Rules | None = None) -> SmsSender | None:
        """Build the sender a deployment configures; None when SMS is off (no sms_url)."""
        if not settings.sms_url:
            return None
        path = settings.sms_templates or smstext.TEMPLATES_FILE
        return cls(store, settings, kannel_from_settings(settings), smstext.load_templates(path),
                   rules=rules)

    def _values(self, row: dict[str, Any]) -> dict[str, str]:
        lang = row["language"] or self.settings.default_language
        visited = _parse(row["visited_at"]).astimezone(self.zone)
        return {"office": row["office"], "service": row["service"],
                "date": visited.date().isoformat(), "case": str(row["transaction_id"]),
                "action": self.templates.action_name(row["action"] or "", lang),
                "short_code": self.settings.sms_sender}

    def _operator(self, number: str) -> str:
        try:
            return policy.operator_of(national(number), self.prefixes) or ""
        except InputError:
            return ""

    async def step(self, now: datetime | None = None) -> int:
        """Plan, then hand over what is due; return how many messages the gateway took."""
        now = now or self.clock()
        s = self.settings
        # Each round plans from what changed since the previous one (a minute's overlap for
        # writes that committed late), not the whole max_age window again.
        since = self._planned_at - timedelta(seconds=60) if self._planned_at else None
        planned = await self.sms.plan(now, notice_lead=s.sms_notice_lead, max_age=s.max_age,
                                      changed_since=since)
        self._planned_at = now
        if any(planned.values()):
            log.info("SMS planned: %s", ", ".join(f"{n} {k}" for k, n in planned.items() if n))
        taken = 0
        for row in await self.sms.due(now, doubt_after=s.sms_doubt_after, limit=100):
            mid = row["id"]
            if _parse(row["expires_at"]) <= now:
                await self.sms.finish(mid, "expired", "its moment passed", now)
                continue
            if row["kind"] == "notice" and (row["attempts"] > 0 or row["tx_status"] not in (
                    "pending", "scheduled")):
                # Held (e.g. overnight, outside the window) until the first call went: too late.
                await self.sms.finish(mid, "expired", "the first call was placed first", now)
                continue
            if await self.sms.on_dnc(row["number"]):
                await self.sms.finish(mid, "failed", "do-not-call", now)
                continue
            if not policy.may_call(now, row["service"], self.rules):
                if row["state"] == "queued":
                    await self.sms.postpone(mid, policy.next_allowed(now, row["service"], self.rules))
                continue
            lang = row["language"] or s.default_language
            try:
                body = self.templates.text(row["kind"], lang, self._values(row))
            except ConfigError as exc:
                await self.sms.finish(mid, "failed", str(exc)[:200], now)
                continue
            n = smstext.parts(body)
            if n > self.templates.max_parts:
                await self.sms.finish(mid, "failed", f"{n} parts, more than max_parts", now)
                continue
            if not await self.sms.start_sending(mid, body, n, self._operator(row["number"]), now,
                                                from_state=row["state"]):
                continue  # a delivery report or another round moved it on
            try:
                await self.gateway.submit(Outgoing(mid, row["number"], body,
                                                   smstext.kannel_coding(body)))
            except GatewayDown as exc:
                await self.sms.retry_at(mid, now + timedelta(seconds=s.sms_retry_delay), str(exc))
                if self.gateway_up:
                    log.error("SMS gateway down, messages wait: %s", exc)
                self.gateway_up = False
                break
            except GatewayInDoubt as exc:
                # Left `sending`: due() offers it again after sms_doubt_after unless a delivery
                # report shows the gateway had it.
                log.warning("SMS %d to %s in doubt: %s", mid, mask(row["number"]), exc)
                continue
            except GatewayRefused as exc:
                await self.sms.finish(mid, "failed", str(exc)[:200], now)
                log.warning("SMS %d to %s refused: %s", mid, mask(row["number"]), exc)
                continue
            if not self.gateway_up:
                log.info("SMS gateway back")
            self.gateway_up = True
            await self.sms.sent(mid, now)
            taken += 1
            self.handed_over += 1
            await asyncio.sleep(1.0 / s.sms_per_second)
            now = self.clock()
        return taken

    async def run(self) -> None:
        """Run rounds until cancelled: at once while there is work, else every interval."""
        while True:
            try:
                taken = await self.step()
            except StoreError as exc:
                log.error("SMS round failed, trying again: %s", exc)
                taken = 0
            delay = self.settings.sms_retry_delay if not self.gateway_up else self.settings.sms_interval
            if not taken:
                await asyncio.sleep(delay)

    async def drain(self, rounds: int = 20) -> int:
        """Stop the loop, then run rounds until nothing more is due now; return how many went.

        For a run that ends when the calls are done (`rabta run --until-idle`, `make demo`):
        the last calls' thanks and case numbers go before the engine stops. Ends early while
        the gateway is down (the messages stay queued for the next run).
        """
        await self._stop_loop()
        total = 0
        for _ in range(rounds):
            try:
                taken = await self.step()
            except StoreError as exc:
                log.error("SMS round failed: %s", exc)
                break
            total += taken
            if not taken or not self.gateway_up:
                break
        return total

    async def _stop_loop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def start(self) -> None:
        """Start the loop as a task of the running event loop."""
        self._task = asyncio.get_running_loop().create_task(self.run(), name="sms-sender")

    async def close(self) -> None:
        """Stop the loop and close the gateway's connections."""
        await self._stop_loop()
        await self.gateway.close()
