"""Static checks of a rendered PBX config, before it goes near a live Asterisk (pure functions).

`rabta dialplan check` runs these on what ivr.render wrote, then loads the files into a
throw-away Asterisk (ivr.lab.sandbox). Each check returns Findings; none reads a live node.

- the contexts Rabta needs exist (and every endpoint's context);
- every prompt the dialplan plays exists in the sounds directory;
- the toll-fraud guard: a static walk of the dialplan from every context a call from outside can
  land in (each PJSIP endpoint's ``context``), following ``include =>``, Goto/GotoIf/Gosub/
  GosubIf/ExecIf and matching literal extensions against patterns, proving that nothing
  reachable can run Dial, Originate, Queue or the like. A jump whose target is a variable
  cannot be proven safe and is a finding too. The engine-only bridge context may dial, only its
  checked variable, and only if nothing reaches it.

Placeholders are checked by rendering itself (ivr.render refuses an unknown one).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ivr.asterisk import variables as V

# Applications that place or take over a call, or run a program: none may be reachable from
# outside. (Originate is also an application; System runs a shell.)
DANGEROUS_APPS = frozenset(a.lower() for a in (
    "Dial", "Originate", "Queue", "Page", "FollowMe", "DISA", "System", "TrySystem", "ChanSpy",
    "ExtenSpy", "DAHDIBarge", "Bridge", "BridgeAdd", "Pickup", "PickupChan", "DialOut",
    "RetryDial", "Macro", "ConfBridge", "MeetMe", "Directory", "VoiceMailMain"))
DANGEROUS_FUNCTIONS = ("SHELL(", "CURL(", "ODBC_", "FILE(")
PLAY_APPS = frozenset({"playback", "background", "controlplayback", "read", "backgrounddetect"})
JUMP_APPS = frozenset({"goto", "gotoif", "gosub", "gosubif", "gotoiftime", "execif"})
SPECIAL_EXTENS = ("h", "i", "t", "e", "T", "a", "o")
SOUND_EXTS = (".wav", ".ulaw", ".alaw", ".sln", ".sln16", ".gsm", ".g722", ".wav16")
HIGH, MEDIUM, LOW = "high", "medium", "low"

_SECTION = re.compile(r"^\s*\[([^\]]+)\]")
_LINE = re.compile(r"^\s*(exten|same|include)\s*=>?\s*(.*)$", re.IGNORECASE)
_APP = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*$", re.DOTALL)


@dataclass(frozen=True)
class Finding:
    """One problem: how bad, what, and what to do about it."""

    severity: str  # high | medium | low
    what: str
    fix: str

    def __str__(self) -> str:
        return f"[{self.severity}] {self.what}\n    fix: {self.fix}"


@dataclass
class Step:
    """One priority of one extension: its application and raw arguments."""

    app: str
    args: str
    line: int


@dataclass
class Context:
    """One dialplan context: its extensions (pattern -> steps) and includes."""

    name: str
    extens: dict[str, list[Step]] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)


def strip_comment(line: str) -> str:
    """Drop a ; comment (a backslash-escaped \\; is data)."""
    return re.split(r"(?<!\\);", line, maxsplit=1)[0]


def _split_args(args: str) -> list[str]:
    """Split application arguments at top-level commas (not inside (), ${} or quotes)."""
    out: list[str] = []
    cur: list[str] = []
    depth, quote = 0, False
    for ch in args:
        if ch == '"':
            quote = not quote
        if not quote and ch in "({[":
            depth += 1
        elif not quote and ch in ")}]":
            depth -= 1
        if ch == "," and depth == 0 and not quote:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [a.strip() for a in out]


def parse_extensions(text: str) -> dict[str, Context]:
    """Parse extensions.conf text into contexts ([general]/[globals] are not contexts)."""
    found: dict[str, Context] = {}
    ctx: Context | None = None
    last: str | None = None
    for no, raw in enumerate(text.splitlines(), 1):
        line = strip_comment(raw).rstrip()
        if not line.strip():
            continue
        m = _SECTION.match(line)
        if m:
            name = m.group(1).strip()
            ctx = None if name in ("general", "globals") else found.setdefault(name, Context(name))
            last = None
            continue
        m = _LINE.match(line)
        if ctx is None or not m:
            continue
        kind, rest = m.group(1).lower(), m.group(2).strip()
        if kind == "include":
            ctx.includes.append(rest.split(",")[0].strip())
            continue
        if kind == "exten":
            exten, _, rest = rest.partition(",")
            exten = exten.strip()
            _prio, _, app = rest.partition(",")
            last = exten
        else:  # same => n,App(...)
            if last is None:
                continue
            exten = last
            _prio, _, app = rest.partition(",")
        am = _APP.match(app)
        name, args = (am.group(1), am.group(2) or "") if am else (app.strip(), "")
        ctx.extens.setdefault(exten, []).append(Step(name, args, no))
    return found


def pattern_matches(pattern: str, exten: str) -> bool:
    """Say whether an Asterisk extension pattern (or literal) matches a literal extension."""
    if not pattern.startswith("_"):
        return pattern == exten
    rx = []
    p = pattern[1:]
    i = 0
    while i < len(p):
        c = p[i]
        if c == "X":
            rx.append("[0-9]")
        elif c == "Z":
            rx.append("[1-9]")
        elif c == "N":
            rx.append("[2-9]")
        elif c == ".":
            rx.append(".+")
        elif c == "!":
            rx.append(".*")
        elif c == "[":
            j = p.index("]", i)
            rx.append("[" + p[i + 1:j] + "]")
            i = j
        else:
            rx.append(re.escape(c))
        i += 1
    return re.fullmatch("".join(rx), exten) is not None


def _jump_targets(step: Step, here: str) -> list[tuple[str, str | None]]:
    """Return (context, exten or None for 'any') pairs a jump step can lead to."""
    app = step.app.lower()
    args = step.args
    labels: list[str] = []
    if app in ("gotoif", "gosubif", "gotoiftime"):
        _cond, _, branches = args.partition("?")
        labels = [b.strip() for b in branches.split(":") if b.strip()]
        labels = [re.sub(r"\(.*\)$", "", b) for b in labels]  # GosubIf's (args)
    elif app in ("goto", "gosub"):
        labels = [re.sub(r"\(.*\)$", "", args.strip())]
    out: list[tuple[str, str | None]] = []
    for label in labels:
        parts = _split_args(label)
        if len(parts) >= 3:
            ctx, exten = parts[0], parts[1]
        elif len(parts) == 2:
            ctx, exten = here, parts[0]
        else:
            continue  # a priority or label in this extension: walked with it already
        out.append((ctx, None if "$" in exten else exten))
    return out


def _steps_of(step: Step) -> list[Step]:
    """Return the step and, for ExecIf, the applications it may run."""
    if step.app.lower() != "execif":
        return [step]
    _cond, _, apps = step.args.partition("?")
    out = [step]
    for part in apps.split(":"):
        am = _APP.match(part.strip())
        if am:
            out.append(Step(am.group(1), am.group(2) or "", step.line))
    return out


def endpoint_contexts(pjsip: str) -> dict[str, str]:
    """Return {endpoint: context} of every type=endpoint section of a pjsip.conf text."""
    out: dict[str, str] = {}
    section: str | None = None
    props: dict[str, str] = {}

    def flush() -> None:
        if section and props.get("type") == "endpoint":
            out[section] = props.get("context", "default")

    for raw in pjsip.splitlines():
        line = strip_comment(raw).strip()
        m = _SECTION.match(line)
        if m:
            flush()
            section, props = m.group(1).split("(")[0].strip(), {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            props[key.strip().lower()] = value.strip().lstrip(">").strip()
    flush()
    return out


def sections_of_type(pjsip: str, kind: str) -> list[str]:
    """Return the names of every `type = kind` section of a pjsip.conf text."""
    out: list[str] = []
    section: str | None = None
    for raw in pjsip.splitlines():
        line = strip_comment(raw).strip()
        m = _SECTION.match(line)
        if m:
            section = m.group(1).split("(")[0].strip()
            continue
        key, sep, value = line.partition("=")
        if sep and section and key.strip().lower() == "type" and value.strip().lower() == kind:
            out.append(section)
    return out


def toll_fraud(contexts: Mapping[str, Context], entries: Iterable[str],
               bridge: str = V.CTX_BRIDGE) -> list[Finding]:
    """Walk from the entry contexts; report every reachable dangerous step or unprovable jump."""
    findings: list[Finding] = []
    seen: set[tuple[str, str]] = set()
    visited: set[tuple[str, str | None]] = set()
    todo: list[tuple[str, str | None, str]] = [(e, None, f"calls from outside land in [{e}]")
                                               for e in entries]
    while todo:
        ctx_name, exten, how = todo.pop()
        if (ctx_name, exten) in visited:
            continue  # include and Goto loops end here
        visited.add((ctx_name, exten))
        ctx = contexts.get(ctx_name)
        if ctx is None:
            continue  # a missing context is check_contexts' finding
        # The context's own extensions, then its includes (searched for the same extension).
        chosen = [p for p in ctx.extens if exten is None or pattern_matches(p, exten)
                  or p in SPECIAL_EXTENS]
        for inc in ctx.includes:
            todo.append((inc, exten, f"{how}, which includes [{inc}]"))
        for pattern in chosen:
            if (ctx_name, pattern) in seen:
                continue
            seen.add((ctx_name, pattern))
            for outer in ctx.extens[pattern]:
                for step in _steps_of(outer):
                    app = step.app.lower()
                    where = f"[{ctx_name}] {pattern} (line {step.line})"
                    if app in DANGEROUS_APPS or any(f in step.args.upper()
                                                    for f in DANGEROUS_FUNCTIONS):
                        findings.append(Finding(
                            HIGH, f"toll fraud: {where} runs {step.app}({step.args}) and "
                                  f"is reachable: {how}",
                            f"never dial from a context a caller can reach; only "
                            f"[{bridge}], reached by the engine's Originate alone, may dial"))
                    if app in JUMP_APPS:
                        targets = _jump_targets(step, ctx_name)
                        if app == "execif":
                            continue
                        for tctx, texten in targets:
                            if "$" in tctx:
                                findings.append(Finding(
                                    HIGH, f"toll fraud: {where} jumps to a context chosen at "
                                          f"run time ({step.app}({step.args})), which cannot "
                                          f"be proven safe: {how}",
                                    "jump only to fixed, named contexts"))
                                continue
                            todo.append((tctx, texten,
                                         f"{how} -> {step.app} at {where} to [{tctx}]"))
    return findings


BRIDGE_GUARD = re.compile(r"REGEX\(\"\^PJSIP/\[\+\]\?\[0-9\]\+@[^\"]+\$\" \$\{"
                          + V.BRIDGE_TO + r"\}\)")


def check_bridge(contexts: Mapping[str, Context], bridge: str = V.CTX_BRIDGE) -> list[Finding]:
    """Check every context that dials: only the bridge may, only RABTA_BRIDGE_TO, checked first."""
    findings = []
    for ctx in contexts.values():
        for pattern, steps in ctx.extens.items():
            guarded = False
            for outer in steps:
                for step in _steps_of(outer):
                    if BRIDGE_GUARD.search(step.args):
                        guarded = True
                    if step.app.lower() not in DANGEROUS_APPS:
                        continue
                    where = f"[{ctx.name}] {pattern} (line {step.line})"
                    if ctx.name != bridge:
                        findings.append(Finding(
                            MEDIUM, f"{where} runs {step.app}: only [{bridge}] may dial",
                            "move the dialling into the engine's bridge or remove it"))
                    elif _split_args(step.args)[0] != f"${{{V.BRIDGE_TO}}}" or not guarded:
                        findings.append(Finding(
                            HIGH, f"{where}: the bridge dials {step.args.split(',')[0]!r} "
                                  f"without first checking it is PJSIP/<digits>@<trunk>",
                            f"dial only ${{{V.BRIDGE_TO}}}, after the REGEX check"))
    return findings


def check_contexts(contexts: Mapping[str, Context], needed: Iterable[str],
                   endpoints: Mapping[str, str]) -> list[Finding]:
    """Report every needed context, and every endpoint's context, that is not defined."""
    findings = []
    for name in needed:
        if name not in contexts:
            findings.append(Finding(HIGH, f"missing context [{name}]: the engine sends calls there",
                                    f"define [{name}] in the dialplan (dialplans/pbx/)"))
    for endpoint, ctx in sorted(endpoints.items()):
        if ctx not in contexts:
            findings.append(Finding(HIGH, f"endpoint {endpoint}: context {ctx!r} is not defined",
                                    f"set the endpoint's context to a defined one, or define "
                                    f"[{ctx}]"))
    return findings


