"""Check a returned workbook against what was sent: identity, tampering, and every input cell.

Pure functions over the reader's RawWorkbook and the store's record of the sent template; every
finding is a Problem, never an exception, so one file's mistakes are all listed at once.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sheetplan.problems import WARNING, Problem
from sheetplan.xlsx import a1
from sheetplan.xlsx.layout import (
    DECISIONS,
    MAX_TEXT,
    META_SHEET,
    SIGNED_META_KEYS,
    Area,
    canonical_form,
    canonical_value,
    is_signed_name,
    sign,
)

# Text a spreadsheet program would run as a formula if it were pasted or written back as a value.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@lru_cache(maxsize=8)
def parse_payload(sent_payload: str) -> dict:
    """The sent record's JSON, parsed once per file however many checks read it (callers must not mutate)."""
    return json.loads(sent_payload)


@dataclass(frozen=True)
class Identity:
    kind: str
    owner: str
    period: str
    revision: int
    lang: str
    workspace_id: str
    signature: str
    meta: dict[str, str]
    meta_cells: dict[str, str]  # key -> A1 cell of its value in _meta, for messages


@dataclass
class Checked:
    """The outcome of checking one file: problems plus the values it would contribute."""

    problems: list[Problem] = field(default_factory=list)
    numbers: list[tuple[str, str, str, float]] = field(default_factory=list)  # block, row key, col key, value
    texts: list[tuple[str, str, str, str]] = field(default_factory=list)  # block, row key, col key, text


def read_meta(workbook, file: str) -> tuple[Identity | None, list[Problem]]:
    """The _meta sheet identifies the template; without it the file is not one of ours."""
    sheet = workbook.sheets.get(META_SHEET)
    if sheet is None:
        return None, [Problem("not-a-template", "this workbook has no _meta sheet, so it is not a sheetplan "
                              "template (or the sheet was deleted)", file=file)]
    meta, cells = {}, {}
    for (row, col), value in sheet.cells.items():
        if col == 0 and isinstance(value, str):
            meta[value.strip()] = sheet.cells.get((row, 1), "")
            cells[value.strip()] = a1.cell_name(row, 1)
    missing = [k for k in (*SIGNED_META_KEYS, "signature") if k not in meta]
    if missing:
        return None, [Problem("meta-incomplete", f"_meta lacks {', '.join(missing)}", file=file, sheet=META_SHEET)]
    try:
        revision = int(float(meta["revision"]))
    except (TypeError, ValueError):
        return None, [Problem("meta-incomplete", "_meta revision is not a number", file=file, sheet=META_SHEET,
                              cell=cells["revision"], value=meta["revision"])]
    text = {k: canonical_value(v) for k, v in meta.items()}
    return Identity(text["kind"], text["owner"], text["period"], revision, text.get("lang", "en"),
                    text["workspace_id"], text["signature"], text, cells), []


def _cell_values(workbook, area: Area) -> list[Any]:
    sheet = workbook.sheets.get(area.sheet)
    if sheet is None:
        return []
    return [sheet.cells.get(pos) for pos in area.cells()]


def file_form(workbook, identity: Identity) -> tuple[dict, dict[str, Area], list[Problem]]:
    """The canonical form of the file as it is now, to compare with what was sent."""
    names: dict[str, Area] = {}
    problems: list[Problem] = []
    for name, ref in workbook.defined_names.items():
        if name.startswith("in_") or is_signed_name(name):
            try:
                names[name] = Area.parse(ref)
            except ValueError:
                problems.append(Problem("name-broken", f"defined name {name} no longer points at cells ({ref})",
                                        field=name, value=ref))
    values = {name: _cell_values(workbook, area) for name, area in names.items() if is_signed_name(name)}
    form = canonical_form(identity.meta, {n: a.plain for n, a in names.items()}, values)
    return form, names, problems


def check_tampering(workbook, identity: Identity, sent_payload: str, key: bytes, file: str) -> list[Problem]:
    """Compare every locked value, name and _meta field with what was sent, naming each difference."""
    sent = parse_payload(sent_payload)["canonical"]
    form, names, problems = file_form(workbook, identity)
    problems = [p.located(file=file) for p in problems]
    for meta_key in SIGNED_META_KEYS:
        was, now = sent["meta"].get(meta_key, ""), form["meta"].get(meta_key, "")
        if was != now:
            problems.append(Problem("meta-changed", f"_meta {meta_key} was {was!r} when sent, now {now!r}",
                                    file=file, sheet=META_SHEET, cell=identity.meta_cells.get(meta_key, ""),
                                    field=meta_key, value=now))
    for name, ref in sent["names"].items():
        now = form["names"].get(name)
        if now is None:
            problems.append(Problem("name-missing", f"defined name {name} ({ref}) was removed; rows, columns "
                                    "or sheets were probably deleted", file=file, field=name))
        elif now != ref:
            problems.append(Problem("layout-changed", f"{name} was {ref} when sent, now {now}: rows or columns "
                                    "were inserted or deleted", file=file, sheet=names[name].sheet,
                                    cell=now.partition("!")[2], field=name))
    for name, expected in sent["values"].items():
        if name not in names or form["names"].get(name) != sent["names"].get(name):
            continue  # already reported as moved or missing
        area = names[name]
        for (row, col), was, now in zip(area.cells(), expected, form["values"].get(name, [])):
            if was != now:
                problems.append(Problem("locked-cell-changed", f"locked cell changed from {was!r} to {now!r}",
                                        file=file, sheet=area.sheet, cell=a1.cell_name(row, col), row=row + 1,
                                        field=name, value=now, params={"was": str(was), "now": str(now)}))
    extra = sorted(set(form["names"]) - set(sent["names"]))
    for name in extra:
        problems.append(Problem("name-added", f"defined name {name} was not in the template", file=file,
                                field=name))
    if not problems and sign(key, form) != identity.signature:
        problems.append(Problem("signature-invalid", "the _meta signature does not match the template's locked "
                                "contents", file=file, sheet=META_SHEET, cell=identity.meta_cells["signature"]))
    return problems


