"""Check every line of an export against the mapping, the roster and the year, and sum the good ones.

Vectorised over the whole file: a column with few distinct values (dates, people, groups, customers) is
dictionary-encoded and only its distinct values are checked in Python; amounts are cast by Arrow. Every
problem is collected before anything is decided (one bad line rejects the file, and all of them are named).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from sheetplan.actuals.table import ExportTable
from sheetplan.problems import Problem
from sheetplan.workspace.actuals_config import DERIVED_METRIC, export_metrics

MAX_LISTED = 5000  # problems listed per file; a file with more says how many were left out
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
_DAY = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_GROUPED = r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?"  # 1,234.50: a thousands separator, unambiguous


@dataclass
class Checked:
    """A file's verdict: its problems, and, when it has none, the sums and first customer months."""

    problems: list[Problem] = field(default_factory=list)
    sums: pd.DataFrame | None = None  # person, month, metric, customer_group, value, lines
    customers: pd.DataFrame | None = None  # customer, month: each customer's first month in this file
    months: list[str] = field(default_factory=list)
    month_lines: dict[str, int] = field(default_factory=dict)  # lines per month the file covers
    lines: int = 0
    left_out: int = 0  # problems beyond MAX_LISTED

    @property
    def ok(self) -> bool:
        return not self.problems


class _Problems:
    """Collects problems as arrays per check; only the ones listed are turned into records."""

    def __init__(self, name: str, sheet: str, labels) -> None:
        self.name, self.sheet, self.labels = name, sheet, labels
        self.parts: list[tuple[str, str, np.ndarray, np.ndarray, pa.ChunkedArray]] = []
        self.single: list[Problem] = []

    filled: np.ndarray | None = None  # the lines that count (not wholly blank)

    def add(self, code: str, header: str, bad: np.ndarray, rows: np.ndarray, values: pa.ChunkedArray) -> None:
        """`bad`: a mask over the lines; `values`: the column's text, for the listed problems' values."""
        where = np.flatnonzero(bad & self.filled if self.filled is not None else bad)
        if len(where):
            self.parts.append((code, header, rows[where], where, values))

    def one(self, code: str, row: int | None = None, header: str = "", value=None, **params) -> None:
        self.single.append(self.problem(code, row, header, value, **params))

    def problem(self, code: str, row, header: str, value, **params) -> Problem:
        message = self.labels(f"actuals.{code}", column=header, value=value, **params)
        return Problem(code, message, file=self.name, sheet=self.sheet, row=None if row is None else int(row),
                       field=header, value=value)

    def count(self) -> int:
        return len(self.single) + sum(len(rows) for _c, _h, rows, _w, _v in self.parts)

    def listed(self) -> tuple[list[Problem], int]:
        """Every problem ordered by row, then check, at most MAX_LISTED, and how many were left out."""
        flat: list[tuple[int, int, object]] = [(p.row or 0, 0, p) for p in self.single]
        for order, (code, header, rows, where, values) in enumerate(self.parts, start=1):
            texts = [t.strip() for t in values.take(pa.array(where[:MAX_LISTED])).to_pylist()]
            flat += [(int(r), order, (code, header, t)) for r, t in zip(rows[:MAX_LISTED], texts)]
        flat.sort(key=lambda item: (item[0], item[1]))
        out = [item if isinstance(item, Problem) else self.problem(item[0], row, item[1], item[2])
               for row, _order, item in flat[:MAX_LISTED]]
        return out, max(0, self.count() - len(out))


def _encoded(values: pa.ChunkedArray) -> tuple[np.ndarray, list[str]]:
    """(codes per line, distinct values without surrounding spaces): a column with few distinct values is
    checked once per value. Two values that differ only in spaces keep two codes with the same text."""
    encoded = pc.dictionary_encode(values.combine_chunks() if values.num_chunks != 1 else values.chunk(0))
    distinct = [text.strip() for text in encoded.dictionary.to_pylist()]
    return encoded.indices.to_numpy(zero_copy_only=False), distinct


