"""Drive a headless LibreOffice Calc through UNO: run a JSON list of operations, print a JSON result.

Run with the system python that has Debian's python3-uno (not the project venv):

    /usr/bin/python3 tests/uno_client.py ops.json      # or the operations on standard input

Input: a JSON list of operations (or {"ops": [...]}), each {"op": NAME, ...}. Output on stdout, always one JSON
object: {"ok", "error", "seconds", "version", "results": [one dict per operation, in order]}. Documents are
named by the "as" of their "open" (default: the file name); "doc" in a later operation picks one, else the
last opened is used. A cell range is given as "ref" ("'My sheet'!$A$1:$B$2", quotes and $ optional) or as
"name" (a workbook-level named range, resolved through doc.NamedRanges -> getReferredCells).

Operations:
  open      path, as, [read_only]           load the file hidden
  sheets                                    [{name, visible, protected}] in tab order
  names                                     {name: {content, ref}}; ref is Sheet!A1:B2 (no quotes, no $) or null
  unlocked                                  [Sheet!A1:B2, ...] ranges whose cell protection is off
  read      ref|name, [formulas], [formats] 2-D values (numbers as floats, empty as ""), and optionally the
                                            formula text and number format strings of every cell
  write     ref|name, values, [formulas]    setDataArray (setFormulaArray with formulas): refused on locked
                                            cells of a protected sheet as a user would be; reports accepted
  fill      blocks {name: 2-D values}       one write per named block, as a salesperson fills a template
  recalc                                    calculateAll()
  save_xlsx path                            store as .xlsx ("Calc Office Open XML"), overwriting
  save_pdf  path                            store as PDF ("calc_pdf_Export"), overwriting
  close                                     close the document
Any operation that raises is reported as {"ok": false, "error": ...} and the rest still run. A write that
LibreOffice refuses is not an error: it is {"ok": true, "accepted": false, "refusal": ...}.

Standard library and uno only: this file is never imported by the tests, only run.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import uno
from com.sun.star.beans import PropertyValue
from com.sun.star.connection import NoConnectException
from com.sun.star.uno import RuntimeException as UnoRuntimeException

CONNECT_SECONDS = 60.0
DEFAULT_TIMEOUT = 300.0
XLSX_FILTER = "Calc Office Open XML"
PDF_FILTER = "calc_pdf_Export"
_CELL = re.compile(r"^([A-Z]{1,3})([0-9]{1,7})$")


class OpError(Exception):
    """A malformed operation (unknown document, name or reference): the caller's mistake."""


def _props(**values) -> tuple:
    out = []
    for key, value in values.items():
        prop = PropertyValue()
        prop.Name, prop.Value = key, value
        out.append(prop)
    return tuple(out)


