"""Intake (numbers): Pakistani mobile numbers in, E.164 out; masking for logs and views.

Every number that enters Rabta - from the transactions CSV, the intake API or the carrier
simulator's phone book - passes through `normalize`, so the rest of the road only ever sees
`+923XXXXXXXXX`. Landlines and foreign numbers are refused here: the survey is a call to a
citizen's mobile, and a landline at the office would survey the wrong person.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from ivr.errors import InvalidNumber

__all__ = ["digits", "mask", "national", "normalize", "operator_prefix"]

REGION = "PK"
COUNTRY_CODE = 92
NSN_LENGTH = 10  # 3XX XXXXXXX: operator prefix (without the trunk 0) + 7 subscriber digits

_E164_PK_MOBILE = re.compile(r"^\+923\d{9}$")
_E164_ANY = re.compile(r"^\+[1-9]\d{6,14}$")
# Separators people really write between digit groups. Letters are refused outright:
# phonenumbers would otherwise read "1-800-FLOWERS" keypad-style or "x5" as an extension.
_SEPARATORS = frozenset(" -./()")
_MAX_DIGITS = 20
_MIN_NSN_LENGTH = 8  # shorter than any Pakistani number, landline or mobile

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "not a Pakistani number",
    NumberParseException.NOT_A_NUMBER: "not a number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}


def _ascii_digits(raw: str) -> str:
    """Return `raw` stripped, with any script's decimal digits as ASCII; raise if not number-like.

    Urdu keyboards type Extended Arabic-Indic digits (۰۳۰۰...), which are the same number.
    """
    text = raw.strip()
    if not text:
        raise InvalidNumber("empty")
    out: list[str] = []
    for i, char in enumerate(text):
        if char.isdecimal():
            out.append(str(unicodedata.decimal(char)))
        elif char == "+" and i == 0:
            out.append(char)
        elif char in _SEPARATORS or char.isspace():
            continue
        else:
            raise InvalidNumber("not a number")
    cleaned = "".join(out)
    if not cleaned.lstrip("+"):
        raise InvalidNumber("not a number")
    return cleaned


def normalize(raw: str) -> str:
    """Turn a Pakistani mobile number as people write it into E.164 (+923001234567)."""
    cleaned = _ascii_digits(raw)
    if len(cleaned.lstrip("+")) > _MAX_DIGITS:
        raise InvalidNumber("too long")
    try:
        number = phonenumbers.parse(cleaned, REGION)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "not a number")
        if reason == "not a number":  # we already know it is digits: "0" or "+92" is just short
            reason = "too short"
        raise InvalidNumber(reason) from None
    if number.country_code != COUNTRY_CODE:
        raise InvalidNumber("not a Pakistani number")
    if phonenumbers.is_valid_number(number):
        if phonenumbers.number_type(number) != PhoneNumberType.MOBILE:
            raise InvalidNumber("not a mobile number")
        e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
        if _E164_PK_MOBILE.match(e164):  # belt and braces: the rest of the road relies on it
            return e164
        raise InvalidNumber("not a mobile number")
    raise InvalidNumber(_invalid_reason(str(number.national_number)))


def _invalid_reason(nsn: str) -> str:
    """Explain why a Pakistani national number is not a valid mobile number."""
    # "92300123456" (a digit short) is left unstripped by phonenumbers; diagnose what follows.
    if nsn.startswith("923") and not nsn.startswith("3"):
        nsn = nsn[2:]
    if len(nsn) < _MIN_NSN_LENGTH:
        return "too short"
    if nsn.startswith("3"):
        if len(nsn) < NSN_LENGTH:
            return "too short"
        if len(nsn) > NSN_LENGTH:
            return "too long"
    return "not a mobile number"


def _require_pk_mobile(e164: str) -> str:
    if not isinstance(e164, str) or not _E164_PK_MOBILE.match(e164):
        raise InvalidNumber(f"not a normalized Pakistani mobile number ({mask(str(e164))})")
    return e164


def digits(e164: str) -> str:
    """Return an E.164 number's digits without the plus: +923001234567 -> 923001234567."""
    if not isinstance(e164, str) or not _E164_ANY.match(e164):
        raise InvalidNumber(f"not an E.164 number ({mask(str(e164))})")
    return e164[1:]


def national(e164: str) -> str:
    """Return the national form of a normalized mobile number: +923001234567 -> 03001234567."""
    return "0" + _require_pk_mobile(e164)[3:]


def operator_prefix(e164: str) -> str:
    """Return the mobile operator prefix with its trunk 0: +923001234567 -> 0300."""
    return "0" + _require_pk_mobile(e164)[3:6]


def mask(number: str) -> str:
    """Mask a phone number for logs and views: +923001234567 -> +92300*****67; never raise."""
    if not isinstance(number, str):
        return "***"
    if _E164_PK_MOBILE.fullmatch(number):  # already normalized (what the engine logs): no parse
        return number[:6] + "*" * (len(number) - 8) + number[-2:]
    try:
        e164 = normalize(number)
    except InvalidNumber:
        pass
    else:
        return e164[:6] + "*" * (len(e164) - 8) + e164[-2:]
    # Not a mobile number, but possibly still somebody's number: keep only enough to find it.
    try:
        cleaned = _ascii_digits(number)
    except InvalidNumber:
        return "***"
    plus = "+" if cleaned.startswith("+") else ""
    bare = cleaned.lstrip("+")
    if len(bare) < 8 or len(bare) > _MAX_DIGITS:
        return "***"
    return plus + bare[:4] + "*" * (len(bare) - 6) + bare[-2:]
