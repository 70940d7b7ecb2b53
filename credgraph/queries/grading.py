"""分级分类: the credit grade (A/B/C/D) of subjects and the 双随机 inspection plan it drives
(SPEC §8). Every number is in rules.toml [grade].

score = start − Σ deduction per own active signal (the records that are risk signals at the
date, §8) − the deduction of the escalation's level on that date, floored at 0; the grade is
the first band the score reaches, made no better than the cap of the escalation level (FOCUS →
B, SEVERE_PROPOSED → C, SEVERE → D) and of an active severe listing (→ C).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.model import (
    SIGNAL_RECORDS,
    EscalationLevel,
    Label,
    Link,
    RecordKind,
    RecordStatus,
    Severity,
    label_predicate,
)
from credgraph.queries.escalation import state_on
from credgraph.queries.fragments import in_force
from credgraph.queries.risk import RiskModel
from credgraph.rules import Rules

PLAN_TIMEOUT = 300.0
GRADE_BATCH = 5000

# A subject's records that may be signals at asOf and its escalation's history (the level on
# asOf is read from it). The escalation is reached from the subject with no label on it: with
# `:Escalation` the planner starts from a label scan and checks every escalation for every
# subject.
_INPUTS = f"""
  records: [(s)-[h:{Link.HAS_RECORD.value}]->(r)
            WHERE {label_predicate("r", SIGNAL_RECORDS)} AND r.date <= $asOf
              AND {in_force("r")}
            | {{role: h.role, record: r {{.id, .kind, .severity, .status, .date, .publicityUntil,
                 .removedOn, .listType, .dueOn, .fulfilledOn, .subjectDefault,
                 .govDefault, .fulfilledUndated}}}}],
  escalation: head([(s)-[:{Link.HAS_ESCALATION.value}]->(e)
                    | e {{.history, .level, .status, .since}}])"""

GRADE_INPUTS = f"""
UNWIND $ids AS sid
MATCH (s:{Label.SUBJECT.value} {{id: sid}})
RETURN collect({{id: s.id, {_INPUTS}}}) AS rows
"""


def _population(regional: bool) -> str:
    where = "s.region STARTS WITH $region AND " if regional else ""
    return f"""
MATCH (s:{Label.SUBJECT.value})
WHERE {where}s:{Label.LEGAL_PERSON.value} AND NOT s:{Label.AGENCY.value}
  AND NOT any(word IN $defunct WHERE coalesce(s.status, '') CONTAINS word)
  AND (s.established IS NULL OR s.established <= $asOf)
RETURN collect({{id: s.id}}) AS rows
"""


POPULATION_IN_REGION = _population(regional=True)
POPULATION = _population(regional=False)


@dataclass(frozen=True)
class Grade:
    grade: str
    score: int
    inspection_ratio: float
    deductions: tuple[tuple[str, int], ...]
    capped_by: str | None


class Grader:
    """The [grade] rules, read once; `grade()` is pure."""

    def __init__(self, rules: Rules, model: RiskModel | None = None) -> None:
        self.section = rules.grade
        self.severe_lists = set(rules.listings.severe)
        self.model = model or RiskModel(rules)
        self.order = [grade for _, grade in self.section.bands]  # best first
        cut = self.section.deductions
        self.penalty = {Severity.SEVERE.value: cut.penalty_severe,
                        Severity.GENERAL.value: cut.penalty_general,
                        Severity.MINOR.value: cut.penalty_minor}

    def grade(self, records: list[dict[str, Any]], level: str | None,
              as_of: dt.date) -> Grade:
        cut = self.section.deductions
        deductions: list[tuple[str, int]] = []
        caps: list[tuple[str, str]] = []
        for item in records:
            record = dict(item["record"])
            # the query keeps what is in force at asOf: a later repair does not count yet
            if record.get("status") in (RecordStatus.REPAIRED.value, RecordStatus.REVOKED.value):
                record["status"] = RecordStatus.ACTIVE.value
            if self.model.signal(item["role"], record, as_of) is None:
                continue
            kind, rid = record.get("kind"), record.get("id")
            if kind == RecordKind.PENALTY:
                points = self.penalty.get(record.get("severity") or "", cut.penalty_general)
            elif kind == RecordKind.LISTING:
                severe = record.get("listType") in self.severe_lists
                points = cut.listing_severe if severe else cut.listing_other
                if severe:
                    caps.append((self.section.severe_listing_cap, f"severe listing {rid}"))
            elif kind == RecordKind.JUDGMENT:
                points = cut.judgment_unfulfilled
            else:
                points = cut.contract_default
            deductions.append((f"{kind} {rid}", points))
        if level is not None:
            escalation = EscalationLevel(level)
            deductions.append((f"escalation {level}", self.section.escalation[escalation]))
            caps.append((self.section.caps[escalation], f"escalation {level}"))
        score = max(0, self.section.start - sum(points for _, points in deductions))
        grade = next(g for minimum, g in self.section.bands if score >= minimum)
        capped_by = None
        for cap, why in caps:
            if self.order.index(cap) > self.order.index(grade):
                grade, capped_by = cap, why
        return Grade(grade, score, self.section.inspection_ratio[grade], tuple(deductions),
                     capped_by)


def credit_grades(graph: Graph, rules: Rules, ids: list[str], as_of: dt.date,
                  grader: Grader | None = None) -> dict[str, Grade]:
    """The grade of each existing subject among `ids`, in one query (unknown ids are absent);
    for `Subject.creditGrade` and for the partners' `sharedCheck` batches."""
    grader = grader or Grader(rules)
    rows = graph.read_rows(GRADE_INPUTS, {"ids": ids, "asOf": as_of})
    grades = {}
    for row in rows:
        state = state_on(row["escalation"], as_of) if row["escalation"] else None
        grades[row["id"]] = grader.grade(row["records"], state.level if state else None, as_of)
    return grades


