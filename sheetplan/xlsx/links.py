"""Hyperlinks from report workbooks to other files: relative, with forward slashes, so they open
on any system after the workspace is moved. Kept free of heavy imports: ingest uses it."""

from __future__ import annotations

import io
import os
import re
import zipfile

_EXTERNAL_TARGET = re.compile(rb'Target="([^"]*)"(?= TargetMode="External")')


def portable_rels(body: bytes) -> bytes:
    if b'TargetMode="External"' not in body:
        return body
    return _EXTERNAL_TARGET.sub(lambda m: b'Target="' + m.group(1).replace(b"\\", b"/") + b'"', body)


def portable_links(data: bytes) -> bytes:
    """xlsxwriter writes links to files with Windows backslashes; forward slashes open everywhere."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info)
            target.writestr(info, portable_rels(body) if info.filename.endswith(".rels") else body)
    return out.getvalue()


def link_to(target: str, from_folder: str) -> str | None:
    """An 'external:' link to `target` relative to the workbook's folder (links survive moving both)."""
    if not target:
        return None
    relative = os.path.relpath(target, from_folder).replace(os.sep, "/")
    return "external:" + relative if len(relative) < 220 else None
