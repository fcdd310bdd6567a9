"""The approval workbook: what waits for one approver, the figures beside the suggestion and the last
official version, and a Decision and Comment to fill for each item."""

from __future__ import annotations

from sheetplan.plan.views import ApprovalPlan, ItemFigures
from sheetplan.templates.parts import (
    Context,
    finish_template,
    header_lines,
    number_style,
    start_workbook,
    text_validation,
)
from sheetplan.workspace.labels import Labels
from sheetplan.xlsx import a1
from sheetplan.xlsx.fit import fit_row
from sheetplan.xlsx.layout import (
    DECISION_BLOCK,
    DECISION_COMMENT,
    DECISIONS,
    Area,
    Block,
    Sheet,
    Template,
    Validation,
    sheet_title,
)


def build_approval(plan: ApprovalPlan, ctx: Context, revision: int) -> Template:
    """A Decisions sheet (one row per item, the only inputs) and a Details sheet (the figures)."""
    start = start_workbook(ctx, plan.owner, plan.owner_name, plan.period, "approval")
    labels, taken, owner_text, sheets = start.labels, start.taken, start.owner_text, start.sheets
    decisions = Sheet(sheet_title(labels("approval.decisions_sheet"), taken))
    details = Sheet(sheet_title(labels("approval.details_sheet"), taken))
    header_lines(decisions, labels, labels("approval.title", name=plan.owner_name), labels("approval.about"),
                  owner_text, plan.period, revision)
    head, first = 4, 5
    last = first + len(plan.entries) - 1
    columns = ["no", "ref", "owner", "name", "what", "period", "level", "received", "summary", "details",
               "decision", "comment"]
    for col, key in enumerate(columns):
        decisions.put(head, col, labels(f"approval.col_{key}"), "header_input" if key in ("decision", "comment")
                      else "header")
    detail_rows = _details(details, labels, plan, ctx)
    locked: list = []
    for offset, entry in enumerate(plan.entries):
        r = first + offset
        row = [offset + 1, entry.ref, entry.owner, entry.owner_name, entry.what, entry.period, entry.level,
               entry.received, entry.summary]
        for col, value in enumerate(row):
            decisions.put(r, col, value, "key" if col == 1 else "wrap" if col in (3, 4, 8) else "text")
        locked += row[2:]
        target = f"#{a1.quote_sheet(details.name)}!A{detail_rows[entry.ref] + 1}"
        decisions.put(r, 9, labels("approval.see"), "text", f'HYPERLINK("{target}","{labels("approval.see")}")')
        decisions.put(r, 10, None, "input_text")
        decisions.put(r, 11, None, "input_text")
    decision_area = Area(decisions.name, first, 10, last, 10)
    comment_area = Area(decisions.name, first, 11, last, 11)
    refs = tuple(e.ref for e in plan.entries)
    choices = DECISIONS[ctx.lang]
    blocks = [Block(DECISION_BLOCK, decision_area, refs, ("decision",), kind="choice", required=False,
                    choices=choices),
              Block(DECISION_COMMENT, comment_area, refs, ("comment",), kind="text", required=False)]
    decisions.validations.append(Validation(
        decision_area, "list", choices=choices, title=labels("approval.decision_title"),
        message=labels("approval.decision_help", choices=" / ".join(choices)),
        error_title=labels("common.validation_error_title"),
        error=labels("approval.decision_error", choices=" / ".join(choices))))
    decisions.validations.append(text_validation(comment_area, labels))
    decisions.put(last + 2, 0, labels("approval.footnote"), "note")
    decisions.widths = {0: 5, 1: 10, 2: 10, 3: 20, 4: 26, 5: 10, 6: 14, 7: 12, 8: 60, 9: 9, 10: 13, 11: 44}
    for r in range(head, last + 1):  # the header and each item's one-line change, wrapped
        fit_row(decisions, r)
    decisions.freeze = (first, 2)
    sheets += [decisions, details]
    names = {DECISION_BLOCK: decision_area, DECISION_COMMENT: comment_area,
             "rows_decision": Area(decisions.name, first, 1, last, 1),
             "locked_items": Area(decisions.name, first, 2, last, 8)}
    values = {"rows_decision": list(refs), "locked_items": locked}
    return finish_template("approval", plan.owner, plan.owner_name, plan.period, ctx, revision, sheets, blocks, names,
                   values)


def _details(sheet: Sheet, labels: Labels, plan: ApprovalPlan, ctx: Context) -> dict[str, int]:
    """One section per item; returns the row each section starts on, for the links from Decisions."""
    sheet.put(0, 0, labels("approval.details_title"), "title")
    sheet.put(1, 0, labels("approval.details_about"), "note")
    starts: dict[str, int] = {}
    r = 3
    widest = 1
    for number, entry in enumerate(plan.entries, start=1):
        starts[entry.ref] = r
        period = "" if entry.period in entry.what else f" - {entry.period}"
        sheet.put(r, 0, f"{number}. {entry.owner_name} ({entry.owner}) - {entry.what}{period} - "
                        f"{labels('approval.col_level')} {entry.level}", "subtitle")
        r += 1
        if entry.reason:  # one line that runs on over the empty cells to its right
            sheet.put(r, 0, labels("approval.reason", reason=entry.reason), "key")
            r += 1
        for line in entry.history:
            sheet.put(r, 0, line, "note")
            r += 1
        for figures in entry.figures:
            r = _figure_block(sheet, labels, figures, ctx, r)
            widest = max(widest, len(figures.columns) + 2)
        r += 1
    sheet.widths = {0: 34, **{c: 12 for c in range(1, widest)}}
    return starts


def _figure_block(sheet: Sheet, labels: Labels, figures: ItemFigures, ctx: Context, r: int) -> int:
    metric = figures.metric
    n = len(figures.columns)
    sheet.put(r, 0, f"{metric.label(ctx.lang)}" + (f" ({metric.unit})" if metric.unit else ""), "header")
    for c, name in enumerate(figures.columns):
        sheet.put(r, 1 + c, name, "header")
    sheet.put(r, 1 + n, labels("common.total"), "header")
    rows = [("approval.submitted", figures.submitted), ("approval.suggestion", figures.suggestion),
            ("approval.previous", figures.previous)]
    base = figures.previous if figures.previous is not None else figures.suggestion
    r += 1
    for key, row in rows:
        if row is None and key == "approval.suggestion":
            continue  # a revision request has no suggestion to compare with
        sheet.put(r, 0, labels(key), "key")
        if row is None:
            sheet.put(r, 1, labels("approval.none"), "note")
        else:
            for c, value in enumerate(row):
                sheet.put(r, 1 + c, value, number_style(metric, "locked"))
            sheet.put(r, 1 + n, round(sum(row), metric.decimals), number_style(metric, "total"))
        r += 1
    label = "approval.change_previous" if figures.previous is not None else "approval.change_suggestion"
    sheet.put(r, 0, labels(label), "key")
    if base is not None:
        diffs = [round(s - b, metric.decimals) for s, b in zip(figures.submitted, base)]
        for c, value in enumerate(diffs):
            sheet.put(r, 1 + c, value, number_style(metric, "total"))
        sheet.put(r, 1 + n, round(sum(diffs), metric.decimals), number_style(metric, "total"))
        sheet.conditional.append((Area(sheet.name, r, 1, r, 1 + n), {"kind": "nonzero"}))
    return r + 2
