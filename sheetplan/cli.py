"""The sheetplan command line: each command parses options, makes one API call and prints the result."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import click

from sheetplan.errors import SheetplanError

# `sheetplan --help` lists the commands in the order the cycle uses them; a command not named here follows
CYCLE_ORDER = ("init", "generate", "mail", "collect", "ingest", "actuals", "status", "remind", "approvals",
               "quarantine", "consolidate", "close", "reopen", "review", "history", "plan", "demo", "half", "annual",
               "refresh", "release", "import")
NO_WORKSPACE = ("init", "demo")  # they make a workspace of their own
DEFAULT_EXIT = "Exit status: 0 on success, 2 on a usage or workspace error."


def _workspace_after(ctx: click.Context, _param, value: Path | None) -> None:
    """-w after the command name means what it means before it."""
    if value is not None:
        root = ctx.find_root()
        root.obj["workspace"] = value
        root.obj["typed"] = value


class _Group(click.Group):
    """Turns every SheetplanError into a clear message and exit status 2, never a traceback; lists its commands
    in the cycle's order with their whole first line; gives every command -w and a word on its exit status."""

    group_class = type  # subgroups (review, plan, quarantine) behave the same

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        text = inspect.cleandoc(cmd.help or "")
        if cmd.short_help is None and text:
            cmd.short_help = text.split("\n\n")[0].replace("\n", " ")
        if "Exit status:" not in text:
            cmd.help = text + "\n\n" + DEFAULT_EXIT
        if (name or cmd.name) not in NO_WORKSPACE and not any("--workspace" in p.opts for p in cmd.params):
            cmd.params.append(click.Option(["-w", "--workspace"], type=click.Path(file_okay=False, path_type=Path),
                                           expose_value=False, callback=_workspace_after,
                                           help="Workspace folder (also accepted before the command name)."))
        super().add_command(cmd, name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = list(self.commands)
        return sorted(names, key=lambda n: (CYCLE_ORDER.index(n) if n in CYCLE_ORDER else len(CYCLE_ORDER),
                                            names.index(n)))

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
    typed = workspace if ctx.get_parameter_source("workspace") == click.core.ParameterSource.COMMANDLINE else None
    ctx.obj = {"workspace": workspace, "typed": typed}


def _next(ctx: click.Context, command: str) -> str:
    """A 'Next:' hint that keeps the -w the user typed (a workspace from the environment needs none)."""
    typed = ctx.find_root().obj.get("typed")
    return f"sheetplan -w {_quoted(str(typed))} {command}" if typed else f"sheetplan {command}"


def _quoted(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _open(ctx: click.Context, writes: bool = True):
    """The workspace; a command that writes holds its lock until the command ends (see workspace_lock)."""
    from sheetplan.api import open_workspace, workspace_lock

    workspace = open_workspace(ctx.obj["workspace"])
    if writes:
        ctx.with_resource(workspace_lock(workspace.root, ctx.command_path))
    return workspace


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
    from sheetplan.api import Labels, history_warnings, init_lines, init_workspace

    workspace = init_workspace(directory, demo=demo, year=year, lang=lang)
    lines = init_lines(workspace, demo, f"sheetplan -w {_quoted(str(directory))} generate company", Labels(lang))
    click.echo(lines[0])
    _echo_warnings(workspace, history_warnings(workspace))
    for line in lines[1:]:
        click.echo(line)


def _echo_warnings(workspace, warnings: list[str]) -> None:
    """Warnings go to stderr, each on its own line, in the workspace language."""
    from sheetplan.api import Labels

    labels = Labels(workspace.config.language)
    for warning in warnings:
        click.echo(labels("closing.warning", text=warning), err=True)


@main.command()
@click.argument("kind", type=click.Choice(["company", "team", "person", "month", "approval", "reforecast"]))
@click.option("--period", "--month", "month", help="The month for month templates, as YYYY-MM.")
@click.option("--only", multiple=True, help="Only these recipients (person id, or team name); repeatable.")
@click.option("--approver", multiple=True, help="approval: only this approver's workbook (person id); repeatable.")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Processes to use (default: all cores).")
@click.option("--deadline", help="The round's return deadline, YYYY-MM-DD (default: by [mail] deadline_days, "
                                 "else [mail] deadline); its mails, reminders and status give it.")
@click.pass_context
def generate(ctx: click.Context, kind: str, month: str | None, only: tuple[str, ...], approver: tuple[str, ...],
             workers: int | None, deadline: str | None) -> None:
    """Write one locked workbook per recipient into outbox/KIND/PERIOD/.

    KIND is a plan (company, team, person), a month report, an approval workbook for everyone with
    plans or requests waiting for their decision, or the H2 re-forecast (see also: review half).

    Example: sheetplan generate month --period 2027-03 --only P004
    """
    from sheetplan import api

    if approver and kind != "approval":
        raise click.UsageError("--approver is only for 'generate approval'")
    only = only + approver
    workspace = _open(ctx)
    labels = api.Labels(workspace.config.language)
    bar: dict = {}

    def start(total: int) -> None:
        bar["bar"] = click.progressbar(length=total, label=api.writing_label(kind, labels), file=sys.stderr)
        bar["bar"].__enter__()

    def step(count: int) -> None:
        bar["bar"].update(count)

    try:
        result = api.generate(workspace, kind, month=month, only=only or None, progress=step, start=start,
                              workers=workers, deadline=deadline)
    finally:
        if "bar" in bar:
            bar["bar"].__exit__(None, None, None)
    _echo_warnings(workspace, result.warnings)
    for line in api.generate_lines(result, labels):
        click.echo(line)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the files without recording anything.")
@click.option("--move", is_flag=True, help="Move accepted files from inbox/ to inbox/processed/.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Processes that read files in parallel.")
@click.option("--quiet", "-q", is_flag=True, help="Only the summary, not a line per file.")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[Path, ...], dry_run: bool, move: bool, workers: int,
           quiet: bool) -> None:
    """Read returned workbooks (files or folders; default inbox/), check every cell and record them.

    Exit status: 0 when no file was rejected, 1 when any was rejected, quarantined or late (a month report
    for a closed month: recorded, counted nowhere; accepted files are still recorded), 2 on a usage or
    workspace error.

    Example: sheetplan ingest inbox/2027-03 --dry-run
    """
    from sheetplan.api import Labels, ingest_lines, metric_labels
    from sheetplan.api import ingest as run_ingest

    workspace = _open(ctx)
    bar: dict = {}

    def start(total: int) -> None:
        bar["bar"] = click.progressbar(length=total, label=Labels(workspace.config.language)("console.checking"),
                                       file=sys.stderr)
        bar["bar"].__enter__()

    try:
        report = run_ingest(workspace, list(paths) or None, dry_run=dry_run, move=move, workers=workers,
                            progress=lambda n: bar["bar"].update(n), start=start)
    except FileNotFoundError as exc:
        raise click.UsageError(f"no such file or folder: {exc}") from None
    finally:
        if "bar" in bar:
            bar["bar"].__exit__(None, None, None)
    lang = workspace.config.language
    for line in ingest_lines(report, Labels(lang), metric_labels(workspace.config, lang), quiet, dry_run,
                             _next(ctx, "generate approval")):
        click.echo(line)
    ctx.exit(report.exit_code)


@main.command()
@click.option("--kind", type=click.Choice(["company", "team", "person", "month", "approval", "reforecast"]),
              help="Only this kind.")
@click.option("--period", "--month", "period", help="Only this period (YYYY or YYYY-MM).")
@click.pass_context
def status(ctx: click.Context, kind: str | None, period: str | None) -> None:
    """Per round: who was sent a template, who returned it, accepted, rejected (why) or still missing.

    Without --kind or --period one line per round; with either, every recipient of the rounds chosen.

    Example: sheetplan status --kind month --period 2027-03
    """
    from sheetplan.api import Labels, month_states, round_copies, round_deadlines, round_status, status_lines

    workspace = _open(ctx, writes=False)
    frame = round_status(workspace, kind, period)
    labels = Labels(workspace.config.language)
    closed = set(month_states(workspace).query("closed")["month"]) if len(frame) else set()
    copies = round_copies(workspace, kind, period) if len(frame) else None
    overview = kind is None and period is None  # the overview: recipients only for the rounds asked about
    for line in status_lines(frame, closed, copies, labels, round_deadlines(workspace), overview):
        click.echo(line)
    _echo_imported(workspace)
    if overview and len(frame):
        months = frame[frame["kind"] == "month"]  # the latest month round, else the latest round
        k, p = (months if len(months) else frame)[["kind", "period"]].iloc[-1]
        click.echo(labels("console.status_detail", command=_next(ctx, f"status --kind {k} --period {p}")))


@main.command()
@click.option("--period", "--month", "month",
              help="Report as of this month (YYYY-MM; default: the latest month round sent).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Summary workbook path (default: reports/summary-<month>.xlsx).")
@click.option("--people", is_flag=True, help="Also write one workbook per person.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Export the fact table.")
@click.option("--parquet", "parquet_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Export the fact table as Parquet (needs pyarrow).")
@click.pass_context
def consolidate(ctx: click.Context, month: str | None, output: Path | None, people: bool, csv_path: Path | None,
                parquet_path: Path | None) -> None:
    """Targets against actuals with rollover, flags and rankings: the summary and one workbook per team.

    Example: sheetplan consolidate --period 2027-03 --csv facts.csv
    """
    from sheetplan.api import Labels, consolidate_lines, open_month, run_consolidation

    workspace = _open(ctx)
    try:
        result = run_consolidation(workspace, month, output, people, csv_path, parquet_path)
    except ImportError as exc:
        raise click.ClickException(f"--parquet needs pyarrow: {exc}") from None
    is_open, _missing, notice = open_month(result, Labels(workspace.config.language))
    if is_open:  # first: these figures are not final
        click.echo(notice)
    for line in consolidate_lines(result, Labels(workspace.config.language), (csv_path, parquet_path)):
        click.echo(line)


@main.command("close")
@click.argument("month")
@click.pass_context
def close(ctx: click.Context, month: str) -> None:
    """Close MONTH (YYYY-MM) and every earlier open month: their figures stand from now on.

    A month report for a closed month is recorded as late and changes no figure; reviews need their months
    closed. Reopen a month with 'sheetplan reopen MONTH --reason TEXT'.

    Example: sheetplan close 2027-03
    """
    from sheetplan.api import Labels, close_month, month_states

    workspace = _open(ctx)
    labels = Labels(workspace.config.language)
    closed = close_month(workspace, month)
    if not closed:
        click.echo(labels("closing.already_closed", month=month))
        return
    states = month_states(workspace, month).set_index("month")
    for m in closed:
        sent, missing = int(states.at[m, "sent"]), int(states.at[m, "missing"])
        click.echo(labels("closing.closed_now", month=m, missing=missing, sent=sent) if sent
                   else labels("closing.closed_unsent", month=m))


@main.command("reopen")
@click.argument("month")
@click.option("--reason", required=True, help="Why the month is opened again (kept in the store).")
@click.pass_context
def reopen(ctx: click.Context, month: str, reason: str) -> None:
    """Open a closed MONTH (YYYY-MM) again, for a correction; the reason is kept with the month's closings.

    Late files for that month count once they are ingested again. Later months stay closed.

    Example: sheetplan reopen 2027-03 --reason "P014's report was lost in the mail server"
    """
    from sheetplan.api import Labels, reopen_month

    workspace = _open(ctx)
    late = reopen_month(workspace, month, reason)
    click.echo(Labels(workspace.config.language)("closing.reopened", month=month, late=late))


@main.command()
@click.argument("directory", required=False, default="workbooks/demo",
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--year", type=click.IntRange(2000, 2100), default=2027, show_default=True,
              help="Fiscal year of the demo company.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True,
              help="Language of the demo company, its workbooks and messages.")
@click.option("--through", help="Last month to report (YYYY-MM; default: the last fiscal month, with the July "
              "review and the annual summary).")
def demo(directory: Path, year: int, lang: str, through: str | None) -> None:
    """Run the whole cycle on a fresh demo workspace: plans top-down, filled, ingested, months reported.

    DIRECTORY defaults to workbooks/demo under the current folder; the last lines say where everything went.

    Example: sheetplan demo workbooks/demo --lang zh
    """
    import time

    from sheetplan.api import Labels, run_demo

    began = time.perf_counter()
    run_demo(directory, year=year, lang=lang, through=through, say=click.echo)
    click.echo(Labels(lang)("demo_lines.finished", seconds=time.perf_counter() - began))


# --- email: mail, collect, remind ----------------------------------------------------------------------
_MAIL_KINDS = ["company", "team", "person", "month", "approval", "reforecast", "feedback", "team-report"]


def _mode(drafts_or_send: str | None) -> str:
    if drafts_or_send is None:
        raise click.UsageError("choose --drafts (write .eml files into outbox/mail/) or --send (SMTP)")
    return drafts_or_send


def _echo_message(labels):
    """One line per message as it goes out: a send at a few messages a minute takes a while."""
    from sheetplan.api import mail_line

    return lambda r: click.echo(mail_line(r, labels))


def _echo_mail(results: list, mode: str, labels) -> int:
    from sheetplan.api import mail_summary

    lines, code = mail_summary(results, mode, labels)
    for line in lines:
        click.echo(line)
    return code


def _echo_sent_mail(workspace, kind: str | None, period: str | None) -> None:
    """mail --list: messages in doubt first (they need a person's decision), then the rest, oldest first."""
    from sheetplan.api import Labels, sent_mail, sent_mail_lines

    for line in sent_mail_lines(sent_mail(workspace, kind, period), Labels(workspace.config.language)):
        click.echo(line)


@main.command()
@click.option("--kind", type=click.Choice(_MAIL_KINDS),
              help="What to mail: a template round, 'feedback' copies of rejected returns, or 'team-report' "
                   "workbooks (default: the round generated last).")
@click.option("--period", "--month", "period", help="The round's period (YYYY or YYYY-MM); for team-report the month "
                               "(default: the latest).")
@click.option("--only", multiple=True, help="Only these recipients (person id or team name); repeatable.")
@click.option("--drafts", "mode", flag_value="drafts", help="Write .eml drafts into outbox/mail/KIND/PERIOD/.")
@click.option("--send", "mode", flag_value="send", help="Send over SMTP as set in [mail] of sheetplan.toml.")
@click.option("--resend", is_flag=True, help="Also repeat messages already drafted or sent, and those in doubt "
                                            "(with their Message-ID).")
@click.option("--list", "listing", is_flag=True, help="Mail nothing: list what was drafted or sent (state, "
                                                      "Message-ID), messages in doubt first.")
@click.pass_context
def mail(ctx: click.Context, kind: str | None, period: str | None, only: tuple[str, ...], mode: str | None,
         resend: bool, listing: bool) -> None:
    """Email each recipient their workbook: one message per person, Reply-To the collecting address.

    A second run skips what was already sent. A message that reached the server without its final answer
    (a timeout, a dropped connection, a killed run) is IN-DOUBT: listed with its Message-ID and not sent again
    without --resend. Exit status: 0 when every message went out (or was skipped), 1 when any failed or is in
    doubt, 2 on a usage or setup error.

    Example: sheetplan mail --kind month --period 2027-03 --send
    """
    from sheetplan.api import Labels, mail_round

    if listing:
        _echo_sent_mail(_open(ctx, writes=False), kind, period)
        return
    mode = _mode(mode)
    workspace = _open(ctx)
    labels = Labels(workspace.config.language)
    results = mail_round(workspace, kind, period, only or None, mode, resend, progress=_echo_message(labels))
    ctx.exit(_echo_mail(results, mode, labels))


@main.command()
@click.option("--kind", type=click.Choice(["company", "team", "person", "month", "approval", "reforecast"]),
              help="The round's kind (default: the round generated last).")
@click.option("--period", "--month", "period",
              help="The round's period (YYYY or YYYY-MM; default: the latest of that kind).")
@click.option("--only", multiple=True, help="Only these recipients (person id or team name); repeatable.")
@click.option("--drafts", "mode", flag_value="drafts", help="Write .eml drafts into outbox/mail/reminder/.")
@click.option("--send", "mode", flag_value="send", help="Send over SMTP as set in [mail] of sheetplan.toml.")
@click.option("--resend", is_flag=True, help="Remind again even if a reminder already went out (or is in doubt) "
                                            "today.")
@click.pass_context
def remind(ctx: click.Context, kind: str | None, period: str | None, only: tuple[str, ...], mode: str | None,
           resend: bool) -> None:
    """Remind everyone still missing (template attached again) or rejected (problems listed, feedback copy attached).

    Exit status: 0 when every reminder went out, 1 when any failed or is in doubt, 2 on a usage or setup error.

    Example: sheetplan remind --kind month --period 2027-03 --drafts
    """
    from sheetplan.api import Labels
    from sheetplan.api import remind as run_remind

    mode = _mode(mode)
    workspace = _open(ctx)
    labels = Labels(workspace.config.language)
    results = run_remind(workspace, kind, period, only or None, mode, resend, progress=_echo_message(labels))
    ctx.exit(_echo_mail(results, mode, labels))


@main.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--no-ingest", is_flag=True, help="Only save the workbooks into inbox/; do not ingest them.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True,
              help="Processes that read files in parallel during ingest.")
