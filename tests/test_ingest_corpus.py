"""`sheetplan ingest --dry-run` over the real-world corpus: a report line per file, no traceback, nothing recorded."""

from __future__ import annotations

import subprocess
import sys

from conftest import CORPUS


def test_dry_run_over_the_real_world_corpus(make_workspace):
    assert (CORPUS / "MANIFEST.tsv").is_file(), f"real-world corpus not found at {CORPUS} (set SHEETPLAN_CORPUS)"
    ws = make_workspace("corpus")
    files = sorted(p.name for p in CORPUS.iterdir() if p.is_file() and not p.name.startswith((".", "~$")))
    run = subprocess.run([sys.executable, "-m", "sheetplan.cli", "-w", str(ws.root), "ingest", "--dry-run",
                          str(CORPUS)], capture_output=True, text=True, timeout=600)
    assert "Traceback" not in run.stderr + run.stdout
    assert run.returncode == 1  # these are not sheetplan templates: every one is rejected, none crashes
    lines = [line for line in run.stdout.splitlines() if line.startswith(("REJECTED", "ACCEPTED", "DUPLICATE",
                                                                           "STALE"))]
    named = {line.split()[1] for line in lines}
    assert len(lines) == len(files) and named == set(files)
    assert all(line.startswith(("REJECTED", "DUPLICATE")) for line in lines)
    assert "Dry run: nothing recorded." in run.stdout
    with ws.store() as store:
        assert store.db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 0
