"""SMS, text: which alphabet a message needs, how many parts it takes, and the templates.

Stage: before a message is handed to the gateway. Pure: no I/O except `load_templates` and
`check_file`, which read one TOML file. A message whose every character is in the GSM 03.38
alphabet goes as 7-bit text (160 septets alone, 153 per part when concatenated; characters of
the extension table take two septets); anything else, Urdu and Shahmukhi Punjabi included,
goes as UCS-2 (Kannel's ``coding=2``: 70 UTF-16 units alone, 67 per part). Kannel splits a
long message into parts with a concatenation header; the phone joins them back.

Templates (``sms/messages.toml``, format in docs/SMS.md) hold one table per kind of message
and one string per language; placeholders are ``{name}`` and only the names in `PLACEHOLDERS`
may appear. `check_text` reports problems as ``file:line: what is wrong``, like
`rabta survey check`.
"""

from __future__ import annotations

import math
import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ivr.errors import ConfigError

TEMPLATES_FILE = Path(__file__).resolve().parents[2] / "sms" / "messages.toml"
LANGUAGES = ("ur", "pa", "en")
KINDS = ("notice", "thanks", "case", "outcome", "survey")
GSM7, UCS2 = "gsm7", "ucs2"

# GSM 03.38 default alphabet (one septet each) and its extension table (escape + one septet).
_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
_GSM_EXT = frozenset("^{}\\[~]|€\f")

# Placeholders a template may use, each with the longest value `check_text` assumes for it
# (an office name can be long; a case number is the transaction id).
PLACEHOLDERS: Mapping[str, int] = {
    "office": 40, "service": 30, "date": 10, "case": 8, "action": 40, "short_code": 8,
}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def encoding(text: str) -> str:
    """Return GSM7 if every character is in the GSM 03.38 alphabet, else UCS2."""
    return GSM7 if all(c in _GSM_BASIC or c in _GSM_EXT for c in text) else UCS2


def units(text: str) -> int:
    """Return the message's length in its own alphabet's units (septets or UTF-16 units)."""
    if encoding(text) == GSM7:
        return sum(2 if c in _GSM_EXT else 1 for c in text)
    return len(text.encode("utf-16-be")) // 2


def parts(text: str) -> int:
    """Return how many SMS parts the text takes (1 for an empty message)."""
    n = units(text)
    single, per_part = (160, 153) if encoding(text) == GSM7 else (70, 67)
    return 1 if n <= single else math.ceil(n / per_part)


def kannel_coding(text: str) -> int:
    """Return Kannel's `coding` for the text: 0 (7-bit) or 2 (UCS-2)."""
    return 0 if encoding(text) == GSM7 else 2


def placeholders(template: str) -> list[str]:
    """Return the placeholder names of a template, in order (`{{` and `}}` are literal braces)."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill a template's placeholders; a missing value is a ConfigError naming it."""
    try:
        return template.format_map(values)
    except KeyError as exc:
        raise ConfigError(f"SMS template needs {{{exc.args[0]}}}, which this message has no "
                          f"value for") from None
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"SMS template {template[:30]!r}...: {exc}") from None


@dataclass(frozen=True, slots=True)
class Templates:
    """Every message kind in every language, the parts limit, and officials' action names."""

    messages: Mapping[str, Mapping[str, str]]  # kind -> language -> template
    actions: Mapping[str, Mapping[str, str]]  # language -> case action -> words for citizens
    max_parts: int = 4

    def text(self, kind: str, language: str, values: Mapping[str, str]) -> str:
        """Render one kind of message in a language (English if the language has none)."""
        by_lang = self.messages[kind]
        return render(by_lang.get(language) or by_lang["en"], values)

    def action_name(self, action: str, language: str) -> str:
        """Return the citizens' words for a case action in a language (else English, else id)."""
        return (self.actions.get(language, {}).get(action)
                or self.actions.get("en", {}).get(action) or action.replace("_", " "))


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a templates file, where it is."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def _line_of(source: str, table: str, key: str | None = None) -> int:
    """Return the line of `[table]` (or of `key = ` inside it); 1 if not found."""
    lines = source.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.strip() == f"[{table}]"), None)
    if start is None:
        return 1
    if key is None:
        return start + 1
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if stripped.startswith("["):
            break
        if re.match(rf"{re.escape(key)}\s*=", stripped):
            return i + 1
    return start + 1


