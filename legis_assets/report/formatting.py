"""Numbers, times, shares and names as the reports show them (the chamber report and the common
scale's page): integers with thousands separators, a real minus sign, missing as an en dash."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

#: characters of a name shown in a table cell (the full name is in the cell's title)
NAME_DISPLAY_MAX = 60
#: list items shown before "and N more"
LIST_MAX = 200


def is_num(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def fmt_num(v: Any, digits: int = 3) -> str:
    """Numbers for people: integers with thousands separators, floats to `digits` decimals
    (large ones without), missing as an en dash."""
    if v is None:
        return "\u2013"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if not is_num(v):
        return str(v)
    f = float(v)
    if math.isnan(f):
        return "n/a"
    if math.isinf(f):
        return "\u221e" if f > 0 else "\u2212\u221e"
    if float(f).is_integer():
        return f"{int(f):,}".replace("-", "\u2212")
    if abs(f) >= 100:
        return f"{f:,.0f}".replace("-", "\u2212")
    text = f"{f:.{digits}f}"
    if text.startswith("-") and float(text) == 0:  # -0.00
        text = text[1:]
    return text.replace("-", "\u2212")


def fmt_seconds(v: Any) -> str:
    if not is_num(v) or not math.isfinite(float(v)):
        return fmt_num(v)
    s = float(v)
    if s < 60:
        return f"{s:.1f} s"
    return f"{int(s // 60)} min {s % 60:.0f} s"


def fmt_pct(v: Any, digits: int = 1) -> str:
    if not is_num(v) or not math.isfinite(float(v)):
        return fmt_num(v)
    return f"{float(v):.{digits}%}"


def fmt_setting(v: Any) -> str:
    """A sampler setting for people: booleans (also as the strings NetCDF attributes turn them
    into) as yes/no, an unset value ("None", "null", NaN: the sampler's own default) as "default",
    numbers as fmt_num."""
    if v is None:
        return "default"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("true", "false"):
            return "yes" if low == "true" else "no"
        if low in ("none", "null", "nan", ""):
            return "default"
        return v
    if is_num(v) and math.isnan(float(v)):
        return "default"
    return fmt_num(v, 3)


def sort_key(v: Any) -> str:
    """Value for a table cell's data-sort attribute (empty = missing, sorts last)."""
    if v is None:
        return ""
    if is_num(v):
        f = float(v)
        return "" if math.isnan(f) else repr(f)
    return str(v)


def short(text: Any, n: int = NAME_DISPLAY_MAX) -> str:
    s = " ".join(str(text if text is not None else "").split())
    return s if len(s) <= n else s[: n - 1] + "\u2026"


def hdi_text(lo: Any, hi: Any) -> str:
    if lo is None or hi is None:
        return "\u2013"
    return f"{fmt_num(lo, 2)} to {fmt_num(hi, 2)}"


def limited(items: list, n: int = LIST_MAX) -> dict:
    items = [str(i) for i in items]
    return {"items": items[:n], "more": max(len(items) - n, 0)}
