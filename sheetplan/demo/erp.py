"""The demo's ERP: an export of one month's invoice lines, first with the mistakes real exports have."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

# How the demo company's ERP names its columns; the demo's [actuals] table maps them.
MAPPING = """
[actuals]
source = "both"
tolerance = 0.01
metrics = ["revenue", "quantity"]
derive_new_customers = false
[actuals.columns]
date = "{date}"
person = "{person}"
customer_group = "{group}"
customer = "{customer}"
revenue = "{revenue}"
quantity = "{quantity}"
"""
HEADERS = {"en": ("Posting Date", "Sales Rep", "Segment", "Customer", "Net Amount", "Qty"),
           "zh": ("过账日期", "业务员", "客户类别", "客户名称", "不含税金额", "数量")}
ENCODING = {"en": "utf-8-sig", "zh": "gb18030"}  # what Excel or WPS saves a CSV in, in each language


def mapping(lang: str) -> str:
    date, person, group, customer, revenue, quantity = HEADERS[lang]
    return MAPPING.format(date=date, person=person, group=group, customer=customer, revenue=revenue,
                          quantity=quantity)


def _split(total_units: int, parts: int, rng: random.Random) -> list[int]:
    """`total_units` (cents or pieces) as `parts` positive-ish invoice lines that add up exactly."""
    if parts <= 1 or total_units < parts:
        return [total_units]
    cuts = sorted(rng.sample(range(1, total_units), parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total_units])]


def write_export(path: Path, lang: str, month: str, reported: list[tuple[str, str, str, float]],
                 mistakes: bool, late_invoice: str, seed: int = 3) -> Path:
    """One month's lines from what each person reported (person, group, metric, value), as an ERP would
    have booked them: each figure over one to three invoices. `late_invoice`: a person with one invoice the
    ERP booked and the report left out (+8 % revenue), which the reconciliation must catch. `mistakes`: a
    line of a former rep no longer in the roster, an amount with a decimal comma and a posting dated in the
    previous year, as in a first export nobody checked."""
    rng = random.Random(seed)
    figures: dict[tuple[str, str], dict[str, float]] = {}
    for person, group, metric, value in reported:
        figures.setdefault((person, group), {})[metric] = value
    rows = []
    customer = 0
    for (person, group), values in sorted(figures.items()):
        revenue = round(values.get("revenue", 0.0) * (1.08 if person == late_invoice else 1.0), 2)
        quantity = int(round(values.get("quantity", 0.0)))
        if revenue <= 0 and quantity <= 0:
            continue
        parts = rng.randint(1, 3)
        cents = _split(int(round(revenue * 100)), parts, rng)
        pieces = _split(quantity, len(cents), rng) if quantity >= len(cents) else [quantity] + [0] * (len(cents) - 1)
        for amount, qty in zip(cents, pieces):
            customer += 1
            day = rng.randint(1, 28)
            rows.append([f"{month}-{day:02d}", person, group, f"C{customer:05d}", f"{amount / 100:.2f}", str(qty)])
    if mistakes:
        rows.insert(3, [f"{month}-12", "P999", rows[0][2], "C09999", "1250.00", "3"])  # a rep who has left
        rows[7][4] = rows[7][4].replace(".", ",")  # typed with a decimal comma
        rows[11][0] = f"{int(month[:4]) - 1}-12-31"  # booked into last year's December
    text = io.StringIO()
    out = csv.writer(text, delimiter=";" if lang == "zh" else ",", lineterminator="\r\n")
    out.writerow(HEADERS[lang])
    out.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.getvalue().encode(ENCODING[lang]))
    return path
