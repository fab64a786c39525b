"""Flows, survey: the runner that walks a survey definition over a Channel.

The definition (`ivr.flows.definitions.Survey`, loaded from `surveys/<id>.toml`) says what to
ask and where each answer leads; this module asks it. It speaks only the Channel protocol
(stream_file, get_digits, record, set_variable...), so the same flow runs over our FastAGI
server, a classic AGI script, or a scripted fake in unit tests.

Each answer is handed to `save` the moment it is given, stamped with the survey's id and
version and the prompts played to get it, so a hang-up keeps what was answered. The opt-out
key hands over to `opt_out` at once (the do-not-call list), before anything else is played.
Before the questions: `choose_language` (the language menu, for a transaction without one)
and, for a survey with `confirm_visit`, the visit confirmation spoken from fragments
(`ivr.flows.visit`), where "not me" ends the call as unreachable.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from ivr.asterisk import variables as V
from ivr.asterisk.agi.channel import Channel
from ivr.errors import AGICommandError, CallerHungUp
from ivr.flows.definitions import ALLOWED_KEYS, END, RECORD, Question, Survey
from ivr.flows.visit import CONFIRM_KEYS, LANGUAGE_KEYS, LANGUAGE_MENU, NOT_ME, NOT_ME_PROMPT, VISIT_QUESTION
from ivr.log import getLogger
from ivr.manifest import SOUND_DIR
from ivr.models import TxStatus

log = getLogger(__name__)

MAX_REPLAYS = 3  # replay-key presses honoured per question; after that the key is invalid
MAX_STEPS = 50  # questions asked in one call at most, so a looping survey cannot hold a line
RECORDING_FORMAT = "wav"
RECORDING_STOP_KEYS = "#"
ANY_KEY = "".join(sorted(ALLOWED_KEYS))  # escape digits while a fragment of a question plays
# A key that ends a question's first prompt sooner than this after it was sent cannot answer
# it: nobody has heard the question yet. It is a key meant for what played before, arriving
# late (under load a key pressed in the gap between two prompts lands on the next one).
# The engine's default is the setting `early_key_s` (1.0 s); 0 turns the rule off.
MAX_EARLY = 2  # early keys ignored per question; after that a key counts whenever it comes

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Answered:
    """One answer as it is stored: which survey asked, what was pressed, what was played."""

    survey: str  # the definition's id
    version: int  # and its version
    question: str
    value: str  # the key pressed, or the recording's file for a record question
    prompts: tuple[str, ...]  # prompt ids played while asking, e.g. ("rating", "invalid", "rating")


SaveAnswer = Callable[[Answered], Awaitable[None]]
OptOut = Callable[[], Awaitable[None]]


@dataclass(slots=True)
class SurveyState:
    """How far a call got; read by the caller even when the citizen hangs up mid-way."""

    answers: dict[str, str] = field(default_factory=dict)
    current: str | None = None  # the question being asked, END once finished
    missed: set[str] = field(default_factory=set)  # required questions left unanswered
    opted_out: bool = False
    not_me: bool = False  # the visit confirmation was answered "not me": a shared or wrong phone

    def result(self, survey: Survey) -> TxStatus:
        """Return opted_out, unreachable ("not me"), completed or partial.

        Completed: every required question on the way was answered.

        From where the call stopped, the rest of the way is followed through the answers
        already given (a call-back may have answered them) and the no-answer branches: an
        unanswered required question on it makes the survey partial.
        """
        if self.opted_out:
            return TxStatus.OPTED_OUT
        if self.not_me:
            return TxStatus.UNREACHABLE  # the citizen who visited is not on this phone
        if self.missed:
            return TxStatus.PARTIAL
        qid = survey.start if self.current is None else self.current
        seen: set[str] = set()
        while qid != END:
            if qid in seen:
                return TxStatus.PARTIAL
            seen.add(qid)
            q = survey.question(qid)
            value = self.answers.get(qid)
            if value is not None:
                qid = q.target(value)
            elif q.required:
                return TxStatus.PARTIAL
            else:
                qid = q.no_answer
        return TxStatus.COMPLETED


@dataclass(frozen=True, slots=True)
class Asked:
    """What asking one key question came to."""

    key: str | None  # a valid key, or None (silence or invalid keys until tries ran out)
    prompts: tuple[str, ...]
    opted_out: bool = False


def sound(prompt_id: str) -> str:
    """Return the sound name Asterisk plays for a prompt (language comes from the channel)."""
    return f"{SOUND_DIR}/{prompt_id}"


def tries_for(survey: Survey, q: Question, default_tries: int) -> int:
    """Return how often a question is asked at most: once, plus its re-prompts."""
    if q.retries is not None:
        return q.retries + 1
    if survey.retries is not None:
        return survey.retries + 1
    return max(1, default_tries)


async def play(channel: Channel, prompt: str, escape_digits: str = "") -> str | None:
    """Play one prompt; a prompt that cannot be played is skipped with a warning naming it.

    A missing or unplayable sound file must never end a citizen's call: the survey goes on
    past it. A hang-up (CallerHungUp) still ends the call.
    """
    try:
        return await channel.stream_file(sound(prompt), escape_digits)
    except AGICommandError as exc:
        log.warning("prompt %s: cannot play it, skipped: %s", prompt, exc)
        return None


async def _get_key(channel: Channel, prompt: str, timeout_s: float) -> str:
    """Ask with one prompt and wait for a key; a prompt that cannot be played is skipped with
    a warning naming it, and the citizen is given the same time to press a key."""
    try:
        return await channel.get_digits(sound(prompt), 1, timeout_s)
    except AGICommandError as exc:
        log.warning("prompt %s: cannot play it, waiting for a key without it: %s", prompt, exc)
        return await channel.wait_for_digit(timeout_s) or ""


def is_early(elapsed_s: float, *, first_prompt: bool, early_key_s: float) -> bool:
    """Return True when a key cannot be an answer: it ended the question's first prompt too soon.

    Only the first prompt of a question is judged: a key at the start of a later fragment or
    of a repeat follows the question's own words. `elapsed_s` runs from sending the command to
    its result, so it includes the round trip to the PBX; early_key_s <= 0 turns the rule off.
    """
    return first_prompt and early_key_s > 0 and elapsed_s < early_key_s


async def _say(channel: Channel, preamble: Sequence[str], played: list[str],
               clock: Clock) -> tuple[str, float | None]:
    """Play prompts that lead up to a question; return a key pressed meanwhile, or "".

    Also returns how long they played before a key ended them, when it came within the
    first fragment's time for all we know (None when no key came). Several fragments go in
    one command (`Channel.stream_files`): no gap between them where a key is lost, and one
    wake-up instead of one each. If one of them cannot be played (missing in this language),
    they are played again one by one, so the warning names it and the call goes on past it.
    """
    if len(preamble) > 1:
        started = clock()
        try:
            key = await channel.stream_files([sound(p) for p in preamble])
        except AGICommandError as exc:
            log.warning("prompts %s: one cannot be played, playing them one by one: %s",
                        ", ".join(preamble), exc)
        else:
            played.extend(preamble)
            return (key, clock() - started) if key else ("", None)
    for i, prompt in enumerate(preamble):
        played.append(prompt)
        started = clock()
        key = await play(channel, prompt, ANY_KEY)
        if key:
            return key, (clock() - started if i == 0 else None)
    return "", None


async def ask(channel: Channel, survey: Survey, q: Question, *, tries: int,
              timeout_s: float, preamble: Sequence[str] = (), clock: Clock = time.monotonic,
              early_key_s: float = 0.0) -> Asked:
    """Ask one key question until a valid key, the opt-out key, or `tries` runs out.

    The replay key asks again without using up a try (MAX_REPLAYS times); an invalid key
    plays the survey's `invalid` prompt before the next try, silence just asks again.
    preamble: prompts played before the question's own on every try (a key cuts them short).
    A key that ends the question's very first prompt within `early_key_s` (`is_early`) is
    not taken as its answer: the question is asked again without using up a try (MAX_EARLY
    times). The opt-out key is honoured whenever it comes.
    """
    played: list[str] = []
    replays = 0
    early = 0
    n = 0
    while n < tries:
        first = n == 0 and replays == 0 and early < MAX_EARLY
        key, elapsed = await _say(channel, preamble, played, clock)
        if not key:
            played.append(q.prompt)
            started = clock()
            key = await _get_key(channel, q.prompt, timeout_s)
            elapsed = clock() - started if not preamble else None
        if key and key == survey.optout_key:
            return Asked(None, tuple(played), opted_out=True)
        if key and elapsed is not None and is_early(elapsed, first_prompt=first,
                                                    early_key_s=early_key_s):
            early += 1
            log.warning("question %s: key %r came %.2f s into its first prompt, too soon to "
                        "answer it (a late key from before?): asking again", q.id, key, elapsed)
            continue
        if key and key == survey.replay_key and replays < MAX_REPLAYS:
            replays += 1
            log.info("question %s: replay requested", q.id)
            continue
        n += 1
        if key in q.keys:  # a whole key, never a substring like '12'
            return Asked(key, tuple(played))
        log.info("question %s: %s (try %d of %d)", q.id,
                 f"invalid key {key!r}" if key else "no key", n, tries)
        if key and n < tries:
            played.append(survey.invalid)
            await play(channel, survey.invalid)
    return Asked(None, tuple(played))


def _answer(state: SurveyState, q: Question, value: str) -> None:
    """Record an answer in the state (the caller saves it)."""
    state.answers[q.id] = value
    state.missed.discard(q.id)


async def record(channel: Channel, survey: Survey, q: Question, name: str, save: SaveAnswer,
                 state: SurveyState) -> str | None:
    """Play the prompt and record the citizen; save and return the file, None if it failed.

    Asterisk writes `<astspooldir>/<name>-<question>.wav` on the PBX. A hang-up while
    recording still saves the answer (Asterisk keeps what was said) and then re-raises.
    """
    await play(channel, q.prompt)
    spool = await channel.get_variable(V.SPOOL_DIR)
    base = f"{name}-{q.id}"
    path = f"{spool.rstrip('/')}/{base}" if spool else base
    answered = Answered(survey.id, survey.version, q.id, f"{path}.{RECORDING_FORMAT}", (q.prompt,))
    try:
        await channel.record(path, RECORDING_FORMAT, RECORDING_STOP_KEYS, q.max_s, q.beep,
                             q.silence_s)
    except CallerHungUp:
        _answer(state, q, answered.value)
        await save(answered)
        raise
    except AGICommandError as exc:
        log.warning("question %s: recording failed, going on without it: %s", q.id, exc)
        return None
    _answer(state, q, answered.value)
    await save(answered)
    return answered.value


async def choose_language(channel: Channel, *, tries: int = 2, timeout_s: float = 5.0,
                          menu: Sequence[str] = ("ur", "pa", "en")) -> str | None:
    """Ask the citizen's language: 1 Urdu, 2 Punjabi, 3 English; None if no valid key came.

    The menu prompt is played once in each language, each saying its own option ("for
    Urdu press 1" in Urdu ...); a key cuts it short. Silence or an invalid key asks again,
    `tries` times in all. The caller falls back to its default language on None.
    """
    for n in range(1, tries + 1):
        key = ""
        for i, lang in enumerate(menu):
            await channel.set_variable(V.CHANNEL_LANGUAGE, lang)
            if i < len(menu) - 1:
                key = await play(channel, LANGUAGE_MENU, ANY_KEY) or ""
            else:
                key = await _get_key(channel, LANGUAGE_MENU, timeout_s)
            if key:
                break
        if key in LANGUAGE_KEYS:
            return LANGUAGE_KEYS[key]
        log.info("language menu: %s (try %d of %d)", f"invalid key {key!r}" if key else "no key",
                 n, tries)
    return None


async def _opted_out(channel: Channel, survey: Survey, state: SurveyState, where: str,
                     opt_out: OptOut | None) -> TxStatus:
    """Put the citizen on the do-not-call list, say so, and return opted_out."""
    log.info("question %s: opt-out key pressed", where)
    state.opted_out = True
    if opt_out is not None:
        await opt_out()
    await play(channel, survey.optout_prompt)
    return TxStatus.OPTED_OUT


def visit_question(prompt: str) -> Question:
    """Return the visit confirmation as a key question (1 correct, 2 not me; not required)."""
    return Question(id=VISIT_QUESTION, prompt=prompt, keys=CONFIRM_KEYS, required=False)


async def run_survey(channel: Channel, survey: Survey, save: SaveAnswer, state: SurveyState,
                     *, language: str, tries: int = 2, timeout_s: float = 5.0,
                     opt_out: OptOut | None = None, recording_name: str = "rabta",
                     visit: Sequence[str] = (), clock: Clock = time.monotonic,
                     early_key_s: float = 0.0, intro: Sequence[str] | None = None) -> TxStatus:
    """Play the intro, confirm the visit, walk the questions by their branches, thank.

    Returns the result. tries: how often a question is asked when its definition does not
    say (settings question_tries); recording_name: the start of recording file names (e.g.
    the attempt); visit: the confirmation's prompt ids (`ivr.flows.visit.visit_prompts`),
    asked after the intro when the survey has `confirm_visit`: "not me" (2) ends the call
    as unreachable, silence goes on with the questions. clock, early_key_s: see `ask`.
    intro: the prompts played first (default: the survey's; Survey.intro_for gives a
    transaction's, with its randomised arm's greeting).
    """
    await channel.set_variable(V.CHANNEL_LANGUAGE, language)
    for prompt in survey.intro if intro is None else intro:
        await play(channel, prompt)
    if survey.confirm_visit and visit:
        q = visit_question(visit[-1])
        asked = await ask(channel, survey, q, tries=tries_for(survey, q, tries),
                          timeout_s=timeout_s, preamble=visit[:-1], clock=clock,
                          early_key_s=early_key_s)
        if asked.opted_out:
            return await _opted_out(channel, survey, state, q.id, opt_out)
        if asked.key is not None:
            state.answers[q.id] = asked.key
            await save(Answered(survey.id, survey.version, q.id, asked.key, asked.prompts))
            if asked.key == NOT_ME:
                log.info("visit confirmation: not me (a shared or wrong phone)")
                state.not_me = True
                await play(channel, NOT_ME_PROMPT)
                return state.result(survey)
    qid = survey.start
    steps = 0
    while qid != END:
        if steps == MAX_STEPS:
            log.warning("survey %s: stopped after %d questions (a loop?)", survey.id, steps)
            break
        steps += 1
        state.current = qid
        q = survey.question(qid)
        if q.kind == RECORD:
            value = await record(channel, survey, q, recording_name, save, state)
            if value is None and q.required:
                state.missed.add(q.id)
            qid = q.then if value is not None else q.no_answer
            continue
        asked = await ask(channel, survey, q, tries=tries_for(survey, q, tries),
                          timeout_s=timeout_s, clock=clock, early_key_s=early_key_s)
        if asked.opted_out:
            return await _opted_out(channel, survey, state, q.id, opt_out)
        if asked.key is None:
            if q.required:
                state.missed.add(q.id)
            qid = q.no_answer
            continue
        _answer(state, q, asked.key)
        await save(Answered(survey.id, survey.version, q.id, asked.key, asked.prompts))
        qid = q.target(asked.key)
    if qid == END:
        state.current = END
    result = state.result(survey)
    await play(channel, survey.thanks)
    return result
