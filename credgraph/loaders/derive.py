"""Fields derived by the rules file: penalty domain (领域), severity (严重程度), status."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass

from credgraph.graph.model import SEVERITY_ALIASES, RecordStatus, Severity
from credgraph.rules import Rules

# 当前状态 of the national 行政许可 template (2021) is a code, 1 有效 and 2 无效: 2 as a number
# cell of a spreadsheet may read 2.0
LICENCE_VOID = frozenset({"2", "2.0"})


def add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year = day.year + month // 12
    month = month % 12 + 1
    last = [31, 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28,
            31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return dt.date(year, month, min(day.day, last))


@dataclass(frozen=True)
class Deriver:
    rules: Rules

    def domain(self, given: str | None, authority: str | None, *details: str | None) -> str:
        """领域: the given one, else the authority's — an environment bureau's case about a
        restaurant (餐饮) is environmental — refined by what the details name (a market
        regulator's 食品/药品 case is food_drug), else the first the details name."""
        chosen = self.given_domain(given)
        if chosen is not None:
            return chosen
        section = self.rules.domains
        text = " ".join(t for t in details if t)
        by_authority = self._first(authority or "")
        if by_authority is not None:
            finer = (d for d, coarser in section.refines.items() if coarser == by_authority)
            return next((d for d in finer if self._names(d, text)), by_authority)
        return self._first(text) or section.fallback

    def _first(self, text: str) -> str | None:
        return next((d for d in self.rules.domains.order if self._names(d, text)), None)

    def _names(self, domain: str, text: str) -> bool:
        return any(word in text for word in self.rules.domains.keywords.get(domain, ()))

    def given_domain(self, given: str | None) -> str | None:
        """The domain a 领域 cell names (its key or its Chinese name), if it names one."""
        if not given:
            return None
        known = self.rules.domains.of_records
        text = given.strip()
        if text in known:
            return text
        for key, name in self.rules.domains.names.items():
            if name == text and key in known:
                return key
        return None

    def severity(self, given: str | None, category: str | None, content: str | None,
                 fine: float | None, license_action: str | None) -> str:
        if given and given.strip() in SEVERITY_ALIASES:
            return SEVERITY_ALIASES[given.strip()].value
        rules = self.rules.penalty
        text = " ".join(t for t in (category, content, license_action) if t)
        if any(word in text for word in rules.severe_keywords):
            return Severity.SEVERE.value
        if fine is not None and fine >= rules.severe_fine:
            return Severity.SEVERE.value
        parts = [p for p in re.split(r"[、,，;；/\s]+", category or "") if p]
        if parts and all(part in rules.minor_keywords for part in parts) and not fine:
            return Severity.MINOR.value
        return Severity.GENERAL.value

    def publicity_until(self, decided: dt.date, severity: str, given: dt.date | None) -> dt.date:
        if given:
            return given
        months = self.rules.penalty.publicity_months[severity]
        return add_months(decided, months)

    @staticmethod
    def status(until: dt.date | None, today: dt.date) -> str:
        if until is not None and until < today:
            return RecordStatus.EXPIRED.value
        return RecordStatus.ACTIVE.value

    @classmethod
    def licence_status(cls, said: str | None, valid_to: dt.date | None,
                       today: dt.date) -> str:
        """A licence's status: REVOKED when 当前状态 says 撤销/吊销/注销, whatever 有效期至 says;
        when it says 无效 — the national 双公示 template's code 2 (1 有效, 2 无效) — REVOKED
        before its 有效期至 (ended early) and EXPIRED after it; else ACTIVE or EXPIRED by
        有效期至. The loader derives it from a row, an upheld objection from the stored record."""
        ending = licence_ending(said)
        if ending in LICENCE_ENDINGS:
            return RecordStatus.REVOKED.value
        by_date = cls.status(valid_to, today)
        if ending == LICENCE_VOID_WORD and by_date == RecordStatus.ACTIVE.value:
            return RecordStatus.REVOKED.value
        return by_date


# 当前状态 words that end a licence whatever its 有效期至 says — 吊销 (a penalty), 注销 (a
# cancellation), 撤销 (a withdrawal) — and 无效, which ends it only before its 有效期至.
LICENCE_ENDINGS = ("吊销", "注销", "撤销")
LICENCE_VOID_WORD = "无效"


def licence_ending(said: str | None) -> str | None:
    """The word of a licence's 当前状态 that ends it (`LICENCE_ENDINGS`, or 无效 — also the
    national template's code 2), None when it says none."""
    text = unicodedata.normalize("NFKC", said or "").strip()  # ２ is 2
    ending = next((word for word in LICENCE_ENDINGS if word in text), None)
    if ending is None and (text in LICENCE_VOID or LICENCE_VOID_WORD in text):
        return LICENCE_VOID_WORD
    return ending
