"""The sheetplan command line: each command parses options, makes one API call and prints the result."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .errors import SheetplanError


class _Group(click.Group):
    """Turns every SheetplanError into a clear message and exit status 2, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except SheetplanError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group)
@click.option("-w", "--workspace", "workspace", type=click.Path(file_okay=False, path_type=Path),
              envvar="SHEETPLAN_WORKSPACE", default=None,
              help="Workspace folder (default: $SHEETPLAN_WORKSPACE or the current folder).")
@click.version_option(package_name="sheetplan")
@click.pass_context
def main(ctx: click.Context, workspace: Path | None) -> None:
    """Run the sales-target and sales-plan cycle through locked Excel workbooks.

    Example: sheetplan init W --demo && sheetplan -w W generate company
    """
    ctx.obj = {"workspace": workspace}


def _open(ctx: click.Context):
    from .workspace import open_workspace

    return open_workspace(ctx.obj["workspace"])


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--demo", is_flag=True, help="Fill the workspace with the fictional demo company.")
@click.option("--year", type=click.IntRange(2000, 2100), default=None, help="Fiscal year (default: next year).")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True,
              help="Language of labels, messages and demo data.")
def init(directory: Path, demo: bool, year: int | None, lang: str) -> None:
    """Create a planning workspace: sheetplan.toml, roster.xlsx and the working folders.

    Example: sheetplan init plans-2027 --demo --year 2027 --lang zh
    """
    from .workspace import init_workspace

    workspace = init_workspace(directory, demo=demo, year=year, lang=lang)
    people = len(workspace.roster.people)
    what = f"demo company {workspace.config.company!r} with {people} people" if demo else "an empty roster"
    click.echo(f"Created workspace {workspace.root} ({what}, fiscal year {workspace.config.fiscal_year}).")
    if not demo:
        click.echo("Next: fill roster.xlsx, check sheetplan.toml, then run 'sheetplan generate company'.")


@main.command()
@click.argument("kind", type=click.Choice(["company", "team", "person", "month"]))
@click.option("--month", help="The month for month templates, as YYYY-MM.")
@click.option("--only", multiple=True, help="Only these recipients (person id, or team name); repeatable.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Processes to use (default: all cores).")
@click.pass_context
def generate(ctx: click.Context, kind: str, month: str | None, only: tuple[str, ...], workers: int | None) -> None:
    """Write one locked workbook per recipient into outbox/KIND/PERIOD/.

    Example: sheetplan generate month --month 2027-03 --only P004
    """
    from . import api

    workspace = _open(ctx)
    bar: dict = {}

    def start(total: int) -> None:
        bar["bar"] = click.progressbar(length=total, label=f"Writing {kind} templates", file=sys.stderr)
        bar["bar"].__enter__()

    def step(count: int) -> None:
        bar["bar"].update(count)

    try:
        result = api.generate(workspace, kind, month=month, only=only or None, progress=step, start=start,
                              workers=workers)
    finally:
        if "bar" in bar:
            bar["bar"].__exit__(None, None, None)
    for note in result.notes:
        click.echo(f"Note: {note}")
    if not result.files:
        click.echo(f"No {kind} templates to write for {result.period}.")
        return
    folder = result.files[0].parent
    rate = result.seconds / result.count * 1000
    click.echo(f"Wrote {result.count} {kind} template(s) for {result.period} to {folder} "
               f"in {result.seconds:.1f} s ({rate:.1f} ms each).")


if __name__ == "__main__":  # pragma: no cover
    main()