@click.pass_context
def collect(ctx: click.Context, sources: tuple[Path, ...], no_ingest: bool, workers: int) -> None:
    """Save workbooks attached to returned emails (.eml files, mbox files, Maildir folders) into inbox/, then ingest.

    Messages collected before are skipped. Exit status: 0 when no file was rejected, 1 when any was,
    2 on a usage or setup error.

    Example: sheetplan collect ~/Mail/returns.mbox exported/*.eml
    """
    from sheetplan.api import Labels, collect_lines
    from sheetplan.api import collect as run_collect

    workspace = _open(ctx)
    result = run_collect(workspace, list(sources), ingest=not no_ingest, workers=workers)
    for line in collect_lines(result, Labels(workspace.config.language), _next(ctx, "quarantine")):
        click.echo(line)
    ctx.exit(result.exit_code)


@main.group()
def plan() -> None:
    """The plan itself: recompute its suggestions on demand.

    Example: sheetplan plan refresh
    """


@plan.command("refresh")
@click.pass_context
def plan_refresh(ctx: click.Context) -> None:
    """Recompute every suggested target from sheetplan.toml, the roster, the history and what is official.

    generate does this by itself when one of them changed; official (approved) figures never change,
    except a leaver's months after they left (set to 0) and, under [replan] policy = "absorb", a team or
    company target that follows what is below it.

    Example: sheetplan plan refresh
    """
    from sheetplan.api import Labels, metric_labels, refresh_lines, refresh_plan

    workspace = _open(ctx)
    lang = workspace.config.language
    for line in refresh_lines(refresh_plan(workspace), Labels(lang), metric_labels(workspace.config, lang)):
        click.echo(line)


