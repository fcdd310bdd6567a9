"""The H2 re-forecast template: H1 actuals locked beside the six H2 months to plan again, pre-filled."""

from __future__ import annotations

from sheetplan.plan.views import ReforecastMetric, ReforecastPlan
from sheetplan.templates.parts import (
    Context,
    finish_template,
    header_lines,
    number_style,
    number_validation,
    returned_note,
    start_workbook,
)
from sheetplan.workspace.labels import Labels
from sheetplan.xlsx import a1
from sheetplan.xlsx.calc import excel_round
from sheetplan.xlsx.layout import Area, Block, Sheet, Template, sheet_title

H1 = 6  # months 1-6 have closed and are shown as actuals; months 7-12 are planned again
# Grid columns: A the customer group, B-G the H1 months, H-M the H2 months, then H1, H2 and year totals.
FIRST_H1, FIRST_H2, H1_TOTAL, H2_TOTAL, YEAR_TOTAL = 1, 1 + H1, 13, 14, 15
LAST_H1, LAST_H2 = FIRST_H2 - 1, H1_TOTAL - 1
# Rows of the figures above the grid (column B), then the grid's band, header and first group row.
ANNUAL, H1_ACTUAL, REQUIRED, RUN_RATE, LEFT = 4, 5, 6, 7, 8
BAND, HEAD, FIRST = 10, 11, 12


def build_reforecast(plan: ReforecastPlan, ctx: Context, revision: int) -> Template:
    """One sheet per metric: the year so far is locked, the H2 grid must add up to what the year still needs.

    `target_<key>` is the H2 total to plan (annual target minus H1 actual), not the annual target: ingest
    checks the inputs against it, and the closed H1 months cannot be planned again.
    """
    start = start_workbook(ctx, plan.owner, plan.owner_name, plan.period, "reforecast")
    labels, taken, owner_text, sheets = start.labels, start.taken, start.owner_text, start.sheets
    blocks, names, values = [], {}, {}
    h2_months = plan.months[H1:]
    for grid in plan.metrics:
        metric, key, decimals = grid.metric, grid.metric.key, grid.metric.decimals
        sheet = Sheet(sheet_title(metric.label(ctx.lang), taken))
        title = labels("reforecast.title", name=plan.owner_name, period=plan.period, metric=metric.label(ctx.lang),
                       unit=metric.unit)
        header_lines(sheet, labels, title, labels("reforecast.about"), owner_text, plan.period, revision)
        returned_note(sheet, plan.note)
        last = FIRST + len(plan.groups) - 1
        _figures(sheet, grid, plan.groups, last, labels)
        _grid(sheet, grid, plan, last, labels)
        orig_first, orig_last = _original(sheet, grid, plan, last + 3, labels)

        input_area = Area(sheet.name, FIRST, FIRST_H2, last, LAST_H2)
        block = Block(f"in_{key}", input_area, plan.groups, h2_months, key, "number", decimals, metric.max_value)
        blocks.append(block)
        sheet.validations.append(number_validation(input_area, metric, labels))
        names[block.name] = input_area
        names[f"rows_{key}"] = Area(sheet.name, FIRST, 0, last, 0)
        names[f"cols_{key}"] = Area(sheet.name, HEAD, FIRST_H2, HEAD, LAST_H2)
        names[f"target_{key}"] = Area(sheet.name, REQUIRED, 1, REQUIRED, 1)
        names[f"locked_annual_{key}"] = Area(sheet.name, ANNUAL, 1, ANNUAL, 1)
        names[f"locked_h1_{key}"] = Area(sheet.name, FIRST, FIRST_H1, last, LAST_H1)
        names[f"locked_h2_original_{key}"] = Area(sheet.name, orig_first, FIRST_H2, orig_last, LAST_H2)
        values[f"rows_{key}"] = list(plan.groups)
        values[f"cols_{key}"] = list(h2_months)
        values[f"target_{key}"] = [grid.h2_required]
        values[f"locked_annual_{key}"] = [grid.annual_target]
        values[f"locked_h1_{key}"] = [v for g in plan.groups for v in grid.h1_actual[g]]
        values[f"locked_h2_original_{key}"] = [v for g in plan.groups for v in grid.h2_original[g]]
        sheet.widths = {0: 24, **{c: 11 for c in range(FIRST_H1, LAST_H2 + 1)}, H1_TOTAL: 13, H2_TOTAL: 13,
                        YEAR_TOTAL: 13}
        sheet.freeze = (FIRST, 1)
        sheets.append(sheet)
    return finish_template("reforecast", plan.owner, plan.owner_name, plan.period, ctx, revision, sheets, blocks, names,
                   values)


