"""A fictional instruments distributor: sheetplan.toml text, roster and two years of actuals, in memory."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

LANGUAGES = ("en", "zh")
ROSTER_COLUMNS = (
    "person_id", "name", "email", "team", "role", "reports_to", "start_month", "end_month", "active",
)
HISTORY_COLUMNS = ("month", "person_id", "customer_group", "metric", "value")
METRIC_KEYS = ("revenue", "quantity", "new_customers", "expenses")
SELLING_ROLES = ("rep", "supervisor")


@dataclass(frozen=True, eq=False)
class DemoData:
    """The demo company. eq=False because DataFrames have no single truth value; compare the parts.

    roster: start_month and end_month are the first and last month worked ('YYYY-MM', inclusive),
    empty when outside the story. Special people: new hires starting mid plan year (no history),
    one leaver in the plan year (full history), one inactive rep who left at the end of year-2
    (history for year-2 only; teammates took over the accounts in year-1).

    history: one row per (month, seller employed that month, customer group, metric), zeros
    included, so a zero means "sold nothing" and a missing row means "not employed then".
    Only roles in SELLING_ROLES have history. Values are rounded to the metric's decimals.
    """

    config_toml: str
    roster: pd.DataFrame
    history: pd.DataFrame


@dataclass(frozen=True)
class _Team:
    name_en: str
    name_zh: str
    supervisors: int
    reps: int  # established reps, before new hires
    reps_report_to_manager: bool
    market: float  # size of the territory, multiplies each seller's revenue
    mix: tuple[float, float, float, float, float]  # revenue share per customer group


# Group order everywhere: key accounts, distributors, OEM, public sector, online.
_TEAMS = (
    _Team("North", "华北大区", 2, 8, False, 1.05, (0.30, 0.30, 0.20, 0.12, 0.08)),
    _Team("South", "华南大区", 2, 7, False, 1.00, (0.25, 0.35, 0.25, 0.08, 0.07)),
    _Team("East", "华东大区", 2, 8, False, 1.20, (0.30, 0.25, 0.30, 0.08, 0.07)),
    _Team("West", "西部大区", 1, 6, False, 0.85, (0.25, 0.35, 0.10, 0.22, 0.08)),
    _Team("Online & Inside Sales", "电商与电话销售部", 1, 7, False, 0.60, (0.05, 0.15, 0.05, 0.05, 0.70)),
    # Small team: the manager leads the reps directly; the supervisor runs the tender desk.
    _Team("Public Projects", "政府与公共项目部", 1, 3, True, 1.30, (0.10, 0.05, 0.00, 0.80, 0.05)),
)

# (team index, start month in the plan year). The West hire backfills the leaver.
_NEW_HIRES = ((0, 3), (2, 5), (3, 7), (1, 9))
_LEAVER = (3, 0, 6)  # team, position among its reps, last month worked in the plan year
_INACTIVE = (1, 6)  # team, position among its reps; left at the end of year-2

_GROUPS = {
    "en": ("Key accounts", "Distributors", "OEM", "Public sector", "Online"),
    "zh": ("重点客户", "经销商", "OEM客户", "政府及公共事业", "线上渠道"),
}
_COMPANY = {
    "en": ("Larkfield Instruments GmbH", "EUR", "larkfield-instruments.example"),
    "zh": ("远澜测控仪器有限公司", "CNY", "yuanlan-instruments.example"),
}
_FX = {"EUR": 1.0, "CNY": 7.8}  # the numbers are simulated in EUR, then converted

# Calendar-month seasonality (sums to 12): holidays in January and August, quarter-end pushes.
_SEASON = np.array([0.70, 0.85, 1.20, 0.95, 1.00, 1.20, 0.95, 0.70, 1.10, 1.00, 1.05, 1.30])
# Public budgets are spent late in the year and frozen early in the next.
_PUBLIC_SEASON = np.array([0.60, 0.70, 1.00, 1.00, 1.00, 1.00, 1.00, 0.80, 1.00, 1.00, 1.30, 1.80])
_ORDER_PROB = np.array([0.95, 0.97, 0.85, 0.70, 0.98])  # chance of any order in a month
_UNIT_PRICE = np.array([850.0, 420.0, 260.0, 1400.0, 180.0])  # EUR per instrument
_NEW_CUSTOMER_RATE = np.array([0.08, 0.20, 0.12, 0.10, 0.45])  # per month at full share
_COST_RATE = np.array([0.025, 0.012, 0.015, 0.020, 0.003])  # T&E as a share of expected revenue
_FIXED_COST = 450.0  # EUR of monthly T&E a seller spends whatever they sell

# key, label_en, label_zh, unit en/zh (None = currency), decimals, higher_is_better, weight,
# max_value en/zh (per-cell sanity bound in the company currency or unit)
_METRICS = (
    ("revenue", "Revenue", "销售额", None, 2, True, 0.5, (50_000_000, 400_000_000)),
    ("quantity", "Units sold", "销售数量", ("units", "台"), 0, True, 0.2, (100_000, 100_000)),
    ("new_customers", "New customers", "新客户数", ("customers", "家"), 0, True, 0.15, (1_000, 1_000)),
    ("expenses", "Travel & entertainment expenses", "差旅招待费用", None, 2, False, 0.15,
     (1_000_000, 8_000_000)),
)

_FIRST_NAMES = (
    "Anna", "Lukas", "Sophie", "Jonas", "Marie", "Felix", "Laura", "Tobias", "Julia", "Stefan",
    "Katrin", "Matteo", "Elena", "Pieter", "Sanne", "Jan", "Eva", "Tomasz", "Agnieszka", "Hugo",
    "Camille", "Oliver", "Emma", "Daniel", "Sara", "Marco", "Giulia", "Niklas", "Lena", "Florian",
    "Hannah", "Mehmet", "Aylin", "Jakub", "Petra", "Martin", "Ingrid", "Lars", "Nora", "Sebastian",
    "Clara", "David", "Miriam", "Simon", "Lisa", "Fabian", "Inés", "Rafael", "Carmen", "Erik",
    "Johanna", "Patrick", "Nina", "Samuel", "Paula", "Andreas", "Vera", "Moritz", "Alina", "Jürgen",
    "Leonie", "Sören", "Renée", "Kai",
)
_LAST_NAMES = (
    "Keller", "Hoffmann", "Becker", "Schulz", "Wagner", "Fischer", "Weber", "Meyer", "Richter", "Klein",
    "Wolf", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hartmann", "Lange", "Werner",
    "Krause", "Lehmann", "Köhler", "Maier", "Vogel", "Jansen", "de Vries", "Bakker", "Visser", "Rossi",
    "Bianchi", "Ferrari", "Romano", "Dubois", "Laurent", "Moreau", "Lefèvre", "Novak", "Kowalski",
    "Horvat", "Lindqvist", "Nielsen", "Berg", "Eriksson", "O'Brien", "Murphy", "Walsh", "Fernández",
    "García", "Silva", "Costa", "Yılmaz", "Demir", "Müller", "Schneider", "Schmitt", "Brandt", "Engel",
    "Frank", "Roth", "Kuhn", "Peters", "Scholz",
)
# Common surnames come first and are drawn more often, as in a real Chinese office.
_ZH_SURNAMES = (
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"), ("杨", "yang"),
    ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"), ("徐", "xu"), ("孙", "sun"),
    ("马", "ma"), ("朱", "zhu"), ("胡", "hu"), ("郭", "guo"), ("何", "he"), ("林", "lin"), ("高", "gao"),
    ("罗", "luo"), ("郑", "zheng"), ("梁", "liang"), ("谢", "xie"), ("宋", "song"), ("唐", "tang"),
    ("韩", "han"), ("邓", "deng"), ("冯", "feng"), ("曹", "cao"), ("彭", "peng"), ("曾", "zeng"),
    ("肖", "xiao"), ("田", "tian"), ("董", "dong"), ("袁", "yuan"), ("潘", "pan"), ("蒋", "jiang"),
    ("蔡", "cai"), ("余", "yu"), ("杜", "du"),
)
_ZH_GIVEN = (
    ("建国", "jianguo"), ("志强", "zhiqiang"), ("晓明", "xiaoming"), ("海燕", "haiyan"), ("秀英", "xiuying"),
    ("丽娟", "lijuan"), ("俊杰", "junjie"), ("子涵", "zihan"), ("浩然", "haoran"), ("欣怡", "xinyi"),
    ("文博", "wenbo"), ("雨萱", "yuxuan"), ("佳琪", "jiaqi"), ("宇航", "yuhang"), ("明辉", "minghui"),
    ("春梅", "chunmei"), ("国栋", "guodong"), ("立新", "lixin"), ("红霞", "hongxia"), ("振华", "zhenhua"),
    ("思远", "siyuan"), ("嘉怡", "jiayi"), ("天宇", "tianyu"), ("雪梅", "xuemei"), ("永刚", "yonggang"),
    ("慧敏", "huimin"), ("鹏飞", "pengfei"), ("婷婷", "tingting"), ("晨阳", "chenyang"), ("凯文", "kaiwen"),
    ("一鸣", "yiming"), ("诗雨", "shiyu"), ("建华", "jianhua"), ("玉兰", "yulan"), ("志伟", "zhiwei"),
    ("晓燕", "xiaoyan"), ("宏伟", "hongwei"), ("美玲", "meiling"), ("少华", "shaohua"), ("文静", "wenjing"),
    ("家豪", "jiahao"), ("梓轩", "zixuan"), ("若曦", "ruoxi"), ("伟", "wei"), ("芳", "fang"), ("磊", "lei"),
    ("敏", "min"), ("静", "jing"), ("涛", "tao"), ("军", "jun"), ("洋", "yang"), ("勇", "yong"),
    ("艳", "yan"), ("杰", "jie"), ("娟", "juan"), ("强", "qiang"), ("霞", "xia"), ("斌", "bin"),
    ("超", "chao"), ("琳", "lin"), ("博", "bo"), ("颖", "ying"), ("昊", "hao"), ("倩", "qian"),
)


@dataclass
class _Person:
    role: str
    team: int | None  # index into _TEAMS
    boss: int | None  # index into the people list
    start: str = ""
    end: str = ""
    active: bool = True


def build_demo(year: int = 2027, lang: str = "en", seed: int = 2027) -> DemoData:
    """Build the demo company for plan `year`; the same (year, lang, seed) gives the same data.

    History covers the calendar years year-2 and year-1. The en and zh builds share one
    structure and the same simulated figures (zh converted to CNY); only names and labels differ.
    """
    if lang not in LANGUAGES:
        raise ValueError(f"lang must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    if isinstance(year, bool) or not isinstance(year, int) or not 1900 <= year <= 9999:
        raise ValueError(f"year must be a four-digit integer, not {year!r}")
    rng = np.random.default_rng(seed)
    company, currency, domain = _COMPANY[lang]
    people = _org_chart(year)
    # Figures are drawn before names so that both languages get identical numbers.
    history = _history(people, year, _GROUPS[lang], _FX[currency], rng)
    names, emails = _names(len(people), lang, domain, rng)
    ids = [f"P{i + 1:03d}" for i in range(len(people))]
    roster = pd.DataFrame(
        {
            "person_id": ids,
            "name": names,
            "email": emails,
            "team": ["" if p.team is None else _team_name(p.team, lang) for p in people],
            "role": [p.role for p in people],
            "reports_to": ["" if p.boss is None else ids[p.boss] for p in people],
            "start_month": [p.start for p in people],
            "end_month": [p.end for p in people],
            "active": np.array([p.active for p in people], dtype=bool),
        },
        columns=list(ROSTER_COLUMNS),
    )
    history.insert(1, "person_id", [ids[i] for i in history.pop("person")])
    return DemoData(_config_toml(year, lang, company, currency), roster, history)


def _team_name(team: int, lang: str) -> str:
    return _TEAMS[team].name_en if lang == "en" else _TEAMS[team].name_zh


def _org_chart(year: int) -> list[_Person]:
    """The people in person_id order: gm, vp, each team top-down, then this year's hires."""
    people = [_Person("gm", None, None), _Person("vp", None, 0)]
    team_bosses = []  # per team: (manager, supervisors)
    for t, team in enumerate(_TEAMS):
        manager = len(people)
        people.append(_Person("manager", t, 1))
        sups = list(range(len(people), len(people) + team.supervisors))
        people.extend(_Person("supervisor", t, manager) for _ in sups)
        team_bosses.append((manager, sups))
        for r in range(team.reps):
            people.append(_Person("rep", t, _rep_boss(team, manager, sups, r)))
            if (t, r) == _LEAVER[:2]:
                people[-1].end = f"{year}-{_LEAVER[2]:02d}"
            if (t, r) == _INACTIVE:
                people[-1].end = f"{year - 2}-12"
                people[-1].active = False
    for t, month in sorted(_NEW_HIRES, key=lambda hire: hire[1]):
        manager, sups = team_bosses[t]
        boss = _rep_boss(_TEAMS[t], manager, sups, _TEAMS[t].reps)
        people.append(_Person("rep", t, boss, start=f"{year}-{month:02d}"))
    return people


