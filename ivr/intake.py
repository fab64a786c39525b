"""Intake: the transactions CSV (and the intake API's JSON rows) in, validated Transactions out.

This is the first stage of the road: nothing here touches the database. One function,
`validate_transaction`, decides whether a row is acceptable; the CSV reader and the HTTP API
both go through it, so a row means the same thing whichever door it came in by.

A bad row never stops the others: it is collected as `(line, field, reason)`. Only problems
with the file as a whole raise InputError, naming the line and what to do: no header, a
missing or an unknown column (with the closest known name), a header separated by `;` or
tabs, a quote never closed (the line it opened on), NUL bytes, not UTF-8.
"""

from __future__ import annotations

import csv
import difflib
import logging
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr.errors import ConfigError, InputError, InvalidNumber, InvalidRow
from ivr.models import Transaction
from ivr.phone import mask, normalize

__all__ = [
    "FIELDS",
    "LANGUAGES",
    "REQUIRED_COLUMNS",
    "did_you_mean",
    "format_errors",
    "parse_transactions_csv",
    "validate_batch",
    "validate_transaction",
]

log = logging.getLogger(__name__)

FIELDS = ("ref", "name", "mobile", "service", "office", "district", "official", "visited_at",
          "language")
# Columns a file must have. name, official and language may be left out entirely.
REQUIRED_COLUMNS = ("ref", "mobile", "service", "office", "district", "visited_at")
REQUIRED_FIELDS = ("ref", "mobile", "service", "office", "district")
LANGUAGES = ("ur", "pa", "en")
MAX_REF = 64
MAX_TEXT = 200
FUTURE_SLACK = timedelta(days=1)  # office clocks drift, and "tomorrow" in one zone is today

