"""The plan as it changes: the VP sets the company number, and what follows from it, worked out by hand."""

from __future__ import annotations

import openpyxl
import pytest
from conftest import sent_file, without_approvals
from python_calamine import CalamineWorkbook

from sheetplan import api
from sheetplan.demo.simulate import input_areas, read_block, write_block

YEAR = "2027"
TEAMS = ["North", "South", "East", "West", "Online & Inside Sales", "Public Projects"]
COLLECTIONS = '''
[[metrics]]
key = "collections"
label_en = "Collections"
label_zh = "回款额"
unit = "EUR"
decimals = 2
higher_is_better = true
max_value = 50000000
weight = 0
'''


def blocks(path) -> dict[str, list[list]]:
    book = openpyxl.load_workbook(path)
    return {name: read_block(book, area) for name, area in input_areas(book).items()}


def typed_into(source, target, values: dict[str, list[list]]):
    book = openpyxl.load_workbook(source)
    areas = input_areas(book)
    for name, rows in values.items():
        write_block(book, areas[name], rows)
    target.parent.mkdir(parents=True, exist_ok=True)
    book.save(target)
    return target


def test_the_vp_sets_the_company_target_and_the_teams_get_her_split(tmp_path):
    """By hand: the VP raises company revenue to 70,000,000.00 and splits it 20, 15, 12, 10, 8 and 5 million
    over North, South, East, West, Online & Inside Sales and Public Projects (sum 70,000,000.00). With no
    approvals needed, the company target becomes 70,000,000.00 and each team template's locked target is
    its share, e.g. North 20,000,000.00; the team suggestions for the people add up to it.

    `collections` is a new metric without history: its company target cell is empty for the VP to type;
    she types 1,200,000.00, split 400,000 / 300,000 / 200,000 / 150,000 / 100,000 / 50,000."""
    ws = api.init_workspace(tmp_path / "ws", demo=True, year=int(YEAR))
    config = ws.root / "sheetplan.toml"
    config.write_text(config.read_text(encoding="utf-8").replace("[allocation]", COLLECTIONS + "\n[allocation]", 1),
                      encoding="utf-8")
    without_approvals(ws.root)
    ws = api.open_workspace(ws.root)
    vp = ws.roster.company_owner().person_id
    template = api.generate(ws, "company").files[0]
    pre = blocks(template)
    assert [row[0] for row in pre["in_company_collections"]] == [None]  # nothing to suggest from
    assert pre["in_company_revenue"][0][0] > 0  # prior year x (1 + growth)
    millions = [20, 15, 12, 10, 8, 5]
    thousands = [400, 300, 200, 150, 100, 50]
    values = {"in_company_revenue": [[70_000_000.00]], "in_revenue": [[m * 1_000_000.0] for m in millions],
              "in_company_collections": [[1_200_000.00]], "in_collections": [[t * 1000.0] for t in thousands]}
    returned = typed_into(template, tmp_path / "back" / "company.xlsx", values)
    report = api.ingest(ws, [returned])
    assert [(o.status, [p.code for p in o.errors]) for o in report.outcomes] == [("accepted", [])]
    with ws.store() as store:
        current = {(r.level, r.owner, r.metric): r.value for r in store.current_targets()
                   if r.period == YEAR and r.level in ("company", "team")}
    assert current[("company", "", "revenue")] == 70_000_000.00
    assert current[("company", "", "collections")] == 1_200_000.00
    for team, m, t in zip(TEAMS, millions, thousands, strict=True):
        assert current[("team", team, "revenue")] == m * 1_000_000.0
        assert current[("team", team, "collections")] == t * 1000.0
    api.generate(ws, "team")
    manager = ws.roster.manager("North").person_id
    north = openpyxl.load_workbook(sent_file(ws, "team", manager))
    names = {name: read_block(north, area) for name, area in input_areas(north).items()}
    assert names["target_revenue"] == [[20_000_000.00]] and names["target_collections"] == [[400_000.00]]
    assert round(sum(row[0] for row in names["in_revenue"]), 2) == 20_000_000.00
    assert vp  # the company template went to the VP


def test_a_split_that_does_not_add_up_to_the_typed_company_target_is_refused(tmp_path):
    """By hand: the VP types 70,000,000.00 but the teams add up to 69,999,999.99: split-mismatch of -0.01,
    located at the company target cell."""
    ws = api.init_workspace(tmp_path / "ws", demo=True, year=int(YEAR))
    without_approvals(ws.root)
    ws = api.open_workspace(ws.root)
    template = api.generate(ws, "company").files[0]
    rows = [[m * 1_000_000.0] for m in (20, 15, 12, 10, 8, 5)]
    rows[-1][0] -= 0.01
    returned = typed_into(template, tmp_path / "back" / "company.xlsx",
                          {"in_company_revenue": [[70_000_000.00]], "in_revenue": rows})
    (outcome,) = api.ingest(ws, [returned]).outcomes
    mismatch = [p for p in outcome.errors if p.code == "split-mismatch"]
    assert len(mismatch) == 1 and "difference -0.01" in mismatch[0].message
    area = input_areas(openpyxl.load_workbook(template))["in_company_revenue"]
    assert (mismatch[0].sheet, mismatch[0].cell) == (area.sheet, area.ref.split("!")[-1].replace("$", ""))


