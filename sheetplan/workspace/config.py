"""Load and check sheetplan.toml into a frozen Config; every mistake is reported with its key path."""

from __future__ import annotations

import functools
import math
import numbers
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sheetplan.errors import ConfigError
from sheetplan.problems import Problem
from sheetplan.workspace.actuals_config import ActualsConfig, parse_actuals

CONFIG_FILE = "sheetplan.toml"
LANGUAGES = ("en", "zh")
ALLOCATION_METHODS = ("equal", "history", "seasonality", "manual")
NO_HISTORY_RULES = ("average", "minimum", "zero")
ROLLOVER_POLICIES = ("none", "next_month", "spread")
ROLLOVER_LEVELS = ("total", "group")  # what a shortfall is measured on: the person's total, or each customer group
ROLES = ("rep", "supervisor", "manager", "vp", "gm")
# in_comment, in_revision etc. are the templates' own input blocks: a metric may not share their names
RESERVED_KEYS = ("comment", "revision", "revision_reason", "revision_months", "decision", "decision_comment")
_METRIC_KEY = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


@functools.lru_cache(maxsize=64)
def _months_of(year: int, start_month: int) -> tuple[str, ...]:
    return tuple(fiscal_months(year, start_month))


def fiscal_months(year: int, start_month: int) -> list[str]:
    """The 12 months of a fiscal year as 'YYYY-MM'; a fiscal year is named after the calendar
    year it starts in, so fiscal 2027 starting in April runs 2027-04 .. 2028-03.

    >>> fiscal_months(2027, 4)[0], fiscal_months(2027, 4)[-1]
    ('2027-04', '2028-03')
    """
    for value, low, high, what in ((year, 1, 9998, "year"), (start_month, 1, 12, "start_month")):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not low <= value <= high:
            raise ValueError(f"{what} must be a whole number from {low} to {high}, got {value!r}")
    first = int(year) * 12 + int(start_month) - 1
    return [f"{index // 12:04d}-{index % 12 + 1:02d}" for index in range(first, first + 12)]



@dataclass(frozen=True)
class Metric:
    key: str
    label_en: str
    label_zh: str
    unit: str = ""
    decimals: int = 0
    higher_is_better: bool = True
    max_value: float = 1e12
    weight: float = 1.0

    def label(self, lang: str) -> str:
        return self.label_zh if lang == "zh" else self.label_en


@dataclass(frozen=True)
class Allocation:
    method: str = "history"
    seasonality: str | tuple[float, ...] = "history"
    growth: float = 0.0
    no_history: str = "average"
    ramp: tuple[float, ...] = ()


@dataclass(frozen=True)
class Rollover:
    policy: str = "none"
    carry_credit: bool = False
    level: str = "total"  # total: a person's net shortfall per metric; group: each customer group's own


@dataclass(frozen=True)
class Flags:
    behind_pace: float = 0.9
    far_behind: float = 0.75
    sharp_drop: float = 0.3
    plan_tolerance: float = 0.0


# --- [mail] (sheetplan mail / remind / collect) ---------------------------------------------
SECURITY_MODES = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
DEADLINE_KEYS = ("default", "company", "team", "person", "month", "approval", "reforecast")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Mail:
    """How messages go out. The password is never stored: `password_env` names the variable holding it."""

    from_address: str = ""
    reply_to: str = ""  # the collecting mailbox; replies with returned workbooks go here
    smtp_host: str = "localhost"
    smtp_port: int = 587
    security: str = "starttls"
    smtp_user: str = ""
    password_env: str = "SHEETPLAN_SMTP_PASSWORD"
    rate_per_minute: int = 30
    retries: int = 3
    deadlines: tuple[tuple[str, str], ...] = ()  # (kind or "default", "YYYY-MM-DD")
    deadline_days: tuple[tuple[str, int], ...] = ()  # (kind or "default", days: see workspace.deadlines)

    def deadline(self, kind: str) -> str:
        """The fixed return deadline for a kind of template, else the default one, else ''."""
        found = dict(self.deadlines)
        return found.get(kind) or found.get("default", "")

    def days_for(self, kind: str) -> int | None:
        """The rule's days for a kind of round, else the default rule's, else None (see workspace.deadlines)."""
        found = dict(self.deadline_days)
        return found.get(kind, found.get("default"))