def _repeated(values: pa.ChunkedArray) -> np.ndarray:
    """Per line, whether an earlier line holds the same (non-empty) text: by a stable sort, which needs far
    less memory than hashing a million distinct ids."""
    order = pc.array_sort_indices(values)
    ordered = values.take(order)
    same = pc.equal(ordered.slice(1), ordered.slice(0, len(ordered) - 1)).to_numpy(zero_copy_only=False)
    out = np.zeros(len(values), dtype=bool)
    out[order.to_numpy()[1:][same]] = True
    return out & ~pc.equal(values, "").to_numpy(zero_copy_only=False)


def _blank(values: pa.ChunkedArray) -> np.ndarray:
    return pc.match_substring_regex(values, r"^\s*$").to_numpy(zero_copy_only=False)


def check_lines(table: ExportTable, name: str, config, roster, labels, customer_groups: dict[str, str] | None,
                earlier_customers: Callable[[list[str]], dict[str, str]]) -> Checked:
    """The verdict on every line. `customer_groups` maps a customer to its group (the customers table), or
    None; `earlier_customers(months)` is each customer's first month in the imports that stand, leaving out
    the months this file replaces, for new_customers."""
    mapping = config.actuals
    metric_keys_read = export_metrics(config)
    found = _Problems(name, table.sheet, labels)
    by_header: dict[str, str] = {}
    for column_name, text in zip(table.columns, table.header or table.columns):
        if text.casefold() in by_header:
            found.one("duplicate-column", 1, text, text)
        by_header.setdefault(text.casefold(), column_name)

    def column(role: str) -> str | None:
        return by_header.get(mapping.header(role).casefold())

    needed = ["date", "person", *metric_keys_read]
    needed += ["customer"] if customer_groups is not None else ["customer_group"]
    needed += ["line_id"] if mapping.line_id else []
    for role in needed:
        if column(role) is None:
            found.one("missing-column", 1, mapping.header(role), mapping.header(role),
                      columns=", ".join(table.header or table.columns))
    for line, text in table.bad_lines:
        found.one("bad-line", line, "", text[:200])
    if found.single:
        problems, left = found.listed()
        return Checked(problems, left_out=left)

    used = [column(role) for role in (*needed, "customer") if column(role) is not None]
    data = table.data
    filled = np.zeros(len(table.rows), dtype=bool)
    for name_used in dict.fromkeys(used):
        filled |= ~_blank(data[name_used])
    found.filled = filled  # lines blank in every mapped column are spacing, not lines: never a problem
    rows = table.rows
    for row, header in sorted(table.formulas):
        found.one("formula-in-line", row, header, "")

    month_codes, months = _months(data[column("date")], rows, column("date"), set(config.months), found)
    person_codes, people = _lookup(data[column("person")], rows, column("person"), _people_index(roster),
                                   "unknown-person", found, fold=False)
    if customer_groups is not None:
        known = {c.casefold(): g for c, g in customer_groups.items()}
        group_codes, groups = _lookup(data[column("customer")], rows, column("customer"), known,
                                      "unknown-customer", found)
    else:
        group_codes, groups = _lookup(data[column("customer_group")], rows, column("customer_group"),
                                      {g.casefold(): g for g in config.customer_groups}, "unknown-customer-group",
                                      found)
    amounts = {key: _amounts(data[column(key)], rows, column(key), found) for key in metric_keys_read}
    if mapping.line_id:
        ids = pc.utf8_trim_whitespace(data[column("line_id")])
        found.add("missing-line-id", column("line_id"), pc.equal(ids, "").to_numpy(zero_copy_only=False), rows, ids)
        found.add("duplicate-line-id", column("line_id"), _repeated(ids) & filled, rows, ids)
    if found.count():
        problems, left = found.listed()
        return Checked(problems, left_out=left)

    codes = _Codes(person_codes[filled], month_codes[filled], group_codes[filled], (people, months, groups))
    long = _sums(codes, {k: v[filled] for k, v in amounts.items()})
    first = pd.DataFrame(columns=["customer", "month"])
    customer_col = column("customer")
    if customer_col is not None and mapping.derive_new_customers and DERIVED_METRIC in {m.key for m in config.metrics}:
        counted, first = _new_customers(codes, data[customer_col], filled, rows[filled], earlier_customers)
        long = pd.concat([long, counted], ignore_index=True)
    # summed in binary floating point, kept at the metric's decimals (100.10 + 200.20 is 300.30, not 300.2999...)
    decimals = long["metric"].map({m.key: m.decimals for m in config.metrics}).to_numpy()
    values = long["value"].to_numpy(dtype=float, copy=True)
    for places in np.unique(decimals):
        values[decimals == places] = np.round(values[decimals == places], int(places))
    long["value"] = values
    counts = np.bincount(codes.month, minlength=len(months))
    per_month = {months[i]: int(n) for i, n in enumerate(counts) if n}
    return Checked([], long[["person", "month", "metric", "customer_group", "value", "lines"]], first,
                   sorted(per_month), per_month, int(len(codes.month)))


