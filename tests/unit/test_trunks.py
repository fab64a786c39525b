"""Unit tier: trunks and operator routing (pure policy), their config, the claim-time router,
the store's per-trunk claim and figures, and the PJSIP endpoints rendered for each trunk."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.calls import CallRegistry
from ivr.config import Settings, load_settings
from ivr.errors import ConfigError
from ivr.lab import rootfs
from ivr.models import Transaction
from ivr.store import SQLiteStore
from scheduler import policy
from scheduler.dialer import Dialer
from scheduler.policy import Trunk
from scheduler.rules import Rules


def trunk_rules(s: Settings) -> tuple[list[Trunk], dict[str, str]]:
    rules = Rules.from_settings(s)
    return list(rules.trunks), dict(rules.prefixes)

PK = policy.parse_prefixes(["030=jazz", "031=zong", "032=jazz", "033=ufone", "034=telenor"])
JAZZ = Trunk("jazz", 2, 5.0, frozenset({"jazz"}))
ZONG_ONLY = Trunk("zong", 1, 1.0, frozenset({"zong"}), only=True)
GENERAL = Trunk("national", 3, 10.0)


@pytest.mark.parametrize(("national", "operator"), [
    ("03001234567", "jazz"), ("03091234567", "jazz"), ("03111234567", "zong"),
    ("03211234567", "jazz"), ("03311234567", "ufone"), ("03451234567", "telenor"),
    ("03551234567", None), ("0421234567", None), ("", None),
])
def test_operator_by_pakistani_prefix(national: str, operator: str | None) -> None:
    assert policy.operator_of(national, PK) == operator


def test_longest_prefix_wins() -> None:
    table = policy.parse_prefixes(["030=jazz", "0300=special"])
    assert policy.operator_of("03001234567", table) == "special"
    assert policy.operator_of("03011234567", table) == "jazz"


@pytest.mark.parametrize("bad", ["030", "jazz=030", "=jazz", "030=", "03x=jazz"])
def test_bad_prefix_entries_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="prefix=operator"):
        policy.parse_prefixes([bad])


@pytest.mark.parametrize(("spec", "trunk"), [
    ("jazz channels=2 cps=5 operators=jazz", JAZZ),
    ("zong channels=1 cps=1 operators=zong only", ZONG_ONLY),
    ("national cps=10 channels=3", GENERAL),
    ("far channels=4 cps=0.5 host=10.0.0.7:5060",
     Trunk("far", 4, 0.5, frozenset(), False, "10.0.0.7:5060")),
])
def test_trunk_spec_parses(spec: str, trunk: Trunk) -> None:
    assert Trunk.parse(spec) == trunk


@pytest.mark.parametrize(("spec", "complaint"), [
    ("", "name"), ("channels=2 cps=1", "name"), ("ja zz channels=2", "not channels="),
    ("jazz cps=1", "channels="), ("jazz channels=2", "cps="), ("jazz channels=0 cps=1", "at least 1"),
    ("jazz channels=2 cps=0", "positive"), ("jazz channels=2 cps=1 colour=red", "colour"),
    ("jazz channels=2 cps=1 only", "'only' needs operators"), ("ja;zz channels=2 cps=1", "letters"),
])
def test_bad_trunk_specs_say_what_is_wrong(spec: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        Trunk.parse(spec)


TRUNKS = [ZONG_ONLY, JAZZ, GENERAL]


@pytest.mark.parametrize(("operator", "in_use", "chosen"), [
    ("jazz", {}, "jazz"),                                  # its operator's trunk first
    ("jazz", {"jazz": 2}, "national"),                     # full: falls back to a general one
    ("jazz", {"jazz": 2, "national": 3}, None),            # never onto an 'only' trunk
    ("zong", {}, "zong"),
    ("zong", {"zong": 1}, "jazz"),                         # jazz's trunk is not 'only'
    ("ufone", {}, "jazz"),                                 # no trunk of its own: config order
    (None, {}, "jazz"),                                    # unknown operator
    ("ufone", {"jazz": 2}, "national"),
    ("ufone", {"jazz": 2, "national": 3}, None),
])
def test_choose_trunk(operator: str | None, in_use: dict[str, int], chosen: str | None) -> None:
    got = policy.choose_trunk(operator, TRUNKS, in_use)
    assert (got.name if got else None) == chosen


def test_trunk_order_prefers_own_then_general_in_config_order() -> None:
    assert [t.name for t in policy.trunk_order("jazz", TRUNKS)] == ["jazz", "national"]
    assert [t.name for t in policy.trunk_order("zong", TRUNKS)] == ["zong", "jazz", "national"]


# ---------------------------------------------------------------------- config


def test_no_trunks_configured_means_the_one_trunk_with_the_dialer_limits() -> None:
    s = load_settings(env={}, overrides={"max_concurrent": 7, "calls_per_second": 3})
    trunks, prefixes = trunk_rules(s)
    assert trunks == [Trunk("carrier", 7, 3.0)]
    assert prefixes["033"] == "ufone"


def test_trunks_from_environment() -> None:
    s = load_settings(env={"RABTA_TRUNKS": "jazz channels=2 cps=5 operators=jazz,"
                                          "national channels=3 cps=10"})
    assert [t.name for t in trunk_rules(s)[0]] == ["jazz", "national"]


@pytest.mark.parametrize(("trunks", "complaint"), [
    (("jazz channels=2",), "trunks: .*cps="),
    (("a channels=1 cps=1", "a channels=2 cps=1"), "used twice"),
    (("z channels=1 cps=1 operators=zong only",), "jazz, telenor, ufone could never be called"),
])
def test_bad_trunk_config_is_a_config_error(trunks: tuple[str, ...], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        Rules.from_settings(load_settings(env={}, overrides={"trunks": list(trunks)}))


def test_bad_operator_prefix_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="operator_prefixes"):
        Rules.from_settings(load_settings(env={}, overrides={"operator_prefixes": ["jazz"]}))


# ---------------------------------------------------------------------- the router and claim


def dialer_with(trunks: list[str], **extra: Any) -> Dialer:
    settings = load_settings(env={}, overrides={"trunks": trunks, **extra})
    ami: Any = SimpleNamespace(name="pbx", connected=True, subscribe=lambda kind, handler: None)
    return Dialer(store=None, ami=[ami], settings=settings, calls=CallRegistry(),  # type: ignore[arg-type]
                  rules=Rules.from_settings(settings))


async def test_router_routes_by_operator_and_never_overfills() -> None:
    d = dialer_with(["jazz channels=2 cps=5 operators=jazz", "zong channels=1 cps=5 operators=zong only",
                     "national channels=1 cps=5"])
    route = d.pacer.router(d._operator)
    jazz, zong, ufone = "+923001234567", "+923111234567", "+923331234567"
    assert [route(jazz), route(jazz), route(jazz)] == ["jazz", "jazz", "national"]
    assert route(jazz) is None  # jazz and national full; zong is zong-only
    assert [route(zong), route(zong)] == ["zong", None]
    assert route(ufone) is None


async def test_router_refuses_a_trunk_whose_paced_queue_is_long() -> None:
    d = dialer_with(["slow channels=50 cps=1"])
    route = d.pacer.router(d._operator)
    # cps=1: two seconds of queue is two calls, however many channels are free.
    assert [route("+923001234567") for _ in range(3)] == ["slow", "slow", None]


async def test_reserve_spaces_each_trunk_by_its_own_rate() -> None:
    d = dialer_with(["fast channels=9 cps=10", "slow channels=9 cps=2"], calls_per_second=100)
    t0 = asyncio.get_running_loop().time()
    slow = [d.pacer.reserve("slow") - t0 for _ in range(3)]
    fast = [d.pacer.reserve("fast") - t0 for _ in range(3)]
    assert [round(x, 2) for x in slow] == [0.0, 0.5, 1.0]
    # The fast trunk is not held up behind the slow one: only the engine-wide 0.01 s gap.
    assert fast[0] < 0.1 and fast[2] - fast[0] == pytest.approx(0.2, abs=0.02)


T0 = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def tx(ref: str, mobile: str) -> Transaction:
    return Transaction(office="PS Gulberg", ref=ref, name="", mobile=mobile, service="police",
                       district="Lahore", official="SHO", visited_at=T0, language="ur")


async def test_claim_stores_the_trunk_and_leaves_unroutable_rows_due(store: SQLiteStore) -> None:
    await store.add_transactions([tx("R1", "+923001110001"), tx("R2", "+923111110002"),
                                  tx("R3", "+923001110003")], T0)
    route = {"+923001110001": "jazz", "+923111110002": None, "+923001110003": "national"}
    claimed = await store.claim_due(T0, 10, node="pbx", route=route.get)
    assert [(a.number, a.trunk) for a in claimed] == [("+923001110001", "jazz"),
                                                      ("+923001110003", "national")]
    assert (await store.attempt_row(claimed[0].id)).trunk == "jazz"
    again = await store.claim_due(T0, 10, node="pbx", route=lambda n: "zong")
    assert [(a.number, a.trunk) for a in again] == [("+923111110002", "zong")]
    summary = await store.live_summary(T0, T0)
    assert summary["in_flight_by_trunk"] == {"jazz": 1, "national": 1, "zong": 1}
    assert summary["attempts_today_by_trunk"] == {"jazz": 1, "national": 1, "zong": 1}


# ---------------------------------------------------------------------- PJSIP endpoints


def test_every_extra_trunk_gets_an_endpoint_and_aor(tmp_path: Any) -> None:
    s = load_settings(env={}, overrides={
        "home": str(tmp_path), "trunks": ["carrier channels=5 cps=5",
                                         "jazz channels=2 cps=1 operators=jazz",
                                         "far channels=2 cps=1 host=10.1.2.3:5062"]})
    text = rootfs.trunk_endpoints(s)
    assert "[carrier]" not in text  # the main trunk is in the template already
    assert text.count("[jazz]") == 2 and text.count("[far]") == 2
    assert f"contact = sip:127.0.0.1:{s.carrier_sip_port}" in text
    assert "contact = sip:10.1.2.3:5062" in text
    assert "context = rabta-inbound" in text  # never a context that can dial out


@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=40))
@settings(max_examples=60, deadline=None)
def test_reservations_respect_every_pace(order: list[str]) -> None:
    async def run() -> None:
        d = dialer_with(["a channels=99 cps=2", "b channels=99 cps=5", "c channels=99 cps=50"],
                        calls_per_second=20)
        booked: dict[str, list[float]] = {"a": [], "b": [], "c": []}
        for name in order:
            booked[name].append(d.pacer.reserve(name))
        everything = sorted(t for times in booked.values() for t in times)
        assert all(b - a >= 1 / 20 - 1e-9 for a, b in itertools.pairwise(everything))
        for name, cps in (("a", 2), ("b", 5), ("c", 50)):
            times = booked[name]
            assert times == sorted(times)  # a trunk's own calls keep their order
            assert all(b - a >= 1 / cps - 1e-9 for a, b in itertools.pairwise(times))

    asyncio.run(run())


async def test_status_shows_each_trunk_and_node_with_its_capacity(store: SQLiteStore, tmp_path: Any,
                                                                   capsys: Any) -> None:
    import io
    import json

    from ivr import cli

    db = tmp_path / "status.db"
    s = load_settings(env={}, overrides={
        "home": str(tmp_path), "database": str(db), "ami_port": 1,
        "trunks": ["jazz channels=2 cps=5 operators=jazz", "national channels=4 cps=5"]})
    from ivr.store import open_store
    st = await open_store(db)
    try:
        await st.add_transactions([tx("S1", "+923001110001"), tx("S2", "+923331110002")], T0)
        await st.claim_due(datetime.now(UTC), 10, node="rabta-pbx",
                           route=lambda n: "jazz" if n.startswith("+92300") else "national")
    finally:
        await st.close()
    out = io.StringIO()
    assert await cli.do_status(s, True, out) == 0
    data = json.loads(out.getvalue())
    assert data["trunks"]["jazz"] == {"in_flight": 1, "capacity": 2, "cps": 5.0, "attempts_today": 1}
    assert data["trunks"]["national"]["in_flight"] == 1
    assert data["nodes"] == {"rabta-pbx": {"in_flight": 2, "capacity": 10}}
    out = io.StringIO()
    await cli.do_status(s, False, out)
    text = out.getvalue()
    assert "trunk jazz" in text and "1/2" in text and "1/4" in text and "node rabta-pbx" in text