# --- end [mail] -----------------------------------------------------------------------------


# --- [replan] (when the people of a team no longer add up to the team's target) ---------------
REPLAN_POLICIES = ("reallocate", "absorb")


@dataclass(frozen=True)
class Replan:
    """`reallocate`: the team's and company's targets stay, and the next team template spreads the gap
    over the other members; `absorb`: the team (then the company) target becomes the sum below it."""

    policy: str = "reallocate"
# --- end [replan] ---------------------------------------------------------------------------


# --- [collect] (who may send a template back by mail) -----------------------------------------
SENDER_POLICIES = ("owner", "owner-and-managers", "anyone")


@dataclass(frozen=True)
class Collect:
    """Who may return a template by mail. A workbook from anyone else is quarantined, not ingested: a
    template forwarded to a stranger must not become someone's figures without an analyst saying so."""

    senders: str = "owner-and-managers"
# --- end [collect] --------------------------------------------------------------------------


# --- [approvals] ------------------------------------------------------------------------------
# What needs approving, and by which roles in the owner's reporting line, lowest level first.
APPROVAL_ITEMS = ("company", "team", "person", "revision", "reforecast")
DEFAULT_APPROVALS = (
    ("company", ("gm",)),
    ("team", ("vp",)),
    ("person", ("supervisor", "manager")),
    ("revision", ("supervisor", "manager", "vp")),
    ("reforecast", ("supervisor", "manager")),
)


@dataclass(frozen=True)
class Approvals:
    """Levels per item kind; an empty list means that kind is official as soon as a valid file arrives."""

    levels: tuple[tuple[str, tuple[str, ...]], ...] = DEFAULT_APPROVALS

    def roles(self, item_kind: str) -> tuple[str, ...]:
        return dict(self.levels).get(item_kind, ())
# --- end [approvals] --------------------------------------------------------------------------


# --- [review] (sheetplan review annual) -----------------------------------------------------
@dataclass(frozen=True)
class Band:
    """A reward/penalty band: a person's score falls in the first band whose `below` is greater."""

    name: str
    below: float


DEFAULT_BANDS = (Band("below", 0.8), Band("on target", 1.0), Band("above", math.inf))


@dataclass(frozen=True)
class Review:
    bands: tuple[Band, ...] = DEFAULT_BANDS

    def band(self, score: float) -> str:
        """The name of the first band whose threshold is above `score` ('' when none is)."""
        return next((b.name for b in self.bands if b.below > score), "")
# --- end [review] ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    company: str
    currency: str
    language: str
    fiscal_year: int
    start_month: int
    metrics: tuple[Metric, ...]
    customer_groups: tuple[str, ...]
    selling_roles: tuple[str, ...] = ("rep", "supervisor")
    allocation: Allocation = Allocation()
    rollover: Rollover = Rollover()
    flags: Flags = Flags()
    password: str = ""
    mail: Mail = Mail()
    review: Review = Review()  # [review]
    approvals: Approvals = Approvals()  # [approvals]
    collect: Collect = Collect()  # [collect]
    replan: Replan = Replan()  # [replan]
    actuals: ActualsConfig = ActualsConfig()  # [actuals], parsed in actuals_config

    def metric(self, key: str) -> Metric:
        for metric in self.metrics:
            if metric.key == key:
                return metric
        raise KeyError(key)

    @property
    def months(self) -> list[str]:
        """The twelve fiscal months as 'YYYY-MM', in fiscal order (asked for once per person and metric)."""
        return list(_months_of(self.fiscal_year, self.start_month))