@dataclass(frozen=True)
class Drawn:
    subject: str
    grade: Grade


def inspection_plan(graph: Graph, rules: Rules, region: str | None, size: int, seed: int,
                    as_of: dt.date) -> list[Drawn]:
    """双随机: `size` trading legal persons (agencies, defunct companies and those founded
    after `as_of` excluded) of the region (a code prefix; None = everywhere), drawn
    reproducibly for a seed:

    1. every subject gets a random number u in (0, 1) from SHA-256(seed, id) — the same seed
       and data give the same draw, whatever order the database returns;
    2. the worst grade (D) is drawn first, highest u first, up to its quota;
    3. then all others by the weighted key log(u) / ratio (Efraimidis–Spirakis: a weighted
       sample without replacement, weight = the grade's inspection ratio), each grade up to
       its quota ⌈ratio × subjects of that grade⌉;
    4. if `size` is still not reached, the rest in the same key order.
    """
    params = {"region": region, "defunct": list(rules.escalation.defunct_status),
              "asOf": as_of}
    rows = graph.read_rows(POPULATION_IN_REGION if region else POPULATION, params,
                           timeout=PLAN_TIMEOUT)
    ids = [row["id"] for row in rows]
    grader = Grader(rules)
    grades: dict[str, Grade] = {}
    # graded a slice at a time: a whole city's records would not fit one transaction
    for start in range(0, len(ids), GRADE_BATCH):
        grades.update(credit_grades(graph, rules, ids[start:start + GRADE_BATCH], as_of,
                                    grader))
    return [Drawn(sid, grades[sid]) for sid in draw(rules, grades, size, seed)]


def uniform(seed: int, sid: str) -> float:
    digest = hashlib.sha256(f"{seed}:{sid}".encode()).digest()
    return (int.from_bytes(digest[:8], "big") + 0.5) / 2**64


def draw(rules: Rules, grades: dict[str, Grade], size: int, seed: int) -> list[str]:
    section = rules.grade
    worst = section.bands[-1][1]
    members: dict[str, list[str]] = defaultdict(list)
    for sid, found in grades.items():
        members[found.grade].append(sid)
    quota = {g: math.ceil(section.inspection_ratio[g] * len(ids)) for g, ids in members.items()}

    def key(sid: str) -> float:
        ratio = section.inspection_ratio[grades[sid].grade]
        return math.log(uniform(seed, sid)) / ratio if ratio > 0 else -math.inf

    ordered = sorted(grades, key=lambda sid: (-key(sid), sid))
    taken: list[str] = []
    chosen: set[str] = set()
    counts: dict[str, int] = defaultdict(int)

    def take(sid: str) -> None:
        taken.append(sid)
        chosen.add(sid)
        counts[grades[sid].grade] += 1

    for sid in ordered:
        if len(taken) >= size or counts[worst] >= quota.get(worst, 0):
            break
        if grades[sid].grade == worst:
            take(sid)
    for sid in ordered:
        if len(taken) >= size:
            break
        grade = grades[sid].grade
        if sid not in chosen and counts[grade] < quota[grade]:
            take(sid)
    for sid in ordered:
        if len(taken) >= size:
            break
        if sid not in chosen:
            take(sid)
    return taken