def check_text(source: str, file: str) -> tuple[Templates | None, list[Problem]]:
    """Parse and check a templates file's text; return Templates (None if any problem) and problems."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        return None, [Problem(file, int(m.group(1)) if m else 1, f"TOML: {exc}")]
    problems: list[Problem] = []
    max_parts = data.get("max_parts", 4)
    if not isinstance(max_parts, int) or isinstance(max_parts, bool) or not 1 <= max_parts <= 10:
        line = next((i + 1 for i, ln in enumerate(source.splitlines())
                     if ln.strip().startswith("max_parts")), 1)
        problems.append(Problem(file, line, f"max_parts must be a whole number from 1 to 10, "
                                            f"not {max_parts!r}"))
        max_parts = 4
    messages: dict[str, dict[str, str]] = {}
    for key in data:
        if key not in (*KINDS, "max_parts", "actions"):
            problems.append(Problem(file, _line_of(source, key),
                                    f"unknown table [{key}] (kinds: {', '.join(KINDS)})"))
    for kind in KINDS:
        table = data.get(kind)
        if not isinstance(table, dict):
            problems.append(Problem(file, 1, f"missing table [{kind}]"))
            continue
        if "en" not in table:
            problems.append(Problem(file, _line_of(source, kind),
                                    f"[{kind}] has no English (en) text, the fallback"))
        messages[kind] = {}
        for lang, template in table.items():
            line = _line_of(source, kind, lang)
            if lang not in LANGUAGES:
                problems.append(Problem(file, line, f"[{kind}] {lang}: unknown language "
                                                    f"(ur, pa, en)"))
                continue
            if not isinstance(template, str) or not template.strip():
                problems.append(Problem(file, line, f"[{kind}] {lang}: must be non-empty text"))
                continue
            problems.extend(_check_template(template, kind, lang, max_parts, file, line))
            messages[kind][lang] = template
    actions: dict[str, dict[str, str]] = {}
    raw_actions = data.get("actions", {})
    if not isinstance(raw_actions, dict):
        problems.append(Problem(file, _line_of(source, "actions"), "actions must be a table"))
    else:
        for lang, names in raw_actions.items():
            if lang not in LANGUAGES or not isinstance(names, dict):
                problems.append(Problem(file, _line_of(source, f"actions.{lang}"),
                                        f"[actions.{lang}]: unknown language or not a table"))
                continue
            actions[lang] = {str(k): str(v) for k, v in names.items()}
    if problems:
        return None, problems
    return Templates(messages, actions, max_parts), []


def _check_template(template: str, kind: str, lang: str, max_parts: int, file: str,
                    line: int) -> list[Problem]:
    try:
        names = placeholders(template)
    except ValueError as exc:
        return [Problem(file, line, f"[{kind}] {lang}: {exc} (write {{{{ for a literal brace)")]
    out = []
    for name in names:
        if name not in PLACEHOLDERS:
            out.append(Problem(file, line, f"[{kind}] {lang}: unknown placeholder {{{name}}} "
                                           f"(known: {', '.join(sorted(PLACEHOLDERS))})"))
    if out:
        return out
    # The longest it can get: each placeholder at its assumed longest, in the template's own
    # alphabet (a Latin office name in an Urdu message still travels as UCS-2).
    filler = "x" if encoding(template) == GSM7 else "ش"
    longest = render(template, {n: filler * w for n, w in PLACEHOLDERS.items()})
    n = parts(longest)
    if n > max_parts:
        out.append(Problem(file, line, f"[{kind}] {lang}: too long: up to {units(longest)} "
                                       f"{'septets' if encoding(longest) == GSM7 else 'characters'}"
                                       f" take {n} parts, more than max_parts = {max_parts}"))
    return out


def load_templates(path: Path = TEMPLATES_FILE) -> Templates:
    """Read and check a templates file; ConfigError listing every problem if it is not right."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read SMS templates: {exc}") from None
    templates, problems = check_text(source, str(path))
    if templates is None:
        raise ConfigError("SMS templates are not right:\n" + "\n".join(map(str, problems)))
    return templates
