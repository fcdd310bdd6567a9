"""What the prior year's history lacks: a month missing counts as 0 in every suggestion, silently, unless said."""

from __future__ import annotations

from sheetplan.workspace.config import Config, fiscal_months
from sheetplan.workspace.labels import Labels


def history_warnings(config: Config, history) -> list[str]:
    """One line per gap in the prior fiscal year's history, in the workspace language.

    A metric without any prior-year figure gets suggested team (and so company and personal) targets of 0: its
    suggestion is empty. A month of the prior fiscal year with no figure for a metric counts as 0 in that
    metric's suggestions and in the year-on-year comparisons (a fiscal year from April with a history of
    January to December lacks the prior January to March). Metrics that lack the same months share a line.
    """
    labels = Labels(config.language)
    prior = fiscal_months(config.fiscal_year - 1, config.start_month)
    year = labels("history_check.year", year=config.fiscal_year - 1, first=prior[0], last=prior[-1])
    frame = history[history["month"].isin(prior)] if len(history) else history
    present: dict[str, set[str]] = {}
    for metric, month in zip(frame["metric"].astype(str), frame["month"].astype(str)) if len(frame) else ():
        present.setdefault(metric, set()).add(month)
    lines: list[str] = []
    gaps: dict[tuple[str, ...], list[str]] = {}
    for metric in config.metrics:
        name = metric.label(config.language)
        if metric.key not in present:
            lines.append(labels("history_check.empty", metric=name, year=year))
            continue
        missing = tuple(m for m in prior if m not in present[metric.key])
        if missing:
            gaps.setdefault(missing, []).append(name)
    for missing, names in gaps.items():
        lines.append(labels("history_check.missing", metrics=labels("history_check.separator").join(names),
                            months=", ".join(missing),
                            count=len(missing), year=year))
    return lines


def workspace_history_warnings(workspace) -> list[str]:
    """history_warnings for a workspace's own sheetplan.toml and history.xlsx (or .csv)."""
    return history_warnings(workspace.config, workspace.history())