def parse_number(value: Any, decimals: int) -> tuple[float | None, str | None, str | None]:
    """(number, error code, warning code) for one input cell.

    Accepted as they are: numbers. Normalised with a warning: text holding a plain number (" 42 ",
    "42"), thousands separators in the 1,234.50 pattern, and full-width digits typed with a Chinese
    input method. Rejected: percentages, currency signs, "N/A" and other words, decimal commas
    ("1234,50" is ambiguous), booleans, dates.
    """
    if isinstance(value, bool):
        return None, "not-a-number", None
    if isinstance(value, (int, float)):
        number = float(value)
        if not math.isfinite(number):
            return None, "not-a-number", None
        return number, None, None
    if not isinstance(value, str):
        return None, "not-a-number", None
    text = unicodedata.normalize("NFKC", value).strip().replace("\u00a0", "").replace(" ", "")
    if text.endswith("%"):
        return None, "percent-not-allowed", None
    if _PLAIN_NUMBER.match(text) or _THOUSANDS.match(text):
        number = float(text.replace(",", ""))
        if not math.isfinite(number):  # "1e999" is a valid literal that overflows to infinity
            return None, "not-a-number", None
        return number, None, "number-as-text"
    return None, "not-a-number", None


def check_inputs(workbook, blocks: list[dict], metrics: dict, file: str, lang: str = "en") -> Checked:
    """Validate every cell of every input block; collect values and problems."""
    out = Checked()
    for block in blocks:
        area = Area.parse(block["area"])
        sheet = workbook.sheets.get(area.sheet)
        if sheet is None:
            out.problems.append(Problem("sheet-missing", f"sheet {area.sheet!r} is missing", file=file,
                                        sheet=area.sheet))
            continue
        rows, cols = block["row_keys"], block["col_keys"]
        is_merged_text = block["kind"] == "text" and len(rows) == 1 and len(cols) == 1
        for r_index, row in enumerate(range(area.first_row, area.last_row + 1)):
            for c_index, col in enumerate(range(area.first_col, area.last_col + 1)):
                if is_merged_text and (r_index or c_index):
                    continue  # a merged block: only its top-left cell holds the text
                where = {"file": file, "sheet": area.sheet, "cell": a1.cell_name(row, col), "row": row + 1}
                row_key = rows[r_index] if r_index < len(rows) else ""
                col_key = cols[c_index] if c_index < len(cols) else ""
                value = sheet.cells.get((row, col))
                if (row, col) in sheet.formulas:
                    out.problems.append(Problem("formula-in-input", "this cell holds a formula; type the number "
                                                "itself (formula results are never trusted)",
                                                field=block["name"], value=value, **where))
                    continue
                if block["kind"] == "text":
                    _check_text(out, block["name"], row_key, col_key, value, where)
                elif block["kind"] == "choice":
                    _check_choice(out, block["name"], row_key, col_key, value, where)
                else:
                    _check_number(out, block, metrics, row_key, col_key, value, where)
    return out


def _check_text(out: Checked, name: str, row_key: str, col_key: str, value: Any, where: dict) -> None:
    if value is None or value == "":
        return
    text = value if isinstance(value, str) else canonical_value(value)
    if len(text) > MAX_TEXT:
        out.problems.append(Problem("text-too-long", f"{len(text)} characters; at most {MAX_TEXT} are kept",
                                    field=name, value=text[:50], params={"length": str(len(text)),
                                                                         "limit": str(MAX_TEXT)}, **where))
        return
    if _CONTROL.search(text):
        text = _CONTROL.sub("", text)
        out.problems.append(Problem("control-characters", "invisible control characters were removed",
                                    severity=WARNING, field=name, value=text[:50], **where))
    if text.lstrip().startswith(_FORMULA_START):
        out.problems.append(Problem("formula-like-text", "text starts like a formula; it is kept and always "
                                    "written back as text", severity=WARNING, field=name, value=text[:50], **where))
    out.texts.append((name, row_key, col_key, text))


