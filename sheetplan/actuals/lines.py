"""Check every line of an export against the mapping, the roster and the year, and sum the good ones.

Vectorised over the whole file: a million lines are checked column by column, never line by line. Every
problem is collected before anything is decided (one bad line rejects the file, and all of them are named).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sheetplan.actuals.table import ExportTable
from sheetplan.problems import Problem
from sheetplan.workspace.actuals_config import DERIVED_METRIC, export_metrics

MAX_LISTED = 5000  # problems listed per file; a file with more says how many were left out
_MONTH = r"^\s*(\d{4})-(\d{1,2})\s*$"
_DAY = r"^\s*(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\s*$"
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
    """Collects problems as arrays per check, so a million bad cells cost no million Python calls first."""

    def __init__(self, name: str, sheet: str, labels) -> None:
        self.name, self.sheet, self.labels = name, sheet, labels
        self.parts: list[tuple[str, str, np.ndarray, np.ndarray]] = []
        self.single: list[Problem] = []

    def add(self, code: str, header: str, rows: np.ndarray, values: np.ndarray) -> None:
        if len(rows):
            self.parts.append((code, header, np.asarray(rows), np.asarray(values, dtype=object)))

    def one(self, code: str, row: int | None = None, header: str = "", value=None, **params) -> None:
        self.single.append(self.problem(code, row, header, value, **params))

    def problem(self, code: str, row, header: str, value, **params) -> Problem:
        message = self.labels(f"actuals.{code}", column=header, value=value, **params)
        return Problem(code, message, file=self.name, sheet=self.sheet, row=None if row is None else int(row),
                       field=header, value=value)

    def count(self) -> int:
        return len(self.single) + sum(len(rows) for _c, _h, rows, _v in self.parts)

    def listed(self) -> tuple[list[Problem], int]:
        """Every problem ordered by row, then column, at most MAX_LISTED, and how many were left out."""
        flat = [(p.row or 0, 0, p) for p in self.single]
        budget = MAX_LISTED
        for order, (code, header, rows, values) in enumerate(self.parts, start=1):
            take = np.argsort(rows, kind="stable")[:budget]
            flat += [(int(rows[i]), order, (code, header, values[i])) for i in take]
        flat.sort(key=lambda item: (item[0], item[1]))
        out = []
        for row, _order, item in flat[:MAX_LISTED]:
            out.append(item if isinstance(item, Problem) else self.problem(item[0], row, item[1], _plain(item[2])))
        return out, max(0, self.count() - len(out))


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def check_lines(table: ExportTable, name: str, config, roster, labels, customer_groups: dict[str, str] | None,
                earlier_customers: Callable[[list[str]], dict[str, str]]) -> Checked:
    """The verdict on every line. `customer_groups` maps a customer to its group (the customers table), or
    None; `earlier_customers(months)` is each customer's first month in the imports that stand, leaving out
    the months this file replaces, for new_customers."""
    mapping = config.actuals
    metric_keys_read = export_metrics(config)
    found = _Problems(name, table.sheet, labels)
    by_header: dict[str, str] = {}
    for header in table.columns:
        key = header.casefold()
        if key in by_header:
            found.one("duplicate-column", 1, header, header)
        by_header.setdefault(key, header)

    def column(role: str) -> str | None:
        return by_header.get(mapping.header(role).casefold())

    needed = ["date", "person", *metric_keys_read]
    needed += ["customer"] if customer_groups is not None else ["customer_group"]
    needed += ["line_id"] if mapping.line_id else []
    for role in needed:
        if column(role) is None:
            found.one("missing-column", 1, mapping.header(role), mapping.header(role), columns=", ".join(table.columns))
    for line, text in table.bad_lines:
        found.one("bad-line", line, "", text[:200])
    if found.single:
        problems, left = found.listed()
        return Checked(problems, left_out=left)

    frame, rows = table.frame, table.rows
    filled = np.zeros(len(frame), dtype=bool)
    for header in table.columns:
        filled |= (frame[header].str.strip() != "").to_numpy()
    frame, rows = frame[filled], rows[filled]  # wholly empty lines are spacing, not lines
    for row, header in sorted(table.formulas):
        found.one("formula-in-line", row, header, "")

    months = _months(frame[column("date")], rows, column("date"), set(config.months), found)
    person = _people(frame[column("person")], rows, column("person"), roster, found)
    if customer_groups is not None:
        customer = frame[column("customer")].str.strip()
        known = {c.casefold(): g for c, g in customer_groups.items()}
        group = customer.str.casefold().map(known)
        missing = group.isna().to_numpy()
        found.add("unknown-customer", column("customer"), rows[missing], customer.to_numpy()[missing])
        group = group.fillna("")
    else:
        group = _groups(frame[column("customer_group")], rows, column("customer_group"), config.customer_groups,
                        found)
    amounts = {key: _amounts(frame[column(key)], rows, column(key), found) for key in metric_keys_read}
    if mapping.line_id:
        ids = frame[column("line_id")].str.strip()
        empty = (ids == "").to_numpy()
        found.add("missing-line-id", column("line_id"), rows[empty], ids.to_numpy()[empty])
        again = (ids.duplicated(keep="first") & (ids != "")).to_numpy()
        found.add("duplicate-line-id", column("line_id"), rows[again], ids.to_numpy()[again])
    if found.count():
        problems, left = found.listed()
        return Checked(problems, left_out=left)

    lines = pd.DataFrame({"person": person.to_numpy(), "month": months.to_numpy(), "customer_group": group.to_numpy(),
                          **{k: v for k, v in amounts.items()}})
    keys = ["person", "month", "customer_group"]
    grouped = lines.groupby(keys, sort=True)
    sums = grouped[list(metric_keys_read)].sum()
    sums["lines"] = grouped.size()
    long = sums.reset_index().melt(id_vars=[*keys, "lines"], value_vars=list(metric_keys_read), var_name="metric",
                                   value_name="value")
    customer_col = column("customer")
    first = pd.DataFrame(columns=["customer", "month"])
    metric_keys = {m.key for m in config.metrics}
    if customer_col is not None and mapping.derive_new_customers and DERIVED_METRIC in metric_keys:
        lines["customer"] = frame[customer_col].str.strip().to_numpy()
        lines["row"] = rows
        named = lines[lines["customer"] != ""].sort_values(["month", "row"], kind="stable")
        first_lines = named.drop_duplicates("customer", keep="first")
        first = first_lines[["customer", "month"]].reset_index(drop=True)
        earlier = earlier_customers(sorted(set(months)))
        # a customer never seen before counts as first seen now
        before = first_lines["customer"].map(lambda c: earlier.get(c, "9999-99")).astype(str)
        new = first_lines[(before >= first_lines["month"].astype(str)).to_numpy()]
        counted = new.groupby(keys, sort=True).size().rename("value").reset_index()
        counted["lines"] = counted["value"]
        counted["metric"] = DERIVED_METRIC
        long = pd.concat([long, counted[long.columns]], ignore_index=True)
    # summed in binary floating point, kept at the metric's decimals (100.10 + 200.20 is 300.30, not 300.2999...)
    decimals = long["metric"].map({m.key: m.decimals for m in config.metrics}).to_numpy()
    values = long["value"].to_numpy(dtype=float, copy=True)
    for places in np.unique(decimals):
        values[decimals == places] = np.round(values[decimals == places], int(places))
    long["value"] = values
    per_month = {str(m): int(n) for m, n in lines["month"].value_counts().items()}
    return Checked([], long[["person", "month", "metric", "customer_group", "value", "lines"]], first,
                   sorted(per_month), per_month, int(len(lines)))


def _months(values: pd.Series, rows: np.ndarray, header: str, year: set[str], found: _Problems) -> pd.Series:
    text = values.astype("str")
    parts = text.str.extract(_MONTH)
    day = text.str.extract(_DAY)
    year_part = parts[0].fillna(day[0])
    month_part = pd.to_numeric(parts[1].fillna(day[1]), errors="coerce")
    day_part = pd.to_numeric(day[2], errors="coerce")
    valid = year_part.notna() & month_part.between(1, 12) & (day_part.isna() | day_part.between(1, 31))
    valid &= ~(parts[0].isna() & day_part.isna())
    month = year_part.fillna("0000") + "-" + month_part.fillna(0).astype(int).astype(str).str.zfill(2)
    bad = ~valid.to_numpy()
    found.add("bad-date", header, rows[bad], text.to_numpy()[bad])
    outside = valid.to_numpy() & ~month.isin(year).to_numpy()
    found.add("date-outside-year", header, rows[outside], text.to_numpy()[outside])
    return month


def _people(values: pd.Series, rows: np.ndarray, header: str, roster, found: _Problems) -> pd.Series:
    text = values.str.strip()
    ids = {p.person_id: p.person_id for p in roster.people}
    emails = {p.email.casefold(): p.person_id for p in roster.people if p.email}
    person = text.map(ids)
    person = person.fillna(text.str.casefold().map(emails))
    bad = person.isna().to_numpy()
    found.add("unknown-person", header, rows[bad], text.to_numpy()[bad])
    return person.fillna("")


def _groups(values: pd.Series, rows: np.ndarray, header: str, groups: tuple[str, ...], found: _Problems) -> pd.Series:
    text = values.str.strip()
    group = text.str.casefold().map({g.casefold(): g for g in groups})
    bad = group.isna().to_numpy()
    found.add("unknown-customer-group", header, rows[bad], text.to_numpy()[bad])
    return group.fillna("")


def _amounts(values: pd.Series, rows: np.ndarray, header: str, found: _Problems) -> np.ndarray:
    """Each line's amount. Empty is 0 (a line without this figure); negative is a credit note and counts;
    '1,234.50' is read with its thousands separator; any other text is an error."""
    text = values.str.strip()
    grouped = text.str.fullmatch(_GROUPED)
    cleaned = text.where(~grouped, text.str.replace(",", "", regex=False))
    number = pd.to_numeric(cleaned.where(cleaned != "", "0"), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(number)
    found.add("not-a-number", header, rows[bad], text.to_numpy()[bad])
    return np.where(bad, 0.0, number)
