"""The month-end workbooks: the summary for the VP and managers, and one slice per team (or person)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sheetplan.problems import Problem
from sheetplan.reports.book import ACTUAL_COLOUR, TARGET_COLOUR, ReportBook, close_book
from sheetplan.reports.consolidate import STATUS_ORDER, Consolidation
from sheetplan.reports.databook import DataFiles, where_sheet
from sheetplan.reports.print_layout import FLAG_MESSAGE_WIDTH, source_text
from sheetplan.reports.status import closing_line, late_files
from sheetplan.reports.tables import data_sheet
from sheetplan.workspace.labels import Labels
from sheetplan.workspace.problem_text import code_name, problem_text, term
from sheetplan.xlsx.fit import row_height, wrapped_lines
from sheetplan.xlsx.layout import safe_part
from sheetplan.xlsx.writer import write_through_temp


def open_month(c: Consolidation, labels: Labels | None = None) -> tuple[bool, int, str]:
    """(is the consolidated month open, how many of its month reports are still missing, and with `labels`
    the sentence that says so: the CLI's first line)."""
    if c.months is None or c.month not in set(c.months["month"]):
        return False, 0, ""
    row = c.months[c.months["month"] == c.month].iloc[0]
    is_open, missing = not bool(row["closed"]), int(row["missing"])
    if not is_open or labels is None:
        return is_open, missing, ""
    key = "closing.open_notice" if int(row["sent"]) else "closing.open_notice_unsent"
    return is_open, missing, labels(key, month=c.month, missing=missing)


def report_title(c: Consolidation, workspace, L: Labels) -> str:
    """The summary's title; for a month not closed yet it says so, with the returns still missing."""
    title = L("summary.title", company=workspace.config.company, month=c.month)
    is_open, missing, _notice = open_month(c)
    if not is_open:
        return title
    sent = int(c.months.loc[c.months["month"] == c.month, "sent"].iloc[0])
    return title + (L("closing.title_open", missing=missing) if sent else L("closing.title_open_unsent"))


def _company_sheet(b: ReportBook, c: Consolidation, metrics, name: str) -> dict[str, tuple[int, int]]:
    """One block of twelve month rows per metric; returns where each block's data starts and ends."""
    L = b.labels
    ws = b.sheet(name)
    facts = c.facts[(c.facts["level"] == "company") & (c.facts["customer_group"] == "")]
    columns = [L("summary.month"), L("summary.target"), L("summary.rollover"), L("summary.effective_target"),
               L("summary.actual"), L("summary.variance"), L("summary.attainment"), L("summary.cumulative_target"),
               L("summary.cumulative_actual")]
    ws.set_column(0, 0, 12)
    ws.set_column(1, 8, 16)
    company = {lv.metric: lv for lv in c.inputs.plan_levels if lv.level == "company"}
    blocks, row = {}, 0
    for metric in metrics:
        block = facts[facts["metric"] == metric.key]
        ws.write_string(row, 0, f"{metric.label(L.lang)} ({metric.unit})", b.title)
        _plan_level_line(b, ws, row, company.get(metric.key), metric)
        b.header(ws, row + 1, columns)
        first = row + 2
        money = b.money[metric.decimals]
        for i, rec in enumerate(block.itertuples()):
            r = first + i
            b.value(ws, r, 0, rec.month)
            for col, value in ((1, rec.target), (2, rec.rollover_in), (3, rec.effective_target), (4, rec.actual),
                               (5, rec.variance)):
                b.value(ws, r, col, value, money)
            b.attainment(ws, r, 6, rec.attainment, metric.higher_is_better, c.flags_cfg)
            # the running plan the year is measured against (after an approved re-forecast H1 at its actual,
            # so the last month is the Dashboard's annual target) and the year-to-date actual, both as the
            # fact table rounds them to the metric's decimals
            b.value(ws, r, 7, rec.cumulative_target, money)
            b.value(ws, r, 8, rec.ytd_actual if rec.month <= c.month else None, money)
        blocks[metric.key] = (first, first + len(block) - 1)
        row = first + len(block) + 2
    ws.freeze_panes(2, 1)
    return blocks


def _plan_level_line(b: ReportBook, ws, row: int, level, metric) -> None:
    """On a metric block's title row: the company's target, what its teams add up to, and the gap, side by
    side (the sheet is written row by row, so it goes on a row the block writes anyway)."""
    if level is None or level.target is None:
        return
    L, money = b.labels, b.money[metric.decimals]
    # from column D on, so the metric's title (A-C) is not cut; short labels, so none is cut by its value
    for col, (label, value) in enumerate(((L("summary.company_plan_target"), level.target),
                                          (L("summary.company_teams_sum"), level.allocated),
                                          (L("summary.company_gap"), round(level.target - level.allocated,
                                                                           metric.decimals)))):
        b.value(ws, row, 3 + 2 * col, label)
        b.value(ws, row, 4 + 2 * col, value, money)


def _team_sheet(b: ReportBook, c: Consolidation, metrics, name: str) -> int:
    L = b.labels
    ws = b.sheet(name)
    b.header(ws, 0, [L("summary.team"), L("summary.score"), L("summary.rank_company")]
             + [m.label(L.lang) for m in metrics])
    for i, rec in enumerate(c.teams.itertuples(index=False)):
        b.value(ws, 1 + i, 0, rec.team)
        b.value(ws, 1 + i, 1, rec.score, b.pct)
        b.value(ws, 1 + i, 2, rec.rank)
        for j, metric in enumerate(metrics):
            b.attainment(ws, 1 + i, 3 + j, getattr(rec, metric.key), metric.higher_is_better, _flags_cfg(c))
    last_score_row = len(c.teams)
    b.traffic(ws, 1, 1, last_score_row, 1, _flags_cfg(c))
    row = last_score_row + 3
    detail = c.facts[(c.facts["level"] == "team") & (c.facts["customer_group"] == "") & (c.facts["month"] == c.month)]
    b.header(ws, row, [L("summary.team"), L("summary.metric"), L("summary.annual_target"), L("summary.ytd_target"),
                       L("summary.ytd_actual"), L("summary.ytd_attainment"), L("summary.forecast"),
                       L("summary.required_run_rate"), L("summary.team_plan_target"), L("summary.allocated_people"),
                       L("summary.plan_gap")])
    # the team's own target beside what its people carry: a gap (revision, leaver, hire) is never unseen
    levels = {(lv.owner, lv.metric): lv for lv in c.inputs.plan_levels if lv.level == "team"}
    decimals = {m.key: m.decimals for m in metrics}
    higher = {m.key: m.higher_is_better for m in metrics}
    labels = {m.key: m.label(L.lang) for m in metrics}
    for i, rec in enumerate(detail.itertuples()):
        r = row + 1 + i
        money = b.money[decimals[rec.metric]]
        b.value(ws, r, 0, rec.team)
        b.value(ws, r, 1, labels[rec.metric])
        for col, value in ((2, rec.annual_target), (3, rec.ytd_target), (4, rec.ytd_actual)):
            b.value(ws, r, col, value, money)
        b.attainment(ws, r, 5, rec.ytd_attainment, higher[rec.metric], _flags_cfg(c))
        b.value(ws, r, 6, rec.forecast, money)
        b.value(ws, r, 7, rec.required_run_rate, money)
        level = levels.get((rec.team, rec.metric))
        if level is not None and level.target is not None:
            b.value(ws, r, 8, level.target, money)
            b.value(ws, r, 9, level.allocated, money)
            b.value(ws, r, 10, round(level.target - level.allocated, decimals[rec.metric]), money)
    ws.set_column(0, 0, 24)
    ws.set_column(1, 1, 32)  # metric names such as "Travel & entertainment expenses"
    ws.set_column(2, 10, 15)
    ws.freeze_panes(1, 1)
    return last_score_row


def _flags_cfg(c: Consolidation):
    return c.flags_cfg


def _people_sheet(b: ReportBook, people: pd.DataFrame, metrics, name: str, flags_cfg, title: str = "") -> int:
    """The people table; with a `title` (a team's workbook) the title is row 1 and the table starts below it."""
    L = b.labels
    ws = b.sheet(name)
    top = 1 if title else 0
    if title:
        b.heading(ws, 0, title)
        ws.set_header("&C" + title.replace("&", "&&"))
    b.header(ws, top, [L("summary.rank_company"), L("summary.person"), L("summary.name"), L("summary.team"),
                     L("summary.score"), L("summary.rank_team")] + [m.label(L.lang) for m in metrics])
    for i, rec in enumerate(people.itertuples(index=False)):
        r = top + 1 + i
        b.value(ws, r, 0, rec.rank_company)
        b.value(ws, r, 1, rec.person)
        b.value(ws, r, 2, rec.name)
        b.value(ws, r, 3, rec.team)
        b.value(ws, r, 4, rec.score, b.pct)
        b.value(ws, r, 5, rec.rank_team)
        for j, metric in enumerate(metrics):
            b.attainment(ws, r, 6 + j, getattr(rec, metric.key), metric.higher_is_better, flags_cfg)
    b.traffic(ws, top + 1, 4, top + len(people), 4, flags_cfg)
    ws.autofilter(top, 0, top + max(len(people), 1), 5 + len(metrics))
    ws.freeze_panes(top + 1, 3)
    ws.repeat_rows(top)
    ws.set_column(0, 0, 8)
    ws.set_column(1, 1, 10)
    ws.set_column(2, 3, 24)
    ws.set_column(4, 5 + len(metrics), 13)
    return len(people)


def _matrix_sheet(b: ReportBook, facts: pd.DataFrame, people: pd.DataFrame, metrics, months, name: str, flags_cfg):
    L = b.labels
    ws = b.sheet(name)
    rows = facts[(facts["level"] == "person") & (facts["customer_group"] == "")]
    row = 0
    order = list(people["person"])
    names = dict(zip(people["person"], people["name"]))
    for metric in metrics:
        mine = rows[rows["metric"] == metric.key]
        # plain dicts, not pivot tables: this runs once per metric for every team workbook
        cells = dict(zip(zip(mine["person"], mine["month"]),
                         zip(mine["attainment"], mine["reported"], mine["target"] > 0)))
        head = L("summary.attainment") if metric.higher_is_better else L("budget.used")
        ws.write_string(row, 0, f"{metric.label(L.lang)}: {head}", b.title)
        b.header(ws, row + 1, [L("summary.person"), L("summary.name")] + list(months))
        for i, person in enumerate(order):
            r = row + 2 + i
            b.value(ws, r, 0, person)
            b.value(ws, r, 1, names.get(person, ""))
            for j, month in enumerate(months):
                # a month without a target (before a start, after leaving) or without a report stays blank:
                # nothing to be measured against, or nothing accepted to measure
                attainment, reported, planned = cells.get((person, month), (None, False, False))
                b.attainment(ws, r, 2 + j, attainment if reported and planned else None, metric.higher_is_better,
                             flags_cfg)
        row += len(order) + 4
    ws.set_column(0, 0, 10)
    ws.set_column(1, 1, 24)
    ws.set_column(2, 1 + len(months), 9)
    ws.freeze_panes(2, 2)


def _flags_sheet(b: ReportBook, flags: pd.DataFrame, metric_labels: dict, name: str) -> None:
    L = b.labels
    ws = b.sheet(name)
    b.header(ws, 0, [L("summary.severity"), L("summary.code"), L("summary.team"), L("summary.person"),
                     L("summary.period"), L("summary.metric"), L("summary.message"), L("summary.source")])
    for i, rec in enumerate(flags.itertuples(index=False)):
        r = 1 + i
        lines = wrapped_lines(str(rec.message), FLAG_MESSAGE_WIDTH, bold=False)
        if lines > 1:  # before the row is written: constant_memory streams it
            ws.set_row(r, row_height(lines))
        for col, value in enumerate((term("severity", rec.severity, L.lang), code_name(rec.code, L.lang), rec.team,
                                     rec.person, rec.month, metric_labels.get(rec.metric, rec.metric), rec.message)):
            b.value(ws, r, col, value, b.wrap if col == 6 else None)
        b.value(ws, r, 7, source_text(rec.file, rec.sheet, rec.cell) or None)
    b.finish_table(ws, len(flags), 8, {(0, 1): 18, (2, 5): 14, (6, 6): FLAG_MESSAGE_WIDTH, (7, 7): 30})


# (frame column, label under [summary]) of the Approvals sheet, in order
APPROVAL_SHEET = [("item_kind", "approval_item"), ("status", "approval_status"), ("level", "approval_level"),
                  ("owner", "person"), ("owner_name", "name"), ("team", "team"), ("period", "period"),
                  ("waiting_on", "approval_waiting_on"), ("waiting_on_name", "approval_approver"),
                  ("waiting_on_role", "approval_role"), ("submitted_file", "approval_file"),
                  ("created_at", "approval_opened"), ("last_decision", "approval_decision"),
                  ("last_decided_by", "approval_decided_by"), ("last_decided_at", "approval_decided_at"),
                  ("last_comment", "approval_comment")]


# Approvals sheet columns that hold a stored keyword, shown as a word of the workspace language
_APPROVAL_TERMS = {"status": "status", "waiting_on_role": "role", "last_decision": "decision"}


def _approvals_sheet(b: ReportBook, approvals: pd.DataFrame, name: str) -> None:
    """Every approval item, pending first: who waits on whom, and what the last level said."""
    L = b.labels
    ws = b.sheet(name)
    b.header(ws, 0, [L(f"summary.{label}") for _column, label in APPROVAL_SHEET])
    order = approvals["status"].map(STATUS_ORDER).fillna(len(STATUS_ORDER))
    rows = approvals.assign(_order=order).sort_values(["_order", "item_id"], kind="stable")
    for i, rec in enumerate(rows.itertuples(index=False)):
        for col, (column, _label) in enumerate(APPROVAL_SHEET):
            value = getattr(rec, column)
            if column in _APPROVAL_TERMS and value:
                value = term(_APPROVAL_TERMS[column], value, L.lang)
            b.value(ws, 1 + i, col, L(f"flags.kind_{value}") if column == "item_kind" else value or None)
    b.finish_table(ws, len(rows), len(APPROVAL_SHEET), {(0, 0): 24, (1, 2): 11, (3, 3): 10, (4, 5): 18, (6, 6): 10,
                                                        (7, 9): 14, (10, 10): 32, (11, 14): 20, (15, 15): 50})


def _revisions_sheet(b: ReportBook, revisions: pd.DataFrame, decimals: dict[str, int], metric_labels: dict) -> None:
    """Approved revision requests: the original annual target stays beside the revised one."""
    from sheetplan.plan.audit import REVISION_COLUMNS

    L = b.labels
    ws = b.sheet(L("revisions.sheet"))
    b.header(ws, 0, [L(f"revisions.{column}") for column in REVISION_COLUMNS])
    figures = {"original_target", "before", "revised", "change"}
    for i, rec in enumerate(revisions.itertuples(index=False)):
        money = b.money[decimals.get(rec.metric, 2)]
        for col, column in enumerate(REVISION_COLUMNS):
            value = getattr(rec, column)
            if column == "metric":
                value = metric_labels.get(value, value)
            b.value(ws, 1 + i, col, value if value != "" else None, money if column in figures else None)
    b.finish_table(ws, len(revisions), len(REVISION_COLUMNS), {(0, 0): 10, (1, 3): 20, (4, 5): 12, (6, 9): 15,
                                                               (10, 10): 40, (11, 11): 50, (12, 12): 20})


def _issues_sheet(b: ReportBook, problems: pd.DataFrame, name: str, metric_labels: dict[str, str]) -> None:
    ws = b.sheet(name)
    lang = b.labels.lang
    columns = ["kind", "owner", "period", "file", "code", "sheet", "cell", "value", "message"]
    b.header(ws, 0, [b.labels(f"issues_sheet.{column}") for column in columns])
    for i, rec in enumerate(problems.itertuples(index=False) if len(problems) else []):
        r = 1 + i
        shown = _issue_words(rec, lang, metric_labels)
        for col, column in enumerate(columns):  # no link to the archive: it breaks in a mailed copy
            value = shown.get(column, getattr(rec, column, ""))
            b.value(ws, r, col, "" if value is None else value if not isinstance(value, (dict, list)) else str(value))
    b.finish_table(ws, len(problems), len(columns), {(0, 2): 10, (3, 3): 40, (4, 7): 14, (8, 8): 80})


def _issue_words(rec, lang: str, metric_labels: dict[str, str]) -> dict[str, str]:
    """The Issues row's kind, code and message in the workspace language, rendered from the stored code and
    parameters. A late file's message was written in the workspace language when it was listed."""
    shown = {"kind": term("kind", rec.kind, lang), "code": code_name(rec.code, lang)}
    if rec.code != "late":
        params = getattr(rec, "params", None)
        problem = Problem(rec.code, rec.message if isinstance(rec.message, str) else "",
                          params=params if isinstance(params, dict) else {})
        shown["message"] = problem_text(problem, lang, metric_labels)
    return shown


def _dashboard(b: ReportBook, ws, c: Consolidation, workspace, metrics, names: dict, company_blocks, team_rows,
               people_rows) -> None:
    L = b.labels
    ws.set_row(2, 30)  # two-line headers; constant_memory streams rows: a height set after its row is lost
    b.heading(ws, 0, report_title(c, workspace, L))
    if c.months is not None:
        ws.write_string(1, 0, closing_line(c.months, L, list(workspace.config.months)))
    b.header(ws, 2, [L("summary.metric"), L("summary.annual_target"), L("summary.ytd_target"),
                     L("summary.ytd_actual"), L("summary.ytd_attainment"), L("summary.forecast"),
                     L("summary.required_run_rate")])
    now = c.facts[(c.facts["level"] == "company") & (c.facts["customer_group"] == "") & (c.facts["month"] == c.month)]
    for i, metric in enumerate(metrics):
        rec = now[now["metric"] == metric.key]
        r = 3 + i
        b.value(ws, r, 0, f"{metric.label(L.lang)} ({metric.unit})")
        if rec.empty:
            continue
        rec = rec.iloc[0]
        money = b.money[metric.decimals]
        for col, value in ((1, rec.annual_target), (2, rec.ytd_target), (3, rec.ytd_actual)):
            b.value(ws, r, col, value, money)
        b.attainment(ws, r, 4, rec.ytd_attainment, metric.higher_is_better, c.flags_cfg)
        b.value(ws, r, 5, rec.forecast, money)
        b.value(ws, r, 6, rec.required_run_rate, money)
    ws.set_column(0, 0, 40)
    ws.set_column(1, 6, 18)
    first_metric = metrics[0]
    first, last = company_blocks[first_metric.key]
    company = names["company"]
    chart = b.book.add_chart({"type": "column"})
    for col, colour in ((1, TARGET_COLOUR), (4, ACTUAL_COLOUR)):  # target and actual columns of the Company block
        b.add_series(chart, [company, first - 1, col], [company, first, 0, last, 0], [company, first, col, last, col],
                     fill={"color": colour}, border={"color": colour})
    line = b.book.add_chart({"type": "line"})
    for col in (7, 8):
        b.add_series(line, [company, first - 1, col], [company, first, 0, last, 0], [company, first, col, last, col],
                     y2_axis=True)
    chart.set_y_axis({"num_format": "#,##0"})
    line.set_y2_axis({"num_format": "#,##0"})
    chart.combine(line)
    chart.set_title({"name": L("summary.chart_months", metric=first_metric.label(L.lang))})
    chart.set_size({"width": 760, "height": 330})
    ws.insert_chart(4 + len(metrics), 0, chart)
    teams = b.book.add_chart({"type": "bar"})
    b.add_series(teams, L("summary.score"), [names["teams"], 1, 0, team_rows, 0], [names["teams"], 1, 1, team_rows, 1])
    teams.set_title({"name": L("summary.chart_teams")})
    teams.set_legend({"none": True})
    teams.set_y_axis({"reverse": True})
    teams.set_x_axis({"min": 0, "num_format": "0%"})  # bars from zero, or small gaps look large
    teams.set_size({"width": 520, "height": 330})
    ws.insert_chart(4 + len(metrics), 7, teams)
    top_n = min(10, people_rows)
    for offset, (title, first_row) in enumerate(((L("summary.chart_top"), 1),
                                                 (L("summary.chart_bottom"), max(1, people_rows - top_n + 1)))):
        chart = b.book.add_chart({"type": "bar"})
        b.add_series(chart, L("summary.score"), [names["people"], first_row, 2, first_row + top_n - 1, 2],
                     [names["people"], first_row, 4, first_row + top_n - 1, 4])
        chart.set_title({"name": title})
        chart.set_legend({"none": True})
        chart.set_y_axis({"reverse": True})
        chart.set_x_axis({"min": 0, "num_format": "0%"})
        chart.set_size({"width": 520 if offset else 760, "height": 330})
        ws.insert_chart(22 + len(metrics), 0 if offset == 0 else 7, chart)


def write_summary(workspace, c: Consolidation, path: Path, data_files: DataFiles) -> Path:
    """reports/summary-<month>.xlsx: Dashboard, Company, Teams, People, Matrix, Flags, Approvals, Revisions,
    Issues and Data, which says where `data_files` put the full fact table and audit trail."""
    from sheetplan.plan.audit import revision_history
    labels = Labels(workspace.config.language)
    metrics = list(workspace.config.metrics)
    c.flags_cfg = workspace.config.flags
    late = late_files(workspace)  # files that came after their month was closed: counted nowhere, listed here
    issues = pd.concat([c.inputs.open_problems, late], ignore_index=True) if len(late) else c.inputs.open_problems

    def write(tmp: str) -> None:
        b = ReportBook(tmp, labels)
        names = {key: labels(f"summary.{key}") for key in ("dashboard", "company", "teams", "people", "matrix",
                                                           "flags", "approvals", "issues", "data")}
        dashboard = b.sheet(names["dashboard"])
        blocks = _company_sheet(b, c, metrics, names["company"])
        team_rows = _team_sheet(b, c, metrics, names["teams"])
        people_rows = _people_sheet(b, c.people, metrics, names["people"], c.flags_cfg)
        _matrix_sheet(b, c.facts, c.people, metrics, workspace.config.months, names["matrix"], c.flags_cfg)
        _flags_sheet(b, c.flags, {m.key: m.label(labels.lang) for m in metrics}, names["flags"])
        _approvals_sheet(b, c.inputs.approvals, names["approvals"])
        _revisions_sheet(b, revision_history(workspace), {m.key: m.decimals for m in metrics},
                         {m.key: m.label(labels.lang) for m in metrics})
        _issues_sheet(b, issues, names["issues"], {m.key: m.label(labels.lang) for m in metrics})
        where_sheet(b, data_files, names["data"])
        _dashboard(b, dashboard, c, workspace, metrics, names, blocks, team_rows, people_rows)
        if c.months is not None:
            b.months_sheet(c.months, list(workspace.config.months))
        b.book.set_properties({"title": report_title(c, workspace, labels)})
        dashboard.activate()
        close_book(b, tmp)

    return write_through_temp(path, write)


@dataclass(frozen=True)
class BookSettings:
    """What every team and person workbook of one consolidation shares; plain values, so a worker process
    can be handed it."""

    config: object  # the workspace's Config
    month: str  # the consolidated month
    title: str  # report_title of the consolidation
    months: pd.DataFrame | None  # Consolidation.months: which months are closed


def book_settings(workspace, c: Consolidation) -> BookSettings:
    labels = Labels(workspace.config.language)
    return BookSettings(workspace.config, c.month, report_title(c, workspace, labels), c.months)


def write_team_book(settings: BookSettings, team: str, members: pd.DataFrame, facts: pd.DataFrame,
                    flags: pd.DataFrame, path: Path, people_folder: Path | None = None) -> tuple[Path, list[Path]]:
    """One team's workbook (its people, matrix, flags and data slice); with `people_folder` one workbook per
    member there too. `facts` and `flags` are the team's slices (no company rows)."""
    config = settings.config
    labels = Labels(config.language)
    metrics = list(config.metrics)
    metric_labels = {m.key: m.label(labels.lang) for m in metrics}
    months = list(config.months)

    def write(tmp: str) -> None:
        b = ReportBook(tmp, labels)
        title = labels("summary.team_title", team=team, title=settings.title)
        _people_sheet(b, members, metrics, labels("summary.people"), config.flags, title)
        _matrix_sheet(b, facts, members, metrics, months, labels("summary.matrix"), config.flags)
        _flags_sheet(b, flags, metric_labels, labels("summary.flags"))
        data_sheet(b, facts, labels("summary.data"))
        if settings.months is not None:
            b.months_sheet(settings.months, months)
        b.book.set_properties({"title": title})
        close_book(b, tmp)

    team_file = write_through_temp(path, write)
    person_files = []
    if people_folder is None:
        return team_file, person_files
    for person in members["person"]:
        mine = members[members["person"] == person]
        facts_p = facts[facts["person"] == person]
        flags_p = flags[flags["person"] == person]

        def write_person(tmp: str, mine=mine, facts_p=facts_p, flags_p=flags_p, person=person) -> None:
            b = ReportBook(tmp, labels)
            _people_sheet(b, mine, metrics, labels("summary.people"), config.flags)
            _flags_sheet(b, flags_p, metric_labels, labels("summary.flags"))
            data_sheet(b, facts_p, labels("summary.data"))
            if settings.months is not None:
                b.months_sheet(settings.months, months)
            b.book.set_properties({"title": f"{person}: {settings.title}"})
            close_book(b, tmp)

        person_files.append(write_through_temp(people_folder / f"person-{safe_part(person)}-{settings.month}.xlsx",
                                               write_person))
    return team_file, person_files


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with every text cell that a spreadsheet program would run as a formula when it opens the
    CSV (it starts with = + - @, a tab or a CR: team and group names are free text) prefixed with an
    apostrophe, which Excel and LibreOffice read as "this is text". Numbers are left as they are."""
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_object_dtype(out[column]) or pd.api.types.is_string_dtype(out[column]):
            values = out[column]
            risky = values.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_STARTS))
            if risky.any():
                out.loc[risky, column] = "'" + values[risky]
    return out
