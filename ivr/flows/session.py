"""Flows, session: one FastAGI (or classic AGI) survey session, from headers to stored result.

Wiring between the channel, the survey runner and the store: it reads our attempt id from the
AGI arguments, records the call as answered, runs the survey saving each answer at once, and
closes the attempt with completed or partial whatever way the call ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from ivr.asterisk.agi.channel import Channel
from ivr.calls import CallRegistry
from ivr.config import Settings
from ivr.errors import AGIProtocolError, CallerHungUp
from ivr.flows.survey import DEFAULT_SURVEY, Survey, SurveyState, run_survey
from ivr.models import TxStatus
from ivr.store import SQLiteStore

log = logging.getLogger(__name__)


# (result, attempts, call-backs used, now) -> (the transaction's next status, when)
NextStep = Callable[[TxStatus, int, int, datetime], tuple[TxStatus, datetime | None]]


def _now() -> datetime:
    return datetime.now(UTC)


class SurveySessions:
    """The FastAGI route for `survey`: runs one survey per connection."""

    def __init__(self, store: SQLiteStore, settings: Settings, calls: CallRegistry, *,
                 survey: Survey = DEFAULT_SURVEY, clock: Callable[[], datetime] = _now,
                 next_step: NextStep | None = None) -> None:
        self.store = store
        self.next_step = next_step
        self.settings = settings
        self.calls = calls
        self.survey = survey
        self.clock = clock

    async def __call__(self, channel: Channel) -> None:
        """Run the survey for the attempt named in the first AGI argument."""
        raw = channel.args[0] if channel.args else ""
        if not raw.isdigit():
            raise AGIProtocolError(f"survey needs the attempt id as its argument, got {raw!r}")
        attempt_id = int(raw)
        ctx = await self.store.survey_started(attempt_id, self.clock())
        if ctx.status.final:
            # Already finished (a duplicate or a very late call): never survey twice.
            log.warning("attempt %d: transaction already %s; hanging up", attempt_id, ctx.status)
            await channel.hangup()
            return
        self.calls.session_started(attempt_id)
        state = SurveyState()
        language = ctx.language or self.settings.default_language
        log.info("attempt %d: survey started (%s, %s)", attempt_id, ctx.service, language)

        async def save(question: str, value: str) -> None:
            await self.store.save_answer(attempt_id, question, value, self.clock())
            log.info("attempt %d: %s = %s", attempt_id, question, value)

        try:
            await run_survey(channel, self.survey, save, state, language=language,
                             tries=self.settings.question_tries,
                             timeout_s=self.settings.digit_timeout)
            await channel.hangup()
        except CallerHungUp:
            log.info("attempt %d: citizen hung up after %d answer(s)", attempt_id,
                     len(state.answers))
        finally:
            result = state.result(self.survey)
            # Shielded: the result must land even if the server is shutting down.
            await asyncio.shield(self._finish(attempt_id, result))
            self.calls.session_ended(attempt_id)
            log.info("attempt %d: survey %s", attempt_id, result)

    async def _finish(self, attempt_id: int, result: TxStatus) -> None:
        now = self.clock()
        status, when = result, None
        if self.next_step is not None:
            attempts, callbacks = await self.store.attempt_counts(attempt_id)
            status, when = self.next_step(result, attempts, callbacks, now)
        await self.store.finish_call(attempt_id, result, now, next_status=status,
                                     next_try_at=when)
