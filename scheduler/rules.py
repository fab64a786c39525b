"""Scheduler, rules: every calling rule built once from Settings, typed, checked, then passed down.

Config holds strings (``calling_window = "09:00-20:00"``, ``trunks = ["jazz channels=30 cps=5"]``);
the entry points (``rabta``, the engine, the classic AGI script) turn them into one frozen
``Rules`` at start and hand it to the dialer, the survey sessions, click-to-call and the status
readers. A bad string is a ConfigError naming its key, raised here, once, before any call.
Dial strings are built from these rules in one place, scheduler/dialstring.py.

The classic AGI script imports this module inside the Asterisk rootfs, where only a few
libraries are installed: nothing here may import phonenumbers (ivr.phone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from ivr.config import Settings
from ivr.errors import ConfigError
from ivr.models import Outcome
from ivr.trunks import Trunk, trunks_and_prefixes
from scheduler.admission import AdmissionRules
from scheduler.policy import CallingRules, QuietPeriod, RetryRules, parse_window

# What a dial template is filled in with, for +923001234567 (checked once, at start).
_SAMPLE = {"digits": "923001234567", "national": "03001234567"}


def _pairs(items: tuple[str, ...], key: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ConfigError(f"{key}: {item!r} is not name=value")
        out[name.strip()] = value.strip()
    return out


def calling_rules(s: Settings) -> CallingRules:
    """Build when calls may be placed: window, windows per service, holidays, quiet periods."""
    try:
        parse_window(s.calling_window)
    except ValueError as exc:
        raise ConfigError(f"calling_window: {exc}") from None
    windows = _pairs(s.service_windows, "service_windows")
    for service, window in windows.items():
        try:
            parse_window(window)
        except ValueError as exc:
            raise ConfigError(f"service_windows: {service}: {exc}") from None
    try:
        blocked = frozenset(date.fromisoformat(d) for d in s.blocked_dates)
    except ValueError as exc:
        raise ConfigError(f"blocked_dates: {exc}") from None
    try:
        quiet = tuple(QuietPeriod.parse(q) for q in s.quiet_periods)
    except ValueError as exc:
        raise ConfigError(f"quiet_periods: {exc}") from None
    try:
        return CallingRules(window=s.calling_window, service_windows=windows,
                            blocked_dates=blocked, quiet=quiet, tz=s.timezone)
    except ValueError as exc:
        raise ConfigError(f"timezone: {exc}") from None


def retry_rules(s: Settings) -> RetryRules:
    """Build how often and how soon to call again, with a delay per outcome."""
    delays: dict[Outcome, float] = {o: s.retry_delay for o in Outcome if o.retryable}
    for name, value in _pairs(s.retry_delays, "retry_delays").items():
        try:
            delays[Outcome(name)] = float(value)
        except ValueError:
            raise ConfigError(f"retry_delays: {name}={value} is not outcome=seconds "
                              f"(outcomes: {', '.join(o.value for o in Outcome if o.retryable)})"
                              ) from None
    try:
        return RetryRules(max_attempts=s.max_attempts, delays=delays, default_delay=s.retry_delay,
                          partial_callbacks=s.partial_callbacks, callback_delay=s.callback_delay)
    except ValueError as exc:
        raise ConfigError(f"retry rules: {exc}") from None


def admission_rules(s: Settings) -> AdmissionRules:
    """Build the admission marks (a high mark of 0 turns its signal off)."""
    rtt_high, cpu_high = s.admission_rtt_high_ms, s.admission_cpu_high
    try:  # a high mark of 0 turns the signal off, whatever its low mark says
        return AdmissionRules(
            rtt_high_s=rtt_high / 1000, rtt_low_s=s.admission_rtt_low_ms / 1000 if rtt_high else 0,
            cpu_high=cpu_high, cpu_low=s.admission_cpu_low if cpu_high else 0,
            max_channels=s.admission_max_channels, min_closed_s=s.admission_min_closed_s)
    except ValueError as exc:
        raise ConfigError(f"{exc} (admission_rtt_low_ms <= admission_rtt_high_ms, "
                          f"admission_cpu_low <= admission_cpu_high)") from None


@dataclass(frozen=True)
class Rules:
    """The calling, retry and routing rules of one engine, built once from Settings."""

    calling: CallingRules
    retry: RetryRules
    trunks: tuple[Trunk, ...]
    prefixes: Mapping[str, str]  # national prefix -> mobile operator
    dial_template: str = "PJSIP/{digits}@{trunk}"
    default_trunk: str = "carrier"
    admission: AdmissionRules = field(default_factory=AdmissionRules)
    # Trunks that register with their carrier (trunk_sip register=yes): the dialer sends calls
    # through one only while its node's PBX holds the registration as Registered.
    registering: frozenset[str] = frozenset()

    @classmethod
    def from_settings(cls, s: Settings) -> Rules:
        """Build and check every rule; raise ConfigError naming the key that is wrong."""
        trunks, prefixes = trunks_and_prefixes(s)
        # each trunk's SIP side (registration, TLS, codecs...): refused at start, naming the key
        from ivr import trunk_sip  # here: the classic AGI script needs only retry_rules

        sip = trunk_sip.parse_all(s.trunk_sip, {t.name for t in trunks})
        try:
            s.dial_template.format(**_SAMPLE, trunk=s.trunk)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"dial_template: {s.dial_template!r} cannot be filled in "
                              f"({type(exc).__name__}: {exc}); it may use {{digits}}, "
                              f"{{national}} and {{trunk}}") from None
        return cls(calling_rules(s), retry_rules(s), trunks, prefixes, s.dial_template, s.trunk,
                   admission_rules(s), frozenset(n for n, t in sip.items() if t.register))
