"""Allocation: hand-computed known answers, bad input, and properties that must hold for any input."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sheetplan.plan.allocation import (
    availability,
    check_manual,
    history_weights,
    largest_remainder,
    profile_from_history,
    round_manual,
    split,
    split_grid,
    split_team,
    split_year,
    to_units,
)
from sheetplan.workspace.config import fiscal_months

FLAT = [1] * 12
FULL = [1.0] * 12
FY27_APRIL = fiscal_months(2027, 4)
FY27_JAN = fiscal_months(2027, 1)


def units(value: float, decimals: int) -> int:
    """A result in integer units, failing if it carries more decimals than it should."""
    scaled = Decimal(repr(value)).scaleb(decimals)
    assert scaled == scaled.to_integral_value(), f"{value!r} has more than {decimals} decimals"
    return int(scaled)


# --- known answers, computed by hand ------------------------------------------------------------

LARGEST_REMAINDER_CASES = [
    # total, weights, decimals, expected
    (100, [1, 1, 1], 0, [34, 33, 33]),
    (10.00, [1, 1, 1], 2, [3.34, 3.33, 3.33]),
    (7, [1, 1, 1, 1], 0, [2, 2, 2, 1]),  # 1.75 each: three left-over units, first come first served
    (1, [1, 1, 1], 0, [1, 0, 0]),
    (10, [1, 2, 3, 4], 0, [1, 2, 3, 4]),  # exact quotas, nothing to round
    (5, [3, 1], 0, [4, 1]),  # 3.75 and 1.25
    (100, [0.1, 0.2, 0.3], 0, [17, 33, 50]),  # 16.67, 33.33, 50: 0.1:0.2:0.3 read as exactly 1:2:3
    (1000, [2, 1], 2, [666.67, 333.33]),
    (9, [0, 0, 0], 0, [3, 3, 3]),  # all-zero weights: equal split
    (100, [0, 1, 0], 0, [0, 100, 0]),
    (0, [5, 1], 2, [0, 0]),
    (10.005, [1], 2, [10.01]),  # the total is rounded half up to the metric's decimals first
    (0.3, [1, 1], 1, [0.2, 0.1]),
    (2, [1, 3], 0, [1, 1]),  # 0.5 and 1.5 tie on the remainder: the earlier child wins
    (2, [3, 1], 0, [2, 0]),
    (1.5, [1, 1], 6, [0.75, 0.75]),
]


@pytest.mark.parametrize(("total", "weights", "decimals", "expected"), LARGEST_REMAINDER_CASES)
def test_largest_remainder_known_answers(total, weights, decimals, expected):
    assert largest_remainder(total, weights, decimals) == expected


def test_split_keeps_key_order():
    result = split(10, {"west": 1, "north": 1, "south": 1}, 2)
    assert list(result.items()) == [("west", 3.34), ("north", 3.33), ("south", 3.33)]


def test_split_of_nothing():
    assert split(0, {}, 2) == {}
    assert largest_remainder(0, [], 0) == []


HISTORY_CASES = [
    # history, rule, expected shares (written as fractions worked out by hand)
    ({"ana": 300, "ben": 100, "cy": None}, "average", [1 / 2, 1 / 6, 1 / 3]),  # cy: (0.75 + 0.25) / 2
    ({"ana": 300, "ben": 100, "cy": None}, "minimum", [0.6, 0.2, 0.2]),  # cy: 0.25, then over 1.25
    ({"ana": 300, "ben": 100, "cy": None}, "zero", [0.75, 0.25, 0]),
    ({"ana": 0, "ben": 100, "cy": None}, "minimum", [0, 0.5, 0.5]),  # smallest non-zero share is 1
    ({"ana": 100, "ben": 0, "cy": None}, "average", [2 / 3, 0, 1 / 3]),  # a zero actual is history
    ({"ana": None, "ben": None}, "average", [0, 0]),  # nobody: the split falls back to equal
    ({"ana": 0, "ben": 0}, "minimum", [0, 0]),
    ({}, "average", []),
]


@pytest.mark.parametrize(("history", "rule", "expected"), HISTORY_CASES)
def test_history_weights_known_answers(history, rule, expected):
    result = history_weights(history, rule)
    assert list(result) == list(history)
    assert list(result.values()) == pytest.approx(expected)


def test_history_split_end_to_end():
    shares = history_weights({"ana": 300, "ben": 100, "cy": None}, "average")
    assert split(1200, shares, 0) == {"ana": 600, "ben": 200, "cy": 400}
    nobody = history_weights({"ana": None, "ben": None, "cy": None})
    assert split(100, nobody, 0) == {"ana": 34, "ben": 33, "cy": 33}


def test_fiscal_months():
    assert FY27_APRIL[:2] == ["2027-04", "2027-05"]
    assert FY27_APRIL[-1] == "2028-03"
    assert FY27_JAN == [f"2027-{m:02d}" for m in range(1, 13)]
    assert fiscal_months(2027, 12)[:2] == ["2027-12", "2028-01"]


AVAILABILITY_CASES = [
    # months, start, end, ramp, expected
    (FY27_APRIL, None, None, (), FULL),
    (FY27_APRIL, "2027-07", None, (0.5,), [0, 0, 0, 0.5] + [1] * 8),  # new hire in fiscal month 4
    (FY27_APRIL, "2027-07", None, (), [0, 0, 0] + [1] * 9),
    (FY27_APRIL, "2027-02", None, (0.25, 0.5, 0.75), [0.75] + [1] * 11),  # ramp began before the year
    (FY27_APRIL, "2028-02", None, (0.25, 0.5, 0.75), [0] * 10 + [0.25, 0.5]),
    (FY27_APRIL, None, "2027-09", (), [1] * 6 + [0] * 6),  # leaver: end month inclusive
    (FY27_APRIL, "2027-05", "2027-07", (0.5,), [0, 0.5, 1, 1] + [0] * 8),
    (FY27_APRIL, "2027-06", "2027-06", (0.5,), [0, 0, 0.5] + [0] * 9),
    (FY27_APRIL, "2028-04", None, (), [0] * 12),  # starts after the year
    (FY27_APRIL, None, "2027-03", (), [0] * 12),  # left before the year
    ([], "2027-01", None, (0.5,), []),
]


@pytest.mark.parametrize(("months", "start", "end", "ramp", "expected"), AVAILABILITY_CASES)
def test_availability_known_answers(months, start, end, ramp, expected):
    assert availability(months, start, end, ramp) == expected


SPLIT_YEAR_CASES = [
    # total, profile, availability, decimals, expected
    (1200, FLAT, FULL, 0, [100] * 12),
    (850, FLAT, [0, 0, 0, 0.5] + [1] * 8, 0, [0, 0, 0, 50] + [100] * 8),  # 8.5 month-equivalents
    (1400, [2] + [1] * 10 + [2], FULL, 0, [200] + [100] * 10 + [200]),
    (100, FLAT, FULL, 0, [9] * 4 + [8] * 8),  # 8.33 each: four left-over units go to the first months
    (100, FLAT, FULL, 2, [8.34] * 4 + [8.33] * 8),
    (600, [0] * 6 + [1] * 6, [1] * 6 + [0] * 6, 0, [100] * 6 + [0] * 6),  # profile zero where available
    (0, FLAT, [0] * 12, 0, [0] * 12),
    (85, [0] * 12, [0.5] + [1] * 8 + [0] * 3, 0, [5] + [10] * 8 + [0] * 3),  # no profile: availability
]


@pytest.mark.parametrize(("total", "profile", "avail", "decimals", "expected"), SPLIT_YEAR_CASES)
def test_split_year_known_answers(total, profile, avail, decimals, expected):
    assert split_year(total, profile, avail, decimals) == expected


def test_new_hire_from_team_to_months():
    # ana works all year; ben starts in fiscal month 4 at half pace: 8.5 of 12 months.
    ben = availability(FY27_APRIL, "2027-07", None, (0.5,))
    team = split_team(2050, {"ana": 1, "ben": 1}, {"ana": FULL, "ben": ben}, 0)
    assert team == {"ana": 1200, "ben": 850}
    assert split_year(team["ben"], FLAT, ben, 0) == [0, 0, 0, 50] + [100] * 8


SPLIT_TEAM_CASES = [
    # total, shares, availabilities, expected
    (300, {"a": 1, "b": 1, "c": 1}, {"a": FULL, "b": FULL, "c": [0] * 12}, {"a": 150, "b": 150, "c": 0}),
    (90, {"a": 0, "b": 0}, {"a": FULL, "b": [1] * 6 + [0] * 6}, {"a": 60, "b": 30}),  # zero shares
    (90, {"a": 1, "b": 0}, {"a": [0] * 12, "b": FULL}, {"a": 0, "b": 90}),  # only sharer is gone
    (100, {"a": 3, "b": 1}, {"a": FULL, "b": FULL}, {"a": 75, "b": 25}),
    (0, {"a": 1}, {"a": [0] * 12}, {"a": 0}),
    (0, {}, {}, {}),
]


@pytest.mark.parametrize(("total", "shares", "avail", "expected"), SPLIT_TEAM_CASES)
def test_split_team_known_answers(total, shares, avail, expected):
    result = split_team(total, shares, avail, 0)
    assert list(result.items()) == list(expected.items())


def test_profile_from_history():
    assert profile_from_history([]) == (1 / 12,) * 12
    assert profile_from_history([0] * 12) == (1 / 12,) * 12
    profile = profile_from_history([2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4])
    assert profile == (0.125,) + (0.0625,) * 10 + (0.25,)
    assert split_year(1600, profile, FULL, 0) == [200] + [100] * 10 + [400]


def test_grid_known_answers():
    even = split_grid(1200, {"retail": 3, "trade": 1}, FLAT, FULL, 0)
    assert even == {"retail": [75] * 12, "trade": [25] * 12}
    # Four cells of 2.5: rows and columns each need one extra unit, so it lands on the diagonal.
    halves = split_grid(10, {"retail": 1, "trade": 1}, [1, 1] + [0] * 10, FULL, 0)
    assert halves == {"retail": [3, 2] + [0] * 10, "trade": [2, 3] + [0] * 10}
    hire = split_grid(850, {"a": 1, "b": 1}, FLAT, [0, 0, 0, 0.5] + [1] * 8, 0)
    assert hire == {"a": [0, 0, 0, 25] + [50] * 8, "b": [0, 0, 0, 25] + [50] * 8}


def test_grid_sequential_rounding_would_drift():
    # 100 over 3 equal groups and a flat year (months of 9 and 8): splitting each month on its own
    # would give "a" 3 in every month, 36 instead of its 34. Here both margins stay exact.
    grid = split_grid(100, {"a": 1, "b": 1, "c": 1}, FLAT, FULL, 0)
    assert [sum(row) for row in grid.values()] == [34, 33, 33]
    assert [sum(col) for col in zip(*grid.values())] == [9] * 4 + [8] * 8


def test_grid_moves_a_unit_when_greedy_rounding_gets_stuck():
    # Nine cells of 2/3. Rounding up by remainder, then position, fills a's and b's first two
    # months; c can then take only month 3, so one unit moves a -> c along month 1 and month 3.
    grid = split_grid(6, {"a": 1, "b": 1, "c": 1}, [1, 1, 1] + [0] * 9, FULL, 0)
    assert grid == {"a": [0, 1, 1] + [0] * 9, "b": [1, 1, 0] + [0] * 9, "c": [1, 0, 1] + [0] * 9}


def test_exact_number_types_are_accepted():
    assert largest_remainder(Decimal("10.00"), [Fraction(1, 3), Fraction(2, 3)], 2) == [3.33, 6.67]
    with pytest.raises(ValueError, match="must be a number"):
        largest_remainder(10, [True], 0)


MANUAL_CASES = [
    # total, values, decimals, difference
    (100, {"a": 50, "b": 50}, 0, 0.0),
    (100, {"a": 60, "b": 50}, 0, 10.0),
    (100, {"a": 40, "b": 50}, 0, -10.0),
    (10, {"a": 3.333, "b": 6.667}, 2, 0.0),  # each figure rounded first: 3.33 + 6.67
    (10, {"a": 3.335, "b": 6.665}, 2, 0.01),  # 3.34 + 6.67, half up
    (0, {}, 2, 0.0),
]


@pytest.mark.parametrize(("total", "values", "decimals", "difference"), MANUAL_CASES)
def test_check_manual(total, values, decimals, difference):
    assert check_manual(total, values, decimals) == difference


def test_round_manual():
    assert round_manual(10, {"a": 3.333, "b": 6.667}, 2) == {"a": 3.33, "b": 6.67}
    with pytest.raises(ValueError, match=r"add up to 110, not the total 100 \(\+10\)"):
        round_manual(100, {"a": 60, "b": 50}, 0)


# --- bad input ----------------------------------------------------------------------------------

BAD_CALLS = [
    (lambda: largest_remainder(-1, [1], 0), "total must not be negative"),
    (lambda: largest_remainder(1, [1, -2], 0), "weight 2 must not be negative"),
    (lambda: largest_remainder(math.nan, [1], 0), "finite"),
    (lambda: largest_remainder(1, [math.inf], 0), "finite"),
    (lambda: largest_remainder(1, ["1"], 0), "must be a number"),
    (lambda: largest_remainder(1, [1], 7), "decimals"),
    (lambda: largest_remainder(1, [1], -1), "decimals"),
    (lambda: largest_remainder(1, [1], 1.0), "decimals"),
    (lambda: largest_remainder(1, [], 0), "over no children"),
    (lambda: largest_remainder(1e15, [1], 0), "too large"),
    (lambda: split(1, {"ana": -1}, 0), "weight of 'ana'"),
    (lambda: history_weights({"ana": -5}), "history of 'ana' must not be negative"),
    (lambda: history_weights({"ana": math.nan}), "finite"),
    (lambda: history_weights({"ana": 1}, "median"), "no_history must be one of"),
    (lambda: availability(FY27_APRIL, "2027-13", None), "start_month must be a month"),
    (lambda: availability(FY27_APRIL, None, "2027/05"), "end_month must be a month"),
    (lambda: availability(FY27_APRIL, "2027-08", "2027-07"), "before start_month"),
    (lambda: availability(FY27_APRIL, "2027-08", None, (1.5,)), "ramp step 1"),
    (lambda: availability(FY27_APRIL, "2027-08", None, (-0.5,)), "ramp step 1"),
    (lambda: availability(["2027-05", "2027-04"], None, None), "in order"),
    (lambda: fiscal_months(2027, 13), "start_month"),
    (lambda: fiscal_months(0, 1), "year"),
    (lambda: profile_from_history([1] * 11), "12 figures"),
    (lambda: profile_from_history([1] * 11 + [-1]), "must not be negative"),
    (lambda: split_year(100, [1] * 11, FULL, 0), "profile needs 12 months"),
    (lambda: split_year(100, FLAT, [1] * 13, 0), "availability needs 12 months"),
    (lambda: split_year(100, FLAT, [2] * 12, 0), "between 0 and 1"),
    (lambda: split_year(100, FLAT, [0] * 12, 0), "never available"),
    (lambda: split_year(100, [math.inf] * 12, FULL, 0), "finite"),
    (lambda: split_team(100, {"a": 1}, {"b": FULL}, 0), "same people"),
    (lambda: split_team(100, {"a": 1}, {"a": [0] * 12}, 0), "nobody in the team is available"),
    (lambda: split_team(100, {}, {}, 0), "over no people"),
    (lambda: split_team(100, {"a": -1}, {"a": FULL}, 0), "share of 'a'"),
    (lambda: split_grid(100, {}, FLAT, FULL, 0), "over no customer groups"),
    (lambda: split_grid(100, {"x": 1}, FLAT, [0] * 12, 0), "never available"),
    (lambda: check_manual(10, {"a": -1}, 0), "manual figure for 'a'"),
    (lambda: round_manual(10, {"a": math.nan}, 0), "finite"),
    (lambda: to_units(1, 9), "decimals"),
]


@pytest.mark.parametrize(("call", "message"), BAD_CALLS)
def test_bad_input_raises_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- properties ---------------------------------------------------------------------------------

decimals_st = st.integers(0, 6)
total_st = st.one_of(st.integers(0, 10**6), st.floats(0, 1e6, allow_nan=False))
weight_st = st.one_of(
    st.integers(0, 1000), st.floats(0, 1e9, allow_nan=False), st.sampled_from([0.0, 0.1, 5e-324])
)
weights_st = st.lists(weight_st, min_size=1, max_size=15)
month_avail_st = st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0, 1 / 3])
availability_st = st.lists(month_avail_st, min_size=12, max_size=12)
profile_st = st.lists(
    st.one_of(st.integers(0, 50), st.floats(0, 1e6, allow_nan=False)), min_size=12, max_size=12
)
fast = settings(max_examples=80, deadline=None)


def quotas(total: float, weights: list[float], decimals: int) -> list[Fraction]:
    """Each child's exact share in units, with all-zero weights read as equal."""
    exact = [Fraction(repr(float(w))) for w in weights]
    if not any(exact):
        exact = [Fraction(1)] * len(exact)
    whole = sum(exact)
    return [to_units(total, decimals) * w / whole for w in exact]


