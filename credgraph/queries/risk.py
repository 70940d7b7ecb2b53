"""Risk signals and association risk (SPEC §8, 关联风险).

Cypher fetches the live neighbourhood and the records; scoring is plain Python over what it
returns, with every number from the rules file:

- a signal per active record, its weight decayed by age (half-life);
- own risk r = 1 − Π(1 − wᵢ);
- strength(A) = max over paths of Π edge weights; R = 1 − Π(1 − strength(A)·r(A));
- score = round(100 · (1 − (1 − r(S))(1 − R))).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.model import (
    RISK_RELATIONS,
    SIGNAL_RECORDS,
    PartyRole,
    RecordKind,
    RecordStatus,
    Severity,
    label_predicate,
)
from credgraph.queries.fragments import (
    RECORD_OBJECTIONS,
    in_force_at,
    record_authority,
    status_as_of,
)
from credgraph.queries.neighbourhood import Edge, Neighbourhood, as_date, expand
from credgraph.queries.subjects import SUBJECT_SUMMARY
from credgraph.rules import Rules

# Every subject reached, with the records that may be signals: what a signal and its display
# need, not the long texts (facts, basis, content).
SUBJECTS_WITH_RECORDS = f"""
UNWIND $ids AS sid
MATCH (s:Subject {{id: sid}})
RETURN collect(s {{{SUBJECT_SUMMARY}, records: [
  (s)-[h:HAS_RECORD]->(r)
  WHERE {label_predicate("r", SIGNAL_RECORDS)} AND r.date <= $asOf
  | {{role: h.role, record: r {{.id, .kind, .domain, .severity, .status, .date, .title,
       {record_authority()}, .publicityUntil, .removedOn, .listType, .dueOn, .fulfilledOn,
       .subjectDefault, .govDefault, .fulfilledUndated, .repairedOn, .revokedOn, .correctedOn,
       objections: {RECORD_OBJECTIONS}}}}}]}}) AS rows
