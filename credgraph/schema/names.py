"""Organisation-name normalisation for entity resolution (SPEC §7, 名称规范化).

A name splits into its core (字号, 行业 and 组织形式, made canonical) and the places its region
names carried. Every name of the region table is treated alike — province, prefecture and
county, current and historical, full and short (山东省/山东, 德州市/德州, 禹城市/禹城,
陵城区/陵城) — so that 德州市宏达商贸 and 禹城市宏达商贸 share the core 宏达商贸有限公司 and differ
only in the evidence of where they are: which of them a bare 宏达商贸有限公司 means is the
resolver's question, not a side effect of which prefixes happen to be stripped.

A region name is a place only where the subject is: 德州市凌云商贸 registered in 德城区 bears the
字号 凌云, not 凌云县 (Guangxi), so its core is 凌云商贸有限公司 (`SplitName.core_at`).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from opencc import OpenCC

from credgraph.rules import Rules
from credgraph.schema.regions import regions

# The middle dot of a minority name (买买提·艾力) comes in several code points: U+00B7,
# U+2022, the katakana U+30FB (U+FF65 folds to it), U+2027, U+2219, U+22C5, U+2E31 — all one
# punctuation, so a name typed with any of them is one name.
_PUNCTUATION = re.compile(r"[\s\.,，。、·•・‧∙⋅⸱:：;；'\"“”‘’!！?？\-—_/\\|]+")
_BRACKETS = str.maketrans({"（": "(", "）": ")", "【": "(", "】": ")", "[": "(", "]": ")",
                           "〔": "(", "〕": ")", "{": "(", "}": ")"})
_BRACKETED = re.compile(r"\(([^()]{2,12})\)")

# Level suffixes, longest first: 山东省 is also written 山东, 禹城市 禹城, 广西壮族自治区 广西,
# 神农架林区 神农架, 浦东新区 浦东.
_LEVEL_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "特别行政区", "自治区", "自治州",
                   "自治县", "自治旗", "地区", "林区", "特区", "新区", "省", "市", "县", "区",
                   "旗", "盟")
# Table rows that are groupings, not places (市辖区, 县, 省直辖县级行政区划 …).
_PLACEHOLDERS = ("市辖", "省直辖", "自治区直辖")


@dataclass(frozen=True)
class Place:
    """A region name found in a name and the code prefixes it may stand for: 37 (a province),
    3714 (a prefecture), 371482 (a county); several when counties share the name (新华区)."""

    text: str
    codes: frozenset[str]


@dataclass(frozen=True)
class SplitName:
    core: str
    places: tuple[Place, ...] = ()
    leading: int = 0  # how many places were stripped from the start (the rest were bracketed)

    def kept_at(self, region: str | None) -> list[str]:
        """The leading region names that are part of what a subject of this region is called:
        from the first that is not where it is (德州市凌云商贸 in 德城区 keeps 凌云, a 字号, not
        凌云县; in 凌云县 it would keep none)."""
        here = areas(region)
        for index, place in enumerate(self.places[: self.leading]):
            if here and not place.codes & here:
                return [p.text for p in self.places[index: self.leading]]
        return []

    def core_at(self, region: str | None) -> str:
        """The core of a subject of this region (凌云商贸有限公司 for 德州市凌云商贸 in 德城区)."""
        return "".join(self.kept_at(region)) + self.core

    def named_region(self, region: str | None) -> str | None:
        """The place the name says a subject of this region is in: the code the places its
        normalised name drops agree on (德州市庆云县南康商贸 in 庆云县 → 371423; its 南康 is the
        字号, kept), or None when it names none, or places that do not agree."""
        return _agreed(self.named_places(region))

    def named_places(self, region: str | None) -> tuple[Place, ...]:
        """The places the name of a subject of this region names (not those of its 字号)."""
        dropped = self.leading - len(self.kept_at(region))
        return (*self.places[:dropped], *self.places[self.leading:])

    def places_keeping(self, kept: list[str]) -> tuple[Place, ...]:
        """The places this name names when compared with a name keeping `kept` (its 字号)."""
        lead = self.places[: self.leading]
        texts = [p.text for p in lead]
        if kept and kept[0] in texts:
            lead = lead[: texts.index(kept[0])]
        return (*lead, *self.places[self.leading:])

    def core_keeping(self, kept: list[str]) -> str:
        """The core with the leading region names kept that another name keeps: a name is
        compared with 德州市凌云商贸 in 德城区 by its own 凌云…, whatever stands before it."""
        lead = [p.text for p in self.places[: self.leading]]
        if kept and kept[0] in lead:
            return "".join(lead[lead.index(kept[0]):]) + self.core
        return self.core

    def cores(self) -> list[str]:
        """Every core the name may have, as the region of the subject meant would decide:
        宏达商贸有限公司 for 德州市宏达商贸, and 凌云商贸有限公司 too for 德州市凌云商贸."""
        lead = [p.text for p in self.places[: self.leading]]
        return ["".join(lead[index:]) + self.core for index in range(len(lead), -1, -1)]

    def region(self) -> str | None:
        """The narrowest code prefix every place agrees on, when there is exactly one
        (德州市德城区 → 371402; 新华区 alone → None, three counties bear the name)."""
        return _agreed(self.places)


def _agreed(places: Iterable[Place]) -> str | None:
    """The narrowest code prefix all `places` agree on, when there is exactly one."""
    current = {""}
    for place in places:
        merged = ({code for code in place.codes for p in current if code.startswith(p)}
                  | {p for p in current for code in place.codes if p.startswith(code)})
        if not merged:
            return None
        current = merged
    return next(iter(current)) if len(current) == 1 and current != {""} else None


def same_place(ours: tuple[Place, ...], theirs: tuple[Place, ...]) -> bool:
    """Two names name the same place: both none, or places agreeing on the same narrowest code
    (德州市 and 德州 do; 德州市 and 禹城市 do not, though 禹城 lies in 德州)."""
    if not ours or not theirs:
        return not ours and not theirs
    here = _agreed(ours)
    return here is not None and here == _agreed(theirs)


def code_prefix(code: str) -> str:
    """The significant part of a division code: 37 for 370000, 3714 for 371400, else all six."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def areas(region: str | None) -> set[str]:
    """The code prefixes a subject of this region lies in: 371482 → {37, 3714, 371482}; one
    registered under a historical county's code lies in its successor too (371421 陵县 in
    371403 陵城区)."""
    if not region:
        return set()
    found = {region[:2], region[:4], code_prefix(region)}
    after = successors().get(region)
    return found | {after} if after else found


