"""Split targets top-down (company, team, person, month, customer group) so the parts add up exactly.

Every split works in integer units of ``10**-decimals`` and rounds by largest remainder: each
child gets the floor of its exact quota, and the units left over go to the largest remainders,
earlier children first on a tie. So the children always sum to the parent at the metric's
decimals, nobody goes negative, and the same input gives the same output.

How the plan's methods map onto this module:

- ``equal``: ``split(total, dict.fromkeys(names, 1), decimals)``.
- ``history``: ``history_weights(actuals, no_history)`` gives the base shares.
- ``seasonality``: a given 12-month profile, or ``profile_from_history(monthly_totals)``.
- ``manual``: ``round_manual`` accepts figures typed by a person, ``check_manual`` measures them.

New hires and leavers: ``availability`` gives 0..1 per fiscal month; ``split_team`` pro-rates each
base share by the person's availability over the year, ``split_year`` spreads a person's target
over the months by profile x availability, and ``split_grid`` spreads it over customer groups x
months.

Numbers are read at their shortest decimal form (``repr``), so weights 0.1, 0.2, 0.3 are exactly
1:2:3, and totals are rounded half up to ``decimals`` before splitting. Bad input raises
``ValueError``; callers turn it into a configuration problem.
"""

from __future__ import annotations

import functools
import math
import numbers
import re
from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal
from fractions import Fraction

MAX_DECIMALS = 6
MONTHS = 12
NO_HISTORY_RULES = ("average", "minimum", "zero")

# Excel keeps 15 significant digits, and a float round-trips any 15-digit decimal exactly,
# so below this many units every child is stored and shown exactly as computed.
_MAX_UNITS = 10**15
_MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")


# --- exact arithmetic ---------------------------------------------------------------------------


def _exact(value: object, what: str) -> Fraction:
    """A finite, non-negative number as an exact fraction of its shortest decimal form."""
    if type(value) is float and 0.0 <= value < math.inf:  # the common case, without the abstract-class checks
        return _float_fraction(value)
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, Decimal)):
        # ValueError, not TypeError: a word where a figure belongs is a configuration mistake.
        raise ValueError(f"{what} must be a number, got {value!r}")  # noqa: TRY004
    if isinstance(value, numbers.Integral):
        result = Fraction(int(value))
    elif isinstance(value, numbers.Rational):
        result = Fraction(value.numerator, value.denominator)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{what} must be a finite number, got {value!r}")
        result = Fraction(value)
    else:
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{what} must be a finite number, got {value!r}")
        result = _float_fraction(number)
    if result < 0:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return result


@functools.lru_cache(maxsize=65536)
def _float_fraction(number: float) -> Fraction:
    """The shortest repr is what the user typed or saw in Excel, not the binary neighbour. Cached: the same
    profile, ramp and availability figures come back for every person of a large plan."""
    return Fraction(repr(number))


def _check_decimals(decimals: object) -> int:
    if (
        isinstance(decimals, bool)
        or not isinstance(decimals, numbers.Integral)
        or not 0 <= decimals <= MAX_DECIMALS
    ):
        raise ValueError(f"decimals must be a whole number from 0 to {MAX_DECIMALS}, got {decimals!r}")
    return int(decimals)


def to_units(value: float, decimals: int, what: str = "value") -> int:
    """A non-negative figure rounded half up to `decimals`, as an integer count of 10**-decimals.

    >>> to_units(10.005, 2)
    1001
    """
    decimals = _check_decimals(decimals)
    units = math.floor(_exact(value, what) * 10**decimals + Fraction(1, 2))
    if units >= _MAX_UNITS:
        raise ValueError(
            f"{what} {value!r} is too large to keep exact at {decimals} decimals "
            "(more than 15 significant digits, the most Excel keeps)"
        )
    return units


def _from_units(units: int, decimals: int) -> float:
    # int / int is correctly rounded, so 334 units at 2 decimals is the float 3.34.
    return units / 10**decimals