def _official_plans(tmp_path, policy: str = "reallocate", keep: tuple[str, ...] = ()):
    """A demo workspace with no approvals needed, the company, team and person plans returned untouched
    (so every annual target is official), and the March month round generated."""
    from sheetplan.demo.simulate import copy_as

    ws = api.init_workspace(tmp_path / "ws", demo=True, year=int(YEAR))
    config = ws.root / "sheetplan.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('policy = "reallocate"', f'policy = "{policy}"'),
                      encoding="utf-8")
    without_approvals(ws.root, keep=keep)
    ws = api.open_workspace(ws.root)
    for kind in ("company", "team"):
        files = api.generate(ws, kind).files
        back = [copy_as(f, tmp_path / "back" / kind / f.name) for f in files]
        assert api.ingest(ws, back).exit_code == 0
    return ws


def _annuals(ws) -> dict[tuple[str, str], tuple[float, str]]:
    with ws.store() as store:
        return {(r.level, r.owner): (r.value, r.source) for r in store.current_targets()
                if r.period == YEAR and r.metric == "revenue"}


def _revise(ws, tmp_path, owner: str, factor: float):
    from sheetplan.demo.simulate import fill_months

    files = [f for f in api.generate(ws, "month", month="2027-03").files if f"-{owner}-" in f.name]
    decimals = {m.key: m.decimals for m in ws.config.metrics}
    filled = fill_months(files, tmp_path / "back" / "month", decimals,
                         revisions={owner: ("revenue", factor, "Lost the OEM customer")})
    report = api.ingest(ws, [f.path for f in filled])
    assert [(o.status, [p.code for p in o.errors]) for o in report.outcomes] == [("accepted", [])]


def test_reallocate_an_approved_revision_leaves_a_team_template_that_comes_back_clean(tmp_path):
    """P010's revenue is revised to 0.85 of its annual target; under "reallocate" North's target and the
    company's stay. The regenerated North template pre-fills a split whose total is North's target again:
    P010 keeps the revised figure, the gap goes to the others, so returning it untouched is accepted, and
    afterwards North's people add up to North's unchanged target (worked here from the stored figures:
    sum(people) = North target, to the cent)."""
    ws = _official_plans(tmp_path)
    person = ws.roster.get("P010")
    before = _annuals(ws)
    _revise(ws, tmp_path, "P010", 0.85)
    after = _annuals(ws)
    assert after[("person", "P010")][1] == "revision"
    assert after[("team", person.team)] == before[("team", person.team)]
    assert after[("company", "")] == before[("company", "")]
    flags = api.consolidate(ws, "2027-03").flags
    gaps = flags[flags["code"] == "plan-gap"]
    north = gaps[(gaps["level"] == "team") & (gaps["team"] == person.team) & (gaps["metric"] == "revenue")]
    assert len(north) == 1 and "an approved revision" in north["message"].iloc[0]
    manager = ws.roster.manager(person.team).person_id
    (template,) = api.generate(ws, "team", only=[manager]).files
    pre = blocks(template)
    assert dict(zip([r[0] for r in pre["rows_revenue"]], [r[0] for r in pre["in_revenue"]]))["P010"] == \
        after[("person", "P010")][0]
    from sheetplan.demo.simulate import copy_as

    report = api.ingest(ws, [copy_as(template, tmp_path / "back" / "team-again.xlsx")])
    assert [(o.status, [p.code for p in o.errors]) for o in report.outcomes] == [("accepted", [])]
    final = _annuals(ws)
    people = [p.person_id for p in ws.roster.sellers(ws.config, person.team)]
    assert round(sum(final[("person", pid)][0] for pid in people), 2) == before[("team", person.team)][0]
    assert final[("team", person.team)] == before[("team", person.team)]
    assert final[("person", "P010")][0] == after[("person", "P010")][0]
    flags = api.consolidate(ws, "2027-03").flags
    assert flags[(flags["code"] == "plan-gap") & (flags["metric"] == "revenue")].empty


