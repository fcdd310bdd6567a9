"""Which actuals count ([actuals] source), and where a salesperson's report and the export disagree.

- reported: the month reports are the actuals; imports are kept and shown, and change no figure.
- imported: for the metrics an export carries, a month with an import that stands takes its figures (a
  person or customer group with no line that month sold nothing: 0); a month without any import keeps the
  reported figures. Metrics the export does not carry stay reported.
- both: the reports are the actuals, and each person, month and metric whose reported total differs from
  the imported one by more than `tolerance` of the imported figure (plus half a unit at the metric's
  decimals) is a mismatch.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sheetplan.workspace.actuals_config import DERIVED_METRIC, export_metrics

ACTUAL_COLUMNS = ["person", "month", "metric", "customer_group", "actual", "source"]
MISMATCH_COLUMNS = ["person", "month", "metric", "reported", "imported", "difference", "file"]


def imported_metrics(config, imported: pd.DataFrame) -> list[str]:
    """The metrics an import speaks for: those mapped, and new customers once an import has counted them."""
    keys = list(export_metrics(config))
    if config.actuals.derive_new_customers and DERIVED_METRIC in set(imported["metric"]):
        keys.append(DERIVED_METRIC)
    return keys


def _covered(config, imported: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """The imported figures of every target cell in a month an import covers, 0 where no line fell."""
    keys = imported_metrics(config, imported)
    months = set(imported["month"])
    cells = targets.loc[targets["month"].isin(months) & targets["metric"].isin(keys),
                        ["person", "month", "metric", "customer_group"]].drop_duplicates()
    lines = imported.loc[imported["metric"].isin(keys), ["person", "month", "metric", "customer_group", "actual"]]
    full = cells.merge(lines, on=["person", "month", "metric", "customer_group"], how="outer")
    full["actual"] = full["actual"].fillna(0.0)
    return full


def counted_actuals(config, reported: pd.DataFrame, imported: pd.DataFrame, targets: pd.DataFrame) -> pd.DataFrame:
    """The actuals that count under `config.actuals.source`, each with its source (ACTUAL_COLUMNS)."""
    reported = reported.assign(source="reported")
    if config.actuals.source != "imported" or imported.empty:
        return reported[ACTUAL_COLUMNS]
    keys = imported_metrics(config, imported)
    months = set(imported["month"])
    kept = reported[~(reported["metric"].isin(keys) & reported["month"].isin(months))]
    from_export = _covered(config, imported, targets).assign(source="imported")
    return pd.concat([kept[ACTUAL_COLUMNS], from_export[ACTUAL_COLUMNS]], ignore_index=True)


def mismatches(config, reported: pd.DataFrame, imported: pd.DataFrame, targets: pd.DataFrame,
               through: str) -> pd.DataFrame:
    """Under source = "both", the person-months (per metric) whose report and export differ beyond tolerance."""
    if config.actuals.source != "both" or imported.empty or reported.empty:
        return pd.DataFrame(columns=MISMATCH_COLUMNS)
    keys = ["person", "month", "metric"]
    export = _covered(config, imported, targets).groupby(keys, as_index=False)["actual"].sum()
    mine = reported.groupby(keys, as_index=False)["actual"].sum()
    both = mine.merge(export, on=keys, suffixes=("_reported", "_imported"))  # a person who reported, in a month
    both = both[both["month"] <= through]  # imported, for a metric the export carries
    decimals = {m.key: m.decimals for m in config.metrics}
    half_unit = both["metric"].map(lambda k: 0.5 * 10 ** -decimals.get(k, 2)).to_numpy(dtype=float)
    difference = both["actual_reported"].to_numpy(dtype=float) - both["actual_imported"].to_numpy(dtype=float)
    allowed = config.actuals.tolerance * np.abs(both["actual_imported"].to_numpy(dtype=float)) + half_unit
    flagged = both[np.abs(difference) > allowed + 1e-9]
    files = imported.groupby("month")["file"].agg(lambda f: ", ".join(sorted(set(f))))
    out = pd.DataFrame({"person": flagged["person"], "month": flagged["month"], "metric": flagged["metric"],
                        "reported": flagged["actual_reported"], "imported": flagged["actual_imported"],
                        "difference": difference[np.abs(difference) > allowed + 1e-9],
                        "file": flagged["month"].map(files)})
    return out.reset_index(drop=True)[MISMATCH_COLUMNS]


def month_figures(workspace, month: str) -> dict[str, dict[str, dict[str, float]]]:
    """person -> metric -> group -> the imported actual of `month` when an import stands for it, for the month
    templates to show locked: every group of every metric the import speaks for, 0 where no line fell."""
    from sheetplan.actuals.ledger import imported_actuals

    with workspace.store() as store:
        frame = imported_actuals(store)
    frame = frame[frame["month"] == month]
    if frame.empty:
        return {}
    config = workspace.config
    keys = imported_metrics(config, frame)

    def empty() -> dict[str, dict[str, float]]:
        return {k: dict.fromkeys(config.customer_groups, 0.0) for k in keys}

    out = {person.person_id: empty() for person in workspace.roster.people}
    for row in frame[frame["metric"].isin(keys)].itertuples():
        out.setdefault(row.person, empty())[row.metric][row.customer_group] = row.actual
    return out
