"""sheetplan.toml: every mistake comes back as a (code, key path) problem; good configs parse to known values."""

from __future__ import annotations

import pytest

from sheetplan.errors import ConfigError
from sheetplan.workspace.config import Allocation, Config, Flags, Metric, Rollover, parse_config
from sheetplan.workspace.demo_company import build_demo

# A small, complete config. Every broken case below is this text with one or two things changed,
# so each case is expected to report exactly the problems it was built to cause.
GOOD = """\
[company]
name = "Acme Sensors"
currency = "USD"
language = "en"

[fiscal]
year = 2027
start_month = 4

[planning]
customer_groups = ["Key accounts", "Distributors", "Online"]
selling_roles = ["rep"]

[[metrics]]
key = "revenue"
label_en = "Revenue"
label_zh = "销售额"
unit = "USD"
decimals = 2
higher_is_better = true
max_value = 5000000
weight = 0.75

[[metrics]]
key = "units"
label_en = "Units"
decimals = 0
max_value = 1000
weight = 0.25

[allocation]
method = "seasonality"
seasonality = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3]
growth = 0
no_history = "minimum"
ramp = [0.5, 1]

[rollover]
policy = "spread"
carry_credit = true

[flags]
behind_pace = 0.8
far_behind = 0.5
sharp_drop = 0.25
plan_tolerance = 1

[protection]
password = "s3cret"
"""

GOOD_PARSED = Config(
    company="Acme Sensors",
    currency="USD",
    language="en",
    fiscal_year=2027,
    start_month=4,
    metrics=(
        Metric("revenue", "Revenue", "销售额", "USD", 2, True, 5_000_000.0, 0.75),
        # label_zh falls back to label_en, unit to "", higher_is_better to true
        Metric("units", "Units", "Units", "", 0, True, 1000.0, 0.25),
    ),
    customer_groups=("Key accounts", "Distributors", "Online"),
    selling_roles=("rep",),
    allocation=Allocation("seasonality", (1.0,) * 10 + (2.0, 3.0), 0.0, "minimum", (0.5, 1.0)),
    rollover=Rollover("spread", True),
    flags=Flags(0.8, 0.5, 0.25, 1.0),
    password="s3cret",
)


SEASON = "[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3]"


def edit(*changes: tuple[str, str]) -> str:
    """GOOD with each (old, new) text replaced once; fails loudly if a case no longer applies."""
    text = GOOD
    for old, new in changes:
        assert text.count(old) == 1, f"{old!r} must occur exactly once in GOOD"
        text = text.replace(old, new)
    return text