@cache
def successors() -> dict[str, str]:
    """Each historical county's current successor: the one current county of its prefecture
    whose name begins with its stem — 陵县 → 陵城区, 吴江市 → 吴江区, 高密县 → 高密市 (县改市,
    县改区 keep the name). A county merged away (沧浪区 into 姑苏区) has none."""
    table = regions()
    counties: dict[str, list[str]] = defaultdict(list)
    for code, found in table.items():
        if found.current and not code.endswith("00") and not found.name.startswith(_PLACEHOLDERS):
            counties[code[:4]].append(code)
    out = {}
    for code, found in table.items():
        if found.current or code.endswith("00") or found.name.startswith(_PLACEHOLDERS):
            continue
        stem = _stem(found.name)
        named = [other for other in counties.get(code[:4], ())
                 if table[other].name.startswith(stem)]
        if len(named) == 1:
            out[code] = named[0]
    return out


def _stem(name: str) -> str:
    return next((name[: -len(suffix)] for suffix in _LEVEL_SUFFIXES
                 if name.endswith(suffix) and len(name) > len(suffix)), name)


@cache
def region_names() -> dict[str, frozenset[str]]:
    """Every region name of the table, full and short, with the code prefixes it stands for.

    A name in current use stands for its current divisions only. A historical county's name
    stands for its successor (陵县 for 陵城区, `successors`); another historical name (德州地区,
    沧浪区) for its province alone: codes were renumbered when divisions changed (德州地区 3724
    became 德州市 3714), so its code says nothing about which current county is meant.
    Two-character names of one-character stem (城区, 郊区) are too common in ordinary words to
    be read as places; 冠县 and 陵县 are kept.
    """
    current: dict[str, set[str]] = defaultdict(set)
    historical: dict[str, set[str]] = defaultdict(set)
    for code, found in regions().items():
        name = found.name
        if name == "县" or name.startswith(_PLACEHOLDERS):
            continue
        into = current if found.current else historical
        meaning = code_prefix(code) if found.current else successors().get(code, code[:2])
        for form in _forms(name):
            into[form].add(meaning)
    # 陵县 was 372421 under 德州地区 too: its successor says more than its province
    names = {name: frozenset(c for c in codes if not any(o != c and o.startswith(c)
                                                         for o in codes))
             for name, codes in historical.items()}
    names.update({name: frozenset(codes) for name, codes in current.items()})
    return names


