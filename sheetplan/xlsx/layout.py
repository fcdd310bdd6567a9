"""The machine contract shared by the template writer and the ingest reader.

Every workbook sheetplan sends has:
- a very hidden sheet `_meta` with key/value rows in columns A and B (see META_KEYS);
- workbook-level defined names: `in_<x>` for every block of input cells (every unlocked cell lies
  in one), `rows_<x>` / `cols_<x>` for the row and column headers of `in_<x>`, `target_<metric>`
  for the locked targets, and `locked_<x>` for other locked figures (suggestions, prior year);
- a signature: HMAC-SHA256 with the workspace key over the canonical form below.
The writer and the reader both go through this module so they cannot drift apart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sheetplan.xlsx import a1

TEMPLATE_VERSION = 1
META_SHEET = "_meta"
KINDS = ("company", "team", "person", "month", "approval", "reforecast")
META_KEYS = ("kind", "owner", "period", "fiscal_year", "template_version", "generated_at", "workspace_id",
             "revision", "lang", "signature")
SIGNED_META_KEYS = tuple(k for k in META_KEYS if k != "signature")
INPUT_PREFIX = "in_"
SIGNED_PREFIXES = ("rows_", "cols_", "target_", "locked_")
COMMENT_BLOCK = "in_comment"
REVISION_BLOCK = "in_revision"
REVISION_REASON = "in_revision_reason"
REVISION_MONTHS = "in_revision_months"  # or, instead of an annual figure, the later months one by one
DECISION_BLOCK = "in_decision"
DECISION_COMMENT = "in_decision_comment"
# What an approver may type in a Decision cell, per workbook language; both languages are understood.
DECISIONS = {"en": ("approve", "reject"), "zh": ("批准", "驳回")}
MAX_TEXT = 1000


@dataclass(frozen=True)
class Area:
    """A rectangle on one sheet, zero-based and inclusive."""

    sheet: str
    first_row: int
    first_col: int
    last_row: int
    last_col: int

    @property
    def ref(self) -> str:
        """The reference as a defined name holds it: 'Sheet'!$A$1:$B$2."""
        return f"{a1.quote_sheet(self.sheet)}!" + a1.range_name(
            self.first_row, self.first_col, self.last_row, self.last_col, absolute=True)

    @property
    def plain(self) -> str:
        """Normalised form used in the signature: Sheet!A1:B2, no quotes or $."""
        return f"{self.sheet}!" + a1.range_name(self.first_row, self.first_col, self.last_row, self.last_col)

    def cells(self):
        return a1.iter_range(self.first_row, self.first_col, self.last_row, self.last_col)

    @classmethod
    def parse(cls, ref: str) -> Area:
        sheet, cells = a1.split_sheet_ref(ref)
        return cls(sheet, *a1.parse_range(cells))


@dataclass(frozen=True)
class Cell:
    row: int
    col: int
    value: Any = None
    style: str = "text"
    formula: str | None = None  # written with value as its cached result


@dataclass(frozen=True)
class Validation:
    area: Area
    kind: str  # 'decimal' | 'integer' | 'length' | 'list'
    minimum: float = 0
    maximum: float = 0
    choices: tuple[str, ...] = ()
    title: str = ""
    message: str = ""
    error_title: str = ""
    error: str = ""


@dataclass(frozen=True)
class Block:
    """An input block: its defined name, area, what each row and column means, and its bounds."""

    name: str
    area: Area
    row_keys: tuple[str, ...]
    col_keys: tuple[str, ...]
    metric: str = ""
    kind: str = "number"  # 'number' | 'text' | 'choice'
    decimals: int = 0
    maximum: float = 0.0
    required: bool = True
    choices: tuple[str, ...] = ()  # 'choice': the list shown in the cell's drop-down


@dataclass
class Sheet:
    name: str
    cells: list[Cell] = field(default_factory=list)
    merges: list[tuple[Area, Any, str]] = field(default_factory=list)
    widths: dict[int, float] = field(default_factory=dict)
    heights: dict[int, float] = field(default_factory=dict)  # row -> points, for wrapped header rows
    validations: list[Validation] = field(default_factory=list)
    conditional: list[tuple[Area, dict]] = field(default_factory=list)
    freeze: tuple[int, int] | None = None
    header: str = ""
    footer: str = ""
    very_hidden: bool = False

    def put(self, row: int, col: int, value: Any, style: str = "text", formula: str | None = None) -> None:
        self.cells.append(Cell(row, col, value, style, formula))


@dataclass
class Template:
    """Everything needed to write one workbook and, later, to check what comes back."""

    kind: str
    owner: str
    period: str
    file_name: str
    meta: dict[str, str]
    sheets: list[Sheet]
    blocks: list[Block]
    names: dict[str, Area]  # every defined name, in_ blocks included
    signed_values: dict[str, list] = field(default_factory=dict)  # name -> values row-major
    signature: str = ""

    def canonical(self) -> dict:
        return canonical_form(self.meta, {n: a.plain for n, a in self.names.items()}, self.signed_values)


def is_signed_name(name: str) -> bool:
    return name.startswith(SIGNED_PREFIXES)


def canonical_value(value: Any) -> str:
    """One text form per value, stable across Excel, LibreOffice and WPS saves."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        number = float(value)
        if not math.isfinite(number):
            return str(number)
        number = round(number, 6)
        return format(number + 0.0, ".15g") if number != 0 else "0"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    # XML turns a CR LF into LF when a program saves the file, and some programs compose accents (NFC).
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text)


def canonical_form(meta: dict[str, Any], names: dict[str, str], values: dict[str, list]) -> dict:
    return {
        "meta": {k: canonical_value(meta.get(k)) for k in SIGNED_META_KEYS},
        "names": {k: names[k] for k in sorted(names)},
        "values": {k: [canonical_value(v) for v in values[k]] for k in sorted(values)},
    }


def canonical_bytes(form: dict) -> bytes:
    return json.dumps(form, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sign(key: bytes, form: dict) -> str:
    return hmac.new(key, canonical_bytes(form), hashlib.sha256).hexdigest()


def signature_matches(key: bytes, form: dict, signature: str) -> bool:
    return hmac.compare_digest(sign(key, form), signature or "")


_UNSAFE = re.compile(r"[^\w.-]+", re.UNICODE)


def safe_part(text: str, limit: int = 40) -> str:
    """A file-name fragment that is safe on Windows, macOS and Linux whatever the roster holds."""
    cleaned = _UNSAFE.sub("_", unicodedata.normalize("NFC", text)).strip("._")
    return cleaned[:limit] or "x"


def template_file_name(kind: str, period: str, owner: str, owner_name: str) -> str:
    return f"{kind}-{safe_part(period)}-{safe_part(owner)}-{safe_part(owner_name)}.xlsx"


def sheet_title(text: str, taken: set[str]) -> str:
    """A legal, unique sheet name: no []:*?/\\, at most 31 characters."""
    name = re.sub(r"[\[\]:*?/\\']", " ", text).strip()[:31] or "Sheet"
    base, counter = name, 2
    while name.casefold() in taken:
        suffix = f" ({counter})"
        name = base[: 31 - len(suffix)] + suffix
        counter += 1
    taken.add(name.casefold())
    return name
