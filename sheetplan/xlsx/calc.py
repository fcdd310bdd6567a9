"""Cached formula results computed the way Excel computes them, so a previewer that shows the cache (and
does not calculate) shows what Excel will."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal


def excel_round(value: float, decimals: int) -> float:
    """Excel's ROUND(value, decimals): halves go away from zero (Python's round() goes to even, so
    round(268.5) is 268 where Excel shows 269), on the value as Excel holds it (15 significant digits,
    so 2.675 rounds to 2.68 although its binary double is a little below)."""
    if not math.isfinite(value) or abs(value) >= 1e15:
        return float(value)  # no digits below the point left to round at double precision
    exact = Decimal(format(float(value), ".15g"))
    return float(exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)) + 0.0
