"""XML part safety: refuse any DTD and re-encode parts to UTF-8 before anything parses or scans them."""

from __future__ import annotations

import re

from sheetplan.returns.limits import PackageProblem

_DECLARATION = re.compile(rb"<\?xml[^>]{0,200}?\?>")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_UTF8_NAMES = {b"utf-8", b"utf8", b"us-ascii", b"ascii"}
_MARKUP_DECLARATION = re.compile(rb"<!\s*[A-Za-z]")  # DOCTYPE, ENTITY, ELEMENT, ATTLIST, NOTATION


def check_xml(raw: bytes, name: str) -> bytes:
    """Return the part as UTF-8 without a declaration of another encoding; refuse any DTD.

    Re-encoding matters for safety, not only convenience: the cell scans in sheetscan search bytes,
    and a UTF-16 part would hide its tags from them while calamine still decodes it.
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff", b"<\0", b"\0<")):
        codec = (
            "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ("utf-16-le" if raw[0] else "utf-16-be")
        )
        raw = _transcode(raw, codec, name)
    elif raw.startswith(b"<?xml"):
        decl = _DECLARATION.match(raw)
        enc = _ENCODING.search(decl.group(0)) if decl else None
        if enc and enc.group(1).lower() not in _UTF8_NAMES:
            raw = _transcode(raw, enc.group(1).decode("ascii"), name)
    # memchr for the rare '!' first: '<' is everywhere in XML and makes a '<!' search slow.
    if b"!" in raw and b"<!" in raw and _MARKUP_DECLARATION.search(raw):
        raise PackageProblem("xml-unsafe", f"part {name!r} declares a DOCTYPE/ENTITY (never expanded here)")
    return raw


def _transcode(raw: bytes, codec: str, name: str) -> bytes:
    try:
        text = raw.decode(codec)
    except (LookupError, UnicodeDecodeError) as exc:
        raise PackageProblem("xml-malformed", f"part {name!r} cannot be decoded as {codec}: {exc}") from None
    text = text.lstrip("\ufeff")
    if text.startswith("<?xml"):
        end = text.find("?>")
        text = text[end + 2 :] if end >= 0 else text
    return text.encode("utf-8")
