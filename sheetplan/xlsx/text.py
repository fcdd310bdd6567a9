"""Text as SpreadsheetML stores it, and Excel's limits on it, shared by every writer that builds XML itself.

Excel counts lengths in UTF-16 code units (an emoji is two), and it decodes `_xHHHH_` in cell text, print
headers and other string values as the character U+HHHH: literal text of that shape has to be written with
its underscore escaped (`_x005F_`), as Excel and xlsxwriter do, or it comes back changed.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

MAX_PRINT_TEXT = 255  # a print header or footer, in UTF-16 units; xlsxwriter drops a longer one silently
ELLIPSIS = "\u2026"

# every underscore that starts an _xHHHH_, overlapping ones too: "_x005F_x0041_" shares one between two
_LITERAL_ESCAPE = re.compile(r"_(?=x[0-9A-Fa-f]{4}_)")
# XML 1.0 cannot hold these (nor U+FFFE/U+FFFF); Excel stores them as _xHHHH_.
_UNWRITABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_DECODE = re.compile(r"_x([0-9A-Fa-f]{4})_")
_SECTION = re.compile(r"(&[LCR])")


def utf16_len(text: str) -> int:
    """Length as Excel counts it: characters above U+FFFF take two UTF-16 units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def escape_xstring(text: str) -> str:
    """`text` as an ST_Xstring value (cell text, header, footer), before XML escaping: a literal `_xHHHH_`
    gets its underscore escaped, characters XML cannot hold become `_xHHHH_`."""
    if "_x" in text:
        text = _LITERAL_ESCAPE.sub("_x005F_", text)
    if not text.isprintable():
        text = _UNWRITABLE.sub(lambda m: f"_x{ord(m.group()):04X}_", text)
    return text


def xml_text(text: str) -> str:
    """`text` ready to sit between the tags of a cell's <t> or <v>, or a header element."""
    return escape(escape_xstring(text))


def needs_shared_string(text: str) -> bool:
    """Whether `text` must go to the shared-string table rather than inline: Excel, calamine and LibreOffice
    decode _xHHHH_ in inline strings too, openpyxl only in shared strings, so text that is stored with an
    escape reads the same everywhere only from there."""
    return ("_x" in text or not text.isprintable()) and escape_xstring(text) != text


SST_NAMESPACE = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def string_item(text: str) -> str:
    """One <si> of a shared-string table."""
    space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
    return f"<si><t{space}>{xml_text(text)}</t></si>"


def shared_strings_xml(strings: list[str], references: int | None = None) -> bytes:
    """A whole xl/sharedStrings.xml holding `strings` in order (`references`: how many cells use them)."""
    count = len(strings) if references is None else references
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<sst xmlns="{SST_NAMESPACE}" count="{count}" uniqueCount="{len(strings)}">'
            + "".join(string_item(t) for t in strings) + "</sst>").encode("utf-8")


def decode_xstring(text: str) -> str:
    """What Excel shows for a stored ST_Xstring (the inverse of escape_xstring)."""
    if "_x" not in text:
        return text
    return _DECODE.sub(lambda m: chr(int(m.group(1), 16)), text)


def utf16_prefix(text: str, units: int) -> str:
    """The start of `text` within `units` UTF-16 units, never splitting a character above U+FFFF."""
    if len(text) <= units // 2 or utf16_len(text) <= units:
        return text
    out, used = [], 0
    for ch in text:
        size = 2 if ord(ch) > 0xFFFF else 1
        if used + size > units:
            break
        out.append(ch)
        used += size
    return "".join(out)


def _cut(body: str, units: int) -> str:
    """The start of a header section within `units` UTF-16 units, never splitting a `&` code."""
    text = utf16_prefix(body, units)
    trailing = len(text) - len(text.rstrip("&"))
    if trailing % 2:  # a lone & would start a header code with whatever follows
        text = text[:-1]
    return text


def fit_print_text(text: str, limit: int = MAX_PRINT_TEXT) -> str:
    """A print header or footer within Excel's limit: the longest section (&L, &C, &R) is shortened with an
    ellipsis until the whole fits, so every section keeps its start and none is dropped."""
    if utf16_len(text) <= limit:
        return text
    parts = _SECTION.split(text)  # [lead, code, body, code, body, ...]
    bodies = list(range(0, len(parts), 2))
    while utf16_len("".join(parts)) > limit:
        index = max(bodies, key=lambda i: (utf16_len(parts[i]), -i))
        body = parts[index].removesuffix(ELLIPSIS)
        if not body:
            break  # nothing left to shorten (only codes): cannot happen with sheetplan's headers
        excess = utf16_len("".join(parts)) - limit
        parts[index] = _cut(body, max(utf16_len(body) - excess - 1, 0)) + ELLIPSIS
        if parts[index] == ELLIPSIS and utf16_len("".join(parts)) > limit:
            parts[index] = ""
    return "".join(parts)
