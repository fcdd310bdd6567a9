"""Turn plan figures for one recipient into a Template (cells, names, validations, signature)."""

from __future__ import annotations

from sheetplan.plan.views import MonthPlan, PersonPlan, SplitPlan
from sheetplan.templates.parts import (
    Context,
    finish_template,
    header_lines,
    number_style,
    number_validation,
    returned_note,
    start_workbook,
    text_validation,
)
from sheetplan.xlsx import a1
from sheetplan.xlsx.fit import display_width, fit_row
from sheetplan.xlsx.layout import (
    COMMENT_BLOCK,
    REVISION_BLOCK,
    REVISION_MONTHS,
    REVISION_REASON,
    Area,
    Block,
    Sheet,
    Template,
    sheet_title,
)


def prior_month(month: str) -> str:
    """The same month a year earlier: '2027-03' -> '2026-03'."""
    year, rest = month.split("-", 1)
    return f"{int(year) - 1}-{rest}"


def _round_zero(area_first: str, area_last: str) -> str:
    return f"SUM({area_first}:{area_last})"


def build_split(plan: SplitPlan, ctx: Context, revision: int) -> Template:
    """Company plan (teams) or team plan (people): one sheet per metric, one input column."""
    start = start_workbook(ctx, plan.owner, plan.owner_name, plan.period, plan.kind)
    labels, taken, owner_text, sheets = start.labels, start.taken, start.owner_text, start.sheets
    section = plan.kind
    blocks: list[Block] = []
    names: dict[str, Area] = {}
    values: dict[str, list] = {}
    for split in plan.metrics:
        metric = split.metric
        sheet = Sheet(sheet_title(metric.label(ctx.lang), taken))
        fmt = {"company": {"company": ctx.company, "year": plan.period},
               "team": {"team": plan.heading, "year": plan.period}}[section]
        title = labels(f"{section}.title", metric=metric.label(ctx.lang), unit=metric.unit, **fmt)
        header_lines(sheet, labels, title, labels(f"{section}.about"), owner_text, plan.period, revision)
        returned_note(sheet, plan.note)
        head = 4
        first = head + 1
        last = first + len(split.rows) - 1
        columns = ([labels("company.team"), labels("company.manager")] if section == "company"
                   else [labels("team.person"), labels("team.name")])
        columns += [labels(f"{section}.prior"), labels(f"{section}.suggested"), labels(f"{section}.target"),
                    labels("company.share") if section == "company" else labels("team.note")]
        for col, text in enumerate(columns):
            sheet.put(head, col, text, "header")
        # method = "manual": the owner types every figure; "left to allocate" starts at the whole target
        entered = [None if split.blank else r.suggested if r.entered is None else r.entered for r in split.rows]
        total_input = sum(v or 0 for v in entered)
        for offset, row in enumerate(split.rows):
            r = first + offset
            sheet.put(r, 0, row.key, "key")
            sheet.put(r, 1, row.label, "text")
            sheet.put(r, 2, row.prior if row.prior is not None else "", number_style(metric, "locked"))
            sheet.put(r, 3, row.suggested, number_style(metric, "locked"))
            sheet.put(r, 4, "" if entered[offset] is None else entered[offset], number_style(metric, "input"))
            if section == "company":
                share = (entered[offset] or 0) / total_input if total_input else 0
                sheet.put(r, 5, share, "pct_locked", f"IF(SUM($E${first + 1}:$E${last + 1})=0,0,"
                                                       f"E{r + 1}/SUM($E${first + 1}:$E${last + 1}))")
            else:
                sheet.put(r, 5, row.note, "note")
        total_row, target_row, left_row = last + 1, last + 2, last + 3
        span = (f"{{c}}{first + 1}:{{c}}{last + 1}")
        sheet.put(total_row, 0, labels(f"{section}.company_total") if section == "company"
                  else labels("common.total"), "total_label")
        for col in (2, 3, 4):
            letter = a1.col_letter(col)
            cached = {2: sum(r.prior or 0 for r in split.rows), 3: sum(r.suggested for r in split.rows),
                      4: total_input}[col]
            sheet.put(total_row, col, round(cached, metric.decimals), number_style(metric, "total"),
                      f"SUM({span.format(c=letter)})")
        target_label = labels("company.company_target") if section == "company" else labels("team.team_target")
        sheet.put(target_row, 0, target_label, "total_label")
        key = metric.key
        target_area = Area(sheet.name, target_row, 4, target_row, 4)
        if section == "company":
            # The company target is the VP's to set: an input, pre-filled with the suggestion (empty for a
            # metric without history); the teams' split must add up to whatever is typed here.
            target = split.parent_target if split.entered_target is None else split.entered_target
            sheet.put(target_row, 4, "" if target is None else target, number_style(metric, "input"))
            # max_value bounds one cell; the company target is the sum of one cell per team
            bound = metric.max_value * max(1, len(split.rows))
            company_block = Block(f"in_company_{key}", target_area, ("company",), ("target",), key, "number",
                                  metric.decimals, bound)
            blocks.append(company_block)
            sheet.validations.append(number_validation(target_area, metric, labels, bound))
            names[company_block.name] = target_area
        else:
            target = split.parent_target
            sheet.put(target_row, 4, target, number_style(metric, "locked"))
        sheet.put(left_row, 0, labels("common.left_to_allocate"), "total_label")
        left_area = Area(sheet.name, left_row, 4, left_row, 4)
        sheet.put(left_row, 4, round((target or 0) - total_input, metric.decimals),
                  number_style(metric, "total"),
                  f"ROUND(E{target_row + 1}-SUM(E{first + 1}:E{last + 1}),{metric.decimals})")
        sheet.conditional.append((left_area, {"kind": "zero_check"}))
        input_area = Area(sheet.name, first, 4, last, 4)
        block = Block(f"in_{key}", input_area, tuple(r.key for r in split.rows), ("target",), key, "number",
                      metric.decimals, metric.max_value)
        blocks.append(block)
        sheet.validations.append(number_validation(input_area, metric, labels))
        names[block.name] = input_area
        names[f"rows_{key}"] = Area(sheet.name, first, 0, last, 0)
        if section != "company":  # the company's target cell is the input in_company_<metric>, not signed
            names[f"target_{key}"] = target_area
            values[f"target_{key}"] = [split.parent_target]
        names[f"locked_prior_{key}"] = Area(sheet.name, first, 2, last, 2)
        names[f"locked_suggested_{key}"] = Area(sheet.name, first, 3, last, 3)
        values[f"rows_{key}"] = [r.key for r in split.rows]
        values[f"locked_prior_{key}"] = [r.prior for r in split.rows]
        values[f"locked_suggested_{key}"] = [r.suggested for r in split.rows]
        sheet.widths = {0: 22, 1: 24, 2: 18, 3: 18, 4: 18, 5: 14 if section == "company" else 22}
        fit_row(sheet, head)
        sheet.freeze = (first, 1)
        sheets.append(sheet)
    return finish_template(plan.kind, plan.owner, plan.owner_name, plan.period, ctx, revision, sheets, blocks, names,
                   values)