@main.group(invoke_without_command=True)
@click.option("--all", "show_all", is_flag=True, help="Also the workbooks released before, and by whom.")
@click.pass_context
def quarantine(ctx: click.Context, show_all: bool) -> None:
    """Workbooks mailed in by someone the [collect] senders policy does not allow: kept, not ingested.

    Example: sheetplan quarantine   (then: sheetplan quarantine release 3 --by "Mia Chen")
    """
    if ctx.invoked_subcommand is not None:
        return
    from sheetplan.api import Labels, quarantine_lines, quarantined

    workspace = _open(ctx, writes=False)
    for line in quarantine_lines(quarantined(workspace, include_released=show_all), Labels(workspace.config.language)):
        click.echo(line)


@quarantine.command("release")
@click.argument("ids", nargs=-1, required=True, type=int)
@click.option("--by", required=True, help="Who decided to let the workbooks through (kept in the store).")
@click.pass_context
def quarantine_release(ctx: click.Context, ids: tuple[int, ...], by: str) -> None:
    """Let quarantined workbooks through and ingest them now.

    Exit status: as for ingest (0 when none is rejected, 1 when any is), 2 for an unknown id.

    Example: sheetplan quarantine release 3 --by "Mia Chen"
    """
    from sheetplan.api import Labels, release_lines, release_quarantined

    workspace = _open(ctx)
    try:
        report = release_quarantined(workspace, list(ids), by=by)
    except KeyError as exc:
        raise click.UsageError(f"not in quarantine: {exc.args[0]} (see: sheetplan quarantine)") from None
    for line in release_lines(report, Labels(workspace.config.language)):
        click.echo(line)
    ctx.exit(report.exit_code)