# Every spelling of a decision, in either language, mapped to its stored form.
_DECISION_WORDS = {word.casefold(): english for words in DECISIONS.values()
                   for word, english in zip(words, DECISIONS["en"])}
_DECISION_WORDS.update({"approved": "approve", "rejected": "reject", "已批准": "approve", "已驳回": "reject"})


def _check_choice(out: Checked, name: str, row_key: str, col_key: str, value: Any, where: dict) -> None:
    """A decision from a drop-down; typed variants in either language are understood, anything else is not."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return
    text = unicodedata.normalize("NFKC", str(value)).strip().casefold()
    decision = _DECISION_WORDS.get(text)
    if decision is None:
        choices = " / ".join(DECISIONS["en"] + DECISIONS["zh"])
        out.problems.append(Problem("decision-invalid", f"choose a decision from the list ({choices})",
                                    field=name, value=value, **where))
        return
    out.texts.append((name, row_key, col_key, decision))


def _check_number(out: Checked, block: dict, metrics: dict, row_key: str, col_key: str, value: Any,
                  where: dict) -> None:
    name = block["name"]
    metric_key = block["metric"] or row_key  # the revision block has one metric per row
    metric = metrics.get(metric_key)
    decimals = metric.decimals if metric else block["decimals"]
    # The block's own bound when it has one (the company target bounds a total), else the metric's.
    maximum = block["maximum"] or (metric.max_value if metric else 0)
    if value is None or (isinstance(value, str) and not value.strip()):
        if block["required"]:
            out.problems.append(Problem("missing-value", "this cell must be filled (type 0 for nothing)",
                                        field=name, **where))
        return
    number, error, warning = parse_number(value, decimals)
    if error:
        messages = {"not-a-number": "not a number; type digits only, e.g. 1234.5",
                    "percent-not-allowed": "percentages are not accepted; type the amount itself"}
        out.problems.append(Problem(error, messages[error], field=name, value=value, **where))
        return
    if warning:
        out.problems.append(Problem(warning, "text was read as the number " + canonical_value(number),
                                    severity=WARNING, field=name, value=value,
                                    params={"number": canonical_value(number)}, **where))
    if number < 0:
        out.problems.append(Problem("negative-value", "negative figures are not accepted", field=name,
                                    value=value, **where))
        return
    if maximum and number > maximum:
        out.problems.append(Problem("value-too-large", f"above the limit of {maximum:,.0f} for this cell",
                                    field=name, value=value, params={"maximum": f"{maximum:,.0f}"}, **where))
        return
    rounded = round(number, decimals)
    if decimals == 0 and abs(number - rounded) > 1e-9:
        out.problems.append(Problem("not-whole-number", "a whole number is expected here", field=name,
                                    value=value, **where))
        return
    if abs(number - rounded) > 1e-9:
        out.problems.append(Problem("rounded", f"rounded to {decimals} decimal places", severity=WARNING,
                                    field=name, value=value, params={"decimals": str(decimals)}, **where))
    out.numbers.append((name, row_key, col_key, rounded))


def check_totals(kind: str, sent_payload: str, checked: Checked, metrics: dict, tolerance: float,
                 file: str) -> list[Problem]:
    """Splits and grids must add up to their locked target, recomputed here from the inputs."""
    if kind not in ("company", "team", "person", "reforecast"):
        return []
    sent = parse_payload(sent_payload)
    names = sent["canonical"]["names"]
    values = sent["canonical"]["values"]
    problems = []
    for key, metric in metrics.items():
        target_name = f"target_{key}"
        company_input = f"in_company_{key}"
        if kind == "company" and company_input in names:
            # The VP types the company target: the teams must add up to what was typed, not to a lock.
            typed = [v for (block, _r, _c, v) in checked.numbers if block == company_input]
            if not typed:
                continue  # empty or not a number: already a problem of its own cell
            target, target_name = typed[0], company_input
        elif target_name not in values:
            continue
        else:
            target = float(values[target_name][0] or 0)
        entered = [v for (block, _r, _c, v) in checked.numbers if block == f"in_{key}"]
        total = round(sum(entered), metric.decimals)
        allowed = 0.5 * 10 ** -metric.decimals + tolerance * abs(target)
        if abs(total - target) > allowed:
            sheet, _, cell = names[target_name].partition("!")
            code = {"company": "split-mismatch", "team": "split-mismatch", "person": "plan-mismatch",
                    "reforecast": "plan-mismatch"}[kind]
            figures = {"metric": key, "total": f"{total:,.{metric.decimals}f}",
                       "target": f"{target:,.{metric.decimals}f}",
                       "difference": f"{total - target:+,.{metric.decimals}f}"}
            problems.append(Problem(code, f"{metric.label_en}: the inputs add up to {figures['total']} "
                                    f"but the target is {figures['target']} (difference {figures['difference']})",
                                    file=file, sheet=sheet, cell=cell, field=f"in_{key}", value=total,
                                    params=figures))
    return problems
