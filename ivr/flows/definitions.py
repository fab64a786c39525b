"""Flows, definitions: survey definitions as data, one TOML file per service in `surveys/`.

Stage: before any call. `rabta survey check` and the engine's start read these files, check
them against the prompt manifest, and turn each into a frozen `Survey` that the runner
(`ivr.flows.survey`) walks. Every problem is reported as ``file:line: what is wrong``: TOML
syntax errors (duplicate keys included) with the line tomllib gives, semantic errors with the
line of the offending table or key, found by a simple scan of the source text.

Pure: parsing and checking take text and return values; only `load_file`, `check_files` and
`load_surveys` read files. The format is described in docs/SURVEYS.md.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.errors import ConfigError, FlowError
from ivr.flows.visit import FIXED_PROMPTS, day_prompt, month_prompt
from ivr.manifest import load_manifest

SURVEYS_DIR = Path(__file__).resolve().parents[2] / "surveys"
END = "end"  # the branch target that finishes the survey
DEFAULT_ID = "default"  # the survey for every service no other survey names
KEYS = "keys"  # a question answered with one key press
RECORD = "record"  # a question answered by speaking: Asterisk records it to a file
ALLOWED_KEYS = frozenset("0123456789*#")  # what a citizen's phone can send (no A-D)
MAX_RETRIES = 5
MAX_RECORD_S = 600.0

_SURVEY_FIELDS = frozenset({
    "id", "version", "title", "service", "services", "intro", "thanks", "invalid",
    "replay_key", "optout_key", "optout_prompt", "retries", "confirm_visit", "questions",
    "greeting_experiment", "greeting_arms"})
_COMMON_FIELDS = frozenset({"id", "prompt", "type", "next", "no_answer", "required", "label"})
_KEY_FIELDS = _COMMON_FIELDS | {"keys", "retries"}
_RECORD_FIELDS = _COMMON_FIELDS | {"max_seconds", "silence_seconds", "beep"}
_SURVEY_ID = re.compile(r"[a-z][a-z0-9_-]{0,63}")
_QUESTION_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")  # the answer's key in the store and exports
# An experiment's and an arm's names, as ivr/accountability/arms.py checks them (kept apart
# so that a call's flow imports nothing of the statistics; a unit test checks they agree).
EXPERIMENT_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
ARM_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


@dataclass(frozen=True, slots=True)
class Question:
    """One question: a key press (`keys`) or a spoken answer recorded to a file (`record`)."""

    id: str
    prompt: str  # prompt id in prompts/manifest.toml
    kind: str = KEYS
    keys: Mapping[str, str] = field(default_factory=dict)  # key -> label ("1" -> "very poor")
    next: Mapping[str, str] = field(default_factory=dict)  # key -> question id or "end"
    then: str = END  # after any key not in `next`, and after a recording
    no_answer: str = END  # after no valid key (tries used up), or a recording that failed
    required: bool = True  # unanswered makes the survey partial (and earns a call-back)
    retries: int | None = None  # re-prompts; None: the survey's, else settings.question_tries - 1
    max_s: float = 60.0  # record: longest recording
    silence_s: int | None = 4  # record: stop after this much silence; None: never
    beep: bool = True  # record: beep before recording
    label: str = ""  # what officials read for the question ("Rating"); "" : the id

    def target(self, value: str) -> str:
        """Return where the survey goes after this answer: a question id or "end"."""
        if self.kind == RECORD:
            return self.then
        return self.next.get(value, self.then)

    def targets(self) -> set[str]:
        """Return every place this question can lead to."""
        if self.kind == RECORD:
            return {self.then, self.no_answer}
        out = {self.next.get(k, self.then) for k in self.keys}
        out.add(self.no_answer)
        return out


@dataclass(frozen=True, slots=True)
class Survey:
    """A whole call: intro prompts, questions (the first is asked first), thanks."""

    id: str
    version: int
    services: tuple[str, ...]
    questions: tuple[Question, ...]
    title: str = ""
    intro: tuple[str, ...] = ("greeting",)
    thanks: str = "thanks"
    invalid: str = "invalid"
    replay_key: str = ""  # "" : no replay key
    optout_key: str = ""  # "" : no opt-out key
    optout_prompt: str = "optout-confirm"
    retries: int | None = None
    confirm_visit: bool = False  # ask "you visited <office> on <date>...; 1 correct, 2 not me" first
    # A randomised experiment (rabta experiments) whose arm picks the greeting: the intro's
    # first prompt is replaced by greeting_arms[arm] (a transaction without a listed arm
    # hears the intro as written).
    greeting_experiment: str = ""
    greeting_arms: Mapping[str, str] = field(default_factory=dict)  # arm -> prompt id
    source: str = field(default="", compare=False)  # the file it came from
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)  # "id", "services"

    @property
    def start(self) -> str:
        """Return the id of the first question."""
        return self.questions[0].id

    def question(self, question_id: str) -> Question:
        """Return a question by id; FlowError if there is none."""
        for q in self.questions:
            if q.id == question_id:
                return q
        raise FlowError(f"survey {self.id}: no question {question_id!r}")

    def intro_for(self, arms: Mapping[str, str]) -> tuple[str, ...]:
        """Return the intro for a transaction with these arms (experiment -> arm): the first
        prompt replaced by its arm's greeting where the survey names one."""
        variant = self.greeting_arms.get(arms.get(self.greeting_experiment, "")) \
            if self.greeting_experiment else None
        if variant is None or not self.intro:
            return self.intro
        return (variant, *self.intro[1:])

    def prompt_ids(self) -> set[str]:
        """Return every prompt id the survey may play."""
        ids = {*self.intro, self.thanks, self.invalid, *(q.prompt for q in self.questions),
               *self.greeting_arms.values()}
        if self.optout_key:
            ids.add(self.optout_prompt)
        if self.confirm_visit:
            ids |= visit_fragments()
        return ids