def test_absorb_the_team_and_company_follow_an_approved_revision(tmp_path):
    """Under "absorb", after P010's revision North's target becomes the sum of its people and the company's
    the sum of its teams, recorded with source 'replan'; by hand: new North = old North - (P010 old - P010 new),
    new company = old company - the same amount."""
    ws = _official_plans(tmp_path, "absorb")
    team = ws.roster.get("P010").team
    before = _annuals(ws)
    _revise(ws, tmp_path, "P010", 0.85)
    after = _annuals(ws)
    drop = round(before[("person", "P010")][0] - after[("person", "P010")][0], 2)
    assert drop > 0
    assert after[("team", team)] == (round(before[("team", team)][0] - drop, 2), "replan")
    assert after[("company", "")] == (round(before[("company", "")][0] - drop, 2), "replan")
    people = [p.person_id for p in ws.roster.sellers(ws.config, team)]
    assert round(sum(after[("person", pid)][0] for pid in people), 2) == after[("team", team)][0]
    flags = api.consolidate(ws, "2027-03").flags
    assert flags[flags["code"] == "plan-gap"].empty  # nothing is out of line under "absorb"


def test_a_leaver_entered_after_the_plan_is_official_carries_no_target_after_leaving(tmp_path):
    """P008 gets end_month 2027-04 after the plans are official: from the next run on their May-December
    cells are 0 and their annual target is what January-April held (by hand: the sum of those four months);
    consolidate's facts give them no target after April, and the generate says so."""
    ws = _official_plans(tmp_path)
    with ws.store() as store:
        months = {(r.period, r.customer_group): r.value for r in store.current_targets()
                  if r.owner == "P008" and r.metric == "revenue" and r.period != YEAR}
    kept = round(sum(v for (m, _g), v in months.items() if m <= "2027-04"), 2)
    roster = ws.root / "roster.xlsx"
    book = openpyxl.load_workbook(roster)
    for row in book.active.iter_rows(min_row=2):
        if row[0].value == "P008":
            row[7].value = "2027-04"
    book.save(roster)
    ws = api.open_workspace(ws.root)
    result = api.generate(ws, "month", month="2027-03")
    assert any("P008 leaves after 2027-04" in note for note in result.notes), result.notes
    assert _annuals(ws)[("person", "P008")] == (kept, "roster")
    facts = api.consolidate(ws, "2027-12").facts
    mine = facts[(facts["person"] == "P008") & (facts["metric"] == "revenue")]
    later = mine[mine["month"] > "2027-04"]
    assert len(mine[mine["month"] <= "2027-04"]) and later["target"].fillna(0).eq(0).all(), later


def test_a_growth_change_after_the_first_generate_shows_in_the_next_company_template(tmp_path):
    """growth 0.05 -> 0.50 after the first generate: the next generate recomputes, says so, and the company
    template's suggestion is prior year x 1.50 per team (by hand from the template's own prior column)."""
    ws = api.init_workspace(tmp_path / "ws", demo=True, year=int(YEAR))
    first = blocks(api.generate(ws, "company").files[0])
    config = ws.root / "sheetplan.toml"
    text = config.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith("growth"))
    config.write_text(text.replace(old, "growth = 0.50"), encoding="utf-8")
    ws = api.open_workspace(ws.root)
    result = api.generate(ws, "company")
    assert any("sheetplan.toml changed" in note for note in result.notes), result.notes
    book = openpyxl.load_workbook(result.files[0])
    names = {name: read_block(book, area) for name, area in input_areas(book).items()}
    for (prior,), (suggested,) in zip(names["locked_prior_revenue"], names["locked_suggested_revenue"],
                                      strict=True):
        assert abs(suggested - prior * 1.5) <= 0.01  # 1.5 x last year's unrounded figure, at cents
    assert names["in_company_revenue"] != first["in_company_revenue"]
    assert api.generate(ws, "company").notes == [n for n in result.notes if "changed" not in n]


def test_manual_method_leaves_the_inputs_empty_and_the_whole_target_left_to_allocate(tmp_path):
    """method = "manual": team and person templates pre-fill nothing; "left to allocate" shows the whole
    target (its cached value is the target itself), and a returned empty grid is missing-value, not zeros."""
    ws = api.init_workspace(tmp_path / "ws", demo=True, year=int(YEAR))
    config = ws.root / "sheetplan.toml"
    text = config.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith("method"))
    config.write_text(text.replace(old, 'method = "manual"'), encoding="utf-8")
    ws = api.open_workspace(ws.root)
    person = api.generate(ws, "person", only=["P004"]).files[0]
    team = api.generate(ws, "team", only=[ws.roster.manager("North").person_id]).files[0]
    for path in (person, team):
        book = openpyxl.load_workbook(path)
        areas = input_areas(book)
        assert all(v is None for row in read_block(book, areas["in_revenue"]) for v in row), path.name
        target = read_block(book, areas["target_revenue"])[0][0]
        left = next(c for row in book[areas["target_revenue"].sheet].iter_rows() for c in row
                    if isinstance(c.value, str) and c.value.startswith("=ROUND("))
        assert target > 0
        cached = CalamineWorkbook.from_path(str(path)).get_sheet_by_name(left.parent.title).to_python()
        assert cached[left.row - 1][left.column - 1] == target
    (outcome,) = api.ingest(ws, [person], dry_run=True, write_report=False).outcomes
    assert "missing-value" in {p.code for p in outcome.errors}


