"""Carrier trunks: what a trunk spec and the operator prefix table say, read from Settings.

Pure values shared by the PBX configs (ivr/render.py renders an endpoint per trunk)
and the scheduler (scheduler/rules.py keeps them in its Rules; scheduler/policy.py routes a
number to a trunk). A bad spec is a ConfigError naming ``trunks`` or ``operator_prefixes``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ivr.errors import ConfigError

if TYPE_CHECKING:  # only for the annotation: the pure policy imports this module
    from ivr.config import Settings


@dataclass(frozen=True)
class Trunk:
    """One line to a carrier: its limits and which mobile operators it is preferred for.

    `only` makes it carry nothing but its operators' numbers (an on-net bundle, say).
    `host` is where the carrier listens ("host:port"); empty means the local carrier simulator.
    """

    name: str
    channels: int
    cps: float
    operators: frozenset[str] = frozenset()
    only: bool = False
    host: str = ""

    @classmethod
    def parse(cls, spec: str) -> Trunk:
        """Parse 'name channels=N cps=R [operators=a,b] [only] [host=h:port]'."""
        words = spec.split()
        if not words or "=" in words[0]:
            raise ValueError(f"{spec!r}: starts with the trunk's name, "
                             f"e.g. 'jazz channels=30 cps=5 operators=jazz'")
        name, values, only = words[0], {}, False
        if not all(c.isalnum() or c in "-_" for c in name):
            raise ValueError(f"{spec!r}: the name may hold letters, digits, - and _ only")
        for word in words[1:]:
            key, sep, value = word.partition("=")
            if word == "only":
                only = True
            elif not sep or key not in ("channels", "cps", "operators", "host") or not value:
                raise ValueError(f"{spec!r}: {word!r} is not channels=, cps=, operators=, "
                                 f"host= or only")
            else:
                values[key] = value
        try:
            channels = int(values.get("channels", ""))
            cps = float(values.get("cps", ""))
        except ValueError:
            raise ValueError(f"{spec!r}: needs channels=<whole number> and cps=<number>") from None
        if channels < 1 or cps <= 0:
            raise ValueError(f"{spec!r}: channels must be at least 1 and cps positive")
        operators = frozenset(o for o in values.get("operators", "").split(",") if o)
        if only and not operators:
            raise ValueError(f"{spec!r}: 'only' needs operators=")
        return cls(name, channels, cps, operators, only, values.get("host", ""))


def parse_prefixes(items: Sequence[str]) -> dict[str, str]:
    """Parse 'prefix=operator' entries (national prefixes such as 030=jazz)."""
    table: dict[str, str] = {}
    for item in items:
        prefix, sep, operator = (part.strip() for part in item.partition("="))
        if not sep or not prefix.isdigit() or not operator:
            raise ValueError(f"{item!r} is not prefix=operator, e.g. 030=jazz")
        table[prefix] = operator
    return table


def trunks_and_prefixes(s: Settings) -> tuple[tuple[Trunk, ...], dict[str, str]]:
    """Build the trunks (or the one default trunk) and the operator prefix table."""
    try:
        prefixes = parse_prefixes(s.operator_prefixes)
    except ValueError as exc:
        raise ConfigError(f"operator_prefixes: {exc}") from None
    if not s.trunks:
        nodes = len(s.pbx_nodes())
        return (Trunk(s.trunk, s.max_concurrent * nodes, s.calls_per_second),), prefixes
    trunks = []
    for spec in s.trunks:
        try:
            trunks.append(Trunk.parse(spec))
        except ValueError as exc:
            raise ConfigError(f"trunks: {exc}") from None
    names = [t.name for t in trunks]
    if len(set(names)) != len(names):
        raise ConfigError(f"trunks: a name is used twice: {', '.join(names)}")
    if all(t.only for t in trunks):
        known = set(prefixes.values())
        uncovered = known - {o for t in trunks for o in t.operators}
        if uncovered:
            raise ConfigError(f"trunks: every trunk is 'only', so numbers of "
                              f"{', '.join(sorted(uncovered))} could never be called")
    return tuple(trunks), prefixes