def visit_fragments() -> frozenset[str]:
    """Return the prompts of the language menu and the visit confirmation (offices and services
    have optional fragments of their own, not listed here)."""
    return FIXED_PROMPTS | {day_prompt(d) for d in range(1, 32)} | {month_prompt(m) for m in range(1, 13)}


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One thing wrong with a definition, where it is."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        if self.line < 1:  # about a directory, not one file
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class SurveyBook:
    """Every loaded survey, picked per service (the `default` survey for any other)."""

    surveys: Mapping[str, Survey]

    def for_service(self, service: str) -> Survey:
        """Return the survey for a service, or the default one."""
        for s in self.surveys.values():
            if service in s.services:
                return s
        try:
            return self.surveys[DEFAULT_ID]
        except KeyError:
            raise FlowError(f"no survey for service {service!r} and no {DEFAULT_ID!r} survey") from None


# ---------------------------------------------------------------------------- source lines


_HEADER = re.compile(r"\s*(\[\[?)\s*([^\]\[]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY_NAME = r"""("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)"""
_KEY_LINE = re.compile(rf"\s*{_KEY_NAME}\s*=(.*)$")
_INLINE_KEY = re.compile(rf"[{{,]\s*{_KEY_NAME}\s*=")
_TOML_AT = re.compile(r"^(?P<msg>.*) \(at (?:line (?P<line>\d+), column (?P<col>\d+)|end of document)\)$")

Loc = tuple[str | int, ...]


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        return name[1:-1]
    return name


class SourceIndex:
    """The line where each table and key of a TOML text first appears.

    Paths follow the parsed data: ``("questions", 1, "keys", "3")`` is key "3" of the keys
    of the second ``[[questions]]``. Enough for pointing at a problem: keys in inline tables
    map to their line, dotted keys and exotic quoting fall back to their enclosing table.
    """

    def __init__(self, text: str) -> None:
        self._lines: dict[Loc, int] = {}
        self.last_line = max(1, len(text.splitlines()))
        counts: dict[Loc, int] = {}
        current: Loc = ()
        multiline = ""
        for n, line in enumerate(text.splitlines(), 1):
            if multiline:
                if line.count(multiline) % 2 == 1:
                    multiline = ""
                continue
            header = _HEADER.match(line)
            if header:
                names = [_unquote(p) for p in header[2].split(".")]
                current = self._resolve(names, counts, n, array=header[1] == "[[")
                self._lines.setdefault(current, n)
                continue
            key = _KEY_LINE.match(line)
            if not key:
                continue
            path = (*current, _unquote(key[1]))
            self._lines.setdefault(path, n)
            value = key[2]
            for quote in ('"""', "'''"):
                if value.count(quote) % 2 == 1:
                    multiline = quote
            if value.lstrip().startswith("{"):
                for inner in _INLINE_KEY.finditer(value.lstrip()):
                    self._lines.setdefault((*path, _unquote(inner[1])), n)

    def _resolve(self, names: list[str], counts: dict[Loc, int], n: int, *, array: bool) -> Loc:
        """Turn a header's names into a data path, with the index of each array of tables."""
        path: Loc = ()
        for i, name in enumerate(names):
            path = (*path, name)
            last = i == len(names) - 1
            if last and array:
                counts[path] = counts.get(path, 0) + 1
                self._lines.setdefault(path, n)
                return (*path, counts[path] - 1)
            if path in counts:  # an array of tables: the header means its latest element
                path = (*path, counts[path] - 1)
        return path

    def line(self, path: Loc) -> int:
        """Return the line of the path, or of its nearest enclosing table or key (else 1)."""
        for end in range(len(path), 0, -1):
            found = self._lines.get(path[:end])
            if found:
                return found
        return 1


# ---------------------------------------------------------------------------- checking


class _Checker:
    """Collects the problems of one definition while turning it into a Survey."""

    def __init__(self, source: str, text: str, prompts: Collection[str] | None) -> None:
        self.source = source
        self.index = SourceIndex(text)
        self.prompts = prompts
        self.problems: list[Problem] = []

    def error(self, path: Loc, message: str) -> None:
        self.problems.append(Problem(self.source, self.index.line(path), message))

    # -- typed field readers (None when wrong, after reporting it) --

    def string(self, data: Mapping[str, Any], key: str, path: Loc, *, default: str | None = None,
               pattern: re.Pattern[str] | None = None) -> str | None:
        if key not in data:
            if default is None:
                self.error(path, f"missing `{key}`")
            return default
        value = data[key]
        if not isinstance(value, str) or not value.strip():
            self.error((*path, key), f"`{key}` must be a non-empty string")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.error((*path, key), f"`{key}` {value!r} must be lower case letters, digits and _ "
                                     f"(starting with a letter)")
            return None
        return value

    def integer(self, data: Mapping[str, Any], key: str, path: Loc, low: int,
                high: int) -> int | None:
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.error((*path, key), f"`{key}` must be a whole number from {low} to {high}")
            return None
        return value

    def prompt(self, value: Any, path: Loc, what: str) -> str:
        if not isinstance(value, str) or not value:
            self.error(path, f"{what} must be a prompt id (a string)")
            return ""
        if self.prompts is not None and value not in self.prompts:
            self.error(path, f"unknown prompt {value!r} in {what} (not in prompts/manifest.toml)")
        return value

    def key(self, data: Mapping[str, Any], name: str) -> str:
        if name not in data:
            return ""
        value = data[name]
        if not isinstance(value, str) or value not in ALLOWED_KEYS:
            self.error((name,), f"`{name}` must be one key: 0-9, * or #")
            return ""
        return value

    def unknown(self, data: Mapping[str, Any], allowed: frozenset[str], path: Loc,
                where: str) -> None:
        for name in data:
            if name not in allowed:
                self.error((*path, name), f"unknown field `{name}` in {where} "
                                          f"(allowed: {', '.join(sorted(allowed))})")


def _toml_problem(source: str, text: str, exc: tomllib.TOMLDecodeError) -> Problem:
    """Turn a tomllib error into file:line: message, naming a duplicate key when it is one."""
    match = _TOML_AT.match(str(exc))
    if not match:
        return Problem(source, 1, f"not valid TOML: {exc}")
    msg = match["msg"]
    line = int(match["line"]) if match["line"] else max(1, len(text.splitlines()))
    if msg == "Cannot overwrite a value":
        lines = text.splitlines()
        key = _KEY_LINE.match(lines[line - 1]) if 0 < line <= len(lines) else None
        name = f" `{_unquote(key[1])}`" if key else ""
        msg = f"duplicate key{name}: it is already set in this table"
    elif msg.startswith("Duplicate inline table key"):
        msg = "duplicate key" + msg.removeprefix("Duplicate inline table key") + " in an inline table"
    elif msg.startswith("Cannot declare") and msg.endswith("twice"):
        msg = f"duplicate table: {msg}"
    else:
        msg = f"not valid TOML: {msg}"
    return Problem(source, line, msg)


def parse_survey(text: str, source: str, prompts: Collection[str] | None = None, *,
                 stem: str | None = None) -> tuple[Survey | None, list[Problem]]:
    """Parse and check one definition; return the survey (None if broken) and its problems.

    prompts: the prompt ids that exist (None: do not check); stem: the file name without
    `.toml`, which the survey's `id` must equal.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return None, [_toml_problem(source, text, exc)]
    c = _Checker(source, text, prompts)
    c.unknown(data, _SURVEY_FIELDS, (), "the survey")

    sid = c.string(data, "id", (), pattern=_SURVEY_ID)
    if sid is not None and stem is not None and sid != stem:
        c.error(("id",), f"id {sid!r} must match the file name ({stem}.toml)")
    version = c.integer(data, "version", (), 1, 10**9) if "version" in data else None
    if "version" not in data:
        c.error((), "missing `version` (a whole number; raise it whenever the questions change)")
    title = c.string(data, "title", (), default="") or ""
    services = _services(c, data, sid)

    intro_raw = data.get("intro", ["greeting"])
    if not isinstance(intro_raw, list):
        c.error(("intro",), "`intro` must be a list of prompt ids")
        intro_raw = []
    intro = tuple(c.prompt(p, ("intro",), "intro") for p in intro_raw)
    thanks = c.prompt(data.get("thanks", "thanks"), ("thanks",), "thanks")
    invalid = c.prompt(data.get("invalid", "invalid"), ("invalid",), "invalid")
    replay_key = c.key(data, "replay_key")
    optout_key = c.key(data, "optout_key")
    if replay_key and replay_key == optout_key:
        c.error(("optout_key",), f"optout_key {optout_key!r} is also the replay_key")
    optout_prompt = "optout-confirm"
    if "optout_prompt" in data or optout_key:
        optout_prompt = c.prompt(data.get("optout_prompt", optout_prompt), ("optout_prompt",),
                                 "optout_prompt")
    retries = c.integer(data, "retries", (), 0, MAX_RETRIES) if "retries" in data else None
    confirm_visit = data.get("confirm_visit", False)
    if not isinstance(confirm_visit, bool):
        c.error(("confirm_visit",), "`confirm_visit` must be true or false")
        confirm_visit = False
    elif confirm_visit and prompts is not None:
        missing = sorted(visit_fragments() - set(prompts))
        if missing:
            c.error(("confirm_visit",), f"confirm_visit needs prompts not in prompts/manifest.toml: "
                                       f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}")

    experiment, greeting_arms = _greeting_arms(c, data, intro)
    questions = _questions(c, data, {"replay_key": replay_key, "optout_key": optout_key})
    if questions:
        _check_graph(c, questions)
    if c.problems or sid is None or version is None or not questions:
        return None, sorted(c.problems)
    survey = Survey(
        id=sid, version=version, services=services, questions=tuple(questions), title=title,
        intro=intro, thanks=thanks, invalid=invalid, replay_key=replay_key,
        optout_key=optout_key, optout_prompt=optout_prompt, retries=retries,
        confirm_visit=confirm_visit, greeting_experiment=experiment,
        greeting_arms=greeting_arms, source=source,
        lines={"id": c.index.line(("id",)),
               "services": c.index.line(("services",) if "services" in data else ("service",)),
               "greeting_arms": c.index.line(("greeting_arms",)) if greeting_arms else 0})
    return survey, []


def _greeting_arms(c: _Checker, data: Mapping[str, Any], intro: tuple[str, ...]
                   ) -> tuple[str, dict[str, str]]:
    """Read `greeting_experiment` and `greeting_arms` (both or neither): the experiment's
    name, and per arm the prompt played in place of the intro's first."""
    if "greeting_experiment" not in data and "greeting_arms" not in data:
        return "", {}
    if "greeting_arms" not in data:
        c.error(("greeting_experiment",), "`greeting_experiment` needs `greeting_arms` "
                                          "(arm = prompt id, e.g. { warm = \"greeting-warm\" })")
        return "", {}
    name = c.string(data, "greeting_experiment", (), pattern=EXPERIMENT_NAME) or ""
    if name == "first_call":
        c.error(("greeting_experiment",), "first_call's arms are call delays, not greetings")
    if not intro:
        c.error(("greeting_arms",), "`greeting_arms` replaces the intro's first prompt, "
                                    "but `intro` is empty")
    raw = data["greeting_arms"]
    if not isinstance(raw, dict) or not raw:
        c.error(("greeting_arms",), "`greeting_arms` must be a table: arm = prompt id")
        return name, {}
    arms = {}
    for arm, prompt in raw.items():
        if not ARM_NAME.fullmatch(arm):
            c.error(("greeting_arms", arm), f"arm {arm[:40]!r}: letters, digits, '_', '.', '-' "
                                            "(at most 40), as `rabta experiments start` takes")
            continue
        arms[arm] = c.prompt(prompt, ("greeting_arms", arm), f"greeting_arms.{arm}")
    return name, arms


def arm_problems(survey: Survey, experiments: Mapping[str, Sequence[str]]) -> list[Problem]:
    """Check a survey's greeting arms against the experiments started (name -> arms): every
    arm of its experiment has a greeting and every greeting is an arm's. An experiment not
    started yet is no problem (the intro plays as written until it is)."""
    arms = experiments.get(survey.greeting_experiment) if survey.greeting_experiment else None
    if arms is None:
        return []
    line = survey.lines.get("greeting_arms", 0)
    out = [Problem(survey.source, line, f"arm {a!r} of experiment {survey.greeting_experiment!r} "
                                        "has no greeting in greeting_arms")
           for a in arms if a not in survey.greeting_arms]
    out += [Problem(survey.source, line, f"greeting_arms.{a}: experiment "
                                         f"{survey.greeting_experiment!r} has no arm {a!r} "
                                         f"(its arms: {', '.join(arms)})")
            for a in survey.greeting_arms if a not in arms]
    return out


def _services(c: _Checker, data: Mapping[str, Any], sid: str | None) -> tuple[str, ...]:
    if "service" in data and "services" in data:
        c.error(("services",), "give either `service` or `services`, not both")
        return ()
    raw: Any = [data["service"]] if "service" in data else data.get("services", [])
    key = "service" if "service" in data else "services"
    if not isinstance(raw, list) or not all(isinstance(s, str) and s.strip() for s in raw):
        c.error((key,), f"`{key}` must be a list of service names (strings)")
        return ()
    if len(set(raw)) != len(raw):
        c.error((key,), f"`{key}` names a service twice")
    if not raw and sid is not None and sid != DEFAULT_ID:
        c.error((), f"missing `services`: only the {DEFAULT_ID!r} survey may name none")
    return tuple(raw)


def _questions(c: _Checker, data: Mapping[str, Any], reserved: Mapping[str, str]) -> list[Question]:
    raw = data.get("questions")
    if raw is None:
        c.error((), "no questions: add at least one [[questions]] table")
        return []
    if not isinstance(raw, list) or not raw or not all(isinstance(q, dict) for q in raw):
        c.error(("questions",), "`questions` must be [[questions]] tables, at least one")
        return []
    ids: list[str | None] = []
    for i, q in enumerate(raw):
        qid = c.string(q, "id", ("questions", i), pattern=_QUESTION_ID)
        if qid == END:
            c.error(("questions", i, "id"), f"{END!r} is reserved: it is where the survey finishes")
            qid = None
        if qid is not None and qid in ids:
            c.error(("questions", i, "id"), f"duplicate question id {qid!r}")
        ids.append(qid)
    known = {q for q in ids if q is not None}
    out = []
    for i, q in enumerate(raw):
        following = (ids[i + 1] or END) if i + 1 < len(ids) else END
        question = _question(c, q, i, ids[i], following, known, reserved)
        if question is not None:
            out.append(question)
    return out if len(out) == len(raw) else []


def _target(c: _Checker, value: Any, path: Loc, known: set[str], qid: str) -> str | None:
    if not isinstance(value, str):
        c.error(path, "a branch must be a question id or \"end\"")
        return None
    if value != END and value not in known:
        c.error(path, f"question {qid!r} branches to {value!r}, which is not a question "
                      f"(known: {', '.join(sorted(known))}, or \"end\")")
        return None
    return value


def _question(c: _Checker, q: Mapping[str, Any], i: int, qid: str | None, following: str,
              known: set[str], reserved: Mapping[str, str]) -> Question | None:
    at: Loc = ("questions", i)
    before = len(c.problems)
    name = qid or f"#{i + 1}"
    kind = q.get("type", KEYS)
    if kind not in (KEYS, RECORD):
        c.error((*at, "type"), f"question {name!r}: `type` must be {KEYS!r} or {RECORD!r}")
        return None
    c.unknown(q, _KEY_FIELDS if kind == KEYS else _RECORD_FIELDS, at, f"{kind} question {name!r}")
    prompt = c.prompt(q["prompt"], (*at, "prompt"), f"question {name!r}") if "prompt" in q else ""
    if "prompt" not in q:
        c.error(at, f"question {name!r}: missing `prompt`")
    required = q.get("required", True)
    if not isinstance(required, bool):
        c.error((*at, "required"), "`required` must be true or false")
    q_label = q.get("label", "")
    if not isinstance(q_label, str) or len(q_label) > 80:
        c.error((*at, "label"), f"question {name!r}: `label` must be text (at most 80 "
                                f"characters), e.g. label = \"Rating\"")

    keys: dict[str, str] = {}
    if kind == KEYS:
        raw_keys = q.get("keys")
        if not isinstance(raw_keys, dict) or not raw_keys:
            c.error((*at, "keys") if "keys" in q else at,
                    f"question {name!r}: `keys` must map each key to its label, "
                    f"e.g. keys = {{ \"1\" = \"yes\", \"2\" = \"no\" }}")
        else:
            for key, label in raw_keys.items():
                where = (*at, "keys", key)
                if key not in ALLOWED_KEYS:
                    c.error(where, f"question {name!r}: key {key!r} must be one of 0-9, * or #")
                elif not isinstance(label, str) or not label.strip():
                    c.error(where, f"question {name!r}: key {key!r} needs a label (a string)")
                for role, special in reserved.items():
                    if special and key == special:
                        c.error(where, f"question {name!r}: key {key!r} clashes with the "
                                       f"survey's {role}")
                keys[key] = str(label)

    then = following
    branches: dict[str, str] = {}
    raw_next = q.get("next")
    if isinstance(raw_next, str):
        then = _target(c, raw_next, (*at, "next"), known, name) or END
    elif isinstance(raw_next, dict) and kind == KEYS:
        for key, value in raw_next.items():
            if key not in keys:
                c.error((*at, "next", key), f"question {name!r}: `next` has key {key!r}, "
                                            f"which is not one of its keys")
                continue
            target = _target(c, value, (*at, "next", key), known, name)
            if target is not None:
                branches[key] = target
    elif raw_next is not None:
        c.error((*at, "next"), f"question {name!r}: `next` must be a question id, \"end\""
                               + (", or a table of key = question id" if kind == KEYS else ""))
    no_answer = then
    if "no_answer" in q:
        no_answer = _target(c, q["no_answer"], (*at, "no_answer"), known, name) or END

    retries = (c.integer(q, "retries", at, 0, MAX_RETRIES) if "retries" in q else None)
    max_s, silence_s, beep = 60.0, 4, True
    if kind == RECORD:
        raw_max = q.get("max_seconds", max_s)
        if isinstance(raw_max, bool) or not isinstance(raw_max, int | float) \
                or not 0 < raw_max <= MAX_RECORD_S:
            c.error((*at, "max_seconds"), f"`max_seconds` must be a number of seconds, "
                                          f"above 0 and at most {MAX_RECORD_S:g}")
        else:
            max_s = float(raw_max)
        if "silence_seconds" in q:
            silence_s = c.integer(q, "silence_seconds", at, 0, 60) or 0
        raw_beep = q.get("beep", True)
        if not isinstance(raw_beep, bool):
            c.error((*at, "beep"), "`beep` must be true or false")
        else:
            beep = raw_beep
    if len(c.problems) > before or qid is None:
        return None
    return Question(id=qid, prompt=prompt, kind=kind, keys=keys, next=branches, then=then,
                    no_answer=no_answer, required=bool(required), retries=retries, max_s=max_s,
                    silence_s=silence_s or None, beep=beep,
                    label=q_label.strip() if isinstance(q_label, str) else "")


def _check_graph(c: _Checker, questions: Sequence[Question]) -> None:
    """Every question must be reachable from the first, and every one must reach "end"."""
    where = {q.id: ("questions", i) for i, q in enumerate(questions)}
    edges = {q.id: q.targets() for q in questions}
    reached: set[str] = set()
    todo = [questions[0].id]
    while todo:
        qid = todo.pop()
        if qid in reached or qid == END:
            continue
        reached.add(qid)
        todo.extend(edges[qid])
    for q in questions:
        if q.id not in reached:
            c.error(where[q.id], f"question {q.id!r} is never asked: no branch leads to it")
    if not any(END in targets for targets in edges.values()):
        c.error(where[questions[0].id], "the survey has no exit: no question leads to \"end\"")
        return
    can_end = {END}
    changed = True
    while changed:
        changed = False
        for qid, targets in edges.items():
            if qid not in can_end and targets & can_end:
                can_end.add(qid)
                changed = True
    for q in questions:
        if q.id in reached and q.id not in can_end:
            leads = ", ".join(sorted(edges[q.id]))
            c.error(where[q.id], f"question {q.id!r} never reaches \"end\": it only leads to "
                                 f"{leads}, a loop with no way out")


# ---------------------------------------------------------------------------- files


def known_prompts() -> frozenset[str]:
    """Return the prompt ids of prompts/manifest.toml."""
    return frozenset(p.id for p in load_manifest())


def display(path: Path) -> str:
    """Return the path relative to the working directory when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def load_file(path: Path, prompts: Collection[str] | None = None) -> tuple[Survey | None, list[Problem]]:
    """Read and check one definition file."""
    source = display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(source, 1, f"cannot read: {exc}")]
    return parse_survey(text, source, prompts, stem=path.stem)


def survey_files(directory: Path = SURVEYS_DIR) -> list[Path]:
    """Return the definition files of a directory, sorted."""
    return sorted(directory.glob("*.toml"))


def check_surveys(surveys: Iterable[Survey], *, require_default: bool,
                  where: str = "") -> list[Problem]:
    """Check surveys against each other: unique ids, each service in one survey, a default."""
    problems = []
    ids: dict[str, Survey] = {}
    services: dict[str, Survey] = {}
    for s in surveys:
        if s.id in ids:
            problems.append(Problem(s.source, s.lines.get("id", 1),
                                    f"survey id {s.id!r} is also used by {ids[s.id].source}"))
        ids.setdefault(s.id, s)
        for service in s.services:
            if service in services:
                problems.append(Problem(
                    s.source, s.lines.get("services", 1),
                    f"service {service!r} is also taken by {services[service].source}: "
                    f"a service has one survey"))
            services.setdefault(service, s)
    if require_default and DEFAULT_ID not in ids:
        problems.append(Problem(where or "surveys", 0,
                                f"no {DEFAULT_ID}.toml: the survey for every other service"))
    return problems


def check_files(paths: Sequence[Path], prompts: Collection[str] | None = None, *,
                require_default: bool = False) -> tuple[list[Survey], list[Problem]]:
    """Read and check definition files, alone and against each other."""
    surveys, problems = [], []
    for path in paths:
        survey, found = load_file(path, prompts)
        problems.extend(found)
        if survey is not None:
            surveys.append(survey)
    where = display(paths[0].parent) if paths else ""
    problems.extend(check_surveys(surveys, require_default=require_default, where=where))
    return surveys, problems


def load_surveys(directory: Path = SURVEYS_DIR,
                 prompts: Collection[str] | None = None) -> SurveyBook:
    """Load every survey of a directory; FlowError listing every problem if any is broken."""
    paths = survey_files(directory)
    if not paths:
        raise ConfigError(f"{directory}: no survey definitions (*.toml)")
    if prompts is None:
        prompts = known_prompts()
    surveys, problems = check_files(paths, prompts, require_default=True)
    if problems:
        raise FlowError("survey definitions have errors (`rabta survey check`):\n"
                        + "\n".join(str(p) for p in problems))
    return SurveyBook({s.id: s for s in surveys})
