"""Parsing of bundle cell values: dates in four notations, amounts in 万元, ratios."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from credgraph.schema.identifiers import looks_like_id_number

_DATE_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
)
# Excel's day numbers, as a date cell formatted General shows them: 45356 is 2024-03-05. Only
# numbers (not text) in 1954–2119 are read so; a year alone (2024) is not a date.
_SERIAL_EPOCH = dt.date(1899, 12, 30)
_SERIAL_DAYS = (20_000, 80_000)
_TIME_SUFFIX = re.compile(r"[ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")


def _clean(value: object) -> str:
    return unicodedata.normalize("NFKC", str(value)).strip()


def parse_date(value: object) -> dt.date | None:
    """2024-03-05, 2024/3/5, 20240305, 2024年3月5日 (a trailing time is ignored); a spreadsheet's
    day number (45356) when the cell holds a number."""
    if value is None or value == "":  # most optional date cells are blank
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 20240305 from a numeric spreadsheet cell
    if isinstance(value, int) and not isinstance(value, bool) and _SERIAL_DAYS[0] <= value \
            <= _SERIAL_DAYS[1]:
        return _SERIAL_EPOCH + dt.timedelta(days=value)  # a date pasted as a number (45356)
    if isinstance(value, str) and len(value) == 10 and value[4] == value[7] == "-":
        try:  # the usual 2024-03-05, without the patterns (a bad one falls through to them)
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    text = _TIME_SUFFIX.sub("", _clean(value))
    if not text:
        return None
    for pattern in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            year, month, day = (int(part) for part in match.groups())
            try:
                return dt.date(year, month, day)
            except ValueError:
                raise ValueError(f"impossible date {text!r}") from None
    raise ValueError(
        f"unrecognised date {text!r} (use 2024-03-05, 2024/3/5, 20240305 or 2024年3月5日)"
    )


# A number as a person writes one in a cell: ASCII digits (full-width ones are folded before),
# a decimal point — not Python's 12_5, 1e3, nan or other scripts' digits, which float() takes.
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
# Thousands separators where they belong: 1,250.00 and 12,345,678, not 1,2,3.
_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")
# Units an amount may carry: (suffix, multiplier, divisor) to the 万元 every amount is kept in.
_AMOUNT_UNITS = (("亿元", 10_000, 1), ("亿", 10_000, 1), ("万元", 1, 1), ("万", 1, 1),
                 ("元", 1, 10_000))


# 10 万亿元: above the registered capital of any Chinese company (the largest are near 1.6
# 万亿元) and any fine or contract — a larger figure is a unit or column mistake, not data
MAX_AMOUNT = 1e9


_ISO_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def parse_day(text: str) -> dt.date:
    """A day as the API and every `--as-of` take it: YYYY-MM-DD and nothing else. Python's
    `date.fromisoformat` also reads ISO week dates and the basic form (`2025-W26-1` is
    2025-06-23, `20250630`), which the command line refuses: an asOf means one day, spelt one
    way everywhere."""
    found = _ISO_DAY.fullmatch(text)
    if not found:
        raise ValueError("not a date in the form YYYY-MM-DD")
    return dt.date(*(int(part) for part in found.groups()))


def parse_amount(value: object) -> float | None:
    """An amount in 万元: '12.5', '1,250.00', '12.5万元', '¥12.5万', '1.2亿元' (12,000),
    '125000元' (12.5); negative amounts are refused."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not an amount: {value!r}")
    cleaned = _clean(value)
    if looks_like_id_number(cleaned):  # a shifted column: personal data, not a fine
        raise ValueError("an ID number where an amount belongs")
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an integer past any float (JSON: 1 and 400 zeros)
            if value < 0:
                raise ValueError(f"negative amount of {len(cleaned) - 1} digits") from None
            raise ValueError(f"amount of {len(cleaned)} digits is over {MAX_AMOUNT:,.0f} 万元 "
                             "(10 万亿元): a unit or column mistake") from None
    else:
        text = cleaned.replace(" ", "").lstrip("¥￥")  # NFKC makes ，a comma
        multiplier, divisor = 1, 1
        for unit, unit_multiplier, unit_divisor in _AMOUNT_UNITS:
            if text.endswith(unit):
                text = text.removesuffix(unit)
                multiplier, divisor = unit_multiplier, unit_divisor
                break
        if not text:
            return None
        if "," in text and not _THOUSANDS.fullmatch(text):  # 1,2,3 is no number
            raise ValueError(f"not a number: {cleaned!r}")
        if not _DECIMAL.fullmatch(text.replace(",", "")):
            raise ValueError(f"not a number: {cleaned!r}")
        number = float(text.replace(",", "")) * multiplier / divisor
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"not a finite number: {value!r}")
    if number < 0:
        raise ValueError(f"negative amount {number:g}")
    if number > MAX_AMOUNT:
        raise ValueError(f"amount {number:g} 万元 is over {MAX_AMOUNT:,.0f} 万元 (10 万亿元): "
                         "a unit or column mistake")
    return number + 0.0  # -0 is 0


def parse_ratio(value: object) -> float | None:
    """A share between 0 and 1 from '0.35', '35' or '35%'; values above 1 are percentages. A
    number (JSON Lines, an XLSX cell) is taken as the number it is: 0.00005 is written 5e-05
    by json.dumps, whose text no pattern of a typed ratio matches."""
    if value is None:
        return None
    text = _clean(value).replace(" ", "")
    if not text:
        return None
    percent = text.endswith("%")
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"ratio {text[:20]!r}… is outside 0–100%") from None
        if number != number:
            raise ValueError(f"not a ratio: {text!r}")
    elif not _DECIMAL.fullmatch(text.rstrip("%")):
        raise ValueError(f"not a ratio: {text!r}")
    else:
        number = float(text.rstrip("%"))
    if percent or number > 1:
        number /= 100
    if not 0 <= number <= 1:
        raise ValueError(f"ratio {text!r} is outside 0–100%")
    return round(number, 6)


def parse_bool(value: object) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    text = _clean(value).lower()
    if not text:
        return None
    if text in {"1", "true", "yes", "y", "是", "已履约", "违约", "t"}:
        return True
    if text in {"0", "false", "no", "n", "否", "未履约", "f"}:
        return False
    raise ValueError(f"not yes/no: {text!r}")