# --- end email -----------------------------------------------------------------------------------------


# --- history -------------------------------------------------------------------------------------------
@main.command()
@click.argument("owner")
@click.option("--metric", help="Only this metric (its key in sheetplan.toml, e.g. revenue).")
@click.option("--all", "show_all", is_flag=True, help="Also the monthly plan grid, not only the annual figures.")
@click.pass_context
def history(ctx: click.Context, owner: str, metric: str | None, show_all: bool) -> None:
    """Every official change to the targets of OWNER (person id or team name): source file, time, approvers.

    Shows each version from 1 on against the one before it; the company owner also sees the company targets.
    Exit status: 0, or 2 for an unknown owner or metric.

    Example: sheetplan -w plans history North --metric revenue
    """
    from sheetplan.api import Labels, copies_lines, history_lines, metric_labels, round_copies, target_history

    workspace = _open(ctx, writes=False)
    frame = target_history(workspace, owner, metric)
    labels = Labels(workspace.config.language)
    decimals = {m.key: m.decimals for m in workspace.config.metrics}
    frame = frame[frame["version"] >= 1]
    if not show_all:
        frame = frame[frame["period"] == str(workspace.config.fiscal_year)]
    lines = ([labels("audit.no_changes", owner=owner)] if frame.empty else
             [labels("audit.history_title", owner=owner),
              *history_lines(frame, decimals, metric_labels(workspace.config, labels.lang), labels)])
    if metric is None:  # the returned files behind every version, and the copies that did not stand
        lines += copies_lines(round_copies(workspace, owner=owner), labels)
    for line in lines:
        click.echo(line)
    _echo_imported_history(workspace, owner, metric)