def _set_roster(ws, person_id: str, **columns) -> None:
    from sheetplan.workspace.roster import ROSTER_COLUMNS

    roster = ws.root / "roster.xlsx"
    book = openpyxl.load_workbook(roster)
    sheet = book.active
    header = [c.value for c in sheet[1]]
    for name in columns:
        if name not in header:
            sheet.cell(1, len(header) + 1, name)
            header.append(name)
    assert set(header) <= set(ROSTER_COLUMNS)
    for row in sheet.iter_rows(min_row=2):
        if row[0].value == person_id:
            for name, value in columns.items():
                sheet.cell(row[0].row, header.index(name) + 1, value)
    book.save(roster)


def test_a_leaver_with_handover_to_passes_the_remaining_targets_to_the_receiver(tmp_path):
    """P008 leaves after 2027-04 and hands over to a teammate R. By hand: P008's annual drops by what May-
    December held (F); the team template pre-fills R's annual + F and leaves everyone else as they were, so
    the team still adds up to its unchanged target; returned untouched it is accepted."""
    ws = _official_plans(tmp_path)
    leaver = ws.roster.get("P008")
    receiver = next(p.person_id for p in ws.roster.sellers(ws.config, leaver.team) if p.person_id != "P008")
    before = _annuals(ws)
    _set_roster(ws, "P008", end_month="2027-04", handover_to=receiver)
    ws = api.open_workspace(ws.root)
    manager = ws.roster.manager(leaver.team).person_id
    (template,) = api.generate(ws, "team", only=[manager]).files
    after = _annuals(ws)
    freed = round(before[("person", "P008")][0] - after[("person", "P008")][0], 2)
    assert freed > 0 and after[("person", "P008")][1] == "roster"
    pre = blocks(template)
    typed = dict(zip([r[0] for r in pre["rows_revenue"]], [r[0] for r in pre["in_revenue"]], strict=True))
    assert typed[receiver] == round(before[("person", receiver)][0] + freed, 2)
    others = [pid for pid in typed if pid not in (receiver, "P008")]
    assert all(typed[pid] == before[("person", pid)][0] for pid in others)
    from sheetplan.demo.simulate import copy_as

    report = api.ingest(ws, [copy_as(template, tmp_path / "back" / "team-handover.xlsx")])
    assert [(o.status, [p.code for p in o.errors]) for o in report.outcomes] == [("accepted", [])]
    assert _annuals(ws)[("team", leaver.team)] == before[("team", leaver.team)]


def test_handover_to_must_name_a_teammate_who_stays(tmp_path):
    from sheetplan.errors import ConfigError

    ws = api.init_workspace(tmp_path / "ws", demo=True, year=int(YEAR))
    _set_roster(ws, "P008", end_month="2027-04", handover_to="P999")
    try:
        api.open_workspace(ws.root)
    except ConfigError as exc:
        found = [(p.code, p.field) for p in exc.problems]
    else:
        found = []
    assert found == [("roster-unknown-person", "handover_to")]


def test_a_hire_entered_mid_year_gets_a_plan_from_the_start_month_within_the_team_target(tmp_path):
    """A rep joins North in 2027-07 after the plans are official. Under "reallocate" the team template
    pre-fills a split that still adds up to North's unchanged target (by hand: the members' figures, the
    hire included, sum to it to the cent), the hire gets a positive share, and the template comes back clean;
    until it does, consolidate flags the gap ('a new member without an official target')."""
    ws = _official_plans(tmp_path)
    manager = ws.roster.manager("North")
    roster = ws.root / "roster.xlsx"
    book = openpyxl.load_workbook(roster)
    sheet = book.active
    header = [c.value for c in sheet[1]]
    values = {"person_id": "P900", "name": "Nora Newhire", "email": "nora.newhire@larkfield-instruments.example",
              "team": "North", "role": "rep", "reports_to": manager.person_id, "start_month": "2027-07",
              "active": True}
    sheet.append([values.get(h) for h in header])
    book.save(roster)
    ws = api.open_workspace(ws.root)
    before = _annuals(ws)
    (template,) = api.generate(ws, "team", only=[manager.person_id]).files
    flags = api.consolidate(ws, "2027-03").flags
    gaps = flags[(flags["code"] == "plan-gap") & (flags["team"] == "North") & (flags["metric"] == "revenue")]
    assert len(gaps) == 1 and "a new member without an official target" in gaps["message"].iloc[0]
    pre = blocks(template)
    typed = dict(zip([r[0] for r in pre["rows_revenue"]], [r[0] for r in pre["in_revenue"]], strict=True))
    assert typed["P900"] > 0
    assert round(sum(typed.values()), 2) == before[("team", "North")][0]
    from sheetplan.demo.simulate import copy_as

    report = api.ingest(ws, [copy_as(template, tmp_path / "back" / "team-hire.xlsx")])
    assert [(o.status, [p.code for p in o.errors]) for o in report.outcomes] == [("accepted", [])]
    assert _annuals(ws)[("person", "P900")][0] == typed["P900"]


