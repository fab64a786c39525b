"""Flows, session: one FastAGI (or classic AGI) survey session, from headers to stored result.

Wiring between the channel, the survey runner and the store: it reads our attempt id from the
AGI arguments, records the call as answered, picks the survey definition for the transaction's
service (the `default` one for any other), asks the citizen's language when the transaction has
none (and stores the choice), composes the visit confirmation from the transaction, runs the
survey saving each answer at once (stamped with the definition's id and version), puts the
number on the do-not-call list if the citizen presses the opt-out key, and closes the attempt
with completed, partial, opted_out or unreachable (closed_reason `not_me`) whatever way the
call ends.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from ivr.asterisk.agi.channel import Channel
from ivr.calls import CallRegistry
from ivr.config import Settings
from ivr.errors import AGIProtocolError, CallerHungUp
from ivr.flows.definitions import SurveyBook, known_prompts, load_surveys
from ivr.flows.survey import Answered, SurveyState, choose_language, run_survey
from ivr.flows.visit import NOT_ME_REASON, visit_prompts
from ivr.log import getLogger
from ivr.models import TxStatus

if TYPE_CHECKING:
    from ivr.store.calls import SurveyContext

log = getLogger(__name__)


# (result, attempts, call-backs used, now) -> (the transaction's next status, when)
NextStep = Callable[[TxStatus, int, int, datetime], tuple[TxStatus, datetime | None]]


class SessionWrites(Protocol):
    """What a session reads and writes: the Store has it, and so has the classic AGI script's
    lean ivr.store.session.SessionStore."""

    async def survey_started(self, attempt_id: int, now: datetime) -> SurveyContext: ...
    async def save_answer(self, attempt_id: int, question: str, value: str, now: datetime, *,
                          survey: str | None = None, survey_version: int | None = None,
                          prompts: Sequence[str] = ()) -> None: ...
    async def set_language(self, transaction_id: int, language: str, now: datetime) -> bool: ...
    async def dnc_add_for_attempt(self, attempt_id: int, source: str, now: datetime,
                                  note: str = "") -> bool: ...
    async def arms_of(self, transaction_id: int) -> dict[str, str]: ...
    async def finish_call(self, attempt_id: int, result: TxStatus, now: datetime,
                          cause: int | None = None, *, next_status: TxStatus | None = None,
                          next_try_at: datetime | None = None,
                          closed_reason: str | None = None) -> bool: ...


def _now() -> datetime:
    return datetime.now(UTC)


class SurveySessions:
    """The FastAGI route for `survey`: runs one survey per connection."""

    def __init__(self, store: SessionWrites, settings: Settings, calls: CallRegistry, *,
                 surveys: SurveyBook | None = None, clock: Callable[[], datetime] = _now,
                 next_step: NextStep | None = None, shield: bool = True) -> None:
        self.store = store
        # The result is written shielded from cancellation (an engine shutting down); a
        # process that runs one session without an event loop (the classic AGI script) has
        # nothing to shield it from, and no asyncio.
        self.shield = shield
        self.next_step = next_step
        self.settings = settings
        self.calls = calls
        self.prompts = known_prompts()  # fragments that exist: offices without one are skipped
        # Loaded once, at start: a broken definition stops the engine before any call.
        self.surveys = surveys if surveys is not None else load_surveys(prompts=self.prompts)
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
        survey = self.surveys.for_service(ctx.service)
        # A survey whose greeting is an experiment's: the transaction's stored arm picks it.
        intro = (survey.intro_for(await self.store.arms_of(ctx.transaction_id))
                 if survey.greeting_experiment else survey.intro)
        self.calls.session_started(attempt_id)
        state = SurveyState()
        language = ctx.language or self.settings.default_language
        log.info("attempt %d: survey %s v%d started (%s, %s)", attempt_id, survey.id,
                 survey.version, ctx.service, language)
        if intro != survey.intro:
            log.info("attempt %d: greeting %s (experiment %s)", attempt_id, intro[0],
                     survey.greeting_experiment)

        async def save(answer: Answered) -> None:
            await self.store.save_answer(
                attempt_id, answer.question, answer.value, self.clock(), survey=answer.survey,
                survey_version=answer.version, prompts=answer.prompts)
            log.info("attempt %d: %s = %s", attempt_id, answer.question, answer.value)

        async def opt_out() -> None:
            added = await self.store.dnc_add_for_attempt(
                attempt_id, "optout", self.clock(),
                note=f"survey opt-out ({survey.id} v{survey.version})")
            log.info("attempt %d: citizen opted out; %s the do-not-call list", attempt_id,
                     "added to" if added else "already on")

        try:
            if ctx.language is None:
                chosen = await choose_language(channel, tries=self.settings.question_tries,
                                               timeout_s=self.settings.digit_timeout)
                if chosen is not None:
                    language = chosen
                    await self.store.set_language(ctx.transaction_id, chosen, self.clock())
                log.info("attempt %d: language %s (%s)", attempt_id, language,
                         "chosen" if chosen else "default: no choice")
            visit = visit_prompts(
                ctx.office, ctx.service,
                ctx.visited_at.astimezone(ZoneInfo(self.settings.timezone)).date(), language,
                self.prompts)
            await run_survey(channel, survey, save, state, language=language,
                             tries=self.settings.question_tries,
                             timeout_s=self.settings.digit_timeout, opt_out=opt_out,
                             early_key_s=self.settings.early_key_s,
                             recording_name=f"rabta-{attempt_id}", visit=visit, intro=intro)
            # No HANGUP command: once this returns, the AGI ends and the survey context's
            # next step is Hangup() (dialplans/pbx/extensions.conf.tmpl): one round trip less.
        except CallerHungUp:
            log.info("attempt %d: citizen hung up after %d answer(s)", attempt_id,
                     len(state.answers))
        finally:
            result = state.result(survey)
            settled = False
            try:
                finish = self._finish(ctx, result, NOT_ME_REASON if state.not_me else None)
                if self.shield:  # the result must land even if the server is shutting down
                    import asyncio

                    await asyncio.shield(finish)
                else:
                    await finish
                settled = True
            finally:  # if it could not, the attempt is left to the dialer's reconcile
                self.calls.session_ended(attempt_id, settled=settled)
            log.info("attempt %d: survey %s", attempt_id, result)

    async def _finish(self, ctx: SurveyContext, result: TxStatus, reason: str | None) -> None:
        """Close the attempt with the result, and the transaction as policy says. The counts
        are those read when the call started: nothing dials a transaction while it is in a
        call."""
        now = self.clock()
        status, when = result, None
        if self.next_step is not None:
            status, when = self.next_step(result, ctx.attempts, ctx.callbacks, now)
        await self.store.finish_call(ctx.attempt_id, result, now, next_status=status,
                                     next_try_at=when, closed_reason=reason)