@dataclass
class _Codes:
    """The good lines as codes into the distinct people, months and groups (`names`, in that order)."""

    person: np.ndarray
    month: np.ndarray
    group: np.ndarray
    names: tuple[list[str], list[str], list[str]]

    def key(self) -> tuple[np.ndarray, int]:
        """One integer per line for its person, month and group, and how many such keys there can be."""
        people, months, groups = (len(n) or 1 for n in self.names)
        person = self.person.astype(np.int64)
        return (person * months + self.month) * groups + self.group, people * months * groups

    def frame(self, keys: np.ndarray) -> pd.DataFrame:
        people, months, groups = self.names
        person, rest = np.divmod(keys, len(months) * len(groups))
        month, group = np.divmod(rest, len(groups))
        return pd.DataFrame({"person": np.asarray(people, dtype=object)[person],
                             "month": np.asarray(months, dtype=object)[month],
                             "customer_group": np.asarray(groups, dtype=object)[group]})


def _sums(codes: _Codes, amounts: dict[str, np.ndarray]) -> pd.DataFrame:
    """Per person, month, group and metric: the sum of the lines and how many lines it holds (by bincount
    over one integer key: no sort and no per-line objects)."""
    key, size = codes.key()
    lines = np.bincount(key, minlength=size)
    present = np.flatnonzero(lines)
    where = codes.frame(present)
    parts = [where.assign(metric=metric, value=np.bincount(key, weights=values, minlength=size)[present],
                          lines=lines[present]) for metric, values in amounts.items()]
    if not parts:
        return pd.DataFrame(columns=["person", "month", "customer_group", "metric", "value", "lines"])
    return pd.concat(parts, ignore_index=True)


def _new_customers(codes: _Codes, customers: pa.ChunkedArray, filled: np.ndarray, rows: np.ndarray,
                   earlier_customers) -> tuple[pd.DataFrame, pd.DataFrame]:
    """new_customers per person, month and group: the customers whose first line in this file is their first
    line ever (no earlier month in the imports that stand), counted where that line falls."""
    customer, names = _encoded(customers)
    customer = customer[filled]
    months = codes.names[1]
    rank = np.argsort(np.argsort(np.asarray(months, dtype=object)))  # a month code's place in time
    named = np.array([bool(n) for n in names], dtype=bool)[customer]
    order = np.lexsort((rows, rank[codes.month], customer))  # by customer, then month, then row
    order = order[named[order]]
    _unique, first_pos = np.unique(customer[order], return_index=True)
    first_lines = order[first_pos]
    first_months = np.asarray(months, dtype=object)[codes.month[first_lines]].astype(str)
    first_names = np.asarray(names, dtype=object)[customer[first_lines]]
    earlier = earlier_customers(sorted(months))
    # a customer never seen before counts as first seen now; one seen only later (an earlier month imported
    # after a later one) is new here too
    before = np.array([earlier.get(c, "9999-99") for c in first_names], dtype=object).astype(str)
    new = first_lines[before >= first_months]
    key, size = codes.key()
    counts = np.bincount(key[new], minlength=size)
    present = np.flatnonzero(counts)
    counted = codes.frame(present).assign(metric=DERIVED_METRIC, value=counts[present].astype(float),
                                          lines=counts[present])
    return counted, pd.DataFrame({"customer": first_names, "month": first_months})


