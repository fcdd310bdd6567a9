"""The [actuals] table of sheetplan.toml: how an ERP or CRM export maps onto sheetplan's actuals."""

from __future__ import annotations

from dataclasses import dataclass

SOURCES = ("reported", "imported", "both")
# The columns an export has by default, besides one column per imported metric (named by its key).
BASE_COLUMNS = ("date", "person", "customer_group", "customer", "line_id")
DERIVED_METRIC = "new_customers"  # counted from first lines per customer, never read from a column
_KEYS = {"source", "tolerance", "metrics", "customers", "line_id", "sheet", "columns", "derive_new_customers"}


@dataclass(frozen=True)
class ActualsConfig:
    """What `sheetplan actuals import` reads and which actuals count.

    source: reported (month reports are the actuals), imported (the export's figures are, for the metrics it
    carries), both (reports count, and a person-month whose report differs from the export by more than
    `tolerance` of the imported figure raises actuals-mismatch). `columns` maps sheetplan's name (date, person,
    customer_group, customer, line_id or a metric key) to the export's header. `customers`: a table file in
    the workspace mapping customer to customer_group, for exports that name customers only.
    """

    source: str = "reported"
    tolerance: float = 0.01
    metrics: tuple[str, ...] = ()  # the metrics the export carries; () is every metric but new_customers (see
    # `export_metrics`)
    customers: str = ""
    line_id: bool = False  # the export has a line id column whose values must be unique
    sheet: str = ""  # xlsx: the sheet to read (default: the first visible one)
    columns: tuple[tuple[str, str], ...] = ()  # (sheetplan name, export header)
    derive_new_customers: bool = True  # when a new_customers metric exists and the export names customers

    def header(self, name: str) -> str:
        """The export's header for sheetplan's column `name` (its own name unless renamed)."""
        return dict(self.columns).get(name, name)


def export_metrics(config) -> tuple[str, ...]:
    """The metric keys an export carries a column for: those [actuals] metrics names, by default every metric
    but new_customers (which is counted, not read)."""
    return config.actuals.metrics or tuple(m.key for m in config.metrics if m.key != DERIVED_METRIC)


def parse_actuals(check, data: dict, metric_keys: list[str]) -> ActualsConfig:
    """The [actuals] table, every mistake reported through `check` (config's checker) with its key path."""
    table = check.table(data, "actuals", "actuals", required=False)
    if not table:
        return ActualsConfig()
    check.unknown(table, _KEYS, "actuals")
    source = check.get(table, "source", "actuals", str, "reported", choices=SOURCES) or "reported"
    tolerance = check.get(table, "tolerance", "actuals", float, 0.01, minimum=0.0, maximum=1.0)
    metrics = table.get("metrics")
    if metrics is None:
        chosen = []
    elif not isinstance(metrics, list) or not all(isinstance(k, str) for k in metrics):
        check.fail("actuals.metrics", "actuals.metrics must be a list of metric keys", metrics)
        chosen = []
    else:
        chosen = []
        for index, key in enumerate(metrics):
            if key not in metric_keys:
                check.fail(f"actuals.metrics[{index}]", f"unknown metric {key!r}; metrics are "
                           f"{', '.join(metric_keys)}", key)
            elif key == DERIVED_METRIC:
                check.fail(f"actuals.metrics[{index}]", f"{DERIVED_METRIC} is counted from the customers' first "
                           "lines (derive_new_customers), not read from a column", key)
            elif key not in chosen:
                chosen.append(key)
    columns_table = check.table(table, "columns", "actuals.columns", required=False)
    allowed = set(BASE_COLUMNS) | set(metric_keys)
    columns: list[tuple[str, str]] = []
    for name, header in columns_table.items():
        path = f"actuals.columns.{name}"
        if name not in allowed:
            check.fail(path, f"unknown column {name!r} (expected one of: {', '.join(sorted(allowed))})", name)
        elif not isinstance(header, str) or not header.strip():
            check.fail(path, f"{path} must be the export's column header as text", header)
        else:
            columns.append((name, header.strip()))
    headers = [h.casefold() for _, h in columns]
    for name, header in columns:
        if headers.count(header.casefold()) > 1:
            check.fail(f"actuals.columns.{name}", f"the header {header!r} is named for more than one column", header)
    return ActualsConfig(
        source=source,
        tolerance=0.01 if tolerance is None else tolerance,
        metrics=tuple(chosen),
        customers=check.get(table, "customers", "actuals", str, "") or "",
        line_id=bool(check.get(table, "line_id", "actuals", bool, False)),
        sheet=check.get(table, "sheet", "actuals", str, "") or "",
        columns=tuple(columns),
        derive_new_customers=bool(check.get(table, "derive_new_customers", "actuals", bool, True)),
    )