def test_a_move_between_teams_is_flagged_in_both_and_both_team_templates_come_back_clean(tmp_path):
    """P010 moves from their team to another after the plans are official: the old team is short by P010's
    annual target A and the new one over by A (by hand: the two plan-gap flags are +A and -A); each team's
    next template adds up to its own unchanged target and is accepted returned untouched."""
    ws = _official_plans(tmp_path)
    mover = ws.roster.get("P010")
    old_team = mover.team
    new_team = next(t for t in ws.roster.teams if t != old_team)
    new_manager = ws.roster.manager(new_team).person_id
    before = _annuals(ws)
    _set_roster(ws, "P010", team=new_team, reports_to=new_manager)
    ws = api.open_workspace(ws.root)
    api.refresh_plan(ws)
    flags = api.consolidate(ws, "2027-03").flags
    gaps = flags[(flags["code"] == "plan-gap") & (flags["metric"] == "revenue") & (flags["level"] == "team")]
    amount = f"{before[('person', 'P010')][0]:,.2f}"
    shown = dict(zip(gaps["team"], gaps["message"], strict=True))
    assert f"gap +{amount}" in shown[old_team] and f"gap -{amount}" in shown[new_team]
    from sheetplan.demo.simulate import copy_as

    for team in (old_team, new_team):
        (template,) = api.generate(ws, "team", only=[ws.roster.manager(team).person_id]).files
        pre = blocks(template)
        assert round(sum(r[0] for r in pre["in_revenue"]), 2) == before[("team", team)][0]
        report = api.ingest(ws, [copy_as(template, tmp_path / "back" / f"move-{team}.xlsx")])
        assert [(o.status, [p.code for p in o.errors]) for o in report.outcomes] == [("accepted", [])]
    flags = api.consolidate(ws, "2027-03").flags
    assert flags[(flags["code"] == "plan-gap") & (flags["metric"] == "revenue")].empty


def test_the_approver_of_a_revision_reads_what_approving_does_to_the_team_and_company(tmp_path):
    """P010 asks for 0.85 of the annual revenue target while revisions need approval. By hand, with T the team's
    target and d = requested - current (< 0): under "reallocate" the line says the team keeps T and its next
    split spreads -d over the others; under "absorb" the team goes to T + d and the company to C + d."""
    for policy in ("reallocate", "absorb"):
        ws = _official_plans(tmp_path / policy, policy, keep=("revision",))
        team = ws.roster.get("P010").team
        before = _annuals(ws)
        _revise(ws, tmp_path / policy, "P010", 0.85)
        with ws.store() as store:
            (item,) = api.approval_items(store.db, api.PENDING, "revision")
        d = round(item.detail["requested"]["revenue"] - item.detail["current"]["revenue"], 2)
        books = api.generate(ws, "approval").files
        text = " ".join(str(c.value) for path in books for sheet in openpyxl.load_workbook(path).worksheets
                        for row in sheet.iter_rows() for c in row if isinstance(c.value, str))
        team_now = before[("team", team)][0]
        if policy == "reallocate":
            assert f"team {team} keeps its target of {team_now:,.2f}; its next split spreads {-d:+,.2f}" in text
        else:
            assert (f"team {team} goes from {team_now:,.2f} to {team_now + d:,.2f} and the company to "
                    f"{before[('company', '')][0] + d:,.2f}") in text


def test_a_growth_change_after_the_plan_is_official_changes_only_suggestions(tmp_path):
    """growth 0.05 -> 0.50 once the company and team plans are official: the next generate recomputes and
    says so, every official company, team and person target stays exactly as it was (by hand: equal to the
    figures before the change), and only the locked 'suggested' column of the company template moves."""
    ws = _official_plans(tmp_path)
    before = _annuals(ws)
    config = ws.root / "sheetplan.toml"
    text = config.read_text(encoding="utf-8")
    old = next(line for line in text.splitlines() if line.startswith("growth"))
    config.write_text(text.replace(old, "growth = 0.50"), encoding="utf-8")
    ws = api.open_workspace(ws.root)
    result = api.generate(ws, "company")
    assert any("sheetplan.toml changed" in note for note in result.notes)
    after = _annuals(ws)
    assert {k: v for k, v in after.items() if v[1] != "suggestion"} == \
        {k: v for k, v in before.items() if v[1] != "suggestion"}
    pre = blocks(result.files[0])
    assert pre["in_company_revenue"] == [[before[("company", "")][0]]]