def _largest_remainder(units: int, weights: Sequence[Fraction]) -> list[int]:
    """Split whole units by exact weights; all-zero weights split equally; ties go to the earlier."""
    count = len(weights)
    if not count:
        return []
    if not any(weights):
        weights = [Fraction(1)] * count
    # Integer arithmetic over a common denominator: the same quotas as units * weight / whole, without
    # building a Fraction per child (a 2,000-person plan splits millions of times).
    return _split_integers(units, _integer_weights(weights))


def _integer_weights(weights: Sequence[Fraction]) -> tuple[int, ...]:
    """Exact weights as integers over their common denominator (the same proportions)."""
    scale = math.lcm(*(weight.denominator for weight in weights))
    return tuple(weight.numerator * (scale // weight.denominator) for weight in weights)


def _split_integers(units: int, integers: Sequence[int]) -> list[int]:
    """Largest remainder over integer weights, at least one of them non-zero."""
    count = len(integers)
    whole_units = sum(integers)
    parts, remainders = [], []
    for weight in integers:
        part, rest = divmod(units * weight, whole_units)
        parts.append(part)
        remainders.append(rest)
    left = units - sum(parts)
    # The left-over units number fewer than the children with a non-zero remainder,
    # so a child with zero weight never receives one.
    order = sorted(range(count), key=lambda i: (-remainders[i], i))
    for i in order[:left]:
        parts[i] += 1
    return parts


def _nothing_to_split(units: int, total: object, what: str) -> None:
    if units:
        raise ValueError(f"cannot split {total!r} over no {what}")


# --- one level ----------------------------------------------------------------------------------


def largest_remainder(total: float, weights: Sequence[float], decimals: int) -> list[float]:
    """Split `total` over `weights` at `decimals` so the parts sum exactly to the rounded total.

    All-zero weights split equally; a zero total gives zeros.

    >>> largest_remainder(100, [1, 1, 1], 0)
    [34.0, 33.0, 33.0]
    """
    units = to_units(total, decimals, "total")
    exact = [_exact(weight, f"weight {i + 1}") for i, weight in enumerate(weights)]
    if not exact:
        _nothing_to_split(units, total, "children")
    return [_from_units(part, decimals) for part in _largest_remainder(units, exact)]


def split(total: float, weights: Mapping[str, float], decimals: int) -> dict[str, float]:
    """`largest_remainder` over named children; the result keeps the order of `weights`.

    >>> split(10, {"north": 1, "south": 1, "west": 1}, 2)
    {'north': 3.34, 'south': 3.33, 'west': 3.33}
    """
    units = to_units(total, decimals, "total")
    exact = [_exact(weight, f"weight of {name!r}") for name, weight in weights.items()]
    if not exact:
        _nothing_to_split(units, total, "children")
    parts = _largest_remainder(units, exact)
    return {name: _from_units(part, decimals) for name, part in zip(weights, parts)}


def history_weights(history: Mapping[str, float | None], no_history: str = "average") -> dict[str, float]:
    """Base shares from prior-year actuals; `None` means the person has no history.

    People without history get, by `no_history`: ``average``, the average share of those with
    history (zeros included); ``minimum``, the smallest non-zero share; ``zero``, nothing.
    The result keeps the order of `history` and sums to 1, or is all zeros when nobody has a
    non-zero actual (a split then falls back to equal shares).

    >>> history_weights({"ana": 300, "ben": 100, "cy": None}, "minimum")
    {'ana': 0.6, 'ben': 0.2, 'cy': 0.2}
    """
    if no_history not in NO_HISTORY_RULES:
        raise ValueError(f"no_history must be one of {', '.join(NO_HISTORY_RULES)}; got {no_history!r}")
    known = {
        name: _exact(value, f"history of {name!r}") for name, value in history.items() if value is not None
    }
    whole = sum(known.values(), Fraction(0))
    shares = {name: value / whole if whole else Fraction(0) for name, value in known.items()}
    fill = Fraction(0)
    if no_history == "average" and shares:
        fill = sum(shares.values(), Fraction(0)) / len(shares)
    elif no_history == "minimum":
        fill = min((share for share in shares.values() if share), default=Fraction(0))
    raw = {name: shares.get(name, fill) for name in history}
    whole = sum(raw.values(), Fraction(0))
    return {name: float(value / whole) if whole else 0.0 for name, value in raw.items()}


# --- months -------------------------------------------------------------------------------------


def _month_index(month: object, what: str) -> int:
    match = _MONTH.match(month) if isinstance(month, str) else None
    if not match:
        raise ValueError(f"{what} must be a month written YYYY-MM, got {month!r}")
    return int(match.group(1)) * MONTHS + int(match.group(2)) - 1


def availability(
    months: Sequence[str],
    start_month: str | None,
    end_month: str | None,
    ramp: Sequence[float] = (),
) -> list[float]:
    """How much of a full month's target a person carries in each of `months` (0..1).

    Nothing before `start_month` or after `end_month` (both inclusive, 'YYYY-MM', None for no
    limit). After a start, ``ramp[k]`` applies in the k-th calendar month counted from the start
    month, so a ramp that began before the fiscal year carries on into it; full after the ramp.

    >>> availability(fiscal_months(2027, 1), "2027-04", None, (0.5,))[:6]
    [0.0, 0.0, 0.0, 0.5, 1.0, 1.0]
    """
    start = None if start_month is None else _month_index(start_month, "start_month")
    end = None if end_month is None else _month_index(end_month, "end_month")
    if start is not None and end is not None and end < start:
        raise ValueError(f"end_month {end_month} is before start_month {start_month}")
    steps = []
    for k, step in enumerate(ramp):
        if _exact(step, f"ramp step {k + 1}") > 1:
            raise ValueError(f"ramp step {k + 1} must be between 0 and 1, got {step!r}")
        steps.append(float(step))
    result = []
    previous = None
    for month in months:
        index = _month_index(month, "month")
        if previous is not None and index <= previous:
            raise ValueError(f"months must be in order without repeats; {month} follows a later month")
        previous = index
        if (start is not None and index < start) or (end is not None and index > end):
            result.append(0.0)
        elif start is not None and index - start < len(steps):
            result.append(steps[index - start])
        else:
            result.append(1.0)
    return result


def profile_from_history(monthly_totals: Sequence[float]) -> tuple[float, ...]:
    """A 12-month seasonality profile (summing to 1) from one year of monthly actuals in fiscal
    order; flat when the history is empty or all zero.

    >>> profile_from_history([2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 4])[::11]
    (0.125, 0.25)
    """
    values = [_exact(value, f"month {i + 1} of the history") for i, value in enumerate(monthly_totals)]
    if len(values) not in (0, MONTHS):
        raise ValueError(f"monthly history needs {MONTHS} figures, got {len(values)}")
    whole = sum(values, Fraction(0))
    if not whole:
        return (1 / MONTHS,) * MONTHS
    return tuple(float(value / whole) for value in values)


def _twelve(values: Sequence[float], what: str, at_most_one: bool = False) -> list[Fraction]:
    exact = [_exact(value, f"{what}, month {i + 1}") for i, value in enumerate(values)]
    if len(exact) != MONTHS:
        raise ValueError(f"{what} needs {MONTHS} months, got {len(exact)}")
    if at_most_one and any(value > 1 for value in exact):
        raise ValueError(f"{what} must be between 0 and 1 in every month")
    return exact


def _year_units(units: int, total: object, profile: Sequence[float], available: Sequence[float]) -> list[int]:
    weights = _year_weights(tuple(profile), tuple(available))
    if weights is None:
        if units:
            raise ValueError(f"cannot spread {total!r} over a year in which the person is never available")
        return [0] * MONTHS
    return _split_integers(units, weights)


@functools.lru_cache(maxsize=4096)
def _year_weights(profile: tuple, available: tuple) -> tuple[int, ...] | None:
    """The month weights profile x availability as integers (None: never available). Cached: a large plan
    has a few distinct profiles and availabilities, shared by thousands of people."""
    shape = _twelve(profile, "profile")
    months = _twelve(available, "availability", at_most_one=True)
    if not any(months):
        return None
    weights = [weight * share for weight, share in zip(shape, months)]
    if not any(weights):
        # The profile is zero wherever the person works: follow availability alone.
        weights = months
    return _integer_weights(weights)


def split_year(
    total: float, profile: Sequence[float], availability: Sequence[float], decimals: int
) -> list[float]:
    """Spread a person's annual target over 12 fiscal months by profile x availability.

    Months with zero availability get 0. If the profile is zero in every available month, the
    split follows availability alone. The months sum exactly to the total.

    >>> split_year(850, [1] * 12, [0, 0, 0, 0.5] + [1] * 8, 0)[:5]
    [0.0, 0.0, 0.0, 50.0, 100.0]
    """
    units = to_units(total, decimals, "total")
    return [_from_units(part, decimals) for part in _year_units(units, total, profile, availability)]


# --- team ---------------------------------------------------------------------------------------


def split_team(
    total: float,
    shares: Mapping[str, float],
    availabilities: Mapping[str, Sequence[float]],
    decimals: int,
) -> dict[str, float]:
    """Split a team target over people: weight = base share x (sum of monthly availability / 12).

    `availabilities` holds each person's 12 months from `availability` and must name the same
    people as `shares`; the result keeps the order of `shares`. A person never available gets 0.
    If every weight is zero, base shares become equal (still pro-rated by availability, so a
    full-year team splits exactly equally).

    >>> split_team(2050, {"ana": 1, "ben": 1}, {"ana": [1] * 12, "ben": [0] * 3 + [0.5] + [1] * 8}, 0)
    {'ana': 1200.0, 'ben': 850.0}
    """
    units = to_units(total, decimals, "total")
    missing = [name for name in shares if name not in availabilities]
    extra = [name for name in availabilities if name not in shares]
    if missing or extra:
        raise ValueError(
            f"shares and availabilities must name the same people; missing availability: {missing}, "
            f"availability without a share: {extra}"
        )
    factors = [_year_share(tuple(availabilities[name]), name) for name in shares]
    if not shares:
        _nothing_to_split(units, total, "people")
    elif units and not any(factors):
        raise ValueError(f"cannot split {total!r}: nobody in the team is available in any month")
    weights = [
        _exact(share, f"share of {name!r}") * factor for (name, share), factor in zip(shares.items(), factors)
    ]
    if not any(weights):
        weights = factors
    parts = _largest_remainder(units, weights)
    return {name: _from_units(part, decimals) for name, part in zip(shares, parts)}


def _year_share(available: tuple, name: str) -> Fraction:
    """The share of the year a person is available, exact; the sum is cached per distinct availability."""
    try:
        return _available_share(available)
    except ValueError:
        _twelve(available, f"availability of {name!r}", at_most_one=True)  # the message names the person
        raise


@functools.lru_cache(maxsize=4096)
def _available_share(available: tuple) -> Fraction:
    return sum(_twelve(available, "availability", at_most_one=True)) / MONTHS


# --- customer groups x months -------------------------------------------------------------------


def _round_matrix(rows: list[int], cols: list[int]) -> list[list[int]]:
    """Round each rows[i] * cols[j] / total down or up so every row and column keeps its total.

    Such a rounding always exists (integer flows: the controlled-rounding result of Bacharach,
    1966). Cells with the largest remainders are rounded up first; where that greedy pass gets
    stuck, an augmenting path moves one unit along alternating cells until every total is met.
    """
    total = sum(rows)
    grid = [[0] * len(cols) for _ in rows]
    if not total:
        return grid
    remainder = [[0] * len(cols) for _ in rows]  # in units of 1/total: integers compare like the fractions
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            grid[i][j], remainder[i][j] = divmod(row * col, total)
    need_row = [row - sum(cells) for row, cells in zip(rows, grid)]
    need_col = [col - sum(cells[j] for cells in grid) for j, col in enumerate(cols)]
    up = [[False] * len(cols) for _ in rows]
    candidates = [(i, j) for i in range(len(rows)) for j in range(len(cols)) if remainder[i][j]]
    for i, j in sorted(candidates, key=lambda cell: (-remainder[cell[0]][cell[1]], cell)):
        if need_row[i] and need_col[j]:
            up[i][j] = True
            need_row[i] -= 1
            need_col[j] -= 1
    while any(need_row):
        _move_unit(up, remainder, need_row, need_col)
    return [[cell + bump for cell, bump in zip(cells, bumps)] for cells, bumps in zip(grid, up)]


def _move_unit(
    up: list[list[bool]], remainder: list[list[int]], need_row: list[int], need_col: list[int]
) -> None:
    """Breadth-first search from rows short of units to a column short of units, stepping to a
    column through a cell that can still be rounded up and back to a row through a cell that
    was; then flip every cell on the path, which gives one unit to that row and that column."""
    starts = [i for i, need in enumerate(need_row) if need]
    row_from: dict[int, int | None] = dict.fromkeys(starts)
    col_from: dict[int, int] = {}
    queue = deque(starts)
    while queue:
        i = queue.popleft()
        for j in range(len(need_col)):
            if j in col_from or up[i][j] or not remainder[i][j]:
                continue
            col_from[j] = i
            if need_col[j]:
                need_col[j] -= 1
                while True:
                    i = col_from[j]
                    up[i][j] = True
                    back = row_from[i]
                    if back is None:
                        need_row[i] -= 1
                        return
                    j = back
                    up[i][j] = False
            for k in range(len(need_row)):
                if k not in row_from and up[k][j]:
                    row_from[k] = j
                    queue.append(k)
    raise RuntimeError("no rounding keeps every row and column total")  # cannot happen, see above


def split_grid(
    total: float,
    groups: Mapping[str, float],
    profile: Sequence[float],
    availability: Sequence[float],
    decimals: int,
) -> dict[str, list[float]]:
    """Spread a person's annual target over customer groups x 12 months.

    Exact: the grand total; each month column equals ``split_year(total, profile, availability)``;
    each group row equals ``split(total, groups)``. Each cell is its proportional value
    (row total x column total / total) rounded down or up by one unit at most.

    >>> split_grid(10, {"retail": 1, "trade": 1}, [1, 1] + [0] * 10, [1] * 12, 0)["retail"][:3]
    [3.0, 2.0, 0.0]
    """
    units = to_units(total, decimals, "total")
    cols = _year_units(units, total, profile, availability)
    weights = [_exact(share, f"share of group {name!r}") for name, share in groups.items()]
    if not weights:
        _nothing_to_split(units, total, "customer groups")
    rows = _largest_remainder(units, weights)
    cells = _round_matrix(rows, cols)
    return {name: [_from_units(cell, decimals) for cell in row] for name, row in zip(groups, cells)}


# --- manual figures -----------------------------------------------------------------------------


def _manual_units(values: Mapping[str, float], decimals: int) -> dict[str, int]:
    return {name: to_units(value, decimals, f"manual figure for {name!r}") for name, value in values.items()}


def check_manual(total: float, values: Mapping[str, float], decimals: int) -> float:
    """How far manual figures, each rounded to `decimals`, miss the rounded total: positive when
    they add up to more, 0.0 when exact. Raises ValueError only for negative or non-finite figures.

    >>> check_manual(100, {"ana": 60, "ben": 50}, 0)
    10.0
    """
    units = to_units(total, decimals, "total")
    return _from_units(sum(_manual_units(values, decimals).values()) - units, decimals)


def round_manual(total: float, values: Mapping[str, float], decimals: int) -> dict[str, float]:
    """Accept manual figures: each rounded to `decimals`, and together exactly the total, or
    ValueError naming the difference. Keeps the order of `values`.

    >>> round_manual(10, {"ana": 3.333, "ben": 6.667}, 2)
    {'ana': 3.33, 'ben': 6.67}
    """
    decimals = _check_decimals(decimals)
    units = to_units(total, decimals, "total")
    parts = _manual_units(values, decimals)
    given = sum(parts.values())
    if given != units:
        shown, wanted, off = (_from_units(n, decimals) for n in (given, units, given - units))
        raise ValueError(
            f"manual figures add up to {shown:.{decimals}f}, not the total {wanted:.{decimals}f} "
            f"({off:+.{decimals}f})"
        )
    return {name: _from_units(part, decimals) for name, part in parts.items()}