# --- end history ---------------------------------------------------------------------------------------


# --- approvals -----------------------------------------------------------------------------------------
@main.command()
@click.option("--all", "show_all", is_flag=True, help="Also approved, rejected and superseded items.")
@click.option("--approver", help="Only items waiting for this person id.")
@click.pass_context
def approvals(ctx: click.Context, show_all: bool, approver: str | None) -> None:
    """List plans, revision requests and re-forecasts waiting for approval, and who must decide next.

    Example: sheetplan -w plans approvals --approver P003
    """
    from sheetplan.api import PENDING, Labels, approval_lines
    from sheetplan.api import approval_items as items

    workspace = _open(ctx, writes=False)
    roster = workspace.roster
    with workspace.store() as store:
        found = items(store.db, None if show_all else PENDING)
    if approver:
        found = [i for i in found if i.waiting_on and i.waiting_on.approver == approver]
    for line in approval_lines(found, roster, Labels(workspace.config.language), show_all):
        click.echo(line)
# --- end approvals -------------------------------------------------------------------------------------


# --- review --------------------------------------------------------------------------------------------
@main.group(cls=_Group)
def review() -> None:
    """The July half-year review and the December annual summary.

    Example: sheetplan -w plans review annual
    """


@review.command("half")
@click.option("--no-templates", is_flag=True, help="Only the review workbook, no H2 re-forecast templates.")
@click.option("--draft", is_flag=True, help="Review H1 before it is closed: a workbook marked DRAFT, no templates.")
@click.pass_context
def review_half(ctx: click.Context, no_templates: bool, draft: bool) -> None:
    """Write the H1 review workbook into reports/ and an H2 re-forecast template for every salesperson.

    January to June must be closed (sheetplan close); otherwise exit status 2 names the open months.
    --draft writes reports/half-<year>-draft.xlsx, marked DRAFT on every sheet, and no templates.
    The re-forecasts come back through ingest and the approval chain; once approved, they are the H2 plan.

    Example: sheetplan -w plans review half
    """
    from sheetplan import api

    workspace = _open(ctx)
    result = api.run_half(workspace, draft=draft)
    generated = None if no_templates or draft else api.generate(workspace, "reforecast")
    for line in api.half_lines(workspace.config.fiscal_year, result, generated,
                               api.Labels(workspace.config.language)):
        click.echo(line)


