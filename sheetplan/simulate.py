"""Simulated salespeople for the demo: fill generated templates the way people do, mistakes included.

Fills go through openpyxl and touch only the cells inside `in_` names, like a person typing into the
unlocked cells; the returned file is a different program's save, as it is in real life.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from .layout import Area


@dataclass(frozen=True)
class Filled:
    path: Path
    owner: str
    mistake: str = ""  # '' for a clean return


def input_areas(book) -> dict[str, Area]:
    return {name: Area.parse(dn.attr_text) for name, dn in book.defined_names.items()}


def read_block(book, area: Area) -> list[list]:
    sheet = book[area.sheet]
    return [[sheet.cell(r + 1, c + 1).value for c in range(area.first_col, area.last_col + 1)]
            for r in range(area.first_row, area.last_row + 1)]


def write_block(book, area: Area, rows: list[list]) -> None:
    sheet = book[area.sheet]
    for r_offset, row in enumerate(rows):
        for c_offset, value in enumerate(row):
            cell = sheet.cell(area.first_row + r_offset + 1, area.first_col + c_offset + 1)
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"  # typed text stays text, even "=..."


def fill_file(source: Path, target: Path, values: dict[str, list[list]], unprotect_and_set: dict | None = None) -> Path:
    """Write `values` (defined name -> 2-D rows) into a copy of the template, as a person would."""
    import openpyxl

    book = openpyxl.load_workbook(source)
    areas = input_areas(book)
    for name, rows in values.items():
        write_block(book, areas[name], rows)
    for (sheet, cell), value in (unprotect_and_set or {}).items():
        book[sheet].protection.sheet = False  # the tamperer removes protection first
        book[sheet][cell].value = value
    target.parent.mkdir(parents=True, exist_ok=True)
    book.save(target)
    return target


def _shift(rows: list[list], rng: random.Random, decimals: int) -> list[list]:
    """Move a little between two cells so the total stays exactly the same."""
    flat = [(r, c) for r, row in enumerate(rows) for c, v in enumerate(row) if isinstance(v, (int, float)) and v > 0]
    if len(flat) < 2:
        return rows
    (r1, c1), (r2, c2) = rng.sample(flat, 2)
    amount = round(rows[r1][c1] * rng.uniform(0.02, 0.2), decimals)
    rows = [list(row) for row in rows]
    rows[r1][c1] = round(rows[r1][c1] - amount, decimals)
    rows[r2][c2] = round(rows[r2][c2] + amount, decimals)
    return rows


def fill_plans(files: list[Path], inbox: Path, decimals: dict[str, int], seed: int = 7,
               mistakes: dict[str, str] | None = None) -> list[Filled]:
    """Company, team and person plans: accept the suggestion with small moves; some mistakes on request.

    `mistakes` maps an owner id to 'grid-off' (inputs no longer add up) or 'tamper' (a target changed
    after removing protection).
    """
    import openpyxl

    rng = random.Random(seed)
    mistakes = mistakes or {}
    out = []
    for source in files:
        book = openpyxl.load_workbook(source)
        meta = {row[0].value: row[1].value for row in book["_meta"].iter_rows(max_col=2)}
        owner = meta["owner"]
        areas = input_areas(book)
        values = {}
        for name, area in areas.items():
            if not name.startswith("in_"):
                continue
            metric = name[3:]
            values[name] = _shift(read_block(book, area), rng, decimals.get(metric, 0))
        mistake = mistakes.get(owner, "")
        tamper = None
        if mistake == "grid-off":
            first = next(n for n in values if n.startswith("in_"))
            values[first][0][0] = (values[first][0][0] or 0) + 1000
        elif mistake == "tamper":
            first_target = next(n for n in areas if n.startswith("target_"))
            area = areas[first_target]
            from . import a1

            cell = a1.cell_name(area.first_row, area.first_col)
            old = book[area.sheet][cell].value or 0
            tamper = {(area.sheet, cell): round(old * 0.8, 2)}
        target = inbox / source.name
        out.append(Filled(fill_file(source, target, values, tamper), owner, mistake))
    return out


def fill_months(files: list[Path], inbox: Path, decimals: dict[str, int], seed: int = 11,
                mistakes: dict[str, str] | None = None, comments: dict[str, str] | None = None,
                revisions: dict[str, tuple[str, float, str]] | None = None) -> list[Filled]:
    """Month reports: actuals around target; 'text-na', 'negative' or 'percent' mistakes on request.

    `revisions` maps an owner to (metric, factor, reason): a request for factor x the current annual target."""
    import openpyxl

    rng = random.Random(seed)
    mistakes, comments, revisions = mistakes or {}, comments or {}, revisions or {}
    out = []
    for source in files:
        book = openpyxl.load_workbook(source)
        meta = {row[0].value: row[1].value for row in book["_meta"].iter_rows(max_col=2)}
        owner = meta["owner"]
        areas = input_areas(book)
        performance = rng.uniform(0.7, 1.2)
        values: dict[str, list[list]] = {}
        for name, area in areas.items():
            if not name.startswith("target_"):
                continue
            metric = name[len("target_"):]
            targets = read_block(book, area)
            actuals = []
            for (target,) in targets:
                value = max(0.0, (target or 0) * performance * rng.uniform(0.8, 1.2))
                actuals.append([round(value, decimals.get(metric, 0)) if decimals.get(metric, 0) else
                                int(round(value))])
            values[f"in_{metric}"] = actuals
        mistake = mistakes.get(owner, "")
        first = next(iter(values))
        if mistake == "text-na":
            values[first][1][0] = "N/A"
        elif mistake == "negative":
            values[first][0][0] = -abs(values[first][0][0] or 100)
        elif mistake == "percent":
            values[first][2][0] = "12%"
        if owner in comments:
            rows = len(read_block(book, areas["in_comment"]))
            values["in_comment"] = [[comments[owner]]] + [[None]] * (rows - 1)
        if owner in revisions:
            metric, factor, reason = revisions[owner]
            annual = [row[0] or 0 for row in read_block(book, areas["locked_annual"])]
            keys = list(decimals)
            values["in_revision"] = [[round(annual[i] * factor, decimals[key]) if key == metric else None]
                                     for i, key in enumerate(keys)]
            values["in_revision_reason"] = [[reason]]  # the merged block: its top-left cell holds the text
        book_path = fill_file(source, inbox / source.name, values)
        out.append(Filled(book_path, owner, mistake))
    return out


def copy_as(source: Path, target: Path) -> Path:
    """A second copy of the same bytes, as when someone replies twice with the same attachment."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target
