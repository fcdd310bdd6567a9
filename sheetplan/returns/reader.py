"""Read returned workbooks into plain data, each file checked first and batches run in guarded workers."""

from __future__ import annotations

import faulthandler
import hashlib
import io
import itertools
import os
import pickle
import resource
import signal
import struct
import threading
import time
import xml.etree.ElementTree as ET
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import wait

from python_calamine import CalamineError, CalamineWorkbook, XmlError

from sheetplan.errors import EnvironmentProblem
from sheetplan.problems import Problem
from sheetplan.returns.safety import (
    Archive,
    Limits,
    PackageProblem,
    SheetScan,
    open_package,
    scan_sheet,
    too_large,
)
from sheetplan.workers import die_with_parent


@dataclass(frozen=True)
class SheetData:
    """One sheet's non-empty values by zero-based absolute (row, col), and which cells were formulas.

    python-calamine gives numbers as float, '' for both empty and error cells (so errors are absent
    here), and the cached value of a formula cell: check `formulas` before trusting any value.
    """

    name: str
    visibility: str  # 'visible' | 'hidden' | 'veryhidden'
    cells: dict[tuple[int, int], object]
    formulas: frozenset[tuple[int, int]]


@dataclass(frozen=True)
class RawWorkbook:
    sheets: dict[str, SheetData]  # in workbook order
    defined_names: dict[str, str]  # workbook-level names -> reference text as stored


@dataclass(frozen=True)
class ReadResult:
    """Outcome for one file: a workbook, or None with the problems that rejected it."""

    path: str
    name: str
    size: int
    sha256: str  # '' when the file was too large or unreadable, so never hashed
    workbook: RawWorkbook | None
    problems: tuple[Problem, ...]


_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_VISIBILITY = {"hidden": "hidden", "veryhidden": "veryhidden"}



@contextmanager
def _calamine_problems() -> Iterator[None]:
    """What calamine raises on a package that passed the checks becomes a file problem, never a crash."""
    try:
        yield
    except CalamineError as exc:
        code = "xml-malformed" if isinstance(exc, XmlError) else "read-failed"
        raise PackageProblem(code, f"the workbook cannot be read: {exc}") from None
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # pyo3 turns a Rust panic into PanicException, a BaseException
        raise PackageProblem("read-failed", f"the workbook reader failed: {type(exc).__name__}: {exc}") from None