def _handover_setup(tmp_path):
    """Plans official with no approvals but the person chain kept; P008 leaves after 2027-04 handing over to
    a teammate. Returns the workspace, the receiver and the revenue annual targets before the change."""
    ws = _official_plans(tmp_path, keep=("person",))
    leaver = ws.roster.get("P008")
    receiver = next(p.person_id for p in ws.roster.sellers(ws.config, leaver.team) if p.person_id != "P008")
    with ws.store() as store:
        before_cells = {(r.owner, r.period, r.customer_group): r.value for r in store.current_targets()
                        if r.metric == "revenue" and r.owner in ("P008", receiver) and r.customer_group}
    before = _annuals(ws)
    _set_roster(ws, "P008", end_month="2027-04", handover_to=receiver)
    ws = api.open_workspace(ws.root)
    notes = api.generate(ws, "month", month="2027-03").notes
    return ws, receiver, before, before_cells, notes


def _items(ws):
    with ws.store() as store:
        return api.approval_items(store.db)


def _decide_handover(ws, tmp_path, decision: str, comment: str | None = None):
    """Every level of the pending handover decides `decision` (a rejection ends it at the first level)."""
    from test_approvals import approval_book, decide

    (item,) = [i for i in _items(ws) if i.item_kind == "handover" and i.status == "pending"]
    while item.status == "pending":
        approver = item.waiting_on.approver
        book = approval_book(ws, approver)
        back = decide(book, tmp_path / "back" / f"{item.ref}.xlsx", {item.ref: (decision, comment)})
        assert api.ingest(ws, [back]).exit_code == 0
        item = next(i for i in _items(ws) if i.id == item.id)
    return item


def test_a_handover_climbs_the_receivers_person_chain_and_then_the_receiver_carries_the_leavers_months(tmp_path):
    """P008 leaves after 2027-04 and hands over to R, whose person plans need approval. By hand: the refresh
    takes F = P008's May-December revenue off P008 (annual: before - F) and opens one handover item on R,
    waiting on the first level of R's person chain; R's annual stays as it was while it waits, and the team
    shows a plan-gap of exactly F whose cause is the handover. Once every level approves, R's annual is
    R's before + F, each of R's cells from May on is R's before + P008's before in that cell (January-April
    unchanged), the source is `handover`, and the team adds up again: no plan-gap."""
    from sheetplan.plan.approvals import resolve_chain

    ws, receiver, before, cells, notes = _handover_setup(tmp_path)
    freed = round(sum(v for (o, m, _g), v in cells.items() if o == "P008" and m > "2027-04"), 2)
    chain = resolve_chain(ws.config, ws.roster, "person", receiver)
    assert chain, "the demo's person chain must have a level above the receiver"
    assert any(f"go to {receiver} (handover_to): waiting for {chain[0].approver}" in n for n in notes), notes
    (item,) = [i for i in _items(ws) if i.item_kind == "handover"]
    assert (item.owner, item.status, item.chain) == (receiver, "pending", chain)
    now = _annuals(ws)
    assert now[("person", "P008")] == (round(before[("person", "P008")][0] - freed, 2), "roster")
    assert now[("person", receiver)] == before[("person", receiver)]
    team = ws.roster.get("P008").team
    flags = api.consolidate(ws, "2027-03").flags
    gap = flags[(flags["code"] == "plan-gap") & (flags["level"] == "team") & (flags["metric"] == "revenue")]
    assert list(gap["team"]) == [team] and "waiting for approval" in gap["message"].iloc[0], gap
    assert f"{freed:,.2f}" in gap["message"].iloc[0]

    assert _decide_handover(ws, tmp_path, "approve").status == "approved"
    after = _annuals(ws)
    assert after[("person", receiver)] == (round(before[("person", receiver)][0] + freed, 2), "handover")
    with ws.store() as store:
        now_cells = {(r.period, r.customer_group): r.value for r in store.current_targets()
                     if r.metric == "revenue" and r.owner == receiver and r.customer_group}
    for (month, group), value in now_cells.items():
        expected = cells[(receiver, month, group)] + (cells.get(("P008", month, group), 0.0) if month > "2027-04"
                                                      else 0.0)
        assert value == round(expected, 2), (month, group)
    flags = api.consolidate(ws, "2027-03").flags
    assert not len(flags[(flags["code"] == "plan-gap") & (flags["metric"] == "revenue")]), flags


