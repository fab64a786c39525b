"""Pure results rules: Wilson intervals, Kish weighting, suppression, ranking, filters."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ivr.accounts import Role
from ivr.errors import InputError
from ivr.results import (
    Filters,
    GroupSums,
    Scope,
    default_range,
    estimate,
    kish_n,
    may_export_responses,
    may_reveal,
    parse_filters,
    scope_of,
    summarize,
    week_start,
    wilson,
)


# Reference values: Wilson (1927) / Newcombe (1998) table, z = 1.96.
@pytest.mark.parametrize("successes,n,low,high", [
    (0, 10, 0.0, 0.2775),
    (1, 10, 0.0179, 0.4042),
    (5, 10, 0.2366, 0.7634),
    (10, 10, 0.7225, 1.0),
    (1, 1, 0.2065, 1.0),
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
])
def test_wilson_matches_the_published_table(successes: int, n: int, low: float,
                                            high: float) -> None:
    got = wilson(successes, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_without_answers_knows_nothing_and_refuses_nonsense() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson(11, 10)
    lo, hi = wilson(2.5, 5.0)  # fractional effective n works
    assert 0 < lo < 0.5 < hi < 1


@pytest.mark.parametrize("weights,expected", [
    ([1.0] * 10, 10.0),
    ([1.0, 3.0], 1.6),
    ([2.0] * 4, 4.0),
    ([], 0.0),
])
def test_kish_effective_n(weights: list[float], expected: float) -> None:
    assert kish_n(sum(weights), sum(w * w for w in weights)) == pytest.approx(expected)


def test_estimate_is_weighted_and_its_interval_uses_the_effective_n() -> None:
    # 10 answers, 2 yes with weight 4, 8 no with weight 1: weighted share 8/16 = 0.5
    weights = [4.0, 4.0] + [1.0] * 8
    e = estimate(10, 8.0, sum(weights), sum(w * w for w in weights), min_n=10)
    assert e.value == pytest.approx(0.5)
    eff = kish_n(16.0, 40.0)  # 6.4
    assert (e.low, e.high) == pytest.approx(wilson(0.5 * eff, eff))
    unweighted = estimate(10, 5.0, 10.0, 10.0, min_n=10)
    assert unweighted.value == 0.5
    assert unweighted.high is not None and e.high is not None and e.high > unweighted.high


@pytest.mark.parametrize("n,suppressed", [(0, True), (9, True), (10, False), (11, False)])
def test_estimates_below_the_minimum_are_withheld(n: int, suppressed: bool) -> None:
    e = estimate(n, n / 2, float(n), float(n), min_n=10)
    assert e.suppressed is suppressed
    assert (e.value is None) is suppressed and (e.low is None) is suppressed
    assert e.as_dict()["suppressed"] is suppressed


def _sums(rated: int, satisfied: int, bribe_n: int = 0, yes: int = 0) -> GroupSums:
    return GroupSums(rated=rated, rated_w=rated, rated_w2=rated, satisfied_w=satisfied,
                     rating_sum_w=4.0 * rated, bribe_n=bribe_n, bribe_w=bribe_n,
                     bribe_w2=bribe_n, bribe_yes_w=yes)


def test_summarize_ranks_only_groups_at_the_minimum_and_totals_everything() -> None:
    rows, total = summarize([("Attock", _sums(20, 10)), ("Lahore", _sums(30, 27)),
                             ("Murree", _sums(10, 3)), ("Okara", _sums(12, 9, 12, 6)),
                             ("Quetta", _sums(0, 0))], 10)
    assert [(r.group, r.rank) for r in rows] == [("Attock", 3), ("Lahore", 1), ("Murree", 4),
                                                 ("Okara", 2), ("Quetta", None)]
    assert rows[4].suppressed and rows[4].mean_rating is None  # no answers: nothing to show
    assert rows[3].bribe.value == 0.5 and rows[1].bribe.suppressed  # no bribe answers there
    assert total.responses == 72 and total.satisfaction.value == pytest.approx(49 / 72)
    assert total.rank is None


def test_a_small_group_is_not_given_away_by_the_total() -> None:
    """Murree's 3 answers are withheld; so is the smallest other group (Okara), or the total
    minus the groups shown would be Murree's."""
    rows, total = summarize([("Attock", _sums(20, 10, 20, 2)), ("Lahore", _sums(30, 27, 30, 3)),
                             ("Murree", _sums(3, 3, 3, 3)), ("Okara", _sums(12, 9, 12, 6))], 10)
    shown = {r.group: (r.satisfaction.value is not None, r.bribe.value is not None, r.rank)
             for r in rows}
    assert shown == {"Attock": (True, True, 2), "Lahore": (True, True, 1),
                     "Murree": (False, False, None), "Okara": (False, False, None)}
    assert rows[3].mean_rating is None and rows[3].responses == 12
    assert not total.suppressed  # 65 answers: the total is shown
    # withheld answers already at the minimum together: nobody else is withheld
    rows, _ = summarize([("A", _sums(20, 10)), ("B", _sums(6, 3)), ("C", _sums(5, 3))], 10)
    assert [r.suppressed for r in rows] == [False, True, True]
    # one group alone: withheld, and the total with it
    rows, total = summarize([("A", _sums(4, 4))], 10)
    assert rows[0].suppressed and total.suppressed