def build_person(plan: PersonPlan, ctx: Context, revision: int) -> Template:
    """A person's year: customer groups by twelve months per metric, pre-filled with the suggestion."""
    start = start_workbook(ctx, plan.owner, plan.owner_name, plan.period, "person")
    labels, taken, owner_text, sheets = start.labels, start.taken, start.owner_text, start.sheets
    blocks, names, values = [], {}, {}
    n_groups = len(plan.groups)
    for grid in plan.metrics:
        metric, key = grid.metric, grid.metric.key
        sheet = Sheet(sheet_title(metric.label(ctx.lang), taken))
        title = labels("person.title", name=plan.owner_name, year=plan.period, metric=metric.label(ctx.lang),
                       unit=metric.unit)
        header_lines(sheet, labels, title, labels("person.about"), owner_text, plan.period, revision)
        returned_note(sheet, plan.note)
        shown = grid.entered or grid.suggested
        if grid.blank:  # method = "manual": nothing pre-filled, "left to allocate" shows the whole target
            shown = {g: (None,) * len(plan.months) for g in plan.groups}
        sheet.put(4, 0, labels("person.annual_target"), "total_label")
        sheet.put(4, 1, grid.annual_target, number_style(metric, "locked"))
        head, first = 6, 7
        last = first + n_groups - 1
        total_row = last + 1
        grand = sum(sum(x or 0 for x in v) for v in shown.values())
        # two columns before its figure: the label runs on over the empty D5 (one column is too narrow for
        # "Left to allocate"; a merge would do too, but ExcelJS then loses the figure beside it)
        sheet.put(4, 2, labels("common.left_to_allocate"), "total_label")
        sheet.put(4, 4, round(grid.annual_target - grand, metric.decimals), number_style(metric, "total"),
                  f"ROUND(B5-N{total_row + 1},{metric.decimals})")
        sheet.conditional.append((Area(sheet.name, 4, 4, 4, 4), {"kind": "zero_check"}))
        sheet.put(head, 0, labels("person.group"), "header")
        for m, month in enumerate(plan.months):
            sheet.put(head, 1 + m, month, "header")
        sheet.put(head, 13, labels("common.total"), "header")
        for g, group in enumerate(plan.groups):
            r = first + g
            sheet.put(r, 0, group, "key")
            row_values = shown[group]
            for m, value in enumerate(row_values):
                sheet.put(r, 1 + m, "" if value is None else value, number_style(metric, "input"))
            sheet.put(r, 13, round(sum(v or 0 for v in row_values), metric.decimals), number_style(metric, "total"),
                      f"SUM(B{r + 1}:M{r + 1})")
        sheet.put(total_row, 0, labels("common.total"), "total_label")
        for m in range(12):
            letter = a1.col_letter(1 + m)
            cached = sum(shown[g][m] or 0 for g in plan.groups)
            sheet.put(total_row, 1 + m, round(cached, metric.decimals), number_style(metric, "total"),
                      f"SUM({letter}{first + 1}:{letter}{last + 1})")
        sheet.put(total_row, 13, round(grand, metric.decimals), number_style(metric, "total"),
                  f"SUM(N{first + 1}:N{last + 1})")
        prior_head = total_row + 2
        sheet.put(prior_head, 0, labels("person.prior"), "header")
        for m, month in enumerate(plan.months):  # the prior year's figures under the prior year's months
            sheet.put(prior_head, 1 + m, prior_month(month), "header")
        for g, group in enumerate(plan.groups):
            r = prior_head + 1 + g
            sheet.put(r, 0, group, "text")
            for m, value in enumerate(grid.prior.get(group, (0.0,) * 12)):
                sheet.put(r, 1 + m, value, number_style(metric, "locked"))
        sheet.put(prior_head + n_groups + 2, 0, labels("person.months_note"), "note")
        input_area = Area(sheet.name, first, 1, last, 12)
        block = Block(f"in_{key}", input_area, plan.groups, plan.months, key, "number", metric.decimals,
                      metric.max_value)
        blocks.append(block)
        sheet.validations.append(number_validation(input_area, metric, labels))
        names[block.name] = input_area
        names[f"rows_{key}"] = Area(sheet.name, first, 0, last, 0)
        names[f"cols_{key}"] = Area(sheet.name, head, 1, head, 12)
        names[f"target_{key}"] = Area(sheet.name, 4, 1, 4, 1)
        names[f"locked_prior_{key}"] = Area(sheet.name, prior_head + 1, 1, prior_head + n_groups, 12)
        values[f"rows_{key}"] = list(plan.groups)
        values[f"cols_{key}"] = list(plan.months)
        values[f"target_{key}"] = [grid.annual_target]
        values[f"locked_prior_{key}"] = [v for g in plan.groups for v in grid.prior.get(g, (0.0,) * 12)]
        sheet.widths = {0: 22, **{c: 11 for c in range(1, 13)}, 13: 14}
        sheet.freeze = (first, 1)
        sheets.append(sheet)
    return finish_template("person", plan.owner, plan.owner_name, plan.period, ctx, revision, sheets, blocks, names,
                   values)