@fast
@given(total_st, weights_st, decimals_st)
def test_children_sum_exactly_and_stay_close_to_their_quota(total, weights, decimals):
    result = largest_remainder(total, weights, decimals)
    assert len(result) == len(weights)
    parts = [units(part, decimals) for part in result]
    assert sum(parts) == to_units(total, decimals)
    assert min(parts) >= 0
    for part, quota in zip(parts, quotas(total, weights, decimals)):
        assert math.floor(quota) <= part <= math.ceil(quota)
    assert largest_remainder(total, weights, decimals) == result


@fast
@given(total_st, weights_st, decimals_st)
def test_a_larger_weight_never_gets_less(total, weights, decimals):
    result = largest_remainder(total, weights, decimals)
    for i, j in zip(range(len(weights)), range(1, len(weights))):
        if Fraction(repr(float(weights[i]))) > Fraction(repr(float(weights[j]))):
            assert result[i] >= result[j]


@fast
@given(total_st, weights_st, decimals_st, st.randoms(use_true_random=False))
def test_permutation_consistency(total, weights, decimals, rng):
    order = list(range(len(weights)))
    rng.shuffle(order)
    result = largest_remainder(total, weights, decimals)
    shuffled = largest_remainder(total, [weights[i] for i in order], decimals)
    moved = [units(shuffled[order.index(i)], decimals) - units(result[i], decimals) for i in order]
    # Only ties on the remainder can be broken differently, by one unit at most.
    assert all(abs(step) <= 1 for step in moved)
    remainders = [quota - math.floor(quota) for quota in quotas(total, weights, decimals)]
    if len(set(remainders)) == len(remainders):
        assert shuffled == [result[i] for i in order]