def test_a_rejected_handover_leaves_the_gap_to_the_replan_policy(tmp_path):
    """R's supervisor rejects the handover. By hand: R keeps R's annual target; the team's gap F stays (cause: a
    leaver) and under "reallocate" the next team template spreads F over the members by what they still
    carry (the receiver gets a share like the others, not all of F); the pre-filled split adds up to the
    team's unchanged target and comes back clean."""
    from sheetplan.demo.simulate import copy_as

    ws, receiver, before, cells, _notes = _handover_setup(tmp_path)
    freed = round(sum(v for (o, m, _g), v in cells.items() if o == "P008" and m > "2027-04"), 2)
    assert _decide_handover(ws, tmp_path, "reject", "R is full; spread it").status == "rejected"
    assert _annuals(ws)[("person", receiver)] == before[("person", receiver)]
    team = ws.roster.get("P008").team
    manager = ws.roster.manager(team).person_id
    (template,) = api.generate(ws, "team", only=[manager]).files
    pre = blocks(template)
    typed = dict(zip([r[0] for r in pre["rows_revenue"]], [r[0] for r in pre["in_revenue"]], strict=True))
    assert round(sum(typed.values()), 2) == before[("team", team)][0]
    share = round(typed[receiver] - before[("person", receiver)][0], 2)
    assert 0 < share < freed
    report = api.ingest(ws, [copy_as(template, tmp_path / "back" / "team-after-reject.xlsx")])
    assert [(o.status, [p.code for p in o.errors]) for o in report.outcomes] == [("accepted", [])]


def test_a_leaver_is_asked_for_nothing_after_leaving_and_ranked_only_while_on_the_books(tmp_path):
    """P008 leaves after 2027-04 and reported 1 per customer group and metric in March. By hand, revenue:
    P008's annual target is K = January-April's cells, the March actual A = 1 x the number of groups.
    Consolidated through March: one month on the books is left (April), so the required run rate is K - A;
    P008 is far behind (A is a sliver of the plan) and ranked. Through June: no month is left, so the run
    rate is 0, no flag about June names P008, and P008's ranking row has no score or rank."""
    ws = _official_plans(tmp_path)
    _set_roster(ws, "P008", end_month="2027-04")
    ws = api.open_workspace(ws.root)
    (march,) = [f for f in api.generate(ws, "month", month="2027-03").files if "-P008-" in f.name]
    areas = blocks(march)
    typed = {f"in_{m.key}": [[1.0] for _row in areas[f"in_{m.key}"]] for m in ws.config.metrics}
    back = typed_into(march, tmp_path / "back" / "march-P008.xlsx", typed)
    report = api.ingest(ws, [back])
    assert [(o.status, [p.code for p in o.errors]) for o in report.outcomes] == [("accepted", [])]
    kept = _annuals(ws)[("person", "P008")][0]
    actual = float(len(ws.config.customer_groups))

    def p008(c):
        f = c.facts
        row = f[(f["person"] == "P008") & (f["metric"] == "revenue") & (f["customer_group"] == "")
                & (f["level"] == "person") & (f["month"] == c.month)]
        return row.iloc[0]

    march_c = api.consolidate(ws, "2027-03")
    assert p008(march_c)["required_run_rate"] == round(kept - actual, 2)
    assert "P008" in set(march_c.people["person"])
    assert any((march_c.flags["person"] == "P008") & (march_c.flags["code"] == "far-behind"))
    june = api.consolidate(ws, "2027-06")
    assert p008(june)["required_run_rate"] == 0.0
    gone = june.people.set_index("person").loc["P008"]
    assert gone[["score", "rank_company", "rank_team"]].isna().all()
    about_june = june.flags[(june.flags["person"] == "P008") & (june.flags["month"] > "2027-04")]
    assert about_june.empty, about_june[["code", "month", "message"]].to_string()


def test_the_summary_shows_each_team_and_the_company_target_beside_what_is_allocated_below(tmp_path):
    """After P010's approved revision (0.85 of P010's annual) under "reallocate", North keeps its target T
    while its people carry S = T - 0.15 x P010's annual. By hand: the Teams sheet's revenue row for North
    reads T, S and the gap T - S (= 0.15 x P010's annual, to the cent); the Company sheet reads
    the company target C, the teams' sum (C: every team target is unchanged) and gap 0 on its revenue
    block's title row."""
    ws = _official_plans(tmp_path)
    team = ws.roster.get("P010").team
    before = _annuals(ws)
    _revise(ws, tmp_path, "P010", 0.85)
    after = _annuals(ws)
    people = [p.person_id for p in ws.roster.sellers(ws.config, team)]
    target = before[("team", team)][0]
    allocated = round(sum(after[("person", pid)][0] for pid in people), 2)
    assert round(target - allocated, 2) == round(before[("person", "P010")][0] - after[("person", "P010")][0], 2)
    summary = api.run_consolidation(ws, "2027-03").summary
    book = openpyxl.load_workbook(summary)
    L = api.Labels(ws.config.language)
    teams = book[L("summary.teams")]
    header = next(r for r in teams.iter_rows(values_only=True) if r[0] == L("summary.team") and
                  L("summary.plan_gap") in r)
    at = {name: header.index(name) for name in (L("summary.team_plan_target"), L("summary.allocated_people"),
                                               L("summary.plan_gap"))}
    revenue = ws.config.metric("revenue").label(ws.config.language)
    row = next(r for r in teams.iter_rows(values_only=True) if r[0] == team and r[1] == revenue)
    assert [row[i] for i in at.values()] == [target, allocated, round(target - allocated, 2)]
    company = book[L("summary.company")]
    title = [c.value for c in company[1]][:9]
    c_target = before[("company", "")][0]
    assert title == [f"{revenue} (EUR)", None, None, L("summary.company_plan_target"), c_target,
                     L("summary.company_teams_sum"), c_target, L("summary.company_gap"), 0.0]


