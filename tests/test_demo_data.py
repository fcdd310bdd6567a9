"""The demo company: roster shape, org chart, special people, history realism, config text."""

from __future__ import annotations

import re
import tomllib

import numpy as np
import pandas as pd
import pytest

from sheetplan.workspace.demo_company import (
    HISTORY_COLUMNS,
    METRIC_KEYS,
    ROSTER_COLUMNS,
    SELLING_ROLES,
    build_demo,
)

YEAR = 2027
EMAIL = re.compile(r"^[a-z0-9]+(\.[a-z0-9]+)*@[a-z0-9-]+(\.[a-z0-9-]+)+$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def demo():
    return build_demo()


@pytest.fixture(scope="module")
def demo_zh():
    return build_demo(lang="zh")


@pytest.fixture(scope="module")
def config(demo):
    return tomllib.loads(demo.config_toml)


def _history_months(demo, person_id: str) -> set[str]:
    return set(demo.history.loc[demo.history["person_id"] == person_id, "month"])


def _yearly(history: pd.DataFrame, metric: str) -> pd.Series:
    rows = history[history["metric"] == metric]
    return rows.groupby(rows["month"].str[:4])["value"].sum()


# --- roster ---------------------------------------------------------------------------------


def test_columns_are_exact(demo):
    assert list(demo.roster.columns) == list(ROSTER_COLUMNS)
    assert list(demo.history.columns) == list(HISTORY_COLUMNS)
    assert demo.roster["active"].dtype == bool


def test_size_of_the_company(demo):
    roster = demo.roster
    teams = set(roster["team"]) - {""}
    assert 5 <= len(teams) <= 7
    assert 50 <= len(roster) <= 70
    counts = roster["role"].value_counts()
    assert counts["gm"] == 1
    assert counts["vp"] == 1
    assert counts["manager"] == len(teams)
    for team, members in roster[roster["team"] != ""].groupby("team"):
        assert 1 <= (members["role"] == "supervisor").sum() <= 2, team
        assert (members["role"] == "rep").sum() >= 2, team


def test_ids_and_emails_are_unique_and_well_formed(demo):
    roster = demo.roster
    assert roster["person_id"].is_unique
    assert roster["person_id"].str.fullmatch(r"P\d{3}").all()
    assert roster["email"].is_unique
    assert all(EMAIL.match(email) for email in roster["email"]), roster["email"].tolist()
    assert roster["name"].is_unique
    assert (roster["name"].str.strip() != "").all()


def test_month_columns_are_text_or_empty(demo):
    for column in ("start_month", "end_month"):
        values = demo.roster[column]
        assert all(v == "" or MONTH.match(v) for v in values), column


def test_reporting_lines(demo):
    roster = demo.roster.set_index("person_id")
    gm = roster.index[roster["role"] == "gm"][0]
    vp = roster.index[roster["role"] == "vp"][0]
    assert roster.loc[gm, "reports_to"] == "" and roster.loc[gm, "team"] == ""
    assert roster.loc[vp, "reports_to"] == gm and roster.loc[vp, "team"] == ""
    for pid, person in roster.iterrows():
        if pid == gm:
            continue
        boss = roster.loc[person["reports_to"]]  # KeyError if the boss does not exist
        expected = {
            "vp": {"gm"},
            "manager": {"vp"},
            "supervisor": {"manager"},
            "rep": {"supervisor", "manager"},
        }[person["role"]]
        assert boss["role"] in expected, pid
        if person["role"] in ("supervisor", "rep"):
            assert boss["team"] == person["team"], pid
    # Small teams: at least one team's reps report straight to the manager.
    reps = roster[roster["role"] == "rep"]
    assert (roster.loc[reps["reports_to"], "role"] == "manager").any()


def test_no_reporting_cycles(demo):
    boss = dict(zip(demo.roster["person_id"], demo.roster["reports_to"], strict=True))
    for start in boss.keys() - {""}:
        seen, pid = set(), start
        while pid:
            assert pid not in seen, f"cycle through {pid}"
            seen.add(pid)
            pid = boss[pid]


def test_every_team_has_one_active_manager(demo):
    roster = demo.roster
    for team in set(roster["team"]) - {""}:
        managers = roster[(roster["team"] == team) & (roster["role"] == "manager") & roster["active"]]
        assert len(managers) == 1, team


# --- special people -------------------------------------------------------------------------


def test_new_hires_start_in_the_plan_year_without_history(demo):
    hires = demo.roster[demo.roster["start_month"].str.startswith(f"{YEAR}-")]
    assert 3 <= len(hires) <= 4
    assert hires["active"].all()
    assert (hires["start_month"] > f"{YEAR}-01").all()  # mid-year, so ramp-up matters
    assert set(hires["role"]) <= set(SELLING_ROLES)
    assert not set(hires["person_id"]) & set(demo.history["person_id"])


def test_leaver_ends_in_the_plan_year_and_has_history(demo):
    leavers = demo.roster[demo.roster["end_month"].str.startswith(f"{YEAR}-")]
    assert len(leavers) == 1
    leaver = leavers.iloc[0]
    assert leaver["active"]
    assert f"{YEAR}-01" < leaver["end_month"] < f"{YEAR}-12"
    assert len(_history_months(demo, leaver["person_id"])) == 24


def test_inactive_rep_has_history_for_year_minus_two_only(demo):
    inactive = demo.roster[~demo.roster["active"]]
    assert len(inactive) == 1
    person = inactive.iloc[0]
    assert person["role"] == "rep"
    assert person["end_month"] == f"{YEAR - 2}-12"
    assert _history_months(demo, person["person_id"]) == {f"{YEAR - 2}-{m:02d}" for m in range(1, 13)}


def test_teammates_take_over_the_inactive_reps_accounts(demo):
    roster = demo.roster
    team = roster.loc[~roster["active"], "team"].iloc[0]
    members = set(roster.loc[roster["team"] == team, "person_id"])
    totals = _yearly(demo.history[demo.history["person_id"].isin(members)], "revenue")
    assert totals[str(YEAR - 1)] > totals[str(YEAR - 2)]


def test_history_only_for_sellers_inside_their_employment(demo):
    roster = demo.roster.set_index("person_id")
    sellers = roster[roster["role"].isin(SELLING_ROLES)]
    with_history = set(demo.history["person_id"])
    assert with_history <= set(sellers.index)
    # Everyone who sold throughout both years appears, the special people are the exceptions.
    assert with_history == set(sellers.index[~sellers["start_month"].str.startswith(f"{YEAR}-")])
    for pid, months in demo.history.groupby("person_id")["month"]:
        start, end = roster.loc[pid, "start_month"], roster.loc[pid, "end_month"]
        assert not start or months.min() >= start, pid
        assert not end or months.max() <= end, pid


# --- history --------------------------------------------------------------------------------


def test_history_covers_24_months_every_metric_and_group(demo, config):
    history = demo.history
    months = [f"{y}-{m:02d}" for y in (YEAR - 2, YEAR - 1) for m in range(1, 13)]
    assert sorted(set(history["month"])) == months
    assert set(history["metric"]) == set(METRIC_KEYS)
    assert set(history["customer_group"]) == set(config["planning"]["customer_groups"])
    assert not history.duplicated(["month", "person_id", "customer_group", "metric"]).any()
    # Dense: every seller-month has all groups x metrics, zeros kept.
    per_month = history.groupby(["month", "person_id"]).size()
    assert (per_month == 5 * 4).all()
    revenue = history[history["metric"] == "revenue"]
    assert (revenue.groupby("customer_group")["value"].sum() > 0).all()


def test_history_values_are_non_negative_and_rounded(demo, config):
    history = demo.history
    assert history["value"].notna().all()
    assert (history["value"] >= 0).all()
    for metric in config["metrics"]:
        values = history.loc[history["metric"] == metric["key"], "value"].to_numpy()
        scaled = values * 10 ** metric["decimals"]
        assert np.allclose(scaled, np.round(scaled), atol=1e-6), metric["key"]
        assert values.max() <= metric["max_value"], metric["key"]


def test_units_follow_revenue(demo):
    wide = demo.history.pivot_table(
        index=["month", "person_id", "customer_group"], columns="metric", values="value"
    )
    assert ((wide["revenue"] > 0) == (wide["quantity"] > 0)).all()


def test_new_customers_are_small_counts(demo):
    rows = demo.history[demo.history["metric"] == "new_customers"]
    per_person_month = rows.groupby(["month", "person_id"])["value"].sum()
    assert (per_person_month <= 3).mean() > 0.9
    assert per_person_month.sum() > 0


def test_seasonality_is_visible(demo):
    revenue = demo.history[demo.history["metric"] == "revenue"].groupby("month")["value"].sum()
    for year in (YEAR - 2, YEAR - 1):
        jan, aug, dec = (revenue[f"{year}-{m:02d}"] for m in (1, 8, 12))
        mean = revenue[revenue.index.str.startswith(str(year))].mean()
        assert dec > jan, year
        assert jan < mean and aug < mean, year
        assert dec > mean, year


@pytest.mark.parametrize("year, seed", [(2027, 2027), (2027, 1), (2027, 99), (2031, 5)])
def test_total_revenue_grows_year_on_year(year, seed):
    totals = _yearly(build_demo(year=year, seed=seed).history, "revenue")
    assert list(totals.index) == [str(year - 2), str(year - 1)]
    assert totals[str(year - 1)] > totals[str(year - 2)] * 1.01


def test_skill_differs_between_sellers(demo):
    revenue = demo.history[demo.history["metric"] == "revenue"]
    per_person = revenue[revenue["month"].str.startswith(str(YEAR - 1))].groupby("person_id")["value"].sum()
    assert per_person.max() > 2 * per_person.min()


# --- determinism and languages --------------------------------------------------------------


def test_same_arguments_give_the_same_company(demo):
    again = build_demo()
    assert again.config_toml == demo.config_toml
    pd.testing.assert_frame_equal(again.roster, demo.roster)
    pd.testing.assert_frame_equal(again.history, demo.history)


def test_another_seed_gives_other_figures_and_names(demo):
    other = build_demo(seed=1)
    assert list(other.roster["role"]) == list(demo.roster["role"])
    assert list(other.roster["name"]) != list(demo.roster["name"])
    assert not other.history["value"].equals(demo.history["value"])


def test_plan_year_moves_every_date():
    demo = build_demo(year=2031)
    assert tomllib.loads(demo.config_toml)["fiscal"]["year"] == 2031
    assert demo.history["month"].min() == "2029-01"
    assert demo.history["month"].max() == "2030-12"
    hires = demo.roster[demo.roster["start_month"] != ""]
    assert hires["start_month"].str.startswith("2031-").all()


def test_zh_build_is_chinese_and_parses(demo, demo_zh):
    roster = demo_zh.roster
    assert roster["name"].map(lambda name: bool(CJK.search(name))).all()
    assert all(EMAIL.match(email) for email in roster["email"]), roster["email"].tolist()
    assert roster["email"].is_unique and roster["name"].is_unique
    teams = set(roster["team"]) - {""}
    assert teams and all(CJK.search(team) for team in teams)
    config = tomllib.loads(demo_zh.config_toml)
    assert config["company"]["language"] == "zh"
    assert config["company"]["currency"] == "CNY"
    assert CJK.search(config["company"]["name"])
    groups = config["planning"]["customer_groups"]
    assert len(groups) == 5 and all(CJK.search(g) for g in groups)
    assert set(demo_zh.history["customer_group"]) == set(groups)
    # Same structure as the English company.
    for column in ("person_id", "role", "reports_to", "start_month", "end_month", "active"):
        assert list(roster[column]) == list(demo.roster[column]), column


def test_zh_figures_are_the_english_ones_in_cny(demo, demo_zh):
    en, zh = demo.history, demo_zh.history
    assert len(en) == len(zh)
    for metric in ("quantity", "new_customers"):
        mask = en["metric"] == metric
        assert np.array_equal(en.loc[mask, "value"].to_numpy(), zh.loc[mask, "value"].to_numpy())
    ratio = _yearly(zh, "revenue") / _yearly(en, "revenue")
    assert np.allclose(ratio, 7.8, rtol=1e-4)


@pytest.mark.parametrize("kwargs", [{"lang": "fr"}, {"lang": "EN"}, {"year": 27}, {"year": "2027"}])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        build_demo(**kwargs)


# --- config ---------------------------------------------------------------------------------


def test_config_lists_metrics_and_groups(config):
    assert config["company"] == {"name": config["company"]["name"], "currency": "EUR", "language": "en"}
    assert config["fiscal"] == {"year": YEAR, "start_month": 1}
    assert config["planning"]["customer_groups"] == [
        "Key accounts", "Distributors", "OEM", "Public sector", "Online",
    ]
    assert config["planning"]["selling_roles"] == ["rep", "supervisor"]
    metrics = {m["key"]: m for m in config["metrics"]}
    assert list(metrics) == list(METRIC_KEYS)
    expected = {  # key: (label_en, label_zh, unit, decimals, higher_is_better)
        "revenue": ("Revenue", "销售额", "EUR", 2, True),
        "quantity": ("Units sold", "销售数量", "units", 0, True),
        "new_customers": ("New customers", "新客户数", "customers", 0, True),
        "expenses": ("Travel & entertainment expenses", "差旅招待费用", "EUR", 2, False),
    }
    for key, (label_en, label_zh, unit, decimals, higher) in expected.items():
        m = metrics[key]
        assert (m["label_en"], m["label_zh"], m["unit"], m["decimals"], m["higher_is_better"]) == (
            label_en, label_zh, unit, decimals, higher,
        ), key
        assert m["max_value"] > 0
    assert sum(m["weight"] for m in metrics.values()) == pytest.approx(1.0)


def test_config_policy_sections(config):
    assert config["allocation"] == {
        "method": "history", "seasonality": "history", "growth": 0.08,
        "no_history": "average", "ramp": [0.25, 0.5, 0.75],
    }
    assert config["rollover"] == {"policy": "next_month", "carry_credit": False}
    assert config["flags"] == {
        "behind_pace": 0.9, "far_behind": 0.75, "sharp_drop": 0.3, "plan_tolerance": 0.0,
    }
    assert config["protection"] == {"password": ""}


def test_config_has_comments_for_humans(demo):
    assert demo.config_toml.startswith("#")
    assert sum("  # " in line for line in demo.config_toml.splitlines()) >= 10