def test_group_sums_add_up() -> None:
    a, b = _sums(2, 1, 1, 1), _sums(3, 3, 2, 0)
    a.add(b)
    assert (a.rated, a.satisfied_w, a.bribe_n, a.bribe_yes_w) == (5, 4, 3, 1)


def test_week_start_is_monday() -> None:
    assert week_start(date(2024, 5, 1)) == date(2024, 4, 29)  # a Wednesday
    assert week_start(date(2024, 4, 29)) == date(2024, 4, 29)
    assert week_start(date(2024, 5, 5)) == date(2024, 4, 29)  # Sunday


def test_scope_of_each_role() -> None:
    assert scope_of(Role.OVERSIGHT, ()) == Scope()
    assert scope_of(Role.DEPARTMENT, ("Domicile", "Pension")) == Scope(services=("Domicile",
                                                                                 "Pension"))
    assert scope_of(Role.DISTRICT, ("Lahore",)) == Scope(district="Lahore")
    for role in (Role.SUPERVISOR, Role.TELEPHONY, Role.DATAENTRY):
        assert scope_of(role, ("x",)) is None
    assert [r for r in Role if may_reveal(r)] == [Role.OVERSIGHT]
    assert [r for r in Role if may_export_responses(r)] == [Role.OVERSIGHT]


def test_parse_filters_reads_a_query() -> None:
    f = parse_filters({"by": "office", "from": "2024-05-01", "to": "2024-05-31",
                       "district": " Lahore ", "service": "", "office": "DC Office Lahore"})
    assert f == Filters(by="office", start=date(2024, 5, 1), end=date(2024, 5, 31),
                        district="Lahore", office="DC Office Lahore")
    assert parse_filters({}) == Filters(by="district")
    assert f.query(by="official", office="X") == {
        "by": "official", "from": "2024-05-01", "to": "2024-05-31", "district": "Lahore",
        "office": "X"}
    assert "district" not in f.query(district=None)


@pytest.mark.parametrize("query,field", [
    ({"by": "mobile"}, "by"),
    ({"from": "yesterday"}, "from"),
    ({"to": "2024-13-01"}, "to"),
    ({"from": "2024-05-02", "to": "2024-05-01"}, "to"),
    ({"from": "2000-01-01", "to": "2024-01-01"}, "to"),
    ({"district": "x" * 201}, "district"),
    ({"office": "a\x00b"}, "office"),
])
def test_parse_filters_refuses_bad_input_naming_the_field(query: dict[str, str],
                                                          field: str) -> None:
    with pytest.raises(InputError, match=f"^{field}:"):
        parse_filters(query)


def test_default_range_fills_in_the_last_days() -> None:
    f = default_range(Filters(by="day"), date(2024, 5, 31), days=30)
    assert (f.start, f.end) == (date(2024, 5, 2), date(2024, 5, 31))
    kept = default_range(Filters(by="day", start=date(2024, 1, 1), end=date(2024, 1, 3)),
                         date(2024, 5, 31))
    assert (kept.start, kept.end) == (date(2024, 1, 1), date(2024, 1, 3))


@given(st.dictionaries(st.sampled_from(["by", "from", "to", "district", "service", "office",
                                        "official", "other"]), st.text(max_size=250)))
def test_parse_filters_either_reads_a_query_or_says_which_field_is_wrong(
        query: dict[str, str]) -> None:
    try:
        f = parse_filters(query)
    except InputError as exc:
        assert str(exc).split(":")[0] in {"by", "from", "to", "district", "service", "office",
                                          "official"}
    else:
        assert f.by in ("district", "service", "office", "official", "day", "week")
        assert f.start is None or f.end is None or f.start <= f.end