# Bidirectional overrides reorder what a reader sees (a name can show as someone else's); with the C0/C1
# controls (CR, LF, NUL, ...) they break mail headers, file names and the signature's canonical text.
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def control_characters(text: str) -> list[str]:
    """The control characters in a free-text setting or roster field, as U+hhhh (hex), in order of appearance."""
    return [f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS]


def _walk_strings(value, path: str):
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk_strings(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk_strings(item, f"{path}[{index}]")


class _Checker:
    """Reads typed values out of the parsed TOML and remembers every problem."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def fail(self, path: str, message: str, value: Any = None) -> None:
        self.problems.append(
            Problem("config-invalid", message, file=self.source, field=path, value=value)
        )

    def table(self, data: dict, key: str, path: str, required: bool = True) -> dict:
        value = data.get(key)
        if value is None:
            if required:
                self.fail(path, f"missing table [{path}]")
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"[{path}] must be a table", value)
            return {}
        return value

    def get(self, data: dict, key: str, path: str, kind: type | tuple, default: Any = ..., *,
            choices: tuple | None = None, minimum: float | None = None, maximum: float | None = None):
        full = f"{path}.{key}" if path else key
        if key not in data:
            if default is ...:
                self.fail(full, f"missing key {full}")
                return None
            return default
        value = data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML booleans are ints in Python; never accept one for the other.
        if isinstance(value, bool) and bool not in kinds:
            value_ok = False
        elif float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value, value_ok = float(value), True
        else:
            value_ok = isinstance(value, kinds)
        if not value_ok:
            names = " or ".join(_kind_name(k) for k in kinds)
            self.fail(full, f"{full} must be {names}, got {value!r}", value)
            return None if default is ... else default
        if isinstance(value, float) and not math.isfinite(value):
            self.fail(full, f"{full} must be a finite number, got {value!r}", value)
            return None
        if choices is not None and value not in choices:
            self.fail(full, f"{full} must be one of {', '.join(map(str, choices))}; got {value!r}", value)
            return None
        if minimum is not None and value < minimum:
            self.fail(full, f"{full} must be at least {minimum}, got {value!r}", value)
            return None
        if maximum is not None and value > maximum:
            self.fail(full, f"{full} must be at most {maximum}, got {value!r}", value)
            return None
        return value

    def unknown(self, data: dict, allowed: set[str], path: str) -> None:
        for key in data:
            if key not in allowed:
                full = f"{path}.{key}" if path else key
                self.fail(full, f"unknown key {full} (expected one of: {', '.join(sorted(allowed))})")


def _kind_name(kind: type) -> str:
    return {str: "text", int: "a whole number", float: "a number", bool: "true or false",
            list: "a list", dict: "a table"}.get(kind, kind.__name__)


def parse_config(text: str, source: str = CONFIG_FILE) -> Config:
    """Parse and check the TOML text; raises ConfigError listing every problem found."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source} is not valid TOML: {exc}",
                          [Problem("config-syntax", str(exc), file=source)]) from None
    check = _Checker(source)
    for path, text in _walk_strings(data, ""):
        if found := control_characters(text):
            check.fail(path, f"holds control characters ({', '.join(found)}); type the text on one line, "
                             "without tabs or invisible characters", text)
    check.unknown(data, {"company", "fiscal", "planning", "metrics", "allocation", "rollover", "flags",
                         "protection", "approvals", "mail", "deadlines", "review", "collect", "replan",
                         "actuals"}, "")

    company = check.table(data, "company", "company")
    check.unknown(company, {"name", "currency", "language"}, "company")
    name = check.get(company, "name", "company", str)
    currency = check.get(company, "currency", "company", str, "EUR")
    language = check.get(company, "language", "company", str, "en", choices=LANGUAGES)

    fiscal = check.table(data, "fiscal", "fiscal")
    check.unknown(fiscal, {"year", "start_month"}, "fiscal")
    year = check.get(fiscal, "year", "fiscal", int, minimum=2000, maximum=2100)
    start_month = check.get(fiscal, "start_month", "fiscal", int, 1, minimum=1, maximum=12)

    planning = check.table(data, "planning", "planning")
    check.unknown(planning, {"customer_groups", "selling_roles"}, "planning")
    groups = _string_list(check, planning, "customer_groups", "planning", required=True)
    roles = _string_list(check, planning, "selling_roles", "planning", required=False) or ["rep", "supervisor"]
    for index, role in enumerate(roles):
        if role not in ROLES:
            check.fail(f"planning.selling_roles[{index}]", f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    seen_groups: set[str] = set()
    for index, group in enumerate(groups):
        if not group.strip() or group != group.strip():
            check.fail(f"planning.customer_groups[{index}]", "customer group names must be non-empty "
                       "and have no leading or trailing spaces", group)
        if group.casefold() in seen_groups:
            check.fail(f"planning.customer_groups[{index}]", f"duplicate customer group {group!r}", group)
        seen_groups.add(group.casefold())

    metrics = _metrics(check, data)
    allocation = _allocation(check, data)
    rollover_table = check.table(data, "rollover", "rollover", required=False)
    check.unknown(rollover_table, {"policy", "carry_credit", "level"}, "rollover")
    rollover = Rollover(
        policy=check.get(rollover_table, "policy", "rollover", str, "none", choices=ROLLOVER_POLICIES) or "none",
        carry_credit=bool(check.get(rollover_table, "carry_credit", "rollover", bool, False)),
        level=check.get(rollover_table, "level", "rollover", str, "total", choices=ROLLOVER_LEVELS) or "total",
    )
    flags_table = check.table(data, "flags", "flags", required=False)
    check.unknown(flags_table, {"behind_pace", "far_behind", "sharp_drop", "plan_tolerance"}, "flags")
    flag_values = {}
    for key in ("behind_pace", "far_behind", "sharp_drop", "plan_tolerance"):
        value = check.get(flags_table, key, "flags", float, getattr(Flags(), key), minimum=0.0)
        flag_values[key] = getattr(Flags(), key) if value is None else value
    flags = Flags(**flag_values)
    protection = check.table(data, "protection", "protection", required=False)
    check.unknown(protection, {"password"}, "protection")
    password = check.get(protection, "password", "protection", str, "")
    mail = _mail(check, data)
    review = _review(check, data)  # [review]
    approvals = _approvals(check, data)
    collect_table = check.table(data, "collect", "collect", required=False)
    check.unknown(collect_table, {"senders"}, "collect")
    senders = check.get(collect_table, "senders", "collect", str, Collect().senders, choices=SENDER_POLICIES)
    replan_table = check.table(data, "replan", "replan", required=False)
    check.unknown(replan_table, {"policy"}, "replan")
    replan_policy = check.get(replan_table, "policy", "replan", str, Replan().policy, choices=REPLAN_POLICIES)
    actuals = parse_actuals(check, data, [m.key for m in metrics])

    if check.problems:
        raise ConfigError(f"{source} has {len(check.problems)} problem(s); nothing was generated",
                          check.problems)
    return Config(
        company=name, currency=currency, language=language, fiscal_year=year, start_month=start_month,
        metrics=tuple(metrics), customer_groups=tuple(groups), selling_roles=tuple(roles),
        allocation=allocation, rollover=rollover, flags=flags, password=password or "", mail=mail,
        review=review, approvals=approvals, collect=Collect(senders or Collect().senders),
        replan=Replan(replan_policy or Replan().policy), actuals=actuals,
    )


# --- [mail] ---------------------------------------------------------------------------------
def _mail(check: _Checker, data: dict) -> Mail:
    table = check.table(data, "mail", "mail", required=False)
    if "password" in table:
        # A password in a file travels with every copy of the workspace; only its variable's name may.
        check.fail("mail.password", "mail.password is not allowed: never put a password in sheetplan.toml; "
                   "set mail.password_env to the name of an environment variable that holds it")
    check.unknown(table, {"from_address", "reply_to", "smtp_host", "smtp_port", "security", "smtp_user",
                          "password_env", "rate_per_minute", "retries", "deadline", "deadline_days", "password"},
                  "mail")
    defaults = Mail()
    addresses = {}
    for key in ("from_address", "reply_to"):
        value = check.get(table, key, "mail", str, "") or ""
        if value and not _address_ok(value):
            check.fail(f"mail.{key}", f"mail.{key} must be an email address such as "
                       f"\"Sales Ops <ops@example.com>\", got {value!r}", value)
        addresses[key] = value
    security = check.get(table, "security", "mail", str, defaults.security, choices=SECURITY_MODES)
    security = security or defaults.security
    port = check.get(table, "smtp_port", "mail", int, DEFAULT_PORTS[security], minimum=1, maximum=65535)
    host = check.get(table, "smtp_host", "mail", str, defaults.smtp_host)
    if host is not None and not host.strip():
        check.fail("mail.smtp_host", "mail.smtp_host must not be empty", host)
    user = check.get(table, "smtp_user", "mail", str, "")
    env = check.get(table, "password_env", "mail", str, defaults.password_env)
    if env is not None and not _ENV_NAME.match(env):
        check.fail("mail.password_env", "mail.password_env must be the name of an environment variable "
                   f"(letters, digits and _), got {env!r}", env)
    rate = check.get(table, "rate_per_minute", "mail", int, defaults.rate_per_minute, minimum=1, maximum=100000)
    retries = check.get(table, "retries", "mail", int, defaults.retries, minimum=0, maximum=10)
    return Mail(addresses["from_address"], addresses["reply_to"], (host or defaults.smtp_host).strip(),
                port or DEFAULT_PORTS[security], security, user or "", env or defaults.password_env,
                rate or defaults.rate_per_minute, defaults.retries if retries is None else retries,
                _deadlines(check, table), _deadline_days(check, table))


def _deadline_days(check: _Checker, table: dict) -> tuple[tuple[str, int], ...]:
    """`deadline_days = 10` for every round, or per kind: `deadline_days = {default = 14, month = 10}`."""
    raw = table.get("deadline_days")
    if raw is None:
        return ()
    items = raw if isinstance(raw, dict) else {"default": raw}
    if isinstance(raw, dict):
        check.unknown(raw, set(DEADLINE_KEYS), "mail.deadline_days")
    out = []
    for key, value in items.items():
        path = "mail.deadline_days" + (f".{key}" if isinstance(raw, dict) else "")
        if key not in DEADLINE_KEYS:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 366:
            check.fail(path, f"{path} must be a whole number of days from 0 to 366 (after a month round's month "
                       f"ends, or after any other round is generated), got {value!r}", value)
            continue
        out.append((key, value))
    return tuple(out)


def _address_ok(value: str) -> bool:
    from email.utils import parseaddr

    _name, address = parseaddr(value)
    local, _, domain = address.rpartition("@")
    return bool(local) and "." in domain and not any(c.isspace() for c in address)


def _deadlines(check: _Checker, table: dict) -> tuple[tuple[str, str], ...]:
    """`deadline = "2027-04-05"` for every kind, or a table: `deadline = {default = "...", month = "..."}`."""
    from datetime import date, datetime

    raw = table.get("deadline")
    if raw is None:
        return ()
    if isinstance(raw, (str, date)):
        items, prefix = {"default": raw}, "mail.deadline"
    elif isinstance(raw, dict):
        items, prefix = raw, "mail.deadline."
        check.unknown(raw, set(DEADLINE_KEYS), "mail.deadline")
    else:
        check.fail("mail.deadline", "mail.deadline must be a date text 'YYYY-MM-DD' or a table of them per kind",
                   raw)
        return ()
    out = []
    for key, value in items.items():
        if key not in DEADLINE_KEYS:
            continue
        path = prefix if isinstance(raw, (str, date)) else prefix + key
        if isinstance(value, date) and not isinstance(value, datetime):  # an unquoted TOML date
            value = value.isoformat()
        try:
            if not isinstance(value, str) or not _DATE.match(value):
                raise ValueError
            date.fromisoformat(value)
        except ValueError:
            check.fail(path, f"{path} must be a date as 'YYYY-MM-DD', got {value!r}", value)
            continue
        out.append((key, value))
    return tuple(out)
# --- end [mail] -----------------------------------------------------------------------------


# --- [approvals] ----------------------------------------------------------------------------
def _approvals(check: _Checker, data: dict) -> Approvals:
    """`person = ["supervisor", "manager"]`: roles in the owner's reporting line, lowest first; [] = none."""
    table = check.table(data, "approvals", "approvals", required=False)
    check.unknown(table, set(APPROVAL_ITEMS), "approvals")
    levels = dict(DEFAULT_APPROVALS)
    for item in APPROVAL_ITEMS:
        if item not in table:
            continue
        path = f"approvals.{item}"
        raw = table[item]
        if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
            check.fail(path, f"{path} must be a list of roles such as [\"supervisor\", \"manager\"] "
                       "(an empty list: no approval needed)", raw)
            continue
        for index, role in enumerate(raw):
            if role not in ROLES:
                check.fail(f"{path}[{index}]", f"unknown role {role!r}; roles are {', '.join(ROLES)}", role)
            elif raw.index(role) != index:
                check.fail(f"{path}[{index}]", f"role {role!r} is listed twice", role)
        levels[item] = tuple(raw)
    return Approvals(tuple((item, levels[item]) for item in APPROVAL_ITEMS))
# --- end [approvals] ------------------------------------------------------------------------


# --- [review] -------------------------------------------------------------------------------
def _review(check: _Checker, data: dict) -> Review:
    """`bands = [{name = "below", below = 0.8}, ..., {name = "above", below = inf}]`, thresholds rising."""
    table = check.table(data, "review", "review", required=False)
    check.unknown(table, {"bands"}, "review")
    raw = check.get(table, "bands", "review", list, None)
    if raw is None:
        return Review()
    if not raw:
        check.fail("review.bands", "review.bands must list at least one band")
        return Review()
    bands: list[Band] = []
    for index, item in enumerate(raw):
        path = f"review.bands[{index}]"
        if not isinstance(item, dict):
            check.fail(path, f"{path} must be a table such as {{name = \"above\", below = inf}}", item)
            continue
        check.unknown(item, {"name", "below"}, path)
        name = check.get(item, "name", path, str)
        if name is not None and not name.strip():
            check.fail(f"{path}.name", f"{path}.name must not be empty", name)
            name = None
        below = item.get("below")
        # the last band is open-ended, so inf is allowed here (and only here in the config)
        if isinstance(below, bool) or not isinstance(below, (int, float)) or below != below:
            check.fail(f"{path}.below", f"{path}.below must be a number (or inf), got {below!r}", below)
            below = None
        if name is None or below is None:
            continue
        if any(b.name == name for b in bands):
            check.fail(f"{path}.name", f"duplicate band name {name!r}", name)
        if bands and float(below) <= bands[-1].below:
            check.fail(f"{path}.below", f"{path}.below must be greater than the band before it "
                       f"({bands[-1].below:g}), got {below!r}", below)
        bands.append(Band(name, float(below)))
    return Review(tuple(bands)) if bands else Review()
# --- end [review] ---------------------------------------------------------------------------


def _string_list(check: _Checker, data: dict, key: str, path: str, required: bool) -> list[str]:
    value = check.get(data, key, path, list, ... if required else None)
    if value is None:
        return []
    if required and not value:
        check.fail(f"{path}.{key}", f"{path}.{key} must list at least one entry")
    out = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            check.fail(f"{path}.{key}[{index}]", f"{path}.{key}[{index}] must be text, got {item!r}", item)
        else:
            out.append(item)
    return out


def _metrics(check: _Checker, data: dict) -> list[Metric]:
    raw = data.get("metrics")
    if not isinstance(raw, list) or not raw:
        check.fail("metrics", "at least one [[metrics]] table is required")
        return []
    metrics, seen = [], set()
    for index, table in enumerate(raw):
        path = f"metrics[{index}]"
        if not isinstance(table, dict):
            check.fail(path, f"{path} must be a table")
            continue
        check.unknown(table, {"key", "label_en", "label_zh", "unit", "decimals", "higher_is_better",
                              "max_value", "weight"}, path)
        key = check.get(table, "key", path, str)
        if key is not None and not _METRIC_KEY.match(key):
            check.fail(f"{path}.key", f"{path}.key must be lower-case letters, digits and _ "
                       f"(starting with a letter, at most 31 characters), got {key!r}", key)
            key = None
        if key in RESERVED_KEYS:
            check.fail(f"{path}.key", f"{path}.key {key!r} is reserved for the month template's other inputs",
                       key)
            key = None
        if key is not None and key in seen:
            check.fail(f"{path}.key", f"duplicate metric key {key!r}", key)
        seen.add(key)
        label_en = check.get(table, "label_en", path, str, key or "")
        label_zh = check.get(table, "label_zh", path, str, label_en or "")
        unit = check.get(table, "unit", path, str, "")
        decimals = check.get(table, "decimals", path, int, 0, minimum=0, maximum=4)
        higher = check.get(table, "higher_is_better", path, bool, True)
        max_value = check.get(table, "max_value", path, float, 1e12, minimum=0.0)
        weight = check.get(table, "weight", path, float, 1.0, minimum=0.0)
        if key and None not in (decimals, higher, max_value, weight):
            metrics.append(Metric(key, label_en or key, label_zh or label_en or key, unit or "",
                                  decimals, higher, max_value, weight))
    return metrics


def _allocation(check: _Checker, data: dict) -> Allocation:
    table = check.table(data, "allocation", "allocation", required=False)
    check.unknown(table, {"method", "seasonality", "growth", "no_history", "ramp"}, "allocation")
    method = check.get(table, "method", "allocation", str, "history", choices=ALLOCATION_METHODS)
    seasonality = table.get("seasonality", "history")
    if isinstance(seasonality, str):
        if seasonality not in ("history", "flat"):
            check.fail("allocation.seasonality", "allocation.seasonality must be \"history\", \"flat\" "
                       f"or a list of 12 non-negative numbers; got {seasonality!r}", seasonality)
    elif isinstance(seasonality, list):
        ok = len(seasonality) == 12 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in seasonality
        ) and sum(seasonality) > 0
        if not ok:
            check.fail("allocation.seasonality", "allocation.seasonality as a list needs 12 non-negative "
                       "numbers (fiscal-month order) with a positive sum", seasonality)
        seasonality = tuple(float(v) for v in seasonality) if ok else "flat"
    else:
        check.fail("allocation.seasonality", "allocation.seasonality must be text or a list", seasonality)
        seasonality = "flat"
    growth = check.get(table, "growth", "allocation", float, 0.0, minimum=-0.99, maximum=10.0)
    no_history = check.get(table, "no_history", "allocation", str, "average", choices=NO_HISTORY_RULES)
    ramp_raw = check.get(table, "ramp", "allocation", list, [])
    ramp: tuple[float, ...] = ()
    if ramp_raw is not None:
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in ramp_raw) \
                and len(ramp_raw) <= 12:
            ramp = tuple(float(v) for v in ramp_raw)
        else:
            check.fail("allocation.ramp", "allocation.ramp must be at most 12 numbers between 0 and 1",
                       ramp_raw)
    return Allocation(method or "history", seasonality, growth or 0.0, no_history or "average", ramp)


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path} not found: run 'sheetplan init' first") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path} is not UTF-8 text: {exc}") from None
    return parse_config(text, source=path.name)