def _months(values: pa.ChunkedArray, rows: np.ndarray, header: str, year: set[str],
            found: _Problems) -> tuple[np.ndarray, list[str]]:
    """Each line's month as a code into the returned months: a date YYYY-MM-DD (also / or . between, a time
    after it) or a month YYYY-MM; anything else, or a month outside the fiscal year, is a problem."""
    codes, distinct = _encoded(values)
    months: list[str] = []
    verdict = np.zeros(len(distinct), dtype=np.int8)  # 0 good, 1 not a date, 2 outside the year
    index = np.zeros(len(distinct), dtype=np.int64)
    seen: dict[str, int] = {}
    for i, text in enumerate(distinct):
        match = _MONTH.fullmatch(text) or _DAY.fullmatch(text)
        month = ""
        if match and 1 <= int(match.group(2)) <= 12 and (match.re is _MONTH or 1 <= int(match.group(3)) <= 31):
            month = f"{match.group(1)}-{int(match.group(2)):02d}"
        if not month:
            verdict[i] = 1
        elif month not in year:
            verdict[i] = 2
        else:
            index[i] = seen.setdefault(month, len(seen))
            if index[i] == len(months):
                months.append(month)
    per_line = verdict[codes]
    found.add("bad-date", header, per_line == 1, rows, values)
    found.add("date-outside-year", header, per_line == 2, rows, values)
    return index[codes], months


def _people_index(roster) -> dict[str, str]:
    index = {p.email.casefold(): p.person_id for p in roster.people if p.email}
    index.update({p.person_id: p.person_id for p in roster.people})
    return index


def _lookup(values: pa.ChunkedArray, rows: np.ndarray, header: str, index: dict[str, str], code: str,
            found: _Problems, fold: bool = True) -> tuple[np.ndarray, list[str]]:
    """Each line's value looked up in `index` (by its case-folded text when `fold`; a person by id, else by
    case-folded email): (codes into the distinct results, distinct results)."""
    codes, distinct = _encoded(values)
    results: list[str] = []
    where: dict[str, int] = {}
    mapped = np.full(len(distinct), -1, dtype=np.int64)
    for i, text in enumerate(distinct):
        hit = index.get(text.casefold() if fold else text)
        if hit is None and not fold:
            hit = index.get(text.casefold())
        if hit is not None:
            mapped[i] = where.setdefault(hit, len(where))
            if mapped[i] == len(results):
                results.append(hit)
    per_line = mapped[codes]
    found.add(code, header, per_line < 0, rows, values)
    return np.where(per_line < 0, 0, per_line), results


def _amounts(values: pa.ChunkedArray, rows: np.ndarray, header: str, found: _Problems) -> np.ndarray:
    """Each line's amount. Empty is 0 (a line without this figure); negative is a credit note and counts;
    '1,234.50' is read with its thousands separator; any other text is an error."""
    text = pc.if_else(pc.equal(values, ""), "0", values)
    try:
        number = pc.cast(text, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        text = pc.utf8_trim_whitespace(text)
        text = pc.if_else(pc.equal(text, ""), "0", text)
        grouped = pc.match_substring_regex(text, f"^{_GROUPED}$")
        cleaned = pc.if_else(grouped, pc.replace_substring(text, ",", ""), text)
        series = pd.Series(cleaned.to_numpy(zero_copy_only=False), dtype=object)
        number = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(number)
    found.add("not-a-number", header, bad, rows, values)
    return np.where(bad, 0.0, number)
