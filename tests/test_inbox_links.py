"""A link in the inbox is not a way to make ingest read and archive a file from elsewhere."""

from __future__ import annotations

import hashlib
import os

from sheetplan.api import generate, ingest
from sheetplan.demo.simulate import fill_months


def test_a_link_leading_out_of_the_inbox_is_refused_and_its_target_never_read(make_workspace, tmp_path):
    ws = make_workspace("inbox-links", approvals=False)
    files = generate(ws, "month", month="2027-05").files[:2]
    decimals = {m.key: m.decimals for m in ws.config.metrics}
    inside, outside = fill_months(files[:1], ws.folder("inbox") / "may", decimals) + \
        fill_months(files[1:], tmp_path / "elsewhere", decimals)
    os.symlink(outside.path, ws.folder("inbox") / "may" / "looks-like-a-return.xlsx")
    os.symlink(inside.path, ws.folder("inbox") / "may" / "same-file-again.xlsx")  # inside: the same file
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the archive")
    os.symlink(secret, ws.folder("inbox") / "notes.xlsx")
    report = ingest(ws)
    by_name = {o.name: o for o in report.outcomes}
    assert sorted(by_name) == ["looks-like-a-return.xlsx", inside.path.name, "notes.xlsx"]
    assert by_name[inside.path.name].status == "accepted"
    for name in ("looks-like-a-return.xlsx", "notes.xlsx"):
        assert by_name[name].status == "rejected"
        assert [p.code for p in by_name[name].problems] == ["link-outside-folder"]
    assert report.exit_code == 1 and report.report_path.is_file()
    archived = {p.name.split(".")[0] for p in ws.folder("archive").rglob("*") if p.is_file()}
    for target in (outside.path, secret):
        assert hashlib.sha256(target.read_bytes()).hexdigest() not in archived
