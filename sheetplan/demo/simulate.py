"""Simulated salespeople for the demo: fill generated templates the way people do, mistakes included.

Fills go through openpyxl and touch only the cells inside `in_` names, like a person typing into the
unlocked cells; the returned file is a different program's save, as it is in real life.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from sheetplan.xlsx.layout import Area


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


def _save(book, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    book.save(target)
    return target


def _fill_plan(source: Path, target: Path, decimals: dict[str, int], seed: int, mistakes: dict[str, str]) -> Filled:
    import openpyxl

    from sheetplan.xlsx import a1

    rng = random.Random(f"{seed}-{source.name}")  # per file, so the order and the process do not matter
    book = openpyxl.load_workbook(source)
    owner = {row[0].value: row[1].value for row in book["_meta"].iter_rows(max_col=2)}["owner"]
    areas = input_areas(book)
    # The VP keeps the suggested company target (in_company_<metric>); every split moves a little inside it.
    values = {name: _shift(read_block(book, area), rng, decimals.get(name[3:], 0))
              for name, area in areas.items() if name.startswith("in_") and not name.startswith("in_company_")}
    mistake = mistakes.get(owner, "")
    if mistake == "grid-off":
        first = next(iter(values))
        values[first][0][0] = (values[first][0][0] or 0) + 1000
    for name, rows in values.items():
        write_block(book, areas[name], rows)
    if mistake == "tamper":
        area = areas[next(n for n in areas if n.startswith("target_"))]
        sheet = book[area.sheet]
        sheet.protection.sheet = False  # the tamperer removes protection first
        cell = sheet[a1.cell_name(area.first_row, area.first_col)]
        cell.value = round((cell.value or 0) * 0.8, 2)
    return Filled(_save(book, target), owner, mistake)


def _fill_month(source: Path, target: Path, decimals: dict[str, int], seed: int, mistakes: dict[str, str],
                comments: dict[str, str], revisions: dict[str, tuple[str, float, str]]) -> Filled:
    import openpyxl

    rng = random.Random(f"{seed}-{source.name}")
    book = openpyxl.load_workbook(source)
    owner = {row[0].value: row[1].value for row in book["_meta"].iter_rows(max_col=2)}["owner"]
    areas = input_areas(book)
    performance = rng.uniform(0.7, 1.2)
    values: dict[str, list[list]] = {}
    for name, area in areas.items():
        if not name.startswith("target_"):
            continue
        metric = name[len("target_"):]
        places = decimals.get(metric, 0)
        values[f"in_{metric}"] = [[round(max(0.0, (t or 0) * performance * rng.uniform(0.8, 1.2)), places)
                                   if places else int(round(max(0.0, (t or 0) * performance * rng.uniform(0.8, 1.2))))]
                                  for (t,) in read_block(book, area)]
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
        values["in_revision"] = [[round(annual[i] * factor, decimals[key]) if key == metric else None]
                                 for i, key in enumerate(decimals)]
        values["in_revision_reason"] = [[reason]]  # the merged block: its top-left cell holds the text
    for name, rows in values.items():
        write_block(book, areas[name], rows)
    return Filled(_save(book, target), owner, mistake)


def _run(function, jobs: list[tuple]) -> list[Filled]:
    """Fill on every core: openpyxl is the slow part of the demo."""
    import os

    if len(jobs) < 8 or (os.cpu_count() or 1) < 2:
        return [function(*job) for job in jobs]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with ProcessPoolExecutor(min(os.cpu_count() or 2, 4), mp_context=context) as pool:
        return list(pool.map(function, *zip(*jobs), chunksize=4))


def fill_plans(files: list[Path], inbox: Path, decimals: dict[str, int], seed: int = 7,
               mistakes: dict[str, str] | None = None) -> list[Filled]:
    """Company, team and person plans: accept the suggestion with small moves; some mistakes on request.

    `mistakes` maps an owner id to 'grid-off' (inputs no longer add up) or 'tamper' (a target changed
    after removing protection).
    """
    return _run(_fill_plan, [(f, inbox / f.name, decimals, seed, mistakes or {}) for f in files])


def fill_months(files: list[Path], inbox: Path, decimals: dict[str, int], seed: int = 11,
                mistakes: dict[str, str] | None = None, comments: dict[str, str] | None = None,
                revisions: dict[str, tuple[str, float, str]] | None = None) -> list[Filled]:
    """Month reports: actuals around target; 'text-na', 'negative' or 'percent' mistakes on request.

    `revisions` maps an owner to (metric, factor, reason): a request for factor x the current annual target.
    """
    return _run(_fill_month, [(f, inbox / f.name, decimals, seed, mistakes or {}, comments or {}, revisions or {})
                              for f in files])


def copy_as(source: Path, target: Path) -> Path:
    """A second copy of the same bytes, as when someone replies twice with the same attachment."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def fill_decisions(source: Path, target: Path, decide) -> Filled:
    """An approver's return: `decide(ref, owner)` gives (decision, comment) or None to leave an item open."""
    import openpyxl

    from sheetplan.xlsx.layout import DECISION_BLOCK, DECISION_COMMENT

    book = openpyxl.load_workbook(source)
    areas = input_areas(book)
    refs = [row[0] for row in read_block(book, areas["rows_decision"])]
    owners = _owners(book, areas)
    chosen = [decide(ref, owner) for ref, owner in zip(refs, owners)]
    write_block(book, areas[DECISION_BLOCK], [[c[0] if c else None] for c in chosen])
    write_block(book, areas[DECISION_COMMENT], [[c[1] if c else None] for c in chosen])
    owner = {row[0].value: row[1].value for row in book["_meta"].iter_rows(max_col=2)}["owner"]
    return Filled(_save(book, target), owner)


def _owners(book, areas: dict[str, Area]) -> list[str]:
    """The owner column of the Decisions sheet: the first column of `locked_items`."""
    area = areas["locked_items"]
    return [row[0] for row in read_block(book, Area(area.sheet, area.first_row, area.first_col, area.last_row,
                                                        area.first_col))]
