"""What every template writer shares: the run's Context, the opening (labels, instructions sheet, title
lines), input validations, and the signed finish."""

from __future__ import annotations

from dataclasses import dataclass, field

from sheetplan.workspace.config import Metric
from sheetplan.workspace.labels import Labels
from sheetplan.xlsx.layout import (
    MAX_TEXT,
    META_SHEET,
    TEMPLATE_VERSION,
    Area,
    Block,
    Sheet,
    Template,
    Validation,
    sheet_title,
    sign,
    template_file_name,
)


@dataclass(frozen=True)
class Context:
    """What every template of one generation run shares."""

    company: str
    lang: str
    fiscal_year: int
    currency: str
    workspace_id: str
    generated_at: str
    key: bytes = field(repr=False, default=b"")


def number_style(metric: Metric, role: str) -> str:
    return f"{role}_{metric.decimals}"


def number_validation(area: Area, metric: Metric, labels: Labels, maximum: float | None = None) -> Validation:
    """`maximum`: the largest figure the cell may hold, metric.max_value unless a total needs more."""
    maximum = metric.max_value if maximum is None else maximum
    shown = f"{maximum:,.0f}"
    if metric.decimals == 0:
        message = labels("common.validation_whole", min=0, max=shown)
        kind = "integer"
    else:
        message = labels("common.validation_number", min=0, max=shown, decimals=metric.decimals)
        kind = "decimal"
    return Validation(area, kind, 0, maximum, title=labels("common.validation_title"), message=message,
                      error_title=labels("common.validation_error_title"),
                      error=labels("common.validation_error", min=0, max=shown))


def text_validation(area: Area, labels: Labels) -> Validation:
    return Validation(area, "length", 0, MAX_TEXT, title=labels("common.validation_text_title"),
                      message=labels("common.validation_text", max=MAX_TEXT),
                      error_title=labels("common.validation_error_title"),
                      error=labels("common.validation_text_error", max=MAX_TEXT))


def header_lines(sheet: Sheet, labels: Labels, title: str, about: str, owner: str, period: str,
                  revision: int) -> None:
    sheet.put(0, 0, title, "title")
    sheet.put(1, 0, about, "note")
    sheet.put(2, 0, f"{labels('common.owner')}: {owner}    {labels('common.period')}: {period}    "
                    f"{labels('common.revision')}: {revision}", "note")
    sheet.header = f"&L{escape_print_text(owner)}&C{escape_print_text(title)}&R{escape_print_text(period)}"
    sheet.footer = "&C" + escape_print_text(labels("common.print_page")).replace("&&P", "&P").replace("&&N", "&N")


def returned_note(sheet: Sheet, note: str) -> None:
    """An approver's comment on a plan sent back, in the free row above the table, where it is seen first."""
    if note:
        sheet.put(3, 0, note, "returned")


def escape_print_text(text: str) -> str:
    """A literal & in a print header must be doubled, or Excel reads it as a code."""
    return text.replace("&", "&&")


def instructions_sheet(labels: Labels, owner: str, period: str, kind: str, taken: set[str]) -> Sheet:
    sheet = Sheet(sheet_title(labels("common.instructions_sheet"), taken))
    sheet.put(0, 0, labels("instructions.title"), "title")
    sheet.put(1, 0, f"{labels('common.owner')}: {owner}    {labels('common.period')}: {period}", "note")
    for index in range(1, 6):
        own = f"instructions.{kind}_step_{index}"  # a kind may word a step its own way
        sheet.put(2 + index, 0, labels(own if labels.has(own) else f"instructions.step_{index}"), "wrap")
    sheet.put(9, 0, labels("common.input_legend"), "legend")
    sheet.put(10, 0, labels("instructions.contact"), "note")
    sheet.widths = {0: 110}
    sheet.header = f"&L{escape_print_text(owner)}&R{escape_print_text(period)}"
    sheet.footer = "&C" + escape_print_text(labels("common.print_page")).replace("&&P", "&P").replace("&&N", "&N")
    return sheet


@dataclass
class Start:
    """What every workbook begins with: its labels, the sheet names taken, the owner line, the instructions."""

    labels: Labels
    taken: set[str]
    owner_text: str
    sheets: list[Sheet]


def start_workbook(ctx: Context, owner: str, owner_name: str, period: str, kind: str) -> Start:
    labels = Labels(ctx.lang)
    taken = {META_SHEET.casefold()}
    owner_text = f"{owner_name} ({owner})"
    return Start(labels, taken, owner_text, [instructions_sheet(labels, owner_text, period, kind, taken)])


def finish_template(kind: str, owner: str, owner_name: str, period: str, ctx: Context, revision: int,
            sheets: list[Sheet], blocks: list[Block], names: dict[str, Area],
            values: dict[str, list]) -> Template:
    meta = {"kind": kind, "owner": owner, "period": period, "fiscal_year": str(ctx.fiscal_year),
            "template_version": str(TEMPLATE_VERSION), "generated_at": ctx.generated_at,
            "workspace_id": ctx.workspace_id, "revision": str(revision), "lang": ctx.lang}
    template = Template(kind, owner, period, template_file_name(kind, period, owner, owner_name), meta, sheets,
                        blocks, names, values)
    template.signature = sign(ctx.key, template.canonical())
    return template
