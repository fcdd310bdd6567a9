"""Run tests/uno_client.py (LibreOffice Calc through UNO) from the venv and hand back its parsed results.

UNO lives in the system python (Debian's python3-uno), not in the venv, so the client runs as a subprocess:

    session = Session()
    doc = session.open(template)                       # every method queues one operation, returns its index
    fill = session.fill({"in_revenue": [[1.0], [2.0]]})
    session.recalc()
    session.save_xlsx(tmp_path / "returned.xlsx")
    session.close()
    results = session.run()                            # one soffice for the whole batch
    assert results[fill]["accepted"]

or, for the common case of salespeople filling several templates, `fill_workbooks([(src, blocks, dst), ...])`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CLIENT = Path(__file__).with_name("uno_client.py")
UNO_PYTHON = os.environ.get("SHEETPLAN_UNO_PYTHON", "/usr/bin/python3")
DEFAULT_TIMEOUT = 240.0
INSTALL_HINT = "install them with: apt-get install libreoffice-calc-nogui python3-uno (scripts/test.sh does)"


class LibreOfficeError(RuntimeError):
    """LibreOffice or UNO is missing, the session failed, or (strict) an operation failed."""


def require() -> None:
    """Raise LibreOfficeError with a clear message when soffice or python3-uno is not installed."""
    soffice = os.environ.get("SOFFICE") or shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice and not os.access("/usr/lib/libreoffice/program/soffice", os.X_OK):
        raise LibreOfficeError(f"LibreOffice (soffice) is not installed; {INSTALL_HINT}")
    if not os.access(UNO_PYTHON, os.X_OK):
        raise LibreOfficeError(f"{UNO_PYTHON} not found (set SHEETPLAN_UNO_PYTHON to a python with uno)")
    probe = subprocess.run([UNO_PYTHON, "-c", "import uno"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        why = (probe.stderr.strip().splitlines() or [f"exit code {probe.returncode}"])[-1]
        raise LibreOfficeError(f"{UNO_PYTHON} cannot import uno ({why}); {INSTALL_HINT}")


def run(ops: list[dict], timeout: float = DEFAULT_TIMEOUT, strict: bool = True) -> list[dict]:
    """Run operations in one soffice session and return one result dict per operation, in order.

    Raises LibreOfficeError when LibreOffice is missing, the session fails or times out, or (strict) any
    operation reports ok=false. A refused write is not a failure: its result has accepted=False.
    """
    require()
    payload = json.dumps(ops, ensure_ascii=False, default=str)
    try:
        done = subprocess.run([UNO_PYTHON, str(CLIENT), "--timeout", str(timeout)], input=payload,
                              capture_output=True, text=True, timeout=timeout + 60)
    except subprocess.TimeoutExpired as exc:
        raise LibreOfficeError(f"uno_client.py did not finish within {timeout + 60:.0f} s") from exc
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise LibreOfficeError(f"uno_client.py exited {done.returncode} without a JSON report; stderr: "
                               f"{done.stderr.strip()[-2000:]}") from None
    results = report.get("results", [])
    if len(results) != len(ops):
        raise LibreOfficeError(f"LibreOffice session failed: {report.get('error')} "
                               f"({len(results)} of {len(ops)} operations ran)")
    failed = [(op, r) for op, r in zip(ops, results, strict=True) if not r.get("ok")]
    if strict and failed:
        lines = "; ".join(f"{op.get('op')} {op.get('name') or op.get('ref') or op.get('path') or ''}: {r['error']}"
                          for op, r in failed)
        raise LibreOfficeError(f"{len(failed)} LibreOffice operation(s) failed: {lines}")
    return results


class Session:
    """Queue operations for one soffice session; every method returns the index of its result in run()."""

    def __init__(self) -> None:
        self.ops: list[dict] = []
        self.results: list[dict] | None = None
        self.seconds: float = 0.0

    def add(self, op: str, **args: Any) -> int:
        self.ops.append({"op": op, **{k: v for k, v in args.items() if v is not None}})
        return len(self.ops) - 1

    def open(self, path: str | os.PathLike, alias: str | None = None, read_only: bool = False) -> int:
        return self.add("open", path=str(path), **{"as": alias}, read_only=read_only or None)

    def sheets(self, doc: str | None = None) -> int:
        """Result: {"sheets": [{"name", "visible", "protected"}]}."""
        return self.add("sheets", doc=doc)

    def names(self, doc: str | None = None) -> int:
        """Result: {"names": {name: {"content": LibreOffice's text, "ref": "Sheet!A1:B2" or None}}}."""
        return self.add("names", doc=doc)

    def unlocked(self, doc: str | None = None) -> int:
        """Result: {"ranges": ["Sheet!A1:B2", ...]}: every cell whose protection is off."""
        return self.add("unlocked", doc=doc)

    def read(self, ref: str | None = None, *, name: str | None = None, doc: str | None = None,
             formulas: bool = False, formats: bool = False) -> int:
        """Result: {"ref", "values": 2-D (numbers as float, empty as "")[, "formulas"][, "formats"]}."""
        return self.add("read", ref=ref, name=name, doc=doc, formulas=formulas or None, formats=formats or None)

    def write(self, values: list[list], ref: str | None = None, *, name: str | None = None,
              doc: str | None = None, formulas: bool = False) -> int:
        """A user's write (setDataArray, or setFormulaArray): result {"accepted": bool[, "refusal"]}."""
        return self.add("write", values=values, ref=ref, name=name, doc=doc, formulas=formulas or None)

    def fill(self, blocks: dict[str, list[list]], doc: str | None = None, formulas: bool = False) -> int:
        """Write each named block: result {"accepted": all accepted, "blocks": {name: {"accepted", ...}}}."""
        return self.add("fill", blocks=blocks, doc=doc, formulas=formulas or None)

    def recalc(self, doc: str | None = None) -> int:
        return self.add("recalc", doc=doc)

    def save_xlsx(self, path: str | os.PathLike, doc: str | None = None) -> int:
        return self.add("save_xlsx", path=str(path), doc=doc)

    def save_pdf(self, path: str | os.PathLike, doc: str | None = None) -> int:
        return self.add("save_pdf", path=str(path), doc=doc)

    def close(self, doc: str | None = None) -> int:
        return self.add("close", doc=doc)

    def run(self, timeout: float = DEFAULT_TIMEOUT, strict: bool = True) -> list[dict]:
        self.results = run(self.ops, timeout, strict)
        self.seconds = sum(r.get("seconds", 0.0) for r in self.results)
        return self.results

    def __getitem__(self, index: int) -> dict:
        if self.results is None:
            raise LibreOfficeError("Session.run() has not been called")
        return self.results[index]


def fill_workbooks(jobs: Iterable[tuple[str | os.PathLike, dict[str, list[list]], str | os.PathLike]],
                   recalc: bool = True, timeout: float = DEFAULT_TIMEOUT) -> list[dict]:
    """Fill templates as salespeople would, in one soffice session: for each (template, blocks, saved_xlsx)
    open the template, write each named in_ block with its 2-D values, recalculate, save as .xlsx.

    Returns one fill result per job: {"accepted": bool, "blocks": {name: {"accepted", "refusal"?}}}.
    """
    session = Session()
    fills = []
    for index, (source, blocks, target) in enumerate(jobs):
        alias = f"job{index}"
        session.open(source, alias)
        fills.append(session.fill(blocks, doc=alias))
        if recalc:
            session.recalc(alias)
        session.save_xlsx(target, alias)
        session.close(alias)
    session.run(timeout)
    return [session[i] for i in fills]


def shape(ref: str) -> tuple[int, int]:
    """(rows, columns) of a 'Sheet!A1:B2' reference, to build the 2-D array a block needs."""
    from sheetplan.xlsx.layout import Area

    area = Area.parse(ref)
    return area.last_row - area.first_row + 1, area.last_col - area.first_col + 1