def build_month(plan: MonthPlan, ctx: Context, revision: int) -> Template:
    """One month's report: locked targets, actuals and comments to fill, and a revision request."""
    start = start_workbook(ctx, plan.owner, plan.owner_name, plan.month, "month")
    labels, taken, owner_text, sheets = start.labels, start.taken, start.owner_text, start.sheets
    sheet = Sheet(sheet_title(labels("month.sheet"), taken))
    header_lines(sheet, labels, labels("month.title", name=plan.owner_name, month=plan.month),
                  labels("month.about"), owner_text, plan.month, revision)
    returned_note(sheet, plan.note)
    actuals, comments = plan.actuals or {}, plan.comments or {}
    head, first = 4, 5
    last = first + len(plan.groups) - 1
    total_row = last + 1
    blocks, names, values = [], {}, {}
    sheet.put(head, 0, labels("month.group"), "header")
    rows_area = Area(sheet.name, first, 0, last, 0)
    for g, group in enumerate(plan.groups):
        sheet.put(first + g, 0, group, "key")
    sheet.put(total_row, 0, labels("common.total"), "total_label")
    # the revision table below names each metric in this column: wide enough for the longest name, in bold
    widths = {0: max([22.0] + [display_width(m.label(ctx.lang)) * 1.15 + 2 for m in plan.metrics])}
    for i, metric in enumerate(plan.metrics):
        key, label = metric.key, metric.label(ctx.lang)
        tcol, acol, vcol = 1 + 3 * i, 2 + 3 * i, 3 + 3 * i
        tl, al, vl = (a1.col_letter(c) for c in (tcol, acol, vcol))
        sheet.put(head, tcol, labels("month.target", metric=label), "header")
        locked = key in (plan.imported or {})  # [actuals] source = "imported": the ERP's figure, not an input
        if locked:
            actuals = {**actuals, key: plan.imported[key]}
        sheet.put(head, acol, labels("actuals.locked_imported" if locked else "month.actual", metric=label),
                  "header" if locked else "header_input")
        sheet.put(head, vcol, labels("month.variance", metric=label), "header")
        for g, group in enumerate(plan.groups):
            r = first + g
            target = plan.targets[key][group]
            sheet.put(r, tcol, target, number_style(metric, "locked"))
            sheet.put(r, acol, actuals.get(key, {}).get(group), number_style(metric, "locked" if locked else "input"))
            done = actuals.get(key, {}).get(group)
            sheet.put(r, vcol, "" if done is None else round(done - target, metric.decimals),
                      number_style(metric, "total"), f"IF({al}{r + 1}=\"\",\"\","
                                                                       f"{al}{r + 1}-{tl}{r + 1})")
        for col, letter in ((tcol, tl), (acol, al), (vcol, vl)):
            done = sum(v for v in actuals.get(key, {}).values() if v is not None)
            cached = {tcol: sum(plan.targets[key].values()), acol: done,
                      vcol: done - sum(plan.targets[key].values()) if actuals.get(key) else 0}[col]
            sheet.put(total_row, col, round(cached, metric.decimals), number_style(metric, "total"),
                      f"SUM({letter}{first + 1}:{letter}{last + 1})")
        variance_area = Area(sheet.name, first, vcol, total_row, vcol)
        sheet.conditional.append((variance_area, {"kind": "variance", "higher_is_better": metric.higher_is_better}))
        area = Area(sheet.name, first, acol, last, acol)
        if locked:  # signed like a target, so a changed figure is tampering, and no actual is read back
            names[f"locked_imported_{key}"] = area
            values[f"locked_imported_{key}"] = [actuals[key].get(g, 0.0) for g in plan.groups]
        else:
            blocks.append(Block(f"in_{key}", area, plan.groups, ("actual",), key, "number", metric.decimals,
                                metric.max_value))
            sheet.validations.append(number_validation(area, metric, labels))
            names[f"in_{key}"] = area
        names[f"rows_{key}"] = rows_area
        names[f"target_{key}"] = Area(sheet.name, first, tcol, last, tcol)
        values[f"rows_{key}"] = list(plan.groups)
        values[f"target_{key}"] = [plan.targets[key][g] for g in plan.groups]
        widths.update({tcol: 14, acol: 14, vcol: 14})
    ccol = 1 + 3 * len(plan.metrics)
    sheet.put(head, ccol, labels("month.comment"), "header_input")
    comment_area = Area(sheet.name, first, ccol, last, ccol)
    for g, group in enumerate(plan.groups):
        sheet.put(first + g, ccol, comments.get(group), "input_text")
    blocks.append(Block(COMMENT_BLOCK, comment_area, plan.groups, ("comment",), "", "text", required=False))
    sheet.validations.append(text_validation(comment_area, labels))
    names[COMMENT_BLOCK] = comment_area
    names["rows_comment"] = rows_area
    values["rows_comment"] = list(plan.groups)
    widths[ccol] = 40

    top = total_row + 2
    sheet.put(top, 0, labels("month.revision_title"), "subtitle")
    sheet.put(top + 1, 0, labels("month.revision_about"), "note")
    rhead, rfirst = top + 2, top + 3
    rlast = rfirst + len(plan.metrics) - 1
    for col, text in enumerate((labels("month.revision_metric"), labels("month.revision_current"),
                                labels("month.revision_requested"))):
        sheet.put(rhead, col, text, "header")
    for i, metric in enumerate(plan.metrics):
        r = rfirst + i
        sheet.put(r, 0, metric.label(ctx.lang), "key")
        sheet.put(r, 1, plan.annual[metric.key], number_style(metric, "locked"))
        sheet.put(r, 2, None, number_style(metric, "input"))
        area = Area(sheet.name, r, 2, r, 2)
        sheet.validations.append(number_validation(area, metric, labels))
    revision_area = Area(sheet.name, rfirst, 2, rlast, 2)
    blocks.append(Block(REVISION_BLOCK, revision_area, tuple(m.key for m in plan.metrics), ("requested",), "",
                        "number", required=False))
    if plan.later:  # or the later months one by one; a month left blank keeps its target
        last_col = 3 + len(plan.later) - 1
        for c, later in enumerate(plan.later):
            sheet.put(rhead, 3 + c, later, "header_input")
        for i, metric in enumerate(plan.metrics):
            for c in range(len(plan.later)):
                sheet.put(rfirst + i, 3 + c, None, number_style(metric, "input"))
            sheet.validations.append(number_validation(Area(sheet.name, rfirst + i, 3, rfirst + i, last_col), metric,
                                                        labels))
        months_area = Area(sheet.name, rfirst, 3, rlast, last_col)
        blocks.append(Block(REVISION_MONTHS, months_area, tuple(m.key for m in plan.metrics), plan.later, "",
                            "number", required=False))
        names[REVISION_MONTHS] = months_area
        names["cols_revision_months"] = Area(sheet.name, rhead, 3, rhead, last_col)
        values["cols_revision_months"] = list(plan.later)
    names[REVISION_BLOCK] = revision_area
    names["rows_revision"] = Area(sheet.name, rfirst, 0, rlast, 0)
    names["locked_annual"] = Area(sheet.name, rfirst, 1, rlast, 1)
    values["rows_revision"] = [m.label(ctx.lang) for m in plan.metrics]
    values["locked_annual"] = [plan.annual[m.key] for m in plan.metrics]
    reason_row = rlast + 1
    sheet.put(reason_row, 0, labels("month.revision_reason"), "key")
    reason_area = Area(sheet.name, reason_row, 1, reason_row + 2, max(ccol, 4))
    sheet.merges.append((reason_area, None, "input_text"))
    blocks.append(Block(REVISION_REASON, reason_area, ("reason",), ("reason",), "", "text", required=False))
    sheet.validations.append(text_validation(reason_area, labels))
    names[REVISION_REASON] = reason_area
    sheet.widths = widths
    fit_row(sheet, head)  # "Travel & entertainment expenses actual" wraps over three lines
    fit_row(sheet, rhead)
    sheet.freeze = (first, 1)
    sheets.append(sheet)
    return finish_template("month", plan.owner, plan.owner_name, plan.month, ctx, revision, sheets, blocks, names,
                           values)
