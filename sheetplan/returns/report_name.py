"""Ingest reports are named and titled by the rounds they hold, so the analyst can tell which is which."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

NAMED_ROUNDS = 2  # beyond this many rounds in one ingest, the name says how many more


def rounds_of(outcomes) -> list[str]:
    """The rounds ('month 2027-03') of the files read, the round with most files first; files whose kind
    could not be read (not a workbook, foreign) belong to none."""
    counts = Counter(f"{o.kind} {o.period}".strip() for o in outcomes if o.kind and o.period)
    return [r for r, _n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def round_text(labels, round_key: str) -> str:
    """'month 2027-03' as the reader's language names it ('monthly 2027-03', '月度 2027-03')."""
    kind, _, period = round_key.partition(" ")
    return f"{labels(f'ingest_report.kind_{kind}')} {period}"


def report_stem(rounds: list[str], dry_run: bool) -> str:
    """'ingest-month-2027-03', 'ingest-month-2027-03+approval-2027', 'ingest-month-2027-03+approval-2027+2'
    (two more rounds); 'ingest-unknown' when no file could be placed in a round."""
    if not rounds:
        stem = "ingest-unknown"
    else:
        stem = "ingest-" + "+".join(r.replace(" ", "-") for r in rounds[:NAMED_ROUNDS])
        if len(rounds) > NAMED_ROUNDS:
            stem += f"+{len(rounds) - NAMED_ROUNDS}"
    return stem + ("-dry-run" if dry_run else "")


def report_path(folder: Path, rounds: list[str], dry_run: bool) -> tuple[Path, int]:
    """A new file in `folder` and which run of these rounds it is (1 for the first, then 2, 3 ...)."""
    stem = report_stem(rounds, dry_run)
    path, run = folder / f"{stem}.xlsx", 1
    while path.exists():
        run += 1
        path = folder / f"{stem}-{run}.xlsx"
    return path, run