def read_returned(path: str | os.PathLike[str], limits: Limits = Limits()) -> ReadResult:
    """Read one returned file in this process. Never raises for a bad file.

    In-process reading trusts the checks alone; `read_many` adds a memory, CPU and time fence.
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    try:
        size = os.stat(path).st_size
        if size > limits.max_file_bytes:  # refused unread, so never hashed either
            return ReadResult(path, name, size, "", None, (too_large(size, limits).problem(name),))
        with open(path, "rb") as handle:
            data = handle.read(limits.max_file_bytes + 1)
    except OSError as exc:
        problem = Problem("file-unreadable", f"the file cannot be opened: {exc.strerror or exc}", file=name)
        return ReadResult(path, name, 0, "", None, (problem,))
    return _read_data(data, path, name, limits)


def _read_data(data: bytes, path: str, name: str, limits: Limits) -> ReadResult:
    digest = hashlib.sha256(data).hexdigest()
    try:
        archive = open_package(data, limits)
        workbook = _read_workbook(archive, limits)
    except PackageProblem as exc:
        return ReadResult(path, name, len(data), digest, None, (exc.problem(name),))
    except MemoryError:
        problem = Problem("read-failed", "reading the file ran out of memory", file=name)
        return ReadResult(path, name, len(data), digest, None, (problem,))
    return ReadResult(path, name, len(data), digest, workbook, ())


@dataclass(frozen=True)
class Table:
    """One worksheet's values row by row (calamine's types: float, str, bool, date, datetime; '' for empty),
    from `start` (zero-based row and column of its first value) on, read as they are iterated so a long sheet
    never becomes one list; with the zero-based (row, col) cells that held formulas, whose cached values are
    not to be trusted."""

    sheet: str
    rows: Iterator[list[object]]
    start: tuple[int, int]
    formulas: frozenset[tuple[int, int]]


def read_table(data: bytes, limits: Limits, sheet: str = "") -> Table:
    """The named worksheet (else the first visible one) of an xlsx's bytes, through every check a returned
    workbook passes, but as rows rather than a cell map: for long tables such as an ERP export, where a
    dict entry per cell would cost gigabytes. Raises PackageProblem for a file the checks refuse."""
    archive = open_package(data, limits)
    sheets, _names, date1904, shared = _read_structure(archive)
    worksheets = [s for s in sheets if s.part is not None]
    if sheet:
        chosen = next((s for s in worksheets if s.name.casefold() == sheet.casefold()), None)
        if chosen is None:
            raise PackageProblem("sheet-missing", f"the workbook has no worksheet named {sheet!r}")
    else:
        chosen = next((s for s in worksheets if s.visibility == "visible"), None)
        if chosen is None:
            raise PackageProblem("sheet-missing", "the workbook has no visible worksheet")
    if not archive.has(chosen.part):
        raise PackageProblem("xml-malformed", f"sheet {chosen.name!r} points at a missing part")
    xml = archive.read_xml(chosen.part)
    scan = scan_sheet(xml, chosen.name, limits)
    package = _calamine_package(archive, [chosen], {chosen.name: xml}, shared, date1904)
    del xml, archive
    with _calamine_problems():
        sheet_data = CalamineWorkbook.from_filelike(io.BytesIO(package)).get_sheet_by_name(chosen.name)
        del package
        start = sheet_data.start
        rows = sheet_data.iter_rows() if start is not None else iter(())
    return Table(chosen.name, rows, start or (0, 0), scan.formulas)


# ---------------------------------------------------------------- package structure


@dataclass(frozen=True)
class _Sheet:
    name: str
    visibility: str
    part: str | None  # None for a chart sheet: it has no cells


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _rel_id(element: ET.Element) -> str:
    for key, value in element.attrib.items():
        if key.endswith("}id") and "relationships" in key:
            return value
    return ""


def _read_structure(archive: Archive) -> tuple[list[_Sheet], dict[str, str], bool, dict[str, str]]:
    """Sheets, workbook-level defined names, the 1904 date flag and the shared parts, from workbook.xml."""
    main = archive.main_part()
    if main is None:
        raise PackageProblem("not-a-workbook", "the archive has no workbook part")
    root = archive.parse_xml(main)
    rels = archive.relationships(main)
    sheets: list[_Sheet] = []
    names: dict[str, str] = {}
    date1904 = False
    seen: set[str] = set()
    for element in root.iter():
        tag = _local(element.tag)
        if tag == "sheet":
            sheets.append(_sheet_entry(element, rels, seen))
        elif tag == "definedName":
            name = element.get("name")
            # Sheet-local names (localSheetId) belong to one sheet and never to the template layout.
            if name and element.get("localSheetId") is None and name not in names:
                names[name] = element.text or ""
        elif tag == "workbookPr":
            date1904 = element.get("date1904", "").lower() in ("1", "true")
    if not sheets:
        raise PackageProblem("xml-malformed", "the workbook lists no sheets")
    if len(sheets) > len(archive.entries):  # sheets without parts, by the thousand: nothing real
        raise PackageProblem(
            "xml-malformed", f"the workbook lists {len(sheets)} sheets but has far fewer parts"
        )
    shared = {
        kind: part
        for kind, part in rels.values()
        if kind in ("sharedStrings", "styles") and archive.has(part)
    }
    for kind, default in (("sharedStrings", "xl/sharedStrings.xml"), ("styles", "xl/styles.xml")):
        if kind not in shared and archive.has(default):
            shared[kind] = default
    return sheets, names, date1904, shared


def _sheet_entry(element: ET.Element, rels: dict[str, tuple[str, str]], seen: set[str]) -> _Sheet:
    name = element.get("name", "")
    if not name or name.lower() in seen:
        raise PackageProblem("xml-malformed", f"the workbook lists sheet {name!r} twice or without a name")
    seen.add(name.lower())
    visibility = _VISIBILITY.get(element.get("state", "visible").lower(), "visible")
    kind, part = rels.get(_rel_id(element), ("", ""))
    if kind in ("xlMacrosheet", "xlIntlMacrosheet"):
        raise PackageProblem("macro-enabled", f"sheet {name!r} is an Excel 4.0 macro sheet")
    if kind in ("chartsheet", ""):  # a chart sheet, or a leftover entry with no part: no cells
        return _Sheet(name, visibility, None)
    if kind not in ("worksheet", "dialogsheet") or not part:
        raise PackageProblem("xml-malformed", f"sheet {name!r} has no worksheet part")
    return _Sheet(name, visibility, part)


# ---------------------------------------------------------------- values through calamine


def _read_workbook(archive: Archive, limits: Limits) -> RawWorkbook:
    sheets, names, date1904, shared = _read_structure(archive)
    scans: dict[str, SheetScan] = {}
    parts: dict[str, bytes] = {}
    total = 0
    for sheet in sheets:
        if sheet.part is None:
            continue
        if not archive.has(sheet.part):
            raise PackageProblem("xml-malformed", f"sheet {sheet.name!r} points at a missing part")
        xml = archive.read_xml(sheet.part)
        scan = scan_sheet(xml, sheet.name, limits)
        total += scan.cell_tags
        if total > limits.max_cells:
            raise PackageProblem("too-many-cells", f"the workbook holds more than {limits.max_cells:,} cells")
        scans[sheet.name] = scan
        parts[sheet.name] = xml
    values = _calamine_values(archive, sheets, parts, shared, date1904) if parts else {}
    out: dict[str, SheetData] = {}
    for sheet in sheets:
        cells = values.get(sheet.name, {})
        scan = scans.get(sheet.name)
        formulas = _formula_cells(scan, cells, sheet.name, limits) if scan else frozenset()
        out[sheet.name] = SheetData(sheet.name, sheet.visibility, cells, formulas)
    return RawWorkbook(out, names)


def _formula_cells(scan: SheetScan, cells: dict, name: str, limits: Limits) -> frozenset[tuple[int, int]]:
    """The <f> cells plus the cells an array formula fills, which carry no <f> of their own."""
    if not scan.arrays:
        return scan.formulas
    spilled: set[tuple[int, int]] = set()
    budget = limits.max_cells  # cell checks: hostile ranges would otherwise make this quadratic
    for r1, c1, r2, c2 in scan.arrays:
        area = (r2 - r1 + 1) * (c2 - c1 + 1)
        budget -= min(area, len(cells))
        if budget < 0:
            raise PackageProblem("too-many-cells", f"sheet {name!r} has array formulas over too many cells")
        if area <= len(cells):
            grid = itertools.product(range(r1, r2 + 1), range(c1, c2 + 1))
            spilled.update(pos for pos in grid if pos in cells)
        else:
            spilled.update(pos for pos in cells if r1 <= pos[0] <= r2 and c1 <= pos[1] <= c2)
    return scan.formulas | spilled


def _calamine_values(
    archive: Archive, sheets: list[_Sheet], parts: dict[str, bytes], shared: dict[str, str], date1904: bool
) -> dict[str, dict[tuple[int, int], object]]:
    """Values of every worksheet, read by calamine from a package built from checked parts only.

    calamine never sees the returned zip: it gets a stored zip holding exactly the parts that were
    inflated, size-checked, DTD-checked and scanned above, under names we chose, so its part lookup
    (case-insensitive, first match) cannot land on anything else and it skips inflating twice.
    """
    package = _calamine_package(archive, sheets, parts, shared, date1904)
    out: dict[str, dict[tuple[int, int], object]] = {}
    with _calamine_problems():
        book = CalamineWorkbook.from_filelike(io.BytesIO(package))
        for name in parts:
            sheet = book.get_sheet_by_name(name)
            start = sheet.start
            out[name] = _cells(sheet.to_python(), start) if start is not None else {}
    return out


def _cells(rows: list[list[object]], start: tuple[int, int]) -> dict[tuple[int, int], object]:
    first_row, first_col = start
    cells: dict[tuple[int, int], object] = {}
    for r, row in enumerate(rows, first_row):
        c = first_col
        for value in row:
            if value != "":
                cells[r, c] = value
            c += 1
    return cells


def _calamine_package(
    archive: Archive, sheets: list[_Sheet], parts: dict[str, bytes], shared: dict[str, str], date1904: bool
) -> bytes:
    rel_type = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
    members: list[tuple[str, bytes, int | None]] = []
    rels = []
    sheet_tags = []
    for index, sheet in enumerate(s for s in sheets if s.name in parts):
        target = f"worksheets/sheet{index + 1}.xml"
        members.append(("xl/" + target, parts[sheet.name], archive.crc(sheet.part or "", parts[sheet.name])))
        rels.append(f'<Relationship Id="rId{index + 1}" Type="{rel_type}worksheet" Target="{target}"/>')
        sheet_tags.append(f'<sheet name="{_attr(sheet.name)}" sheetId="{index + 1}" r:id="rId{index + 1}"/>')
    for kind, target in (("sharedStrings", "sharedStrings.xml"), ("styles", "styles.xml")):
        if kind in shared:
            body = archive.read_xml(shared[kind])
            members.append(("xl/" + target, body, archive.crc(shared[kind], body)))
            rels.append(f'<Relationship Id="{kind}" Type="{rel_type}{kind}" Target="{target}"/>')
    workbook = (
        f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
        + ('<workbookPr date1904="1"/>' if date1904 else "")
        + "<sheets>"
        + "".join(sheet_tags)
        + "</sheets></workbook>"
    )
    root_rels = (
        f'<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
        f'Type="{rel_type}officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    members += [
        ("_rels/.rels", root_rels.encode(), None),
        ("xl/workbook.xml", workbook.encode(), None),
        (
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{_PKG_REL}">{"".join(rels)}</Relationships>'.encode(),
            None,
        ),
    ]
    return _stored_zip(members)


def _attr(text: str) -> str:
    for char, ref in (
        ("&", "&amp;"),
        ('"', "&quot;"),
        ("<", "&lt;"),
        ("\t", "&#9;"),
        ("\n", "&#10;"),
        ("\r", "&#13;"),
    ):
        text = text.replace(char, ref)
    return text


_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_CENTRAL_HEADER = struct.Struct("<4sHHHHHHIIIHHHHHII")
_END = struct.Struct("<4sHHHHIIH")
_LOCAL_START = (b"PK\x03\x04", 20, 0x800, 0, 0, 0x21)  # version, UTF-8 names, stored, 1980-01-01
_CENTRAL_START = (b"PK\x01\x02", 20, 20, 0x800, 0, 0, 0x21)


def _stored_zip(members: list[tuple[str, bytes, int | None]]) -> bytes:
    """An uncompressed zip: building it is a few copies, and calamine then has nothing to inflate."""
    chunks: list[bytes] = []
    central: list[bytes] = []
    offset = 0
    for name, body, crc in members:
        raw = name.encode()
        crc = zlib.crc32(body) if crc is None else crc
        header = _LOCAL_HEADER.pack(*_LOCAL_START, crc, len(body), len(body), len(raw), 0)
        sizes = (crc, len(body), len(body), len(raw), 0, 0, 0, 0, 0, offset)
        central.append(_CENTRAL_HEADER.pack(*_CENTRAL_START, *sizes) + raw)
        chunks += (header, raw, body)
        offset += len(header) + len(raw) + len(body)
    directory = b"".join(central)
    end = _END.pack(b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), offset, 0)
    return b"".join(chunks) + directory + end


# ---------------------------------------------------------------- guarded batch reading

_QUEUE_DEPTH = 2  # jobs queued per worker, so it never waits for the parent between files
_WINDOW = 16  # results buffered ahead of the slowest file, per worker


def read_many(
    paths: Iterable[str | os.PathLike[str]], limits: Limits = Limits(), workers: int = 2, task=None
) -> Iterator[ReadResult]:
    """Read files in worker processes fenced by memory, CPU and wall-clock limits; yield in input order.

    A worker that crashes (a native abort, running out of address space) or overruns its time costs
    only the file it was reading: that file gets a read-failed/read-timeout problem, the worker is
    replaced and the batch goes on.

    `task` = (function, context) runs `function(result, context)` in the worker on each file read
    and sends back what it returns, so work on the parsed workbook is spread over the workers too;
    a file whose worker died still arrives as a plain ReadResult.
    """
    import multiprocessing  # only batch reading needs it

    # fork is cheap and does not re-run the caller's main script in each worker, but forking a
    # process that runs other threads can copy a held lock; then use forkserver's clean process.
    methods = multiprocessing.get_all_start_methods()
    method = "fork" if threading.active_count() == 1 and "fork" in methods else "forkserver"
    ctx = multiprocessing.get_context(method if method in methods else "spawn")
    remaining = iter(paths)
    first = next(remaining, None)
    if first is None:
        return
    pool = _Pool(ctx, limits, max(1, workers), task)
    try:
        yield from pool.run(itertools.chain([first], remaining))
    finally:
        pool.close()


class _Worker:
    def __init__(self, ctx, limits: Limits, task=None) -> None:
        parent, child = ctx.Pipe()
        # Only a forked or spawned worker is the command's own child; a forkserver's is the server's.
        parent_pid = None if ctx.get_start_method() == "forkserver" else os.getpid()
        self.process = ctx.Process(target=_serve, args=(child, limits, task, parent_pid), name="sheetplan-reader",
                                   daemon=True)
        self.process.start()
        child.close()
        self.conn = parent
        self.ready = False  # set by the worker's first message, sent once its limits are in place
        self.jobs: deque[tuple[int, str]] = deque()
        self.started = 0.0  # when the job at the head of `jobs` started

    def send(self, index: int, path: str) -> None:
        """Queue a job; raises OSError when the worker has died while idle."""
        self.conn.send((index, path))
        if not self.jobs:
            self.started = time.monotonic()
        self.jobs.append((index, path))

    def receive(self) -> list[tuple[int, ReadResult]]:
        """Results already sent; raises EOFError once the worker is gone and its pipe drained."""
        got = []
        while self.conn.poll():
            message = self.conn.recv()
            if message is None:
                self.ready = True
                continue
            self.jobs.popleft()
            self.started = time.monotonic()
            got.append(message)
        return got

    def stop(self) -> None:
        if not self.jobs:  # idle: let it exit on its own; busy ones (an abandoned batch) are killed
            try:
                self.conn.send(None)
                self.process.join(2)
            except OSError:
                pass
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()  # only ever our own child, by its handle
        self.process.join()
        self.conn.close()


class _Pool:
    def __init__(self, ctx, limits: Limits, size: int, task=None) -> None:
        self.task = task
        self.ctx = ctx
        self.limits = limits
        self.workers = [_Worker(ctx, limits, task) for _ in range(size)]
        self.results: dict[int, ReadResult] = {}
        self.retry: deque[tuple[int, str]] = deque()  # jobs a dead worker never started

    def run(self, paths: Iterator[str | os.PathLike[str]]) -> Iterator[ReadResult]:
        results = self.results
        next_in = next_out = 0
        exhausted = False
        window = _WINDOW * len(self.workers)
        timeout = self.limits.timeout_seconds
        while True:
            for position in range(len(self.workers)):
                while len(self.workers[position].jobs) < _QUEUE_DEPTH:
                    if self.retry:
                        job = self.retry.popleft()
                    elif not exhausted and next_in - next_out < window:
                        path = next(paths, None)
                        if path is None:
                            exhausted = True
                            break
                        job = (next_in, os.fspath(path))
                        next_in += 1
                    else:
                        break
                    self._send(position, job)
            while next_out in results:
                yield results.pop(next_out)
                next_out += 1
            busy = [w for w in self.workers if w.jobs]
            if not busy:
                if exhausted and not self.retry:
                    return
                continue
            deadline = min(w.started for w in busy) + timeout
            ready = set(
                wait([w.conn for w in busy] + [w.process.sentinel for w in busy], deadline - time.monotonic())
            )
            now = time.monotonic()
            for worker in busy:
                if worker.conn in ready or worker.process.sentinel in ready:
                    self._collect(worker, dead=worker.process.sentinel in ready)
                elif now - worker.started > timeout:
                    self._replace(worker, timed_out=True)

    def _send(self, position: int, job: tuple[int, str]) -> None:
        worker = self.workers[position]
        try:
            worker.send(*job)
        except OSError:  # it died while idle, so no file is to blame: start another and resend
            self.retry.extendleft(reversed(worker.jobs))
            worker.jobs.clear()
            worker.kill()
            self.workers[position] = _Worker(self.ctx, self.limits, self.task)
            self.workers[position].send(*job)

    def _collect(self, worker: _Worker, dead: bool) -> None:
        try:
            for index, result in worker.receive():
                self.results[index] = result
        except (EOFError, OSError, ValueError, pickle.UnpicklingError):
            dead = True
        if dead and worker.jobs:
            self._replace(worker, timed_out=False)
        elif dead:
            worker.kill()
            self.workers[self.workers.index(worker)] = _Worker(self.ctx, self.limits, self.task)

    def _replace(self, worker: _Worker, timed_out: bool) -> None:
        """Blame the file the worker was reading, requeue the rest, and start a new worker."""
        worker.kill()
        if not worker.ready and not timed_out:
            raise EnvironmentProblem(
                f"a reader process could not start (exit code {worker.process.exitcode}); "
                "scripts that call read_many need an `if __name__ == '__main__':` guard"
            )
        index, path = worker.jobs.popleft()
        self.retry.extendleft(reversed(worker.jobs))  # queued behind the culprit: not read yet
        worker.jobs.clear()
        name = os.path.basename(path)
        signal_number = -(worker.process.exitcode or 0)
        if timed_out or signal_number == signal.SIGXCPU:
            limit = self.limits.timeout_seconds
            problem = Problem("read-timeout", f"reading took longer than {limit:g} s", file=name)
        else:
            how = (
                signal.Signals(signal_number).name if signal_number > 0 else f"exit {worker.process.exitcode}"
            )
            message = f"the reader crashed on this file ({how}; damaged, or too big for memory)"
            problem = Problem("read-failed", message, file=name)
        self.results[index] = ReadResult(path, name, _size(path), "", None, (problem,))
        self.workers[self.workers.index(worker)] = _Worker(self.ctx, self.limits, self.task)

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _serve(conn, limits: Limits, task=None, parent: int | None = None) -> None:
    """Worker loop: fence the process once, then read one file per message until told to stop."""
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    faulthandler.disable()  # inherited from a parent such as pytest; a crash here is reported as data
    # A native abort prints a backtrace; the file's Problem already says what happened.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    _fence(limits)
    conn.send(None)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        index, path = job
        _arm_cpu(limits)
        try:
            result = read_returned(path, limits)
        except Exception as exc:  # a bug must cost one file, not the batch
            problem = Problem(
                "read-failed", f"the reader failed: {type(exc).__name__}: {exc}", file=os.path.basename(path)
            )
            result = ReadResult(path, os.path.basename(path), _size(path), "", None, (problem,))
        if task is not None:
            result = task[0](result, task[1])  # the task must not raise: it reports problems as data
        conn.send((index, result))


def _fence(limits: Limits) -> None:
    """Cap the worker's address space at what it uses now plus `limits.memory_bytes`."""
    try:
        with open("/proc/self/statm") as handle:
            current = int(handle.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        current = 0
    cap = current + limits.memory_bytes
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    _arm_cpu(limits)


def _arm_cpu(limits: Limits) -> None:
    """Give the next file `timeout_seconds` of CPU on top of what the worker has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    soft = int(used + limits.timeout_seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
