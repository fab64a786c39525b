"""Flows, survey: the questions of a call and the runner that asks them over a Channel.

The runner speaks only the Channel protocol (stream_file, get_digits, set_variable...), so the
same flow runs over our FastAGI server, a classic AGI script, or a scripted fake in unit tests.
Each answer is handed to `save` the moment it is given, so a hang-up keeps what was answered.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ivr.asterisk import variables as V
from ivr.asterisk.agi.channel import Channel
from ivr.audio import SOUND_DIR
from ivr.models import TxStatus

log = logging.getLogger(__name__)

SaveAnswer = Callable[[str, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Question:
    """One key-press question."""

    id: str  # the answer's key in the store and in exports, e.g. "rating"
    prompt: str  # prompt id in prompts/manifest.toml
    valid: str  # the keys that answer it, e.g. "12345"


@dataclass(frozen=True, slots=True)
class Survey:
    """A whole call: greeting, questions, thanks."""

    name: str
    greeting: str
    questions: tuple[Question, ...]
    invalid: str = "invalid"
    thanks: str = "thanks"


DEFAULT_SURVEY = Survey(
    name="default",
    greeting="greeting",
    questions=(
        Question("rating", "rating", "12345"),  # 1 very poor .. 5 excellent
        Question("bribe", "bribe", "12"),  # 1 yes, 2 no
    ),
)


@dataclass(slots=True)
class SurveyState:
    """How far a call got; read by the caller even when the citizen hangs up mid-way."""

    answers: dict[str, str] = field(default_factory=dict)

    def result(self, survey: Survey) -> TxStatus:
        """Return completed if every question was answered, else partial."""
        done = all(q.id in self.answers for q in survey.questions)
        return TxStatus.COMPLETED if done else TxStatus.PARTIAL


def sound(prompt_id: str) -> str:
    """Return the sound name Asterisk plays for a prompt (language comes from the channel)."""
    return f"{SOUND_DIR}/{prompt_id}"


async def ask(channel: Channel, q: Question, *, tries: int, timeout_s: float,
              invalid_prompt: str) -> str | None:
    """Ask one question until a valid key or `tries` runs out; return the key or None."""
    for n in range(1, tries + 1):
        key = await channel.get_digits(sound(q.prompt), 1, timeout_s)
        if key and key in set(q.valid):  # a whole key, never a substring like '12'
            return key
        log.info("question %s: %s (try %d of %d)", q.id,
                 f"invalid key {key!r}" if key else "no key", n, tries)
        if key and n < tries:
            await channel.stream_file(sound(invalid_prompt))
    return None


async def run_survey(channel: Channel, survey: Survey, save: SaveAnswer, state: SurveyState,
                     *, language: str, tries: int = 2, timeout_s: float = 5.0) -> TxStatus:
    """Play the greeting, ask every question, thank; return completed or partial."""
    await channel.set_variable("CHANNEL(language)", language)
    await channel.stream_file(sound(survey.greeting))
    for q in survey.questions:
        key = await ask(channel, q, tries=tries, timeout_s=timeout_s,
                        invalid_prompt=survey.invalid)
        if key is not None:
            state.answers[q.id] = key
            await save(q.id, key)
    result = state.result(survey)
    await channel.set_variable(V.RESULT, result.value)
    await channel.stream_file(sound(survey.thanks))
    return result
