"""Organisation-name normalisation for entity resolution (SPEC §7, 名称规范化)."""

from __future__ import annotations

import re
import unicodedata

from credgraph.rules import Rules

_PUNCTUATION = re.compile(r"[\s\.,，。、·•:：;；'\"“”‘’!！?？\-—_/\\|]+")
_BRACKETS = str.maketrans({"（": "(", "）": ")", "【": "(", "】": ")", "[": "(", "]": ")",
                           "〔": "(", "〕": ")", "{": "(", "}": ")"})


class NameNormaliser:
    """NFKC, brackets unified, punctuation and spaces removed, leading province and city names
    stripped, legal-form suffixes canonicalised (有限责任公司 → 有限公司)."""

    def __init__(self, rules: Rules) -> None:
        section = rules.section("resolution")
        self.prefixes = sorted(section["region_prefixes"], key=len, reverse=True)
        self.legal_forms = sorted(section["legal_forms"].items(), key=lambda kv: -len(kv[0]))

    def __call__(self, name: str) -> str:
        text = unicodedata.normalize("NFKC", name).translate(_BRACKETS)
        text = _PUNCTUATION.sub("", text)
        stripped = True
        while stripped:
            stripped = False
            for prefix in self.prefixes:
                if text.startswith(prefix) and len(text) > len(prefix) + 1:
                    text = text[len(prefix):]
                    stripped = True
        for long_form, short_form in self.legal_forms:
            if text.endswith(long_form):
                text = text[: -len(long_form)] + short_form
                break
        return text.replace("(", "").replace(")", "").upper()