@fast
@given(total_st, st.dictionaries(st.text(max_size=3), weight_st, max_size=10), decimals_st)
def test_split_matches_largest_remainder(total, weights, decimals):
    if not weights:
        total = 0
    result = split(total, weights, decimals)
    assert list(result) == list(weights)
    assert list(result.values()) == largest_remainder(total, list(weights.values()), decimals)
    assert check_manual(total, result, decimals) == 0
    assert round_manual(total, result, decimals) == result


@fast
@given(
    st.dictionaries(st.text(max_size=3), st.one_of(st.none(), weight_st), max_size=10),
    st.sampled_from(["average", "minimum", "zero"]),
)
def test_history_weights_are_shares_and_order_free(history, rule):
    result = history_weights(history, rule)
    assert list(result) == list(history)
    assert all(share >= 0 for share in result.values())
    assert sum(result.values()) == pytest.approx(1) or not any(result.values())
    assert history_weights(dict(reversed(history.items())), rule) == result


@fast
@given(
    st.integers(2020, 2030),
    st.integers(1, 12),
    st.one_of(st.none(), st.integers(0, 35)),
    st.one_of(st.none(), st.integers(0, 35)),
    st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), max_size=4),
)
def test_availability_respects_start_end_and_ramp(year, first, start_at, end_at, ramp):
    months = fiscal_months(year, first)
    calendar = fiscal_months(year - 1, first) + months + fiscal_months(year + 1, first)
    start = None if start_at is None else calendar[start_at]
    end = None if end_at is None else calendar[end_at]
    if start and end and end < start:
        start, end = end, start
    result = availability(months, start, end, ramp)
    assert len(result) == 12
    for month, value in zip(months, result):
        assert 0 <= value <= 1
        if (start and month < start) or (end and month > end):
            assert value == 0
        elif start and month == start and ramp:
            assert value == ramp[0]
        elif not ramp or not start:
            assert value == 1