_SHOW_MAX = 40  # longest value echoed back in an error reason
# Line and paragraph separators count as control characters: they break a record in two.
_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
_DATE_ONLY = re.compile(r"^\d{4}-?\d{2}-?\d{2}$")
_DATE_TIME = re.compile(r"^\d{4}-?\d{2}-?\d{2}[Tt ]\d{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def did_you_mean(name: str, known: Iterable[str] = FIELDS) -> str:
    """Return " (did you mean 'x'?)" for the known name closest to a misspelt one, or ""."""
    close = difflib.get_close_matches(name.strip().lower(), list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _zone(default_tz: str | tzinfo) -> tzinfo:
    if isinstance(default_tz, tzinfo):
        return default_tz
    try:
        return ZoneInfo(default_tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigError(f"unknown time zone {default_tz!r}") from None


def _now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now


def _cut(value: str) -> str:
    return value[:_SHOW_MAX] + "…" if len(value) > _SHOW_MAX else value


def _show(field: str, value: str) -> str:
    """Return a value as it may appear in an error: phone numbers masked, long text cut."""
    if field == "mobile":
        return repr(mask(value))
    return repr(_cut(value))


def _text(record: Mapping[str, Any], field: str, line: int, *, limit: int = MAX_TEXT) -> str:
    """Return one text field stripped and checked; empty if absent."""
    value = record.get(field)
    if value is None:
        value = ""
    elif isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # JSON callers send refs and even mobiles as numbers
    elif not isinstance(value, str):
        raise InvalidRow(line, field, f"must be text, not {type(value).__name__}")
    value = value.strip()
    for char in value:
        if unicodedata.category(char) in _BAD_CATEGORIES:
            raise InvalidRow(line, field, f"contains a control character ({_show(field, value)})")
    if len(value) > limit:
        raise InvalidRow(line, field, f"too long ({len(value)} characters, max {limit})")
    if not value and field in REQUIRED_FIELDS:
        raise InvalidRow(line, field, "required")
    return value


FIRST_YEAR = 2000  # a visit before this is a typo (and year 1 cannot be stored in UTC)


def _visited_at(record: Mapping[str, Any], line: int, zone: tzinfo, now: datetime) -> datetime:
    """Return visited_at as an aware datetime; naive values are wall time in `zone`."""
    value = record.get("visited_at")
    if isinstance(value, datetime):
        when = value
    else:
        text = _text(record, "visited_at", line, limit=_SHOW_MAX)
        if not text:
            raise InvalidRow(line, "visited_at", "required")
        if _DATE_ONLY.match(text):
            raise InvalidRow(line, "visited_at", f"date without a time ({text!r})")
        try:
            if not _DATE_TIME.match(text):
                raise ValueError(text)
            when = datetime.fromisoformat(text)
        except ValueError:
            raise InvalidRow(
                line, "visited_at", f"not an ISO 8601 date and time ({_show('visited_at', text)})"
            ) from None
    if when.tzinfo is None or when.utcoffset() is None:
        when = when.replace(tzinfo=zone)
    try:
        too_late = when > now + FUTURE_SLACK
        too_early = when.astimezone(UTC).year < FIRST_YEAR
    except OverflowError:
        raise InvalidRow(line, "visited_at", f"out of range ({when.isoformat()!r})") from None
    if too_early:
        raise InvalidRow(line, "visited_at", f"out of range: before {FIRST_YEAR} "
                                             f"({when.isoformat()!r})")
    if too_late:
        raise InvalidRow(line, "visited_at", f"in the future ({when.isoformat()!r})")
    return when


def validate_transaction(
    record: Mapping[str, Any],
    *,
    line: int,
    default_tz: str | tzinfo = "Asia/Karachi",
    now: datetime | None = None,
) -> Transaction:
    """Check one transaction row (CSV or API) and return it as a Transaction, or raise InvalidRow.

    Fields are checked in header order and the first problem is raised. Keys outside FIELDS
    are refused, so a typo such as "langauge" is not silently dropped.
    """
    zone = _zone(default_tz)
    now = _now(now)
    for key in record:
        if key not in FIELDS:
            # The name is echoed back, so a hostile megabyte-long key is cut short; an empty
            # one (possible in JSON) is shown quoted so the error still names something.
            raise InvalidRow(line, _cut(str(key)) or '""',
                             f"unknown field{did_you_mean(str(key)[:_SHOW_MAX])}")
    ref = _text(record, "ref", line, limit=MAX_REF)
    name = _text(record, "name", line)
    raw_mobile = _text(record, "mobile", line)
    try:
        mobile = normalize(raw_mobile)
    except InvalidNumber as exc:
        raise InvalidRow(line, "mobile", f"{exc} ({_show('mobile', raw_mobile)})") from None
    service = _text(record, "service", line)
    office = _text(record, "office", line)
    district = _text(record, "district", line)
    official = _text(record, "official", line)
    visited_at = _visited_at(record, line, zone, now)
    language_text = _text(record, "language", line).lower()
    if language_text and language_text not in LANGUAGES:
        raise InvalidRow(
            line, "language",
            f"must be one of {', '.join(LANGUAGES)} or empty ({_show('language', language_text)})",
        )
    return Transaction(
        office=office,
        ref=ref,
        name=name,
        mobile=mobile,
        service=service,
        district=district,
        official=official,
        visited_at=visited_at,
        language=language_text or None,
    )


def _key_part(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # as _text reads it
    return ""


def _claim(seen: dict[tuple[str, str], int], record: Mapping[str, Any], position: int) -> int:
    """Return where this record's (office, ref) first appeared in its file or batch.

    The first record with a pair claims it, valid or not; a record without both is its own.
    """
    key = (_key_part(record.get("office")), _key_part(record.get("ref")))
    return seen.setdefault(key, position) if all(key) else position


def validate_batch(
    items: Sequence[object],
    *,
    default_tz: str | tzinfo = "Asia/Karachi",
    now: datetime | None = None,
) -> tuple[list[Transaction], list[tuple[int, str, str]]]:
    """Check a batch of API items (0-based) into Transactions and (index, field, reason) errors.

    Same rules as the CSV: every item through validate_transaction, and a later item with an
    (office, ref) already claimed earlier in the batch is a duplicate. Callers that must be
    all-or-nothing keep the Transactions only when there are no errors.
    """
    zone = _zone(default_tz)
    now = _now(now)
    good: list[Transaction] = []
    errors: list[tuple[int, str, str]] = []
    seen: dict[tuple[str, str], int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            errors.append((index, "item", f"must be an object, not {_json_type(item)}"))
            continue
        first = _claim(seen, item, index)
        try:
            tx = validate_transaction(item, line=index, default_tz=zone, now=now)
        except InvalidRow as exc:
            errors.append((index, exc.field, exc.reason))
            continue
        if first != index:
            errors.append((index, "ref", f"duplicate of item {first}"))
            continue
        good.append(tx)
    return good, errors


def _json_type(value: object) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number",
             float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _decode_hint(chunk: bytes) -> str:
    if chunk.startswith(_UTF16_BOMS):
        return " (it looks like UTF-16: save it as CSV UTF-8)"
    return ""


def _checked_lines(
    stream: TextIO | Iterable[str] | Iterable[bytes], source: str
) -> Iterator[str]:
    """Yield the stream's lines as text; raise InputError for NUL bytes or bad UTF-8."""
    number = 0
    iterator: Iterator[str | bytes] = iter(stream)
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            # A text stream decodes ahead in chunks, so the exact line is not known here.
            raise InputError(
                f"{source}:{number + 1}: not valid UTF-8 at or after this line"
                f"{_decode_hint(exc.object[:2]) if number == 0 else ''}"
            ) from None
        number += 1
        if isinstance(item, bytes):
            try:
                line = item.decode("utf-8")
            except UnicodeDecodeError as exc:
                hint = _decode_hint(item) if number == 1 else ""
                raise InputError(
                    f"{source}:{number}: not valid UTF-8 (byte 0x{item[exc.start]:02x} at "
                    f"column {exc.start + 1}){hint}"
                ) from None
        else:
            line = item
        if number == 1:
            line = line.removeprefix("\ufeff")
        if "\x00" in line:
            raise InputError(f"{source}:{number}: contains a NUL byte (is this really a CSV file?)")
        if _SURROGATE.search(line):
            raise InputError(f"{source}:{number}: not valid UTF-8")
        yield line


def parse_transactions_csv(
    stream: TextIO | Iterable[str] | Iterable[bytes],
    *,
    source: str = "<stdin>",
    default_tz: str | tzinfo = "Asia/Karachi",
    now: datetime | None = None,
) -> tuple[list[Transaction], list[tuple[int, str, str]]]:
    """Read a transactions CSV into good Transactions and (line, field, reason) errors.

    Open files with ``newline=""`` as the csv module asks. Line numbers are physical lines
    (the header is line 1) and an error names the line its row starts on. Blank rows are
    skipped. Within one file, the first row for an (office, ref) claims it; later rows with
    the same pair are reported as duplicates even when the first was itself rejected, since
    two different rows claiming one identity should not be settled by guessing.
    """
    if isinstance(stream, str | bytes):
        raise TypeError("pass an open file or an iterable of lines, not the text itself")
    zone = _zone(default_tz)
    now = _now(now)
    # strict: a quote that is never closed is an error at the end of the file, not the rest
    # of the file read silently as one cell.
    reader = csv.reader(_checked_lines(stream, source), strict=True)
    good: list[Transaction] = []
    errors: list[tuple[int, str, str]] = []
    end = 0
    try:
        header_line, columns = _read_header(reader, source)
        seen: dict[tuple[str, str], int] = {}
        end = header_line
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:  # the reader goes on with the next line
                start, end = end + 1, reader.line_num
                if "expected after" not in str(exc):
                    raise InputError(_unreadable(source, start, end, str(exc))) from None
                errors.append((start, "row", _STRAY_QUOTE))
                continue
            start, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            span = f" (row spans lines {start}-{end})" if end > start else ""
            if len(row) != len(columns):
                reason = f"expected {len(columns)} cells, got {len(row)}{span}"
                if span and any("\n" in cell for cell in row):
                    reason += f"; is a quote (\") on line {start} not closed?"
                errors.append((start, "row", reason))
                continue
            record = {col: cell for col, cell in zip(columns, row, strict=True) if col in FIELDS}
            first = _claim(seen, record, start)
            try:
                tx = validate_transaction(record, line=start, default_tz=zone, now=now)
            except InvalidRow as exc:
                errors.append((exc.line, exc.field, exc.reason + span))
                continue
            if first != start:
                errors.append((start, "ref", f"duplicate of line {first}"))
                continue
            good.append(tx)
    except csv.Error as exc:
        raise InputError(_unreadable(source, end + 1, reader.line_num, str(exc))) from None
    log.info("parsed %s: %d good rows, %d errors", source, len(good), len(errors))
    return good, errors


_STRAY_QUOTE = ('text after the closing quote (") of a quoted cell: double a quote inside a '
                'quoted cell ("") or quote the whole cell')


def _unreadable(source: str, start: int, at: int, problem: str) -> str:
    """Say why a CSV could not be read, naming the line its broken row starts on."""
    if "end of data" in problem or "field larger than" in problem:
        return (f"{source}:{start}: a quote (\") opened on this line is never closed, so the "
                f"rest of the file would be one cell; close it, or double a quote inside a "
                f"quoted cell (\"\")")
    if "expected after" in problem:
        return f"{source}:{at}: {_STRAY_QUOTE}"
    return f"{source}:{at}: unreadable CSV: {problem}"


def _delimiter_hint(columns: Sequence[str]) -> str:
    """Return a hint when the header looks separated by something other than commas."""
    for sep, name in ((";", "semicolons (;)"), ("\t", "tabs"), ("|", "bars (|)")):
        if any(sep in col for col in columns):
            parts = {c.strip() for col in columns for c in col.split(sep)}
            if len(parts & set(FIELDS)) >= 2:
                return (f"; the header looks separated by {name}: Rabta reads comma-separated "
                        f"CSV (save it as \"CSV UTF-8 (comma delimited)\")")
    return ""


def _read_header(reader: Any, source: str) -> tuple[int, list[str]]:
    """Return the header's line number and column names, or raise InputError naming the problem.

    An unknown column is an error, not a note: a misspelt `langauge` would otherwise drop
    every row's language, and the API refuses the same name.
    """
    for header in reader:
        if any(cell.strip() for cell in header):
            break
    else:
        raise InputError(f"{source}:1: empty file: expected a header {','.join(FIELDS)}")
    line = int(reader.line_num)
    columns = [cell.strip().lower() for cell in header]
    seen: set[str] = set()
    for col in columns:
        if col in seen:
            raise InputError(f"{source}:{line}: column {col!r} appears more than once")
        seen.add(col)
    hint = _delimiter_hint(columns)
    unknown = [col for col in columns if col and col not in FIELDS]  # "": a trailing comma
    if unknown and not hint:
        named = "; ".join(f"{_cut(col)!r}{did_you_mean(col)}" for col in unknown)
        raise InputError(
            f"{source}:{line}: unknown column{'s' if len(unknown) > 1 else ''} {named}; "
            f"nothing was imported (the columns are {','.join(FIELDS)})")
    missing = [col for col in REQUIRED_COLUMNS if col not in columns]
    if missing:
        raise InputError(
            f"{source}:{line}: missing required columns: {', '.join(missing)}"
            f" (expected a header {','.join(FIELDS)}){hint}"
        )
    return line, columns


def format_errors(errors: Iterable[tuple[int, str, str]], source: str) -> str:
    """Render collected errors one per line as SOURCE:LINE: FIELD: REASON."""
    return "\n".join(f"{source}:{line}: {field}: {reason}" for line, field, reason in errors)
