"""Carrier simulator: turns the phone book CSV into the dialplan of a second Asterisk.

The second Asterisk plays the citizens. Each phone book row becomes one extension in its
`rabta-sim-citizens` context; the key script is compiled to dialplan applications, so the
simulated citizen is pure Asterisk: real SIP, real RTP, RFC 4733 DTMF.

Phone book format (docs/ARCHITECTURE.md): `number,action,keys,ring_s,hangup_s`.
- action: answer | busy | no_answer | congestion | reject
- keys: a digit is pressed; `w` waits one second; `s` waits until the engine's prompt has
  begun (at most 2 s) and then finished (the line falls silent); `p` speaks (plays a short
  bundled Asterisk recording into the call, e.g. to answer a recorded-complaint question); `h`
  hangs up there and then.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ivr import phone
from ivr.errors import InputError, InvalidNumber

ACTIONS = ("answer", "busy", "no_answer", "congestion", "reject")
KEY_CHARS = frozenset("0123456789*#wshp")
COLUMNS = ("number", "action", "keys", "ring_s", "hangup_s")

# A citizen "waits for the question to end" as a person does: first for the engine to speak
# (100 ms of sound, waiting at most 2 s), then for it to stop (700 ms of silence, once, for at
# most 45 s: a greeting, the opt-out hint and an Urdu question together run past 20 s). Silence
# alone is not enough: past the knee the pause between one answer and the next question grows
# past 700 ms, and a citizen waiting only for silence pressed the next key into that pause,
# before hearing the question (the key was lost, and the one after answered the wrong question).
# Nobody answers a question they have not heard; after 2 s of dead air they press anyway.
WAIT_FOR_PROMPT_START = "WaitForNoise(100,1,2)"
WAIT_FOR_PROMPT_END = "WaitForSilence(700,1,45)"
DTMF_DURATION_MS = 250
# What a citizen "says" at `p`: a 3 s recording of speech in every Asterisk's core sounds
# ("weasels have eaten our phone system"), loud enough for a recording to be far from silent.
SPEECH_SOUND = "tt-weasels"
LINGER_S = 120  # after the script, the citizen stays on the line until the engine hangs up


@dataclass(frozen=True, slots=True)
class Citizen:
    """One simulated phone: what it does when called."""

    number: str  # E.164
    action: str
    keys: str = ""
    ring_s: float = 0.0
    hangup_s: float | None = None


def _number(raw: str) -> float:
    return float(raw) if raw.strip() else 0.0


def parse_phonebook(text: str, source: str = "phonebook") -> list[Citizen]:
    """Parse a phone book CSV; raise InputError listing every bad row with its line."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in COLUMNS[:2] if c not in (reader.fieldnames or [])]
    if missing:
        raise InputError(f"{source}: missing column(s): {', '.join(missing)}")
    citizens: list[Citizen] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        try:
            number = phone.normalize(row.get("number") or "")
        except InvalidNumber as exc:
            errors.append(f"{source}:{line}: number: {exc}")
            continue
        action = (row.get("action") or "").strip().lower()
        keys = (row.get("keys") or "").strip().lower()
        if action not in ACTIONS:
            errors.append(f"{source}:{line}: action: {action!r} is not one of {', '.join(ACTIONS)}")
            continue
        bad = sorted(set(keys) - KEY_CHARS)
        if bad:
            errors.append(f"{source}:{line}: keys: unknown key(s) {''.join(bad)!r}")
            continue
        try:
            ring_s = _number(row.get("ring_s") or "")
            hangup_raw = (row.get("hangup_s") or "").strip()
            hangup_s = float(hangup_raw) if hangup_raw else None
        except ValueError:
            errors.append(f"{source}:{line}: ring_s/hangup_s: not a number")
            continue
        if not math.isfinite(ring_s) or (hangup_s is not None and not math.isfinite(hangup_s)):
            errors.append(f"{source}:{line}: ring_s/hangup_s: must be a finite number")
            continue
        if ring_s < 0 or (hangup_s is not None and hangup_s <= 0):
            errors.append(f"{source}:{line}: ring_s/hangup_s: must be positive")
            continue
        if number in seen:
            errors.append(f"{source}:{line}: number: same citizen as line {seen[number]}")
            continue
        seen[number] = line
        citizens.append(Citizen(number, action, keys, ring_s, hangup_s))
    if errors:
        raise InputError("phone book has errors:\n" + "\n".join(errors))
    return citizens


def load_phonebook(path: Path) -> list[Citizen]:
    """Read and parse a phone book file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read phone book: {exc.strerror}") from None
    return parse_phonebook(text, str(path))


def _steps(c: Citizen) -> list[str]:
    """Compile one citizen's behaviour into dialplan applications, in order."""
    steps: list[str] = []
    if c.action == "busy":
        return ["Busy(10)"]
    if c.action == "congestion":
        return ["Congestion(10)"]
    if c.action == "reject":
        return ["Hangup(21)"]  # call rejected: SIP 403
    steps.append("Ringing()")
    if c.action == "no_answer":
        # Rings until the caller gives up, or ring_s then "no answer" (SIP 480).
        return [*steps, f"Wait({c.ring_s or 3600:g})", "Hangup(19)"]
    if c.ring_s:
        steps.append(f"Wait({c.ring_s:g})")
    steps.append("Answer()")
    if c.hangup_s:
        steps.append(f"Set(TIMEOUT(absolute)={c.hangup_s:g})")
    for key in c.keys:
        if key == "w":
            steps.append("Wait(1)")
        elif key == "s":
            steps += [WAIT_FOR_PROMPT_START, WAIT_FOR_PROMPT_END]
        elif key == "p":
            steps.append(f"Playback({SPEECH_SOUND})")
        elif key == "h":
            steps.append("Hangup(16)")
            return steps
        else:
            steps.append(f"SendDTMF({key},{DTMF_DURATION_MS})")
    steps.append(f"Wait({LINGER_S})")
    steps.append("Hangup(16)")
    return steps


def render_dialplan(citizens: Iterable[Citizen]) -> str:
    """Render the phone book as extensions for the rabta-sim-citizens context."""
    out = ["; Rendered from the phone book by Rabta. Edit the CSV, not this file."]
    for c in citizens:
        steps = _steps(c)
        for exten in (phone.digits(c.number), phone.national(c.number)):
            out.append(f"exten => {exten},1,NoOp(citizen {c.action} {c.keys})")
            out.extend(f" same => n,{step}" for step in steps)
    return "\n".join(out) + "\n"