@review.command("annual")
@click.option("--year", type=click.IntRange(2000, 2100), default=None,
              help="The fiscal year to review; must be the workspace's (default: the workspace's year).")
@click.option("--draft", is_flag=True, help="Review the year before it is closed: a workbook marked DRAFT and no "
                                            "history file.")
@click.pass_context
def review_annual(ctx: click.Context, year: int | None, draft: bool) -> None:
    """Write the annual summary (totals, growth, rankings, bands) and next year's history file into reports/.

    Every month of the year must be closed (sheetplan close); otherwise exit status 2 names the open months.
    --draft writes reports/annual-<year>-draft.xlsx, marked DRAFT on every sheet, and never a history file.

    Example: sheetplan -w plans review annual --year 2027
    """
    from sheetplan.api import Labels, annual_lines, run_annual

    workspace = _open(ctx)
    for line in annual_lines(run_annual(workspace, year, draft=draft), Labels(workspace.config.language)):
        click.echo(line)
# --- end review ----------------------------------------------------------------------------------------


# --- actuals -------------------------------------------------------------------------------------------
@main.group(cls=_Group)
def actuals() -> None:
    """Actuals from the ERP or CRM: import exports and reconcile them with what salespeople report.

    Example: sheetplan -w plans actuals import exports/erp-2027-03.csv
    """