def _rep_boss(team: _Team, manager: int, sups: list[int], position: int) -> int:
    return manager if team.reps_report_to_manager else sups[position % len(sups)]


@dataclass(frozen=True)
class _Seller:
    person: int  # index into the people list
    team: int
    months: int  # 24, or 12 for someone who left at the end of year-2
    book: float  # expected annual revenue in year-2, EUR
    growth: float
    mix: np.ndarray
    hunter: float  # appetite for new customers
    travel: float


def _history(people: list[_Person], year: int, groups: tuple[str, ...], fx: float,
             rng: np.random.Generator) -> pd.DataFrame:
    """Monthly actuals per seller, group and metric for year-2 and year-1, zero rows kept."""
    months = [f"{y}-{m:02d}" for y in (year - 2, year - 1) for m in range(1, 13)]
    sellers = _sellers(people, months[12], len(groups), rng)
    # A departed seller's accounts go to the teammates who stay, so year-1 keeps that revenue.
    handover = np.ones(len(_TEAMS))
    for t in range(len(_TEAMS)):
        gone = sum(s.book for s in sellers if s.team == t and s.months == 12)
        kept = sum(s.book for s in sellers if s.team == t and s.months == 24)
        handover[t] += gone / kept
    season = np.tile(_SEASON, 2)[:, None] * np.ones(len(groups))
    season[:, 3] *= np.tile(_PUBLIC_SEASON, 2)
    years = np.repeat([0, 1], 12)[:, None]
    shape = (len(months), len(groups))
    frames = []
    for s in sellers:
        uplift = np.where(years == 1, handover[s.team], 1.0)
        expected = s.book / 12 * s.mix * season * (1 + s.growth) ** years * uplift
        # Full 24-month draws for everyone keep the random stream independent of leaving dates.
        ordered = rng.random(shape) < _ORDER_PROB
        revenue = expected / _ORDER_PROB * rng.lognormal(0.0, 0.2, shape) * ordered
        units = revenue / (_UNIT_PRICE * rng.lognormal(0.0, 0.12, shape))
        quantity = np.where(revenue > 0, np.maximum(1, np.round(units)), 0.0)
        new_customers = rng.poisson(s.hunter * _NEW_CUSTOMER_RATE * (s.mix > 0) * np.sqrt(season))
        expenses = (_FIXED_COST * s.travel * s.mix + _COST_RATE * expected) * rng.lognormal(0.0, 0.25, shape)
        values = np.stack([
            np.round(revenue * fx, 2), quantity, new_customers.astype(float), np.round(expenses * fx, 2),
        ], axis=-1)[: s.months]
        frames.append(pd.DataFrame({
            "month": np.repeat(months[: s.months], len(groups) * len(METRIC_KEYS)),
            "person": s.person,
            "customer_group": np.tile(np.repeat(groups, len(METRIC_KEYS)), s.months),
            "metric": np.tile(METRIC_KEYS, s.months * len(groups)),
            "value": values.reshape(-1),
        }))
    history = pd.concat(frames, ignore_index=True)
    # Stable sort keeps the group and metric order of the config inside each month and person.
    return history.sort_values(["month", "person"], kind="stable", ignore_index=True)