def test_a_refresh_with_unchanged_inputs_reads_the_stored_prior_year_and_changes_nothing(tmp_path):
    """The refresh skips the history file when the config, roster and history did not change: the prior year
    it stored is exactly what the history gives (every figure the allocation reads), so the suggestions after
    a second refresh are those of the first, cell for cell, and none is rewritten."""
    from sheetplan.plan.state import prior_year, stored_prior_year

    ws = api.init_workspace(tmp_path / "ws", demo=True, year=int(YEAR))
    first = api.refresh_plan(ws)
    with ws.store() as store:
        stored = stored_prior_year(store)
        before = sorted(store.db.execute("SELECT level, owner, period, metric, customer_group, value, created_at"
                                         " FROM targets WHERE source = 'suggestion'").fetchall())
    fresh = prior_year(ws.config, ws.roster, ws.history())
    assert stored is not None
    for field in ("person", "person_group", "team", "team_group", "profile"):
        assert getattr(stored, field) == getattr(fresh, field), field
    second = api.refresh_plan(ws)
    with ws.store() as store:
        after = sorted(store.db.execute("SELECT level, owner, period, metric, customer_group, value, created_at"
                                        " FROM targets WHERE source = 'suggestion'").fetchall())
    assert second.suggestions == first.suggestions == len(before) and second.changed == {} and after == before
    assert second.teams_split == (0, len(ws.roster.teams))  # nothing official changed: no team split again


def test_after_a_batch_only_the_changed_team_is_split_again_and_the_result_is_a_full_refresh(tmp_path):
    """A team manager returns a split with 10 units moved between two people, then one North member's annual
    revenue is set officially (as an approved plan would). The refresh after that change splits only North's
    people again (1 of the teams) and gives, cell for cell, what splitting every team again gives (forced by
    forgetting the per-team digests)."""
    from conftest import moved

    from sheetplan.demo.simulate import copy_as
    from sheetplan.plan.refresh import TEAM_KEYS
    from sheetplan.workspace.store import ACCEPTED, TargetRow

    ws = api.init_workspace(tmp_path / "ws", demo=True, year=int(YEAR))
    without_approvals(ws.root)
    ws = api.open_workspace(ws.root)
    files = api.generate(ws, "company").files
    assert api.ingest(ws, [copy_as(f, tmp_path / "back" / "company" / f.name) for f in files]).exit_code == 0
    manager = ws.roster.manager("North").person_id
    (template,) = api.generate(ws, "team", only=[manager]).files
    typed = blocks(template)
    back = typed_into(template, tmp_path / "back" / "north.xlsx", {"in_revenue": moved(typed["in_revenue"], 2)})
    assert api.ingest(ws, [back]).exit_code == 0
    assert api.refresh_plan(ws).teams_split == (0, len(ws.roster.teams))  # nothing changed since the batch
    member = ws.roster.sellers(ws.config, "North")[0].person_id
    with ws.store() as store:
        store.record_targets([TargetRow("person", member, YEAR, "revenue", "", 123456.78)], ACCEPTED, None)
    assert api.refresh_plan(ws).teams_split == (1, len(ws.roster.teams))

    def suggestions():
        with ws.store() as store:
            return sorted(store.db.execute("SELECT level, owner, period, metric, customer_group, value FROM"
                                           " targets WHERE source = 'suggestion'").fetchall())

    incremental = suggestions()
    assert sum(v for lv, o, p, m, g, v in incremental if o == member and m == "revenue" and g) == \
        pytest.approx(123456.78)
    with ws.store() as store:
        store.set_meta(TEAM_KEYS, "{}")
    assert api.refresh_plan(ws).teams_split == (len(ws.roster.teams), len(ws.roster.teams))
    assert suggestions() == incremental