def played_prompts(contexts: Mapping[str, Context]) -> list[tuple[str, str, int]]:
    """Return (prompt, context, line) for every fixed prompt the dialplan plays."""
    out = []
    for ctx in contexts.values():
        for steps in ctx.extens.values():
            for outer in steps:
                for step in _steps_of(outer):
                    app = step.app.lower()
                    if app not in PLAY_APPS:
                        continue
                    args = _split_args(step.args)
                    arg = args[1] if app == "read" and len(args) > 1 else args[0]
                    for name in arg.split("&"):
                        name = name.strip()
                        if name and "$" not in name:
                            out.append((name, ctx.name, step.line))
    return out


def check_prompts(contexts: Mapping[str, Context], exists: Callable[[str], bool]) -> list[Finding]:
    """Report every fixed prompt the dialplan plays that exists in no language."""
    return [Finding(HIGH, f"[{ctx}] line {line} plays {name!r}, which is not installed",
                    "run `rabta prompts build` and `rabta asterisk up` (or copy the prompt into "
                    "the PBX's sounds directory)")
            for name, ctx, line in played_prompts(contexts) if not exists(name)]


def needed_contexts(studio: bool) -> list[str]:
    """Return the contexts the engine sends calls to."""
    names = [V.CTX_SURVEY, V.CTX_INBOUND, V.CTX_BRIDGE]
    return [*names, V.CTX_STUDIO] if studio else names


def check_all(extensions: str, pjsip: str, *, studio: bool,
              prompt_exists: Callable[[str], bool]) -> list[Finding]:
    """Run every static check on a rendered extensions.conf and pjsip.conf."""
    contexts = parse_extensions(extensions)
    endpoints = endpoint_contexts(pjsip)
    findings = check_contexts(contexts, needed_contexts(studio), endpoints)
    findings += toll_fraud(contexts, sorted(set(endpoints.values())))
    findings += check_bridge(contexts)
    findings += check_prompts(contexts, prompt_exists)
    return findings