@actuals.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the files without recording anything.")
@click.pass_context
def actuals_import(ctx: click.Context, paths: tuple[Path, ...], dry_run: bool) -> None:
    """Import transaction lines exported from an ERP or CRM (CSV in any common encoding, or .xlsx).

    [actuals] in sheetplan.toml maps the columns. A file with any bad line is rejected whole, every problem
    listed with its row, column and value (also in reports/actuals-*.xlsx); the same file twice changes
    nothing; a later export of a month replaces the earlier one for that month. Exit status: 0, 1 when any
    file was rejected, 2 on a usage or workspace error.

    Example: sheetplan actuals import erp-2027-03.csv --dry-run
    """
    from sheetplan.api import Labels, import_actuals

    workspace = _open(ctx)
    labels = Labels(workspace.config.language)
    report = import_actuals(workspace, list(paths), dry_run=dry_run)
    for o in report.outcomes:
        if o.status == "duplicate":
            click.echo(labels("actuals.line_duplicate", file=o.name))
        elif o.status == "rejected":
            click.echo(labels("actuals.line_rejected", file=o.name, count=len(o.problems) + o.left_out))
            for problem in o.problems:
                click.echo(f"  {problem.describe()}")
        else:
            what = ", ".join(f"{m} {name}" for m, name in sorted(o.replaced.items()))
            click.echo(labels("actuals.line_would" if dry_run else "actuals.line_accepted", file=o.name,
                              lines=o.lines, months=" ".join(o.months),
                              replaces=labels("actuals.replaces", what=what) if what else ""))
    counts = report.counts
    click.echo((labels("actuals.summary_dry") if dry_run else "") + labels(
        "actuals.summary", accepted=counts.get("accepted", 0), rejected=counts.get("rejected", 0),
        duplicate=counts.get("duplicate", 0), seconds=report.seconds))
    if report.report_path:
        click.echo(labels("actuals.report", path=report.report_path))
    ctx.exit(report.exit_code)


def _echo_imported(workspace) -> None:
    """status: the months that have imported actuals, the export that stands for each."""
    from sheetplan.api import Labels, imported_status, term

    labels = Labels(workspace.config.language)
    months = imported_status(workspace)
    source = term("actuals_source", workspace.config.actuals.source, labels.lang)
    if months.empty:
        if workspace.config.actuals.source != "reported":
            click.echo(labels("actuals.status_none", source=source))
        return
    click.echo(labels("actuals.status_title", source=source))
    for row in months.itertuples():
        replaced = labels("actuals.status_replaced", count=row.replaced) if row.replaced else ""
        click.echo(labels("actuals.status_month", month=row.month, file=row.file, lines=row.lines,
                          imported_at=row.imported_at, replaced=replaced))


def _echo_imported_history(workspace, owner: str, metric: str | None) -> None:
    """history: the imported figures that stand for OWNER, each with the export it came from."""
    from sheetplan.api import Labels, imported_history, metric_labels

    frame = imported_history(workspace, owner)
    if metric:
        frame = frame[frame["metric"] == metric]
    if frame.empty:
        return
    labels = Labels(workspace.config.language)
    # English keeps the metric key, as the target history above does; other languages show the label
    metrics = {} if labels.lang == "en" else metric_labels(workspace.config, labels.lang)
    click.echo(labels("actuals.history_title"))
    for row in frame.itertuples():
        click.echo(labels("actuals.history_line", month=row.month, metric=metrics.get(row.metric, row.metric),
                          value=row.actual,
                          file=row.file, imported_at=row.imported_at))
# --- end actuals ---------------------------------------------------------------------------------------


if __name__ == "__main__":  # pragma: no cover
    main()
