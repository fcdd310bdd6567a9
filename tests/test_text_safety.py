"""Free text that spreadsheet programs and mail treat specially: names starting with =, quotes, apostrophes
and non-ASCII letters go through templates and mail as plain text; the signature's canonical text does not
change with what a program does to text on save (CR LF to LF, composed accents)."""

from __future__ import annotations

import email
import unicodedata
from email import policy

import openpyxl

from sheetplan import api
from sheetplan.xlsx.layout import canonical_value

AWKWARD = {
    "P006": '=HYPERLINK("http://evil.example","win")',
    "P007": "Seán O'Brien \"Ace\"",
    "P008": "张伟",
    "P009": "+49 Müller-Lüdenscheid",
    "P010": "@dmin; <script>",
}


def test_canonical_text_is_stable_under_line_endings_and_unicode_composition():
    assert canonical_value("North\r\nEast") == canonical_value("North\nEast") == canonical_value("North\rEast")
    decomposed = unicodedata.normalize("NFD", "Müller")
    assert decomposed != "Müller" and canonical_value(decomposed) == canonical_value("Müller")


def test_awkward_names_draft_every_message_and_stay_text_in_the_templates(tmp_path):
    ws = api.init_workspace(tmp_path / "ws", demo=True, year=2027)
    roster = ws.root / "roster.xlsx"
    book = openpyxl.load_workbook(roster)
    sheet = book.active
    for row in sheet.iter_rows(min_row=2):
        if row[0].value in AWKWARD:
            row[1].value = AWKWARD[row[0].value]
            row[1].data_type = "s"  # as a person types it in a text-formatted column
    book.save(roster)
    ws = api.open_workspace(ws.root)
    assert {pid: ws.roster.get(pid).name for pid in AWKWARD} == AWKWARD
    files = api.generate(ws, "month", month="2027-03").files
    results = api.mail_round(ws, "month", "2027-03", mode="drafts")
    assert len(results) == len(files) and {r.status for r in results} == {"drafted"}, \
        [(r.owner, r.status, r.detail) for r in results if r.status != "drafted"]
    for result in results:
        message = email.message_from_bytes((ws.root / result.draft).read_bytes(), policy=policy.default)
        if result.owner in AWKWARD:
            assert message["To"].addresses[0].display_name == AWKWARD[result.owner]
            attachment = next(message.iter_attachments())
            path = tmp_path / f"{result.owner}.xlsx"
            path.write_bytes(attachment.get_content())
            shown = {cell.value for row in openpyxl.load_workbook(path).worksheets[0].iter_rows() for cell in row
                     if isinstance(cell.value, str) and AWKWARD[result.owner] in cell.value}
            assert shown, result.owner  # the name is in the template as text, never a formula
    # returned untouched, their templates' locked cells (names included) still match the signature
    mine = [f for f in files if any(f"-{pid}-" in f.name for pid in AWKWARD)]
    assert len(mine) == len(AWKWARD)
    report = api.ingest(ws, mine, dry_run=True, write_report=False)
    codes = {p.code for o in report.outcomes for p in o.problems}
    assert not codes & {"locked-cell-changed", "signature-invalid"}, codes
