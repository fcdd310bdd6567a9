"""What the plan hands each template writer: one frozen view per recipient, with every figure already decided."""

from __future__ import annotations

from dataclasses import dataclass

from sheetplan.workspace.config import Metric


@dataclass(frozen=True)
class SplitRow:
    key: str
    label: str
    prior: float | None
    suggested: float
    note: str = ""
    entered: float | None = None  # what the owner sent last time, when a rejected plan goes back


@dataclass(frozen=True)
class SplitMetric:
    metric: Metric
    parent_target: float | None  # None: the company target of a metric without history, left for the VP
    rows: tuple[SplitRow, ...]
    entered_target: float | None = None  # the company target the VP sent last time, when sent back
    blank: bool = False  # [allocation] method = "manual": the split's inputs are left empty for the owner


@dataclass(frozen=True)
class SplitPlan:
    """A company plan (rows are teams) or a team plan (rows are people)."""

    kind: str
    owner: str
    owner_name: str
    period: str
    heading: str
    metrics: tuple[SplitMetric, ...]
    note: str = ""  # an approver's reason for sending the plan back


@dataclass(frozen=True)
class GridMetric:
    metric: Metric
    annual_target: float
    suggested: dict[str, tuple[float, ...]]
    prior: dict[str, tuple[float, ...]]
    entered: dict[str, tuple[float, ...]] | None = None  # the rejected plan's figures, pre-filled again
    blank: bool = False  # [allocation] method = "manual": the grid is left empty for the person to type


@dataclass(frozen=True)
class PersonPlan:
    owner: str
    owner_name: str
    period: str
    months: tuple[str, ...]
    groups: tuple[str, ...]
    metrics: tuple[GridMetric, ...]
    note: str = ""


@dataclass(frozen=True)
class MonthPlan:
    owner: str
    owner_name: str
    month: str
    groups: tuple[str, ...]
    metrics: tuple[Metric, ...]
    targets: dict[str, dict[str, float]]  # metric -> group -> target
    annual: dict[str, float]  # metric -> current annual target
    note: str = ""
    actuals: dict[str, dict[str, float]] | None = None  # pre-filled when a revision request is sent back
    comments: dict[str, str] | None = None
    later: tuple[str, ...] = ()  # the fiscal months after this one: a revision may name their targets
    # [actuals] source = "imported": metric -> group -> the imported actual, shown locked instead of an input
    imported: dict[str, dict[str, float]] | None = None


@dataclass(frozen=True)
class ItemFigures:
    """One metric of one item: a row of submitted figures against what it replaces."""

    metric: Metric
    columns: tuple[str, ...]  # months, teams or people
    submitted: tuple[float, ...]
    suggestion: tuple[float, ...] | None
    previous: tuple[float, ...] | None  # the last official version; None when there is none yet


@dataclass(frozen=True)
class ApprovalEntry:
    ref: str  # 'A<item id>.<level>': the key ingest reads the decision by
    owner: str
    owner_name: str
    what: str  # e.g. "Personal plan 2027"
    period: str
    level: str  # e.g. "1/2 supervisor"
    received: str
    summary: str  # one line: the change against the last official version
    reason: str  # a revision request's reason, or ''
    history: tuple[str, ...]  # earlier levels' decisions, one line each
    figures: tuple[ItemFigures, ...]


@dataclass(frozen=True)
class ApprovalPlan:
    owner: str
    owner_name: str
    period: str
    entries: tuple[ApprovalEntry, ...]


@dataclass(frozen=True)
class ReforecastMetric:
    metric: Metric
    annual_target: float
    h1_actual: dict[str, tuple[float, ...]]  # group -> 6 H1 month actuals (locked)
    h2_original: dict[str, tuple[float, ...]]  # group -> 6 original H2 month targets (locked, for comparison)
    h2_prefill: dict[str, tuple[float, ...]]  # group -> 6 H2 inputs, pre-filled with the required run rate
    h2_required: float  # what the H2 inputs must add up to


@dataclass(frozen=True)
class ReforecastPlan:
    owner: str
    owner_name: str
    period: str  # f"{fiscal_year}-H2"
    months: tuple[str, ...]  # the 12 fiscal months
    groups: tuple[str, ...]
    metrics: tuple[ReforecastMetric, ...]
    note: str = ""  # an approver's comment when the re-forecast was sent back; shown in red above the figures