def _col_letter(col: int) -> str:
    letters, col = "", col + 1
    while col:
        col, rem = divmod(col - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _plain(sheet_name: str, address) -> str:
    """Sheet!A1:B2 like sheetplan.xlsx.layout.Area.plain (a single cell is Sheet!A1)."""
    start = f"{_col_letter(address.StartColumn)}{address.StartRow + 1}"
    end = f"{_col_letter(address.EndColumn)}{address.EndRow + 1}"
    return f"{sheet_name}!{start}" + ("" if start == end else f":{end}")


def _split_ref(ref: str) -> tuple[str, str]:
    ref = ref.strip().lstrip("=")
    if "!" not in ref:
        raise OpError(f"reference has no sheet: {ref!r}")
    sheet, _, cells = ref.rpartition("!")
    if len(sheet) >= 2 and sheet.startswith("'") and sheet.endswith("'"):
        sheet = sheet[1:-1].replace("''", "'")
    cells = cells.replace("$", "").upper()
    if not all(_CELL.match(part) for part in cells.split(":")) or cells.count(":") > 1:
        raise OpError(f"not a cell range: {ref!r}")
    return sheet, cells


def _uno_value(value):
    """JSON value -> what setDataArray takes: a float or a string (None clears the cell)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    return str(value)


def _json_value(value):
    """What getDataArray gives back, made JSON-safe (NaN/inf would break strict JSON parsers)."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    return value


class Office:
    """One soffice process with its own profile and pipe; always torn down by close()."""

    def __init__(self, soffice: str, timeout: float) -> None:
        self.soffice = soffice
        self.timeout = timeout
        self.unique = f"sheetplan-lo-{os.getpid()}-{uuid.uuid4().hex[:10]}"
        self.profile = tempfile.mkdtemp(prefix=self.unique + "-", dir="/tmp")
        self.log_path = os.path.join(self.profile, "soffice.log")
        self.proc: subprocess.Popen | None = None
        self.desktop = None
        self.version = ""
        self.timed_out = False
        self._watchdog: threading.Timer | None = None

    def start(self) -> None:
        profile_url = uno.systemPathToFileUrl(self.profile)
        args = [self.soffice, f"-env:UserInstallation={profile_url}", "--headless", "--invisible", "--norestore",
                "--nologo", "--nodefault", "--nolockcheck", f"--accept=pipe,name={self.unique};urp;"]
        with open(self.log_path, "wb") as log:
            # A new session makes soffice, oosplash and soffice.bin one process group we can kill together.
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self._watchdog = threading.Timer(self.timeout, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
        deadline = time.monotonic() + CONNECT_SECONDS
        while True:
            try:
                ctx = resolver.resolve(f"uno:pipe,name={self.unique};urp;StarOffice.ComponentContext")
                break
            except (NoConnectException, UnoRuntimeException):  # not listening yet
                if self.proc.poll() is not None:
                    raise RuntimeError(f"soffice exited with code {self.proc.returncode} before accepting a "
                                       f"connection: {self.log_tail()}") from None
                if time.monotonic() > deadline:
                    raise RuntimeError(f"soffice did not accept a connection within {CONNECT_SECONDS:.0f} s: "
                                       f"{self.log_tail()}") from None
                time.sleep(0.25)
        self.desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
        self.version = self._version(ctx)

    @staticmethod
    def _version(ctx) -> str:
        try:
            provider = ctx.ServiceManager.createInstanceWithContext(
                "com.sun.star.configuration.ConfigurationProvider", ctx)
            access = provider.createInstanceWithArguments(
                "com.sun.star.configuration.ConfigurationAccess",
                _props(nodepath="/org.openoffice.Setup/Product"))
            return f"{access.getByName('ooName')} {access.getByName('ooSetupVersionAboutBox')}"
        except Exception:  # the version is a courtesy in the report, never a reason to fail
            return ""

    def log_tail(self, limit: int = 2000) -> str:
        try:
            with open(self.log_path, "rb") as handle:
                text = handle.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""
        return text[-limit:] or "(no output)"

    def _expire(self) -> None:
        self.timed_out = True
        self._kill()

    def _kill(self) -> None:
        # The whole group, not only the process we started: oosplash may be gone while soffice.bin runs.
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        """Ask soffice to quit, wait a little, then kill its process group; remove the profile."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self.desktop is not None and not self.timed_out:
            try:
                self.desktop.terminate()
            except Exception:  # the bridge drops while soffice quits: expected
                pass
        if self.proc is not None:
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
            # oosplash may be gone while soffice.bin lingers: kill whatever is left of our own group.
            self._kill_group()
        shutil.rmtree(self.profile, ignore_errors=True)
        # A killed soffice leaves its pipe's socket behind; the name is ours alone.
        for leftover in glob.glob(os.path.join(tempfile.gettempdir(), f"OSL_PIPE_*_{self.unique}")):
            try:
                os.unlink(leftover)
            except OSError:
                pass

    def _kill_group(self) -> None:
        """SIGKILL our process group and wait (bounded) until none of it is left, so the profile can go."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(timeout=0.2)
            except subprocess.TimeoutExpired:
                pass


class Runner:
    """Performs operations against the open documents of one Office."""

    def __init__(self, office: Office) -> None:
        self.office = office
        self.docs: dict[str, object] = {}
        self.current: str | None = None

    def run(self, op: dict) -> dict:
        name = op.get("op")
        handler = getattr(self, f"op_{name}", None) if isinstance(name, str) else None
        if handler is None:
            raise OpError(f"unknown operation {name!r}")
        return handler(op)

    # -- helpers -------------------------------------------------------------------------------------

    def _doc(self, op: dict):
        alias = op.get("doc") or self.current
        if alias is None or alias not in self.docs:
            raise OpError(f"no open document {alias!r}")
        return self.docs[alias]

    def _range(self, doc, op: dict):
        if op.get("name"):
            return self._named(doc, op["name"])
        if op.get("ref"):
            sheet_name, cells = _split_ref(op["ref"])
            sheets = doc.getSheets()
            if not sheets.hasByName(sheet_name):
                raise OpError(f"no sheet {sheet_name!r}")
            return sheets.getByName(sheet_name).getCellRangeByName(cells)
        raise OpError("the operation needs a 'ref' or a 'name'")

    @staticmethod
    def _named(doc, name: str):
        ranges = doc.NamedRanges
        if not ranges.hasByName(name):
            raise OpError(f"no named range {name!r}")
        cells = ranges.getByName(name).getReferredCells()
        if cells is None:
            raise OpError(f"named range {name!r} does not refer to cells")
        return cells

    @staticmethod
    def _sheet_name(doc, index: int) -> str:
        return doc.getSheets().getByIndex(index).getName()

    def _write(self, cells, values, formulas: bool) -> dict:
        address = cells.getRangeAddress()
        rows = address.EndRow - address.StartRow + 1
        cols = address.EndColumn - address.StartColumn + 1
        if (not isinstance(values, list) or len(values) != rows
                or any(not isinstance(row, list) or len(row) != cols for row in values)):
            raise OpError(f"values must be {rows} rows of {cols} cells")
        try:
            if formulas:
                cells.setFormulaArray(tuple(tuple("" if v is None else str(v) for v in row) for row in values))
            else:
                cells.setDataArray(tuple(tuple(_uno_value(v) for v in row) for row in values))
        except Exception as exc:  # a protected cell: LibreOffice refuses the whole array, as it would a user
            return {"accepted": False, "refusal": f"{type(exc).__name__}: {getattr(exc, 'Message', '') or exc}"}
        return {"accepted": True}

    # -- operations ----------------------------------------------------------------------------------

    def op_open(self, op: dict) -> dict:
        path = os.path.abspath(op["path"])
        if not os.path.isfile(path):
            raise OpError(f"no such file: {path}")
        alias = op.get("as") or os.path.basename(path)
        url = uno.systemPathToFileUrl(path)
        doc = self.office.desktop.loadComponentFromURL(
            url, "_blank", 0, _props(Hidden=True, ReadOnly=bool(op.get("read_only", False))))
        if doc is None or not hasattr(doc, "getSheets"):
            raise OpError(f"LibreOffice did not open {path} as a spreadsheet")
        self.docs[alias] = doc
        self.current = alias
        return {"doc": alias}

    def op_sheets(self, op: dict) -> dict:
        sheets = self._doc(op).getSheets()
        out = []
        for index in range(sheets.getCount()):
            sheet = sheets.getByIndex(index)
            out.append({"name": sheet.getName(), "visible": bool(sheet.IsVisible),
                        "protected": bool(sheet.isProtected())})
        return {"sheets": out}

    def op_names(self, op: dict) -> dict:
        doc = self._doc(op)
        ranges = doc.NamedRanges
        out = {}
        for name in ranges.getElementNames():
            named = ranges.getByName(name)
            cells = named.getReferredCells()
            ref = None
            if cells is not None:
                address = cells.getRangeAddress()
                ref = _plain(self._sheet_name(doc, address.Sheet), address)
            out[name] = {"content": named.getContent(), "ref": ref}
        return {"names": out}

    def op_unlocked(self, op: dict) -> dict:
        """Every range whose cells are not locked, from LibreOffice's own view of the cell formats."""
        doc = self._doc(op)
        sheets = doc.getSheets()
        out = []
        for index in range(sheets.getCount()):
            sheet = sheets.getByIndex(index)
            # Unique format ranges group all cells of one format: far fewer UNO round trips than per range.
            groups = sheet.getUniqueCellFormatRanges()
            for i in range(groups.getCount()):
                group = groups.getByIndex(i)
                if not group.CellProtection.IsLocked:
                    out.extend(_plain(sheet.getName(), a) for a in group.getRangeAddresses())
        return {"ranges": sorted(out)}

    def op_read(self, op: dict) -> dict:
        doc = self._doc(op)
        cells = self._range(doc, op)
        address = cells.getRangeAddress()
        out = {"ref": _plain(self._sheet_name(doc, address.Sheet), address),
               "values": [[_json_value(v) for v in row] for row in cells.getDataArray()]}
        if op.get("formulas"):
            out["formulas"] = [list(row) for row in cells.getFormulaArray()]
        if op.get("formats"):
            keys = doc.getNumberFormats()
            grid = []
            for r in range(address.EndRow - address.StartRow + 1):
                grid.append([keys.getByKey(cells.getCellByPosition(c, r).NumberFormat).FormatString
                             for c in range(address.EndColumn - address.StartColumn + 1)])
            out["formats"] = grid
        return out

    def op_write(self, op: dict) -> dict:
        cells = self._range(self._doc(op), op)
        return self._write(cells, op.get("values"), bool(op.get("formulas")))

    def op_fill(self, op: dict) -> dict:
        doc = self._doc(op)
        blocks = op.get("blocks")
        if not isinstance(blocks, dict):
            raise OpError("fill needs 'blocks': {name: 2-D values}")
        results = {name: self._write(self._named(doc, name), values, bool(op.get("formulas")))
                   for name, values in blocks.items()}
        return {"blocks": results, "accepted": all(r["accepted"] for r in results.values())}

    def op_recalc(self, op: dict) -> dict:
        self._doc(op).calculateAll()
        return {}

    def _store(self, op: dict, filter_name: str) -> dict:
        path = os.path.abspath(op["path"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self._doc(op).storeToURL(uno.systemPathToFileUrl(path), _props(FilterName=filter_name, Overwrite=True))
        return {"path": path, "bytes": os.path.getsize(path)}

    def op_save_xlsx(self, op: dict) -> dict:
        return self._store(op, XLSX_FILTER)

    def op_save_pdf(self, op: dict) -> dict:
        return self._store(op, PDF_FILTER)

    def op_close(self, op: dict) -> dict:
        alias = op.get("doc") or self.current
        doc = self._doc(op)
        try:
            doc.close(True)
        except Exception:  # a model without XCloseable: dispose is the older way
            doc.dispose()
        del self.docs[alias]
        self.current = next(reversed(self.docs), None)
        return {"doc": alias}

    def close_all(self) -> None:
        for doc in self.docs.values():
            try:
                doc.close(True)
            except Exception:
                pass
        self.docs.clear()


def find_soffice() -> str:
    for candidate in (os.environ.get("SOFFICE"), shutil.which("soffice"), shutil.which("libreoffice"),
                      "/usr/lib/libreoffice/program/soffice"):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("soffice not found: install LibreOffice (Debian: libreoffice-calc-nogui python3-uno) "
                       "or set SOFFICE")


def run_ops(ops: list, timeout: float = DEFAULT_TIMEOUT) -> dict:
    began = time.monotonic()
    report = {"ok": False, "error": None, "version": "", "results": []}
    office = None
    try:
        if not isinstance(ops, list) or not all(isinstance(op, dict) for op in ops):
            raise OpError("the input must be a JSON list of operations (objects)")
        office = Office(find_soffice(), timeout)
        office.start()
        report["version"] = office.version
        runner = Runner(office)
        try:
            for op in ops:
                started = time.monotonic()
                try:
                    result = {"op": op.get("op"), "ok": True, **runner.run(op)}
                except Exception as exc:
                    if office.timed_out:
                        raise
                    result = {"op": op.get("op"), "ok": False, "error": f"{type(exc).__name__}: "
                                                                         f"{getattr(exc, 'Message', '') or exc}"}
                result["seconds"] = round(time.monotonic() - started, 3)
                if "id" in op:
                    result["id"] = op["id"]
                report["results"].append(result)
        finally:
            if not office.timed_out:
                runner.close_all()
        report["ok"] = all(r["ok"] for r in report["results"])
        if not report["ok"]:
            report["error"] = "some operations failed"
    except Exception as exc:
        if office is not None and office.timed_out:
            report["error"] = f"timed out after {timeout:.0f} s; soffice was killed"
        else:
            report["error"] = f"{type(exc).__name__}: {getattr(exc, 'Message', '') or exc}"
    finally:
        if office is not None:
            office.close()
    report["seconds"] = round(time.monotonic() - began, 3)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ops", nargs="?", help="JSON file of operations (default: standard input)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help="kill soffice after this many seconds (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        if args.ops:
            with open(args.ops, encoding="utf-8") as handle:
                data = json.load(handle)
        else:
            data = json.load(sys.stdin)
    except (OSError, ValueError) as exc:
        print(json.dumps({"ok": False, "error": f"cannot read the operations: {exc}", "results": []}))
        return 2
    ops = data.get("ops") if isinstance(data, dict) else data
    report = run_ops(ops, args.timeout)
    sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