def _figures(sheet: Sheet, grid: ReforecastMetric, groups: tuple[str, ...], last: int, labels: Labels) -> None:
    """Annual target, H1 actual, the H2 total to plan, its monthly pace and what is left to allocate."""
    metric, decimals = grid.metric, grid.metric.decimals
    locked, total = number_style(metric, "locked"), number_style(metric, "total")
    h1_sum = sum(sum(grid.h1_actual[g]) for g in groups)
    h2_sum = sum(sum(grid.h2_prefill[g]) for g in groups)
    target = a1.cell_name(REQUIRED, 1)
    for row, label in ((ANNUAL, "reforecast.annual_target"), (H1_ACTUAL, "reforecast.h1_actual"),
                       (REQUIRED, "reforecast.h2_required"), (RUN_RATE, "reforecast.run_rate"),
                       (LEFT, "common.left_to_allocate")):
        sheet.put(row, 0, labels(label), "total_label")
    sheet.put(ANNUAL, 1, grid.annual_target, locked)
    sheet.put(H1_ACTUAL, 1, excel_round(h1_sum, decimals), total,
              f"SUM({a1.range_name(FIRST, FIRST_H1, last, LAST_H1)})")
    sheet.put(REQUIRED, 1, grid.h2_required, locked)
    sheet.put(RUN_RATE, 1, excel_round(grid.h2_required / H1, decimals), total, f"ROUND({target}/{H1},{decimals})")
    sheet.put(LEFT, 1, excel_round(grid.h2_required - h2_sum, decimals), total,
              f"ROUND({target}-SUM({a1.range_name(FIRST, FIRST_H2, last, LAST_H2)}),{decimals})")
    sheet.conditional.append((Area(sheet.name, LEFT, 1, LEFT, 1), {"kind": "zero_check"}))


def _grid(sheet: Sheet, grid: ReforecastMetric, plan: ReforecastPlan, last: int, labels: Labels) -> None:
    """Customer groups by twelve months: H1 actuals locked, H2 to fill, with row and column totals."""
    metric, decimals = grid.metric, grid.metric.decimals
    total = number_style(metric, "total")
    sheet.merges.append((Area(sheet.name, BAND, FIRST_H1, BAND, LAST_H1), labels("reforecast.h1_band"), "header"))
    sheet.merges.append((Area(sheet.name, BAND, FIRST_H2, BAND, LAST_H2), labels("reforecast.h2_band"),
                         "header_input"))
    sheet.put(HEAD, 0, labels("reforecast.group"), "header")
    for m, month in enumerate(plan.months):
        sheet.put(HEAD, FIRST_H1 + m, month, "header")
    for col, label in ((H1_TOTAL, "h1_total"), (H2_TOTAL, "h2_total"), (YEAR_TOTAL, "year_total")):
        sheet.put(HEAD, col, labels(f"reforecast.{label}"), "header")
    rows = []  # per group: the twelve months as shown
    for g, group in enumerate(plan.groups):
        r = FIRST + g
        months = list(grid.h1_actual[group]) + list(grid.h2_prefill[group])
        rows.append(months)
        sheet.put(r, 0, group, "key")
        for m, value in enumerate(months):
            sheet.put(r, FIRST_H1 + m, value, number_style(metric, "locked" if m < H1 else "input"))
        h1, h2 = sum(months[:H1]), sum(months[H1:])
        sheet.put(r, H1_TOTAL, excel_round(h1, decimals), total, f"SUM({a1.range_name(r, FIRST_H1, r, LAST_H1)})")
        sheet.put(r, H2_TOTAL, excel_round(h2, decimals), total, f"SUM({a1.range_name(r, FIRST_H2, r, LAST_H2)})")
        sheet.put(r, YEAR_TOTAL, excel_round(h1 + h2, decimals), total,
                  f"{a1.cell_name(r, H1_TOTAL)}+{a1.cell_name(r, H2_TOTAL)}")
    total_row = last + 1
    sheet.put(total_row, 0, labels("common.total"), "total_label")
    sums = [sum(row[m] for row in rows) for m in range(2 * H1)]
    cached = sums + [sum(sums[:H1]), sum(sums[H1:]), sum(sums)]
    for col, value in zip(range(FIRST_H1, YEAR_TOTAL + 1), cached, strict=True):
        sheet.put(total_row, col, excel_round(value, decimals), total, f"SUM({a1.range_name(FIRST, col, last, col)})")


def _original(sheet: Sheet, grid: ReforecastMetric, plan: ReforecastPlan, head: int,
              labels: Labels) -> tuple[int, int]:
    """The H2 plan before this re-forecast, under the H2 columns for comparison; returns its first and last row."""
    metric = grid.metric
    first, last = head + 1, head + len(plan.groups)
    sheet.put(head, 0, labels("reforecast.original"), "header")
    for m, month in enumerate(plan.months[H1:]):
        sheet.put(head, FIRST_H2 + m, month, "header")
    sheet.put(head, H2_TOTAL, labels("reforecast.h2_total"), "header")
    for g, group in enumerate(plan.groups):
        r = first + g
        sheet.put(r, 0, group, "text")
        for m, value in enumerate(grid.h2_original[group]):
            sheet.put(r, FIRST_H2 + m, value, number_style(metric, "locked"))
        sheet.put(r, H2_TOTAL, excel_round(sum(grid.h2_original[group]), metric.decimals),
                  number_style(metric, "total"), f"SUM({a1.range_name(r, FIRST_H2, r, LAST_H2)})")
    sheet.put(last + 1, 0, labels("reforecast.original_note"), "note")
    return first, last
