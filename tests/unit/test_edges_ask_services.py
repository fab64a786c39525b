"""The edges ask the application services (ivr/services/); they never read the engine's parts
or the store's status, intake and results queries themselves, so a figure, a status or an
accepted transaction means the same at every edge."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDGES = sorted([*ROOT.glob("ivr/web/*.py"), *ROOT.glob("ivr/cli*.py"), *ROOT.glob("ivr/cli/*.py")])
# What only ivr/services/ may call: the engine's internals and the store's readings behind
# /metrics, /healthz, `rabta status`, intake and every results figure.
SERVICE_ONLY = re.compile(r"\.agi\.stats|\.calls\.sessions|\.amis\b|\blive_summary\(|"
                          r"\badd_transactions\(|\bresult_groups\(|\boverview_counts\(|"
                          r"\btransaction_counts\(|\btrunk_rules\(")


@pytest.mark.parametrize("path", EDGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_an_edge_asks_a_service(path: Path) -> None:
    found = [f"{path.name}:{n}: {line.strip()}"
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if SERVICE_ONLY.search(line)]
    assert found == []


def test_the_services_are_where_those_calls_are() -> None:
    text = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "ivr/services").glob("*.py"))
    for call in ("live_summary(", "add_transactions(", "result_groups(", "overview_counts(",
                 "transaction_counts("):
        assert call in text, call