def _forms(name: str) -> list[str]:
    forms = [name] if len(name) >= 3 or name.endswith(("县", "市", "旗")) else []
    for suffix in _LEVEL_SUFFIXES:
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            forms.append(name[: -len(suffix)])
            break
    return forms


@cache
def _traditional_to_simplified() -> OpenCC:
    return OpenCC("t2s.json")


def _folded(name: str) -> str:
    """NFKC, traditional characters simplified, brackets unified, spaces and punctuation
    removed: the spelling two sources' renderings of one name share."""
    text = _traditional_to_simplified().convert(unicodedata.normalize("NFKC", name))
    return _PUNCTUATION.sub("", text.translate(_BRACKETS))


def person_name_norm(name: str) -> str:
    """A natural person's `nameNorm`: the name folded as an organisation's is (NFKC, 張→张,
    spaces and middle dots gone, upper case) but no region name stripped — a person's name is
    no place (东方明亮). 李　娜 typed with an ideographic space, Zoe + U+0308, John Smith are
    found by a search for 李娜, Zoë, john smith: the search looks the asked name's cores up
    in `nameNorm`."""
    return _folded(name).replace("(", "").replace(")", "").upper()


class NameNormaliser:
    """NFKC, traditional characters simplified (東→东), brackets unified, punctuation and spaces
    removed, region names stripped from the start (and bracketed ones anywhere: 宏达（禹城）食品)
    as long as `min_name_after_prefix` characters remain, legal-form suffixes canonicalised
    (有限责任公司 → 有限公司). `split` keeps the places; calling the normaliser gives the core."""

    def __init__(self, rules: Rules) -> None:
        section = rules.resolution
        self.places = region_names()
        self.extra = frozenset(section.region_prefixes)
        # Looked up by a name's first two characters, longest prefix first: a name is checked
        # against a handful of prefixes, not against all of them.
        self.prefixes: dict[str, list[str]] = defaultdict(list)
        for prefix in sorted({*self.places, *self.extra}, key=len, reverse=True):
            self.prefixes[prefix[:2]].append(prefix)
        self.legal_forms = sorted(section.legal_forms.items(), key=lambda kv: -len(kv[0]))
        self.min_rest = section.min_name_after_prefix

    def __call__(self, name: str, region: str | None = None) -> str:
        """The core name of a subject of this region (`nameNorm`)."""
        return self.split(name).core_at(region)

    def split(self, name: str) -> SplitName:
        text = _folded(name)
        places: list[Place] = []
        while prefix := self._longest_prefix(text):
            if len(text) - len(prefix) < self.min_rest:
                break  # 德州市中医院 keeps its 德州市 rather than lose 德州 alone
            text = text[len(prefix):]
            if prefix in self.places:
                places.append(Place(prefix, self.places[prefix]))
        leading = len(places)
        text = _BRACKETED.sub(lambda m: self._bracketed(m.group(1), places), text)
        text = text.replace("(", "").replace(")", "")  # 鑫源食品（有限公司）
        for long_form, short_form in self.legal_forms:
            if text.endswith(long_form):
                text = text[: -len(long_form)] + short_form
                break
        return SplitName(text.upper(), tuple(places), leading)

    def _longest_prefix(self, text: str) -> str | None:
        return next((p for p in self.prefixes.get(text[:2], ()) if text.startswith(p)), None)

    def _bracketed(self, inner: str, places: list[Place]) -> str:
        """宏达（禹城）食品: a bracketed region name is a place, anything else stays."""
        codes = self.places.get(inner)
        if codes is None:
            return f"({inner})"
        places.append(Place(inner, codes))
        return ""
