"""Fields derived by the rules file: penalty domain (领域), severity (严重程度), status."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from credgraph.graph.model import RecordStatus
from credgraph.rules import Rules

SEVERE, GENERAL, MINOR = "严重", "一般", "轻微"
SEVERITIES = {SEVERE: SEVERE, GENERAL: GENERAL, MINOR: MINOR,
              "severe": SEVERE, "general": GENERAL, "minor": MINOR,
              "较重": SEVERE, "重大": SEVERE, "较轻": MINOR}


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

    def domain(self, given: str | None, *texts: str | None) -> str:
        section = self.rules.section("domains")
        keywords: dict[str, list[str]] = section["keywords"]
        if given:
            text = given.strip()
            if text in keywords or text == section["fallback"]:
                return text
            for key, name in section["names"].items():
                if name == text:
                    return str(key)
        haystack = " ".join(t for t in texts if t)
        for domain in section["order"]:
            if any(word in haystack for word in keywords.get(domain, ())):
                return str(domain)
        return str(section["fallback"])

    def severity(self, given: str | None, category: str | None, content: str | None,
                 fine: float | None, license_action: str | None) -> str:
        if given and given.strip() in SEVERITIES:
            return SEVERITIES[given.strip()]
        rules = self.rules.section("penalty")
        text = " ".join(t for t in (category, content, license_action) if t)
        if any(word in text for word in rules["severe_keywords"]):
            return SEVERE
        if fine is not None and fine >= float(rules["severe_fine"]):
            return SEVERE
        parts = [p for p in re.split(r"[、,，;；/\s]+", category or "") if p]
        if parts and all(part in rules["minor_keywords"] for part in parts) and not fine:
            return MINOR
        return GENERAL

    def publicity_until(self, decided: dt.date, severity: str, given: dt.date | None) -> dt.date:
        if given:
            return given
        months = int(self.rules.section("penalty")["publicity_months"].get(severity, 12))
        return add_months(decided, months)

    @staticmethod
    def status(until: dt.date | None, today: dt.date) -> str:
        if until is not None and until < today:
            return RecordStatus.EXPIRED.value
        return RecordStatus.ACTIVE.value