"""


@dataclass(frozen=True)
class Signal:
    record: dict[str, Any]
    domain: str
    weight: float
    decayed: float
    disputed: bool


@dataclass
class Contributor:
    subject: str
    strength: float
    risk: float
    path: list[Edge]
    signals: list[Signal]

    @property
    def contribution(self) -> float:
        return self.strength * self.risk


@dataclass(frozen=True)
class DomainShare:
    """Risk of one domain (领域): own, from associated subjects, and signals counted."""

    domain: str
    name: str
    own: float
    associated: float
    signals: int


@dataclass(frozen=True)
class RegionShare:
    region: str
    risk: float
    subjects: int


@dataclass
class Assessment:
    subject: str
    as_of: dt.date
    own_risk: float
    association_risk: float
    signals: list[Signal]
    contributors: list[Contributor]
    domains: dict[str, dict[str, float]]
    regions: dict[str, dict[str, float]]
    cross_domain: bool
    cross_region: bool
    cut_hubs: list[str]
    truncated: bool
    subjects: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def score(self) -> int:
        return round(100 * (1 - (1 - self.own_risk) * (1 - self.association_risk)))

    def ranked_domains(self, rules: Rules) -> list[DomainShare]:
        """Domains worst first (own plus associated risk), with their Chinese names."""
        names = rules.domains.names
        shares = [DomainShare(d, names.get(d, d), v["own"], v["associated"], int(v["signals"]))
                  for d, v in self.domains.items()]
        return sorted(shares, key=lambda s: (-(s.own + s.associated), s.domain))

    def ranked_regions(self) -> list[RegionShare]:
        """Regions the associated risk comes from, worst first."""
        shares = [RegionShare(r, v["risk"], int(v["subjects"])) for r, v in self.regions.items()]
        return sorted(shares, key=lambda s: (-s.risk, s.region))

    @property
    def own_score(self) -> int:
        return round(100 * self.own_risk)

    @property
    def association_score(self) -> int:
        return round(100 * self.association_risk)


def noisy_or(weights: list[float]) -> float:
    product = 1.0
    for weight in weights:
        product *= 1 - min(max(weight, 0.0), 1.0)
    return 1 - product


def months_between(earlier: dt.date, later: dt.date) -> float:
    return max((later - earlier).days, 0) / 30.4375


class RiskModel:
    """The rule numbers of §8, read once from the rules file."""

    def __init__(self, rules: Rules) -> None:
        risk = rules.risk
        self.rules = rules
        self.half_life = risk.half_life_months
        self.signal_weights = risk.signals
        self.penalty_weights = {Severity.SEVERE.value: risk.signals.penalty_severe,
                                Severity.GENERAL.value: risk.signals.penalty_general,
                                Severity.MINOR.value: risk.signals.penalty_minor}
        self.relations = rules.relations
        self.levels = risk.levels
        self.degree_cap = risk.degree_cap
        self.max_depth = risk.max_depth
        self.top = risk.top_contributors
        self.edge_budget = risk.edge_budget

    def level(self, score: int) -> str:
        for minimum, level in self.levels:
            if score >= minimum:
                return level
        return self.levels[-1][1]

    def edge_weight(self, edge: Edge) -> float:
        return self.relations.weight(edge.type, edge.ratio)

    def decay(self, weight: float, date: dt.date | None, as_of: dt.date) -> float:
        if date is None:
            return weight
        return weight * math.pow(0.5, months_between(date, as_of) / self.half_life)

    def signal(self, role: str, record: dict[str, Any], as_of: dt.date) -> Signal | None:
        """The signal of one record as of a date, or None when it does not count. A record
        repaired or revoked after `as_of` still counts at `as_of` (SPEC §8)."""
        if not in_force_at(record, as_of):
            return None
        kind = record.get("kind")
        date = as_date(record.get("date"))
        weight = 0.0
        if kind == RecordKind.PENALTY:
            until = as_date(record.get("publicityUntil"))
            if until is not None and until < as_of:
                return None
            weight = self.penalty_weights.get(record.get("severity") or "",
                                              self.signal_weights.penalty_general)
        elif kind == RecordKind.LISTING:
            removed = as_date(record.get("removedOn"))
            if removed is not None and removed <= as_of:
                return None
            weight = self.signal_weights.listing.get(record.get("listType") or "",
                                                     self.signal_weights.listing_default)
        elif kind == RecordKind.JUDGMENT:
            due = as_date(record.get("dueOn"))
            fulfilled = as_date(record.get("fulfilledOn"))
            if role != PartyRole.DEBTOR or due is None or due >= as_of or (
                    fulfilled is not None and fulfilled <= as_of):
                return None
            weight = self.signal_weights.judgment_unfulfilled
            date = due
        elif kind == RecordKind.CONTRACT:
            # a default by the subject counts from its due date, until fulfilled: the
            # counterparty's (相对方违约), or — the subject being the government side — the
            # agency's (政府方违约), as G2 reads it (docs/rules.md [contracts])
            due = as_date(record.get("dueOn"))
            fulfilled = as_date(record.get("fulfilledOn"))
            if not defaulted_by(role, record) or (
                    due is None or due >= as_of
                    or (fulfilled is not None and fulfilled <= as_of)):
                return None
            weight = self.signal_weights.contract_default
            date = due
        else:
            return None
        # disputed (异议中) on `as_of`: from the day an objection was filed to the day it was
        # resolved, as the credit report of that date shows it — not by today's status
        return Signal(record, str(record.get("domain") or "other"), weight,
                      self.decay(weight, date, as_of),
                      status_as_of(record, as_of) == RecordStatus.DISPUTED.value)


def defaulted_by(role: str, record: dict[str, Any]) -> bool:
    """Whether a contract's party in `role` is the one that defaulted on it, by what its source
    said: the counterparty when the 履约状态 names its default (`subjectDefault`); the agency
    (政府方) when 政府方违约 is 是, or is blank and the counterparty is not the one in default —
    neither when the 履约状态 says it was performed, the day not given (`fulfilledUndated`:
    乙方违约，已履约 counted for ever, as though never performed). The
    agency's side is G2's (queries/integrity.g2_query); the caller adds the due-date and
    fulfilment tests — a signal decays from its due date, so one without (a G2 finding when
    政府方违约 is 是) is none."""
    if record.get("fulfilledUndated"):
        return False
    if role == PartyRole.COUNTERPARTY:
        return bool(record.get("subjectDefault"))
    if role == PartyRole.AGENCY:
        government = record.get("govDefault")
        return government is True or (government is None and not record.get("subjectDefault"))
    return False


def strongest_paths(hood: Neighbourhood, model: RiskModel) -> dict[str, tuple[float, list[Edge]]]:
    """Max-product path of at most `depth` hops to every node, level by level (weights are at
    most 1, so a cycle never strengthens a path); hubs are reached but not passed through."""
    best: dict[str, tuple[float, list[Edge]]] = {hood.center: (1.0, [])}
    layer = dict(best)
    for _ in range(hood.depth):
        next_layer: dict[str, tuple[float, list[Edge]]] = {}
        for node, (strength, path) in layer.items():
            if node in hood.hubs and node != hood.center:
                continue
            for neighbour, edge in hood.adjacency.get(node, []):
                candidate = strength * model.edge_weight(edge)
                if candidate <= 0 or neighbour == hood.center:
                    continue
                if candidate > next_layer.get(neighbour, (0.0, []))[0]:
                    next_layer[neighbour] = (candidate, [*path, edge])
        for node, value in next_layer.items():
            if value[0] > best.get(node, (0.0, []))[0]:
                best[node] = value
        layer = next_layer
    return best


def assess(graph: Graph, rules: Rules, subject: str, depth: int, as_of: dt.date,
           model: RiskModel | None = None) -> Assessment:
    model = model or RiskModel(rules)
    hood = expand(graph, subject, depth, list(RISK_RELATIONS), as_of, model.degree_cap,
                  model.edge_budget)
    paths = strongest_paths(hood, model)
    ids = sorted(paths)
    signals: dict[str, list[Signal]] = defaultdict(list)
    subjects: dict[str, dict[str, Any]] = {}
    for row in graph.read_rows(SUBJECTS_WITH_RECORDS, {"ids": ids, "asOf": as_of}):
        for item in row.pop("records"):
            found = model.signal(item["role"], item["record"], as_of)
            if found:
                signals[row["id"]].append(found)
        subjects[row["id"]] = row
    own = noisy_or([s.decayed for s in signals.get(subject, [])])
    contributors = []
    for node, (strength, path) in paths.items():
        if node == subject:
            continue
        risk = noisy_or([s.decayed for s in signals.get(node, [])])
        if risk > 0:
            contributors.append(Contributor(node, strength, risk, path, signals[node]))
    association = noisy_or([c.contribution for c in contributors])
    contributors.sort(key=lambda c: (-c.contribution, c.subject))

    domains: dict[str, dict[str, float]] = defaultdict(lambda: {"own": 0.0, "associated": 0.0,
                                                                "signals": 0})
    for item in signals.get(subject, []):
        entry = domains[item.domain]
        entry["own"] = 1 - (1 - entry["own"]) * (1 - item.decayed)
        entry["signals"] += 1
    for contributor in contributors:
        for item in contributor.signals:
            entry = domains[item.domain]
            entry["associated"] = 1 - (1 - entry["associated"]) * (
                1 - contributor.strength * item.decayed)
            entry["signals"] += 1
    home = subjects.get(subject, {}).get("region")
    regions: dict[str, dict[str, float]] = defaultdict(lambda: {"risk": 0.0, "subjects": 0})
    for contributor in contributors:
        region = subjects.get(contributor.subject, {}).get("region") or "unknown"
        entry = regions[region]
        entry["risk"] = 1 - (1 - entry["risk"]) * (1 - contributor.contribution)
        entry["subjects"] += 1
    other_regions = {r for r in regions if r != home and r != "unknown"}
    return Assessment(
        subject=subject, as_of=as_of, own_risk=own, association_risk=association,
        signals=signals.get(subject, []), contributors=contributors[: model.top],
        domains=dict(domains), regions=dict(regions), cross_domain=len(domains) >= 2,
        cross_region=len(other_regions) >= 2, cut_hubs=sorted(hood.hubs - {subject}),
        truncated=hood.truncated, subjects=subjects,
    )