@fast
@given(total_st, profile_st, availability_st, decimals_st)
def test_split_year_sums_and_skips_unavailable_months(total, profile, avail, decimals):
    if not any(avail):
        total = 0
    result = split_year(total, profile, avail, decimals)
    parts = [units(part, decimals) for part in result]
    assert sum(parts) == to_units(total, decimals)
    assert min(parts) >= 0
    assert all(part == 0 for part, month in zip(parts, avail) if month == 0)
    assert split_year(total, profile, avail, decimals) == result


@fast
@given(
    total_st,
    st.lists(st.tuples(weight_st, availability_st), min_size=1, max_size=8),
    decimals_st,
)
def test_split_team_sums_and_leaves_unavailable_people_out(total, people, decimals):
    shares = {f"p{i}": share for i, (share, _) in enumerate(people)}
    avail = {f"p{i}": months for i, (_, months) in enumerate(people)}
    if not any(any(months) for months in avail.values()):
        total = 0
    result = split_team(total, shares, avail, decimals)
    parts = {name: units(part, decimals) for name, part in result.items()}
    assert sum(parts.values()) == to_units(total, decimals)
    assert min(parts.values()) >= 0
    assert all(parts[name] == 0 for name, months in avail.items() if not any(months))
    backwards = split_team(total, dict(reversed(shares.items())), avail, decimals)
    assert all(abs(units(backwards[name], decimals) - parts[name]) <= 1 for name in parts)


@fast
@given(
    total_st,
    st.lists(weight_st, min_size=1, max_size=10),
    profile_st,
    availability_st,
    decimals_st,
)
def test_grid_rows_columns_and_cells(total, group_weights, profile, avail, decimals):
    if not any(avail):
        total = 0
    groups = {f"g{i}": weight for i, weight in enumerate(group_weights)}
    grid = split_grid(total, groups, profile, avail, decimals)
    cells = [[units(cell, decimals) for cell in row] for row in grid.values()]
    rows = [units(part, decimals) for part in split(total, groups, decimals).values()]
    cols = [units(part, decimals) for part in split_year(total, profile, avail, decimals)]
    assert [sum(row) for row in cells] == rows
    assert [sum(col) for col in zip(*cells)] == cols
    grand = to_units(total, decimals)
    assert sum(map(sum, cells)) == grand
    for row, row_cells in zip(rows, cells):
        for col, cell in zip(cols, row_cells):
            assert cell >= 0
            if grand:
                ideal = Fraction(row * col, grand)
                assert math.floor(ideal) <= cell <= math.ceil(ideal)
    assert split_grid(total, groups, profile, avail, decimals) == grid
