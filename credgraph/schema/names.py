"""Organisation-name normalisation for entity resolution (SPEC §7, 名称规范化)."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from functools import cache

from credgraph.rules import Rules
from credgraph.schema.regions import regions

_PUNCTUATION = re.compile(r"[\s\.,，。、·•:：;；'\"“”‘’!！?？\-—_/\\|]+")
_BRACKETS = str.maketrans({"（": "(", "）": ")", "【": "(", "】": ")", "[": "(", "]": ")",
                           "〔": "(", "〕": ")", "{": "(", "}": ")"})


# Suffixes of province- and prefecture-level names, longest first: 山东省 is also written 山东,
# 德州市 德州, 广西壮族自治区 广西.
_LEVEL_SUFFIXES = ("壮族自治区", "回族自治区", "维吾尔自治区", "自治区", "特别行政区", "省", "市",
                   "地区", "盟")


@cache
def administrative_prefixes() -> frozenset[str]:
    """Every province and prefecture name in the region table, full and short (SPEC §7: 山东省,
    德州市 … are stripped from the start of names); counties are kept, as they tell apart
    namesakes (齐河县丙丁物流 vs 禹城市丙丁物流)."""
    names: set[str] = set()
    for code, found in regions().items():
        if not code.endswith("00") or found.name.startswith(("市辖", "县", "省直辖", "自治区直辖")):
            continue
        names.add(found.name)
        for suffix in _LEVEL_SUFFIXES:
            if found.name.endswith(suffix) and len(found.name) - len(suffix) >= 2:
                names.add(found.name[: -len(suffix)])
                break
    return frozenset(names)


class NameNormaliser:
    """NFKC, brackets unified, punctuation and spaces removed, leading province and city names
    (and the rules file's extra prefixes) stripped, legal-form suffixes canonicalised
    (有限责任公司 → 有限公司)."""

    def __init__(self, rules: Rules) -> None:
        section = rules.resolution
        # Looked up by a name's first two characters, longest prefix first: a name is checked
        # against a handful of prefixes, not against all of them.
        self.prefixes: dict[str, list[str]] = defaultdict(list)
        for prefix in sorted({*section.region_prefixes, *administrative_prefixes()},
                             key=len, reverse=True):
            self.prefixes[prefix[:2]].append(prefix)
        self.legal_forms = sorted(section.legal_forms.items(), key=lambda kv: -len(kv[0]))
        self.min_rest = section.min_name_after_prefix

    def __call__(self, name: str) -> str:
        text = unicodedata.normalize("NFKC", name).translate(_BRACKETS)
        text = _PUNCTUATION.sub("", text)
        while prefix := self._longest_prefix(text):
            if len(text) - len(prefix) < self.min_rest:
                break  # 德州市中医院 keeps its 德州市 rather than lose 德州 alone
            text = text[len(prefix):]
        for long_form, short_form in self.legal_forms:
            if text.endswith(long_form):
                text = text[: -len(long_form)] + short_form
                break
        return text.replace("(", "").replace(")", "").upper()

    def _longest_prefix(self, text: str) -> str | None:
        return next((p for p in self.prefixes.get(text[:2], ()) if text.startswith(p)), None)
