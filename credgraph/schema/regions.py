"""行政区划代码: current and historical county codes, from the table kept in regions.csv
(derived from python-stdnum's division list, which records each code's years of use)."""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    province: str
    current: bool


@cache
def _table() -> dict[str, Region]:
    text = (resources.files("credgraph.schema") / "regions.csv").read_text(encoding="utf-8")
    return {
        row["code"]: Region(row["code"], row["name"], row["province"], row["state"] == "current")
        for row in csv.DictReader(text.splitlines())
    }


def regions() -> dict[str, Region]:
    """The whole table by code, current and historical."""
    return _table()


@cache
def _prefixes() -> frozenset[str]:
    """The 2- and 4-digit prefixes of known codes (provinces and prefectures, past ones too)."""
    return frozenset(code[:size] for code in _table() for size in (2, 4))


def region(code: str | None) -> Region | None:
    return _table().get(code or "")


def is_known_region(code: str) -> bool:
    """Whether a 6-digit code is in the table, or lies in a prefecture that is (a development
    zone's 371471 is in no list of divisions but in its subjects' USCCs)."""
    return len(code) == 6 and (region(code) is not None or region(code[:4] + "00") is not None)


def _grouping(found: Region) -> bool:
    """A table row that groups counties without being a place: a municipality's 市辖区 and 县
    (110100, 500200), a province's 省直辖县级行政单位 (429000), a prefecture's 市辖区 (371401)."""
    return found.name == "县" or found.name.startswith(("市辖", "省直辖", "自治区直辖"))


def region_name(code: str | None) -> str | None:
    """The county's name with its prefecture, e.g. 德州市德城区 — with its province where the
    prefecture is a grouping (北京市朝阳区, not 市辖区朝阳区; 湖北省仙桃市); a development zone's
    code of a known prefecture (苏州工业园区 320594, in no list of divisions) its prefecture's
    name; None for unknown codes."""
    found = region(code)
    if found is None and code and len(code) == 6 and code[4:] != "00":
        found = region(code[:4] + "00")
    if found is None or code is None:
        return None
    prefecture = region(code[:4] + "00")
    if _grouping(found):
        # the grouping stands for the place above it: 110100 is 北京市, 371401 德州市
        if found.code[4:] != "00" and prefecture and not _grouping(prefecture):
            return prefecture.name
        return found.province
    if prefecture and prefecture.code != found.code:
        return (found.province if _grouping(prefecture) else prefecture.name) + found.name
    return found.name


def division_prefix(code: str) -> str:
    """A region argument as the prefix of the codes it covers: a province's code its two
    digits (370000 → 37), a prefecture's its four (371400 → 3714, every Dezhou county), a
    county's, or a prefix, as given."""
    if len(code) == 6 and code.endswith("0000"):
        return code[:2]
    if len(code) == 6 and code.endswith("00"):
        return code[:4]
    return code


def region_prefix(value: str) -> str:
    """A region argument as the prefix of the codes it covers: a county code (a known one, or
    one of a known prefecture — a development zone's 371471 is in no list of divisions but in
    its subjects' USCCs), a prefecture (371400 → 3714) or province code (370000 → 37), or a
    2- or 4-digit prefix of known codes; full-width digits read as digits. ValueError says what
    is wrong with it."""
    text = unicodedata.normalize("NFKC", value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) not in (2, 4, 6):
        raise ValueError("region must be a 6-digit division code or a 2- or 4-digit prefix")
    if len(text) == 6:
        if not is_known_region(text):
            raise ValueError(f"unknown region {text}")
        return division_prefix(text)
    if text not in _prefixes():
        raise ValueError(f"no region code starts with {text}")
    return text


def prefecture(code: str | None) -> str | None:
    """The 4-digit prefecture prefix of a region code (3714 for every Dezhou county)."""
    return code[:4] if code and len(code) >= 4 else None