def problems_of(text: str) -> set[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert caught.value.problems, "a ConfigError must carry its problems"
    return {(p.code, p.field) for p in caught.value.problems}


BROKEN = [
    # id, TOML text, expected {(code, field)}
    ("syntax-error", edit(('name = "Acme Sensors"', 'name = "Acme Sensors'),), {("config-syntax", "")}),
    ("missing-company-name", edit(('name = "Acme Sensors"\n', ""),), {("config-invalid", "company.name")}),
    ("missing-company-table", edit(('[company]\nname = "Acme Sensors"\ncurrency = "USD"\nlanguage = "en"\n', ""),),
     {("config-invalid", "company"), ("config-invalid", "company.name")}),
    ("missing-fiscal-year", edit(("year = 2027\n", ""),), {("config-invalid", "fiscal.year")}),
    ("name-not-text", edit(('name = "Acme Sensors"', "name = 42"),), {("config-invalid", "company.name")}),
    ("year-as-text", edit(("year = 2027", 'year = "2027"'),), {("config-invalid", "fiscal.year")}),
    ("year-as-float", edit(("year = 2027", "year = 2027.0"),), {("config-invalid", "fiscal.year")}),
    ("start-month-as-bool", edit(("start_month = 4", "start_month = true"),),
     {("config-invalid", "fiscal.start_month")}),
    ("decimals-as-bool", edit(("decimals = 2", "decimals = true"),), {("config-invalid", "metrics[0].decimals")}),
    ("higher-is-better-as-text", edit(("higher_is_better = true", 'higher_is_better = "yes"'),),
     {("config-invalid", "metrics[0].higher_is_better")}),
    ("growth-as-text", edit(("growth = 0", 'growth = "5%"'),), {("config-invalid", "allocation.growth")}),
    ("growth-not-finite", edit(("growth = 0", "growth = nan"),), {("config-invalid", "allocation.growth")}),
    ("customer-groups-not-a-list", edit(('customer_groups = ["Key accounts", "Distributors", "Online"]',
                                         'customer_groups = "Online"'),),
     {("config-invalid", "planning.customer_groups")}),
    ("customer-group-not-text", edit(('"Distributors", "Online"]', '"Distributors", 7]'),),
     {("config-invalid", "planning.customer_groups[2]")}),
    ("company-not-a-table", edit(('[company]\nname = "Acme Sensors"\ncurrency = "USD"\nlanguage = "en"\n',
                                  'company = "Acme"\n'),),
     {("config-invalid", "company"), ("config-invalid", "company.name")}),
    ("language-fr", edit(('language = "en"', 'language = "fr"'),), {("config-invalid", "company.language")}),
    ("language-upper-case", edit(('language = "en"', 'language = "EN"'),), {("config-invalid", "company.language")}),
    ("start-month-13", edit(("start_month = 4", "start_month = 13"),), {("config-invalid", "fiscal.start_month")}),
    ("start-month-0", edit(("start_month = 4", "start_month = 0"),), {("config-invalid", "fiscal.start_month")}),
    ("duplicate-metric-key", edit(('key = "units"', 'key = "revenue"'),), {("config-invalid", "metrics[1].key")}),
    ("metric-key-upper-case", edit(('key = "revenue"', 'key = "Revenue"'),), {("config-invalid", "metrics[0].key")}),
    ("metric-key-dash", edit(('key = "units"', 'key = "unit-count"'),), {("config-invalid", "metrics[1].key")}),
    ("metric-key-leading-digit", edit(('key = "units"', 'key = "1units"'),), {("config-invalid", "metrics[1].key")}),
    ("metric-key-too-long", edit(('key = "units"', f'key = "{"u" * 32}"'),), {("config-invalid", "metrics[1].key")}),
    ("missing-metric-key", edit(('key = "units"\n', ""),), {("config-invalid", "metrics[1].key")}),
    ("no-metrics", GOOD.split("[[metrics]]")[0] + "[allocation]" + GOOD.split("[allocation]")[1],
     {("config-invalid", "metrics")}),
    ("decimals-7", edit(("decimals = 2", "decimals = 7"),), {("config-invalid", "metrics[0].decimals")}),
    ("decimals-negative", edit(("decimals = 0", "decimals = -1"),), {("config-invalid", "metrics[1].decimals")}),
    ("max-value-negative", edit(("max_value = 1000", "max_value = -1"),), {("config-invalid", "metrics[1].max_value")}),
    ("unknown-top-level-key", edit(("[protection]", "[extras]\nx = 1\n\n[protection]"),),
     {("config-invalid", "extras")}),
    ("unknown-company-key", edit(('currency = "USD"', 'currency = "USD"\ncolour = "blue"'),),
     {("config-invalid", "company.colour")}),
    ("unknown-metric-key", edit(("weight = 0.25", "weight = 0.25\ncolour = 1"),),
     {("config-invalid", "metrics[1].colour")}),
    ("unknown-allocation-key", edit(('method = "seasonality"', 'method = "seasonality"\nspeed = 2'),),
     {("config-invalid", "allocation.speed")}),
    ("unknown-method", edit(('method = "seasonality"', 'method = "magic"'),),
     {("config-invalid", "allocation.method")}),
    ("seasonality-list-of-11", edit((SEASON, "[1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3]"),),
     {("config-invalid", "allocation.seasonality")}),
    ("seasonality-negative-weight", edit((SEASON, SEASON.replace("3]", "-3]")),),
     {("config-invalid", "allocation.seasonality")}),
    ("seasonality-all-zero", edit((SEASON, "[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]"),),
     {("config-invalid", "allocation.seasonality")}),
    ("seasonality-unknown-word", edit((SEASON, '"spiky"'),),
     {("config-invalid", "allocation.seasonality")}),
    ("growth-below-minus-0.99", edit(("growth = 0", "growth = -1.5"),), {("config-invalid", "allocation.growth")}),
    ("growth-minus-one", edit(("growth = 0", "growth = -1"),), {("config-invalid", "allocation.growth")}),
    ("ramp-1.5", edit(("ramp = [0.5, 1]", "ramp = [0.5, 1.5]"),), {("config-invalid", "allocation.ramp")}),
    ("ramp-negative", edit(("ramp = [0.5, 1]", "ramp = [-0.5, 1]"),), {("config-invalid", "allocation.ramp")}),
    ("ramp-13-steps", edit(("ramp = [0.5, 1]", f"ramp = [{', '.join(['0.5'] * 13)}]"),),
     {("config-invalid", "allocation.ramp")}),
    ("empty-customer-groups", edit(('customer_groups = ["Key accounts", "Distributors", "Online"]',
                                    "customer_groups = []"),),
     {("config-invalid", "planning.customer_groups")}),
    ("missing-customer-groups", edit(('customer_groups = ["Key accounts", "Distributors", "Online"]\n', ""),),
     {("config-invalid", "planning.customer_groups")}),
    ("duplicate-customer-group", edit(('"Distributors", "Online"]', '"Distributors", "Online", "Distributors"]'),),
     {("config-invalid", "planning.customer_groups[3]")}),
    ("duplicate-customer-group-other-case", edit(('"Distributors", "Online"]', '"Distributors", "Online", "online"]'),),
     {("config-invalid", "planning.customer_groups[3]")}),
    ("blank-customer-group", edit(('"Distributors", "Online"]', '"Distributors", " "]'),),
     {("config-invalid", "planning.customer_groups[2]")}),
    ("unknown-selling-role", edit(('selling_roles = ["rep"]', 'selling_roles = ["rep", "intern"]'),),
     {("config-invalid", "planning.selling_roles[1]")}),
    ("unknown-rollover-policy", edit(('policy = "spread"', 'policy = "later"'),),
     {("config-invalid", "rollover.policy")}),
    ("negative-flag", edit(("behind_pace = 0.8", "behind_pace = -0.8"),), {("config-invalid", "flags.behind_pace")}),
    ("password-not-text", edit(('password = "s3cret"', "password = 1234"),),
     {("config-invalid", "protection.password")}),
    ("cr-in-company-name", edit(('name = "Acme Sensors"', 'name = "Acme\\rSensors"'),),
     {("config-invalid", "company.name")}),
    ("nul-in-customer-group", edit(('"Distributors"', '"Distri\\u0000butors"'),),
     {("config-invalid", "planning.customer_groups[1]")}),
    ("lf-in-customer-group", edit(('"Online"', '"On\\nline"'),), {("config-invalid", "planning.customer_groups[2]")}),
    ("three-mistakes-at-once", edit(("start_month = 4", "start_month = 13"), ("decimals = 0", "decimals = 7"),
                                    ('language = "en"', 'language = "de"')),
     {("config-invalid", "fiscal.start_month"), ("config-invalid", "metrics[1].decimals"),
      ("config-invalid", "company.language")}),
]


@pytest.mark.parametrize("text, expected", [case[1:] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_broken_config_reports_each_problem_with_its_key_path(text, expected):
    assert problems_of(text) == expected


@pytest.mark.parametrize("text", [case[1] for case in BROKEN], ids=[case[0] for case in BROKEN])
def test_every_problem_names_the_file(text):
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="plans.toml")
    assert {p.file for p in caught.value.problems} == {"plans.toml"}
    assert all(p.is_error for p in caught.value.problems)


def test_good_config_parses_to_the_values_written():
    assert parse_config(GOOD) == GOOD_PARSED


def test_parsing_is_deterministic_and_numbers_are_normalised():
    first, second = parse_config(GOOD), parse_config(GOOD)
    assert first == second
    # whole numbers written where a number is allowed are read as floats
    assert isinstance(first.allocation.growth, float)
    assert all(isinstance(m.max_value, float) for m in first.metrics)
    assert all(isinstance(v, float) for v in first.allocation.seasonality)


def test_minimal_config_takes_documented_defaults():
    minimal = """\
[company]
name = "Tiny"
[fiscal]
year = 2030
[planning]
customer_groups = ["All"]
[[metrics]]
key = "revenue"
"""
    config = parse_config(minimal)
    assert (config.currency, config.language, config.start_month) == ("EUR", "en", 1)
    assert config.selling_roles == ("rep", "supervisor")
    assert config.allocation == Allocation()
    assert config.rollover == Rollover()
    assert config.flags == Flags()
    assert config.password == ""
    assert config.metrics == (Metric("revenue", "revenue", "revenue"),)


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("year", [2027, 2031])
def test_demo_config_parses(lang, year):
    demo = build_demo(year=year, lang=lang)
    config = parse_config(demo.config_toml)
    assert config.language == lang
    assert config.fiscal_year == year
    assert len(config.customer_groups) == len(demo.history["customer_group"].unique())
    assert {m.key for m in config.metrics} == set(demo.history["metric"].unique())


MONTHS_CASES = [
    # start_month, expected fiscal months (written by hand)
    (1, ["2027-01", "2027-02", "2027-03", "2027-04", "2027-05", "2027-06",
         "2027-07", "2027-08", "2027-09", "2027-10", "2027-11", "2027-12"]),
    (4, ["2027-04", "2027-05", "2027-06", "2027-07", "2027-08", "2027-09",
         "2027-10", "2027-11", "2027-12", "2028-01", "2028-02", "2028-03"]),
    (12, ["2027-12", "2028-01", "2028-02", "2028-03", "2028-04", "2028-05",
          "2028-06", "2028-07", "2028-08", "2028-09", "2028-10", "2028-11"]),
]


@pytest.mark.parametrize("start_month, expected", MONTHS_CASES)
def test_config_months_follow_the_fiscal_start(start_month, expected):
    config = parse_config(edit(("start_month = 4", f"start_month = {start_month}")))
    assert config.months == expected


def test_metric_lookup_and_labels():
    config = parse_config(GOOD)
    assert config.metric("units").decimals == 0
    assert config.metric("revenue").label("zh") == "销售额"
    assert config.metric("revenue").label("en") == "Revenue"
    with pytest.raises(KeyError):
        config.metric("profit")


@pytest.mark.parametrize("key", ["comment", "revision", "revision_reason"])
def test_metric_keys_that_collide_with_reserved_block_names_are_rejected(key):
    # A metric's input block is named in_<key>; the month template also has the blocks in_comment,
    # in_revision and in_revision_reason. A metric with one of those keys would share a defined name
    # with a text block, so its figures could not be told apart from the comments.
    assert problems_of(edit(('key = "units"', f'key = "{key}"'))) == {("config-invalid", "metrics[1].key")}