def _sellers(people: list[_Person], last_year_start: str, n_groups: int,
             rng: np.random.Generator) -> list[_Seller]:
    """Draw each seller's level, growth, customer-group mix and habits."""
    sellers = []
    for i, person in enumerate(people):
        if person.role not in SELLING_ROLES or person.start:
            continue  # managers do not sell; new hires have no past
        team = _TEAMS[person.team]
        # Supervisors coach, so their own book is smaller.
        skill = rng.lognormal(0.0, 0.3) * (0.8 if person.role == "supervisor" else 1.0)
        growth = rng.normal(0.08, 0.04)
        mix = np.array(team.mix) * rng.lognormal(0.0, 0.35, n_groups)
        mix[mix < 0.04 * mix.sum()] = 0.0  # nobody dabbles in a group worth under 4 % of their book
        mix /= mix.sum()
        hunter = rng.lognormal(0.0, 0.35)
        travel = rng.lognormal(0.0, 0.25)
        months = 12 if person.end and person.end < last_year_start else 24
        sellers.append(_Seller(i, person.team, months, 1_000_000 * team.market * skill, growth, mix,
                               hunter, travel))
    return sellers


def _names(count: int, lang: str, domain: str, rng: np.random.Generator) -> tuple[list[str], list[str]]:
    """Unique full names, and unique ASCII emails built from them (pinyin for zh)."""
    if lang == "en":
        firsts = rng.permutation(len(_FIRST_NAMES))[:count]
        lasts = rng.permutation(len(_LAST_NAMES))[:count]
        pairs = [(_FIRST_NAMES[f], _LAST_NAMES[s]) for f, s in zip(firsts, lasts, strict=True)]
        names = [f"{first} {last}" for first, last in pairs]
        locals_ = [f"{_ascii(first)}.{_ascii(last)}" for first, last in pairs]
    else:
        weights = 1.0 / np.arange(1, len(_ZH_SURNAMES) + 1)
        surnames = rng.choice(len(_ZH_SURNAMES), size=count, p=weights / weights.sum())
        given = rng.permutation(len(_ZH_GIVEN))[:count]  # distinct given names: distinct full names
        names = [_ZH_SURNAMES[s][0] + _ZH_GIVEN[g][0] for s, g in zip(surnames, given, strict=True)]
        locals_ = [f"{_ZH_SURNAMES[s][1]}.{_ZH_GIVEN[g][1]}" for s, g in zip(surnames, given, strict=True)]
    emails, seen = [], set()
    for local in locals_:
        candidate, n = local, 1
        while candidate in seen:
            n += 1
            candidate = f"{local}{n}"
        seen.add(candidate)
        emails.append(f"{candidate}@{domain}")
    return names, emails


_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ı": "i"})


def _ascii(text: str) -> str:
    """Email-safe form of a name part: Jürgen -> juergen, O'Brien -> obrien, de Vries -> devries."""
    folded = unicodedata.normalize("NFKD", text.lower().translate(_TRANSLIT))
    return "".join(c for c in folded if c.isascii() and c.isalnum())


def _config_toml(year: int, lang: str, company: str, currency: str) -> str:
    col = LANGUAGES.index(lang)
    lines = [
        "# sheetplan configuration for the demo company (fictional).",
        "",
        "[company]",
        _kv("name", _q(company)),
        _kv("currency", _q(currency), "ISO code used for money metrics"),
        _kv("language", _q(lang), "en | zh: language of sheet labels and messages"),
        "",
        "[fiscal]",
        _kv("year", str(year), "the plan year"),
        _kv("start_month", "1", "calendar month that opens the fiscal year"),
        "",
        "[planning]",
        _kv("customer_groups", _q_list(_GROUPS[lang])),
        _kv("selling_roles", _q_list(SELLING_ROLES), "roster roles that carry targets"),
    ]
    for key, label_en, label_zh, unit, decimals, higher, weight, max_values in _METRICS:
        lines += [
            "",
            "[[metrics]]",
            _kv("key", _q(key)),
            _kv("label_en", _q(label_en)),
            _kv("label_zh", _q(label_zh)),
            _kv("unit", _q(currency if unit is None else unit[col])),
            _kv("decimals", str(decimals), "places kept in cells and history"),
            _kv("higher_is_better", str(higher).lower(), "" if higher else "a cost: lower is better"),
            _kv("max_value", str(max_values[col]), "per-cell sanity bound used by validation"),
            _kv("weight", str(weight), "weight in the multi-metric score"),
        ]
    lines += [
        "",
        "[allocation]",
        _kv("method", '"history"', "equal | history | seasonality | manual"),
        _kv("seasonality", '"history"', '"history", "flat" or a list of 12 weights in fiscal-month order'),
        _kv("growth", "0.08", "suggested target = prior-year actual x (1 + growth)"),
        _kv("no_history", '"average"', "average | minimum | zero: basis for people without history"),
        _kv("ramp", "[0.25, 0.5, 0.75]", "share of a full month in a new hire's first months"),
        "",
        "[rollover]",
        _kv("policy", '"next_month"', "none | next_month | spread: where a shortfall goes"),
        _kv("carry_credit", "false", "whether over-achievement counts towards later months"),
        "",
        "[flags]",
        _kv("behind_pace", "0.9", 'year-to-date attainment below this is "behind pace"'),
        _kv("far_behind", "0.75"),
        _kv("sharp_drop", "0.3", "month-on-month or year-on-year drop of 30 % or more"),
        _kv("plan_tolerance", "0.0", "allowed difference between a plan grid and its annual target"),
        "",
        "[protection]",
        _kv("password", '""', "empty: a random password is generated and kept in .sheetplan/"),
        "",
        "[mail]",
        _kv("from_address", _q(f"sales-operations@{_COMPANY[lang][2]}"), "who the messages come from"),
        _kv("reply_to", _q(f"plan-returns@{_COMPANY[lang][2]}"), "the collecting mailbox"),
        _kv("smtp_host", '"localhost"', "sheetplan mail --send goes through this server"),
        _kv("smtp_port", "587"),
        _kv("security", '"starttls"', "starttls | tls | none"),
        _kv("password_env", '"SHEETPLAN_SMTP_PASSWORD"', "the password comes from this variable, never a file"),
        _kv("deadline_days", "{ default = 14, month = 10 }",
            "each round's deadline: a month report 10 days after its month, any other round 14 days after it is "
            "generated"),
        "",
        "[collect]",
        _kv("senders", '"owner-and-managers"', "who may mail a template back: owner | owner-and-managers | anyone"),
        "",
        "[replan]",
        _kv("policy", '"reallocate"', "a team whose people no longer add up to it: reallocate | absorb"),
    ]
    return "\n".join(lines) + "\n"


def _kv(key: str, value: str, comment: str = "") -> str:
    line = f"{key} = {value}"
    return f"{line:<24}  # {comment}" if comment else line


def _q(value: str) -> str:
    # A JSON string is also a valid TOML basic string (same quotes and escapes).
    return json.dumps(value, ensure_ascii=False)


def _q_list(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"
