"""屡罚不改: the escalation of repeat offenders (SPEC §8), as of a date, over the whole city.

A run reads what holds with a handful of set-based queries for the whole city, decides in
Python the escalation each subject should have, compares it with the stored `:Escalation`
nodes and writes only the differences, in `UNWIND $rows` batches keyed by subject. Each row
carries the revision of the node it was computed from and applies only while the node still
has it: a batch replayed, a run killed half-way and started again, or a confirmation racing a
run never writes twice — the re-run reads the new state and finishes the rest.

Rules (every number in rules.toml [escalation]); a penalty counts when it is in force at asOf
(`fragments.in_force`: DISPUTED counts, REPAIRED/REVOKED from their date do not), of a
counted severity (严重/一般, not 轻微), dated within the window:

- R1 ≥ 3 counted penalties in one domain → FOCUS (重点关注);
- R2 ≥ 5 counted penalties in any domains → FOCUS;
- R3 R1 or R2, with a 严重 penalty in the window or an active severe listing (失信) →
  SEVERE_PROPOSED (拟列入严重失信主体名单), confirmed by a person after the notice period;
- R4 换壳: a person who is legal representative, actual controller or majority shareholder of
  ≥ 2 companies that each have ≥ 2 counted penalties, or of a defunct (吊销/注销) company
  with unpaid penalties followed by a new company → FOCUS on the person and the companies;
- R5 re-offending within 12 months of a credit repair (信用修复) → one level up (at most
  SEVERE_PROPOSED: SEVERE always needs a person), and no repair for 12 months after;
- PROPAGATION: the legal representative and actual controller of a legal person confirmed at
  SEVERE → FOCUS (联合惩戒对象), never before the confirmation.

A confirmed SEVERE stays while any of the subject's own rules (R1–R5) holds; when none does
it is lifted, or lowered to FOCUS when the subject is still a propagation target. A run dated
before a confirmation leaves that escalation as the person decided it, and one dated before a
lift (a run dated ahead) finds it as it stood before the lift. An
escalation whose conditions no longer hold is LIFTED with the date, never deleted; its
history is append-only.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from credgraph.graph.driver import Graph, Row
from credgraph.graph.locks import RunLock
from credgraph.graph.model import (
    CONTROL_RELATIONS,
    RECORD_LABELS,
    EscalationLevel,
    EscalationStatus,
    Label,
    Link,
    ObjectionStatus,
    PartyRole,
    RecordKind,
    RecordStatus,
    RelationType,
    types_pattern,
)
from credgraph.loaders.derive import add_months
from credgraph.queries.fragments import RECORD_ON_A_DATE, in_force, live
from credgraph.queries.neighbourhood import as_date
from credgraph.queries.subjects import SUBJECT_SUMMARY
from credgraph.rules import EscalationRules, Rules
from credgraph.schema.privacy import scrub

R1, R2, R3, R4, R5 = "R1", "R2", "R3", "R4", "R5"
PROPAGATION = "PROPAGATION"
OWN_RULES = (R1, R2, R3, R4, R5)

# Lowest first: FOCUS < SEVERE_PROPOSED < SEVERE.
LEVELS: tuple[EscalationLevel, ...] = tuple(EscalationLevel)
# Records an escalation may be triggered by.
TRIGGER_KINDS: tuple[RecordKind, ...] = (RecordKind.PENALTY, RecordKind.LISTING)
BATCH = 2000
READ_TIMEOUT = 600.0
LOCK_ID = "escalation"

Trigger = tuple[str, str]  # (record kind, record id)

_ESC = Label.ESCALATION.value
_SUBJECT = Label.SUBJECT.value
_PENALTY = Label.PENALTY.value
_LISTING = Label.LISTING.value
_HAS_RECORD = Link.HAS_RECORD.value
_HAS_ESCALATION = Link.HAS_ESCALATION.value
_TRIGGERED_BY = Link.TRIGGERED_BY.value
_BEHIND = types_pattern([*CONTROL_RELATIONS, RelationType.SHAREHOLDER])
_CONTROL = types_pattern(list(CONTROL_RELATIONS))
_SHAREHOLDER = RelationType.SHAREHOLDER.value


def rank(level: str | None) -> int:
    """0 for no escalation, then 1, 2, 3 from FOCUS up."""
    return 0 if level is None else LEVELS.index(EscalationLevel(level)) + 1


def escalation_id(subject: str) -> str:
    return f"ESC-{subject}"


class EscalationRefused(ValueError):
    """A request the escalation state does not allow; the message says why and what to do."""


@dataclass(frozen=True)
class Window:
    """The dates a run looks at: penalties dated from `start` to `as_of`, both included."""

    as_of: dt.date
    start: dt.date
    rules: EscalationRules

    @classmethod
    def of(cls, rules: Rules, as_of: dt.date) -> Window:
        section = rules.escalation
        return cls(as_of, add_months(as_of, -section.window_months), section)

    def params(self) -> dict[str, Any]:
        section = self.rules
        return {"asOf": self.as_of, "from": self.start, "role": PartyRole.SUBJECT.value,
                "severities": [s.value for s in section.counted_severities]}


# -- what holds ---------------------------------------------------------------------------------
# Every counted penalty of the window, grouped by subject; only subjects with enough of them
# for some rule. Starts from the penalty date index.
COUNTED_PENALTIES = f"""
MATCH (p:{_PENALTY})
WHERE p.date >= $from AND p.date <= $asOf AND p.severity IN $severities AND {in_force("p")}
MATCH (s:{_SUBJECT})-[h:{_HAS_RECORD}]->(p) WHERE h.role = $role
WITH s, p ORDER BY p.date, p.id
WITH s, collect(p {{.id, .domain, .severity, .date}}) AS penalties
WHERE size(penalties) >= $atLeast
RETURN collect({{id: s.id, legal: s:{Label.LEGAL_PERSON.value}, penalties: penalties}}) AS rows
"""

# Active severe listings (失信) of some subjects at asOf.
ACTIVE_LISTINGS = f"""
UNWIND $ids AS sid
MATCH (s:{_SUBJECT} {{id: sid}})-[:{_HAS_RECORD}]->(l:{_LISTING})
WHERE l.listType IN $types AND l.date <= $asOf
  AND (l.removedOn IS NULL OR l.removedOn > $asOf) AND {in_force("l")}
WITH s, l ORDER BY l.date, l.id
RETURN collect({{id: s.id, listing: l.id}}) AS rows
"""

# R4 (a): people behind several penalised companies, at some time on or after the company's
# first counted penalty (one who left before it was fined there did not run it when it
# offended, as for R4 (b)'s defunct company).
SHELL_PEOPLE = f"""
UNWIND $companies AS company
MATCH (c:{_SUBJECT} {{id: company.id}})<-[r:{_BEHIND}]-(p:{Label.NATURAL_PERSON.value})
WHERE (r.start IS NULL OR r.start <= $asOf) AND (r.end IS NULL OR r.end >= company.first)
  AND (type(r) <> '{_SHAREHOLDER}' OR r.ratio > $majority)
WITH p, collect(DISTINCT c.id) AS companies
WHERE size(companies) >= $companiesMin
RETURN collect({{person: p.id, companies: companies}}) AS rows
"""

# R4 (b): a defunct company (吊销/注销) with unpaid penalties — fined, in force, not repaired —
# and a person behind it on or after its first such penalty (one who left before it was ever
# fined ran another company, not this shell) who then stands behind a company founded after
# its last such penalty and within the successor window. Starts from the text index on 登记状态.
SHELL_SUCCESSORS = f"""
UNWIND $defunct AS word
MATCH (old:{_SUBJECT}) WHERE old.status CONTAINS word
WITH DISTINCT old WHERE old:{Label.LEGAL_PERSON.value} AND NOT old:{Label.AGENCY.value}
MATCH (old)-[h:{_HAS_RECORD}]->(p:{_PENALTY})
WHERE h.role = $role AND p.date <= $asOf AND p.severity IN $severities
  AND (coalesce(p.fine, 0) > 0 OR coalesce(p.confiscation, 0) > 0) AND {in_force("p")}
WITH old, collect(p.id) AS unpaid, min(p.date) AS first, max(p.date) AS last
MATCH (person:{Label.NATURAL_PERSON.value})-[r1:{_BEHIND}]->(old)
WHERE (r1.start IS NULL OR r1.start <= $asOf) AND (r1.end IS NULL OR r1.end >= first)
  AND (type(r1) <> '{_SHAREHOLDER}' OR r1.ratio > $majority)
MATCH (person)-[r2:{_BEHIND}]->(new:{Label.LEGAL_PERSON.value})
WHERE new <> old AND {live("r2")} AND (type(r2) <> '{_SHAREHOLDER}' OR r2.ratio > $majority)
  AND new.established >= last AND new.established >= $successorFrom
  AND new.established <= $asOf
  AND NOT any(word IN $defunct WHERE coalesce(new.status, '') CONTAINS word)
WITH person, old, unpaid, collect(DISTINCT new.id) AS successors
RETURN collect({{person: person.id, old: old.id, unpaid: unpaid,
                 successors: successors}}) AS rows
"""

# R5: counted penalties within the re-offence period after a granted repair (a `:Repair`
# node, or a record REPAIRED with its date).
REOFFENCES = f"""
CALL () {{
  MATCH (x:{Label.REPAIR.value})-[:{Link.REPAIRS.value}]->(r)<-[:{_HAS_RECORD}]-(s:{_SUBJECT})
  WHERE x.grantedOn IS NOT NULL AND date(x.grantedOn) <= $asOf
    AND coalesce(x.subject, s.id) = s.id
  RETURN s, date(x.grantedOn) AS granted, r.id AS repaired
  UNION
  MATCH (r:{_PENALTY})
  WHERE r.status = $repairedStatus AND r.repairedOn IS NOT NULL AND r.repairedOn <= $asOf
  MATCH (s:{_SUBJECT})-[:{_HAS_RECORD}]->(r)
  RETURN s, date(r.repairedOn) AS granted, r.id AS repaired
}}
MATCH (s)-[h:{_HAS_RECORD}]->(p:{_PENALTY})
WHERE h.role = $role AND p.id <> repaired AND p.date > granted
  AND p.date <= granted + duration({{months: $months}})
  AND p.date >= $from AND p.date <= $asOf AND p.severity IN $severities AND {in_force("p")}
WITH s, p, min(granted) AS granted ORDER BY p.date, p.id
RETURN collect({{id: s.id, penalty: p.id, date: p.date, granted: granted}}) AS rows
"""

# PROPAGATION: legal representatives and actual controllers of some legal persons, live.
CONTROLLERS = f"""
UNWIND $companies AS cid
MATCH (c:{_SUBJECT} {{id: cid}})<-[r:{_CONTROL}]-(p:{_SUBJECT})
WHERE {live("r")} AND p.id <> c.id
RETURN collect(DISTINCT {{person: p.id, company: c.id}}) AS rows
"""


@dataclass
class Wanted:
    """The escalation a subject should have as of the run's date, and why."""

    subject: str
    level: EscalationLevel = EscalationLevel.FOCUS
    rules: set[str] = field(default_factory=set)
    triggers: set[Trigger] = field(default_factory=set)
    reasons: list[str] = field(default_factory=list)
    propagated_from: set[str] = field(default_factory=set)
    repair_blocked_until: dt.date | None = None

    def add(self, rule: str, level: EscalationLevel, triggers: Iterable[Trigger],
            reason: str) -> None:
        if not self.rules or rank(level) > rank(self.level):
            self.level = level
        self.rules.add(rule)
        self.triggers.update(triggers)
        if reason not in self.reasons:
            self.reasons.append(reason)

    @property
    def own(self) -> bool:
        """Whether a rule of the subject's own conduct holds (not only propagation)."""
        return any(rule in OWN_RULES for rule in self.rules)


def _penalty(pid: str) -> Trigger:
    return (RecordKind.PENALTY.value, pid)


def _listing(lid: str) -> Trigger:
    return (RecordKind.LISTING.value, lid)


def wanted_escalations(graph: Graph, rules: Rules, as_of: dt.date,
                       severe: Callable[[dict[str, Wanted]], set[str]] | None = None,
                       ) -> dict[str, Wanted]:
    """What every subject of the city should have as of a date (nothing is written).

    `severe(own)` names the legal persons at SEVERE after the run, from the subjects whose
    own rules hold; their controllers are propagation targets. Without it, the stored SEVERE
    escalations confirmed by `as_of` that keep an own rule are used (one confirmed later was
    only proposed on `as_of`: nothing propagates before the confirmation)."""
    window = Window.of(rules, as_of)
    section = rules.escalation
    wanted: dict[str, Wanted] = {}

    def want(sid: str) -> Wanted:
        return wanted.setdefault(sid, Wanted(sid))

    at_least = min(section.r1.count, section.r2.count, section.r4.company_penalties)
    rows = graph.read_rows(COUNTED_PENALTIES, {**window.params(), "atLeast": at_least},
                           timeout=READ_TIMEOUT)
    flagged = _repeat_offences(rules, rows, want)
    for row in graph.read_rows(ACTIVE_LISTINGS, {
            "ids": flagged, "asOf": as_of, "types": list(rules.listings.severe)},
            timeout=READ_TIMEOUT):
        want(row["id"]).add(R3, EscalationLevel.SEVERE_PROPOSED, [_listing(row["listing"])],
                            "R3: repeat offender with an active severe listing (失信)")

    _shells(graph, window, rows, want)
    _reoffences(graph, window, want)

    kept = severe(wanted) if severe else None
    if kept is None:
        kept = _stored_severe(graph, wanted, as_of)
    if kept:
        for row in graph.read_rows(CONTROLLERS, {"companies": sorted(kept), "asOf": as_of},
                                   timeout=READ_TIMEOUT):
            target = want(row["person"])
            target.propagated_from.add(row["company"])
            target.add(PROPAGATION, EscalationLevel.FOCUS, (),
                       "PROPAGATION: legal representative or actual controller of a subject "
                       "listed 严重失信 (联合惩戒对象)")
    _raise_reoffenders(wanted)
    return wanted


def _repeat_offences(rules: Rules, rows: list[dict[str, Any]],
                     want: Callable[[str], Wanted]) -> list[str]:
    """R1, R2 and R3's 严重 penalty from each subject's counted penalties; returns the
    subjects R1 or R2 holds for (whose listings R3 looks at)."""
    section = rules.escalation
    serious = {s.value for s in section.serious_severities}
    months = section.window_months
    flagged: list[str] = []
    for row in rows:
        penalties = row["penalties"]
        by_domain: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for item in penalties:
            by_domain[item.get("domain") or rules.domains.fallback].append(item)
        found: list[tuple[str, list[dict[str, Any]], str]] = [
            (R1, items, f"R1: {len(items)} penalties in "
                        f"{rules.domains.names.get(domain, domain)} within {months} months")
            for domain, items in sorted(by_domain.items()) if len(items) >= section.r1.count]
        if len(penalties) >= section.r2.count:
            found.append((R2, penalties,
                          f"R2: {len(penalties)} penalties within {months} months"))
        if not found:
            continue
        flagged.append(row["id"])
        target = want(row["id"])
        for rule, items, reason in found:
            target.add(rule, EscalationLevel.FOCUS, (_penalty(p["id"]) for p in items), reason)
        grave = [p for p in penalties if p["severity"] in serious]
        if grave:
            target.add(R3, EscalationLevel.SEVERE_PROPOSED, (_penalty(p["id"]) for p in grave),
                       f"R3: repeat offender with {len(grave)} 严重 penalties")
    return flagged


def _shells(graph: Graph, window: Window, rows: list[dict[str, Any]],
            want: Callable[[str], Wanted]) -> None:
    section = window.rules.r4
    penalised = {row["id"]: row["penalties"] for row in rows
                 if row["legal"] and len(row["penalties"]) >= section.company_penalties}
    # each company with the date of its first counted penalty (the rows are in date order)
    people = graph.read_rows(SHELL_PEOPLE, {
        "companies": [{"id": cid, "first": penalised[cid][0]["date"]}
                      for cid in sorted(penalised)], "asOf": window.as_of,
        "majority": section.majority_share, "companiesMin": section.companies},
        timeout=READ_TIMEOUT)
    for row in people:
        companies = sorted(row["companies"])
        triggers = [_penalty(p["id"]) for c in companies for p in penalised[c]]
        each = (f"each have at least {section.company_penalties} penalties within "
                f"{window.rules.window_months} months (换壳)")
        want(row["person"]).add(R4, EscalationLevel.FOCUS, triggers,
                                f"R4: behind {len(companies)} companies that {each}")
        for company in companies:
            # the company's reason says whose companies they are, not that it stands behind them
            want(company).add(R4, EscalationLevel.FOCUS,
                              (_penalty(p["id"]) for p in penalised[company]),
                              f"R4: one of {len(companies)} companies behind one person that "
                              f"{each}")
    successors = graph.read_rows(SHELL_SUCCESSORS, {
        **window.params(), "defunct": list(window.rules.defunct_status),
        "majority": section.majority_share,
        "successorFrom": add_months(window.as_of, -section.successor_months)},
        timeout=READ_TIMEOUT)
    for row in successors:
        triggers = [_penalty(p) for p in row["unpaid"]]
        reason = (f"R4: a defunct company with {len(triggers)} unpaid penalties, then a new "
                  f"company behind the same person (换壳)")
        for sid in (row["person"], row["old"], *row["successors"]):
            want(sid).add(R4, EscalationLevel.FOCUS, triggers, reason)


def _reoffences(graph: Graph, window: Window, want: Callable[[str], Wanted]) -> None:
    section = window.rules
    rows = graph.read_rows(REOFFENCES, {
        **window.params(), "repairedStatus": RecordStatus.REPAIRED.value,
        "months": section.repair_reoffence_months}, timeout=READ_TIMEOUT)
    for row in rows:
        day = as_date(row["date"])
        granted = as_date(row["granted"])
        assert day is not None and granted is not None
        target = want(row["id"])
        level = target.level if target.rules else EscalationLevel.FOCUS
        target.add(R5, level, [_penalty(row["penalty"])],
                   f"R5: penalty of {day.isoformat()} within "
                   f"{section.repair_reoffence_months} months of a credit repair "
                   f"({granted.isoformat()}): one level up, no repair until "
                   f"{add_months(day, section.repair_block_months).isoformat()}")
        blocked = add_months(day, section.repair_block_months)
        if target.repair_blocked_until is None or blocked > target.repair_blocked_until:
            target.repair_blocked_until = blocked


def _raise_reoffenders(wanted: dict[str, Wanted]) -> None:
    """R5 raises the level its other rules give by one step; SEVERE always needs a person."""
    for item in wanted.values():
        if R5 not in item.rules:
            continue
        others = item.rules - {R5}
        if others:
            step = min(rank(item.level) + 1, rank(EscalationLevel.SEVERE_PROPOSED))
            item.level = LEVELS[step - 1]


# -- what is stored -----------------------------------------------------------------------------
ESCALATION_FIELDS = (".id, .subject, .level, .status, .since, .openedOn, .proposedOn, "
                     ".confirmedOn, .confirmedBy, .liftedOn, .rules, .reasons, .measures, "
                     ".inspectionRatio, .propagatedFrom, .repairBlockedUntil, .revision")

# the history of an active escalation, and of one a run dated before its opening lifted (a
# night made up): a lifted one's (never deleted) is not read by a run otherwise
STORED = f"""
MATCH (e:{_ESC})
RETURN collect(e {{{ESCALATION_FIELDS},
  history: CASE WHEN e.status = '{EscalationStatus.ACTIVE.value}' OR e.liftedOn < e.openedOn
                THEN e.history END,
  triggers: [(e)-[:{_TRIGGERED_BY}]->(r) | [r.kind, r.id]]}}) AS rows
"""

# a SEVERE lifted by a run of a later date than this one's stood as of this date
STORED_SEVERE = f"""
MATCH (e:{_ESC})
WHERE e.level = $severe AND (e.status = $active OR (e.status = $lifted AND e.liftedOn > $asOf))
MATCH (s:{Label.LEGAL_PERSON.value})-[:{_HAS_ESCALATION}]->(e)
RETURN collect({{id: s.id, confirmedOn: e.confirmedOn}}) AS rows
"""


@dataclass
class Stored:
    """An `:Escalation` node as read."""

    subject: str
    level: str
    status: str
    revision: int
    rules: list[str]
    triggers: set[Trigger]
    propagated_from: list[str]
    repair_blocked_until: dt.date | None
    row: dict[str, Any]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Stored:
        triggers = {(t["kind"], t["id"]) if isinstance(t, Mapping) else (t[0], t[1])
                    for t in row.get("triggers") or []}
        return cls(
            subject=row["subject"], level=row["level"], status=row["status"],
            revision=int(row.get("revision") or 0), rules=list(row.get("rules") or []),
            triggers=triggers,
            propagated_from=list(row.get("propagatedFrom") or []),
            repair_blocked_until=as_date(row.get("repairBlockedUntil")), row=dict(row))

    @property
    def active(self) -> bool:
        return self.status == EscalationStatus.ACTIVE.value

    @property
    def lifted_before_opening(self) -> bool:
        """Lifted by a night made up before it opened (its history is read: `STORED`)."""
        lifted, opened = as_date(self.row.get("liftedOn")), as_date(self.row.get("openedOn"))
        return not self.active and lifted is not None and opened is not None and lifted < opened

    def confirmed_after(self, as_of: dt.date) -> bool:
        return confirmed_after(self.row.get("confirmedOn"), as_of)

    def lifted_after(self, as_of: dt.date) -> dt.date | None:
        """The day of a lift by a run of a later date than `as_of`: as of `as_of` it had not
        happened (a run dated ahead lifted what a run of today finds holding)."""
        lifted = as_date(self.row.get("liftedOn"))
        if self.status == EscalationStatus.LIFTED.value and lifted and lifted > as_of:
            return lifted
        return None


def confirmed_after(confirmed_on: Any, as_of: dt.date) -> bool:
    """Confirmed by a person (人工确认) after `as_of`: a run of that date leaves it."""
    confirmed = as_date(confirmed_on)
    return confirmed is not None and confirmed > as_of


def stored_escalations(graph: Graph) -> dict[str, Stored]:
    rows = graph.read_rows(STORED, timeout=READ_TIMEOUT)
    return {row["subject"]: Stored.from_row(row) for row in rows}


def _stored_severe(graph: Graph, wanted: dict[str, Wanted], as_of: dt.date) -> set[str]:
    rows = graph.read_rows(STORED_SEVERE, {"active": EscalationStatus.ACTIVE.value,
                                           "lifted": EscalationStatus.LIFTED.value,
                                           "severe": EscalationLevel.SEVERE.value,
                                           "asOf": as_of})
    return {row["id"] for row in rows
            if row["id"] in wanted and wanted[row["id"]].own
            and not confirmed_after(row["confirmedOn"], as_of)}


# -- the difference, and writing it --------------------------------------------------------------
CREATED, RAISED, LOWERED, LIFTED, UPDATED, CONFIRMED = (
    "created", "raised", "lowered", "lifted", "updated", "confirmed")


@dataclass
class Change:
    """One subject's write: the node's new properties, computed from `revision`."""

    subject: str
    action: str
    revision: int
    props: dict[str, Any]
    triggers: set[Trigger] | None
    event: dict[str, Any]

    def row(self) -> dict[str, Any]:
        triggers = self.triggers or set()
        return {
            "subject": self.subject, "id": escalation_id(self.subject), "action": self.action,
            "revision": self.revision, "props": self.props,
            "sync": self.triggers is not None,
            "keys": sorted([kind, rid] for kind, rid in triggers),
            **{kind.value: sorted(rid for k, rid in triggers if k == kind.value)
               for kind in TRIGGER_KINDS},
            "event": json.dumps(self.event, ensure_ascii=False, sort_keys=True, default=str),
        }


@dataclass
class RunResult:
    """What a run changed, as the contract's EscalationRun counts (plus `lowered`)."""

    as_of: dt.date
    created: int = 0
    raised: int = 0
    lowered: int = 0
    unchanged: int = 0
    lifted: int = 0
    # the subjects whose escalation the run wrote — opened, moved, lifted, or kept at its level
    # with other rules or triggers (`updated`, counted unchanged): what its audit names
    changed: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"asOf": self.as_of.isoformat(), "created": self.created, "raised": self.raised,
                "unchanged": self.unchanged, "lifted": self.lifted, "lowered": self.lowered}


def _event(action: str, level: str, as_of: dt.date, actor: str, note: str,
           rules: Iterable[str] = (), triggers: Iterable[Trigger] | None = None
           ) -> dict[str, Any]:
    """A history entry; free text is scrubbed of anything shaped like an ID number. A run's
    event names the triggering records it decided on (`triggers`, [kind, id] pairs), so that
    a later date's run replacing them leaves the evidence of this one readable."""
    event: dict[str, Any] = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "action": action,
        "level": level, "asOf": as_of.isoformat(), "actor": scrub(actor),
        "note": scrub(note), "rules": sorted(rules)}
    if triggers is not None:
        event["triggers"] = sorted([kind, rid] for kind, rid in triggers)
    return event


def _level_props(rules: Rules, level: EscalationLevel, since: dt.date) -> dict[str, Any]:
    measures = rules.escalation.levels[level]
    return {"level": level.value, "since": since, "measures": list(measures.measures),
            "inspectionRatio": measures.inspection_ratio}


def _reason_props(item: Wanted, stored: Stored | None) -> dict[str, Any]:
    blocked = item.repair_blocked_until
    if stored and stored.repair_blocked_until and (
            blocked is None or stored.repair_blocked_until > blocked):
        blocked = stored.repair_blocked_until
    return {"rules": sorted(item.rules), "reasons": list(item.reasons),
            "propagatedFrom": sorted(item.propagated_from), "repairBlockedUntil": blocked}


def plan(rules: Rules, as_of: dt.date, wanted: Mapping[str, Wanted],
         stored: Mapping[str, Stored], actor: str,
         frozen: Iterable[str] = ()) -> tuple[list[Change], int]:
    """The writes that bring the stored escalations to the wanted ones, and how many active
    escalations keep their level without any write. `frozen`: subjects confirmed at SEVERE
    after `as_of`, whose propagation targets (an active escalation propagated from one of
    them) are left as they stand."""
    left = set(frozen)
    changes: list[Change] = []
    untouched = 0
    for sid in sorted(set(wanted) | {s for s, e in stored.items()
                                     if e.active or e.lifted_before_opening}):
        item, node = wanted.get(sid), stored.get(sid)
        if node is not None and node.active and left.intersection(node.propagated_from):
            change = None
        else:
            change = _change(rules, as_of, item, node, actor)
        if change is not None:
            changes.append(change)
        elif node is not None and node.active:
            untouched += 1
    return changes, untouched


def _change(rules: Rules, as_of: dt.date, item: Wanted | None, node: Stored | None,
            actor: str) -> Change | None:
    revision = node.revision if node else 0
    if node is not None and node.confirmed_after(as_of):
        return None
    if item is None:
        if node is None or (not node.active and state_on(node.row, as_of) is None):
            return None
        # active — or lifted by a night made up before it opened, which by its history
        # stands on this date all the same: lifted as of this one
        return Change(node.subject, LIFTED, revision,
                      {"status": EscalationStatus.LIFTED.value, "liftedOn": as_of},
                      None, _event(LIFTED, node.level, as_of, actor,
                                   "no escalation rule holds any more", node.rules))
    note = "; ".join(item.reasons)
    level = item.level
    if node is not None and (lifted := node.lifted_after(as_of)) is not None:
        return _reopened(rules, as_of, item, node, actor, lifted)
    if node is not None and not node.active and state_on(node.row, as_of) is not None:
        # lifted by a night made up before it opened (its lift dated before its opening): by
        # its history it stands on this date, as it was — its start and notice period kept
        return _reopened(rules, as_of, item, node, actor, None)
    if node is None or not node.active:
        props = {**_level_props(rules, level, as_of), **_reason_props(item, node),
                 "status": EscalationStatus.ACTIVE.value, "openedOn": as_of,
                 "proposedOn": as_of if level is EscalationLevel.SEVERE_PROPOSED else None,
                 "confirmedOn": None, "confirmedBy": None, "liftedOn": None}
        return Change(item.subject, CREATED, revision, props, item.triggers,
                      _event(CREATED, level.value, as_of, actor, note, item.rules,
                             item.triggers))
    current = EscalationLevel(node.level)
    level = _level_from(current, item)
    if rank(level) != rank(current):
        action = RAISED if rank(level) > rank(current) else LOWERED
        props = {**_level_props(rules, level, as_of), **_reason_props(item, node),
                 "proposedOn": as_of if level is EscalationLevel.SEVERE_PROPOSED else None}
        return Change(item.subject, action, revision, props, item.triggers,
                      _event(action, level.value, as_of, actor, note, item.rules,
                             item.triggers))
    props = _reason_props(item, node)
    same = (props["rules"] == sorted(node.rules) and item.triggers == node.triggers
            and props["reasons"] == list(node.row.get("reasons") or [])
            and props["propagatedFrom"] == sorted(node.propagated_from)
            and props["repairBlockedUntil"] == node.repair_blocked_until)
    # a run dated before the history's first event (or at another level then) finds the level
    # standing: said by an event of its date, or every answer as of that date would miss it
    then = state_on(node.row, as_of)
    if same and then is not None and then.level is level:
        return None
    return Change(item.subject, UPDATED, revision, props, item.triggers,
                  _event(UPDATED, level.value, as_of, actor, note, item.rules,
                         item.triggers))


def _level_from(current: EscalationLevel, item: Wanted) -> EscalationLevel:
    """The level an escalation at `current` moves to: what its rules want, but a SEVERE a
    person confirmed stays while one of the subject's own rules holds (else FOCUS, as a
    propagation target)."""
    if current is EscalationLevel.SEVERE:
        return current if item.own else EscalationLevel.FOCUS
    return item.level


def _reopened(rules: Rules, as_of: dt.date, item: Wanted, node: Stored, actor: str,
              lifted: dt.date | None) -> Change:
    """An escalation a run dated `lifted` lifted, found holding by a run of an earlier date —
    or one a night made up before its opening lifted (`lifted` None), found holding by a run
    on a day its history has it standing: reopened as it stood — a SEVERE a person confirmed
    stays confirmed, a proposal keeps its notice period, its start stays — not opened anew
    as a fresh proposal."""
    current = EscalationLevel(node.level)
    level = _level_from(current, item)
    props = {"status": EscalationStatus.ACTIVE.value, "liftedOn": None,
             **_reason_props(item, node)}
    if rank(level) != rank(current):
        props |= {**_level_props(rules, level, as_of),
                  "proposedOn": as_of if level is EscalationLevel.SEVERE_PROPOSED else None}
    why = (f"the lift as of {lifted} is after this run's date" if lifted else
           f"the lift as of {as_date(node.row.get('liftedOn'))} was dated before its opening")
    note = f"reopened as it stood: {why}; " + "; ".join(item.reasons)
    return Change(item.subject, CREATED, node.revision, props, item.triggers,
                  _event(CREATED, level.value, as_of, actor, note, item.rules, item.triggers))


def _apply_statement() -> str:
    links = "\n".join(f"""CALL (e, row) {{
  WITH e, row WHERE row.sync
  UNWIND row.{kind.value} AS rid
  MATCH (r:{RECORD_LABELS[kind].value} {{id: rid}})
  MERGE (e)-[:{_TRIGGERED_BY}]->(r)
}}""" for kind in TRIGGER_KINDS)
    return f"""
UNWIND $rows AS row
MATCH (s:{_SUBJECT} {{id: row.subject}})
MERGE (e:{_ESC} {{id: row.id}})
ON CREATE SET e.subject = row.subject, e.revision = 0, e.history = []
MERGE (s)-[:{_HAS_ESCALATION}]->(e)
WITH e, row WHERE e.revision = row.revision
SET e += row.props, e.revision = row.revision + 1, e.history = e.history + [row.event],
    e.updatedAt = datetime()
WITH e, row
CALL (e, row) {{
  WITH e, row WHERE row.sync
  MATCH (e)-[t:{_TRIGGERED_BY}]->(r)
  WHERE NOT [r.kind, r.id] IN row.keys
  DELETE t
}}
{links}
RETURN collect(row.action) AS applied
"""


APPLY = _apply_statement()


def apply(graph: Graph, changes: list[Change], batch: int = BATCH,
          progress: Callable[[int], None] | None = None) -> Counter[str]:
    """Write the changes in batches, one transaction each; returns the actions applied (a row
    whose node moved on since it was read is skipped: the next run reconciles it)."""
    applied: Counter[str] = Counter()
    for start in range(0, len(changes), batch):
        chunk = changes[start:start + batch]
        found = graph.write(APPLY, {"rows": [c.row() for c in chunk]}, timeout=READ_TIMEOUT)
        applied.update(found[0]["applied"] if found else [])
        if progress:
            progress(len(chunk))
    return applied


def check_run_date(rules: Rules, as_of: dt.date) -> None:
    """A run's window must start within the calendar (asOf 0001-01-01 has none). A date ahead
    of today is allowed: it is how one sees what a run would lift once the window has passed.
    Raises EscalationRefused."""
    try:
        Window.of(rules, as_of)
    except ValueError:
        raise EscalationRefused(f"asOf {as_of} is too early: its window of "
                                f"{rules.escalation.window_months} months would start before "
                                "year 1") from None


def run_escalation(graph: Graph, rules: Rules, as_of: dt.date, actor: str,
                   progress: Callable[[int, int], None] | None = None,
                   wait: float | None = 0.0,
                   waiting: Callable[[Row], None] | None = None,
                   before_write: Callable[[list[str]], None] | None = None) -> RunResult:
    """Evaluate every rule over the city as of a date and bring the stored escalations to the
    result. Safe to run twice (the second run writes nothing) and to re-run after a crash.

    One run at a time: a run waits up to `wait` seconds (None: as long as the holder keeps
    the lock) for another to finish, telling `waiting(holder)`, else raises LockHeld — two
    runs at once would each count what the other wrote. `before_write(subjects)` hears whose
    escalation the run will write (open, move, lift, or update) before its first write (an
    audit that a run killed mid-write still leaves); `progress(done, total)` is called as the
    batches are written."""
    lock = RunLock(graph, LOCK_ID, "ER-" + uuid.uuid4().hex[:16],
                   rules.escalation.lock_minutes * 60)
    lock.acquire(wait, waiting)
    try:
        return _run(graph, rules, as_of, actor, lock, progress, before_write)
    finally:
        lock.release()


def _run(graph: Graph, rules: Rules, as_of: dt.date, actor: str, lock: RunLock,
         progress: Callable[[int, int], None] | None,
         before_write: Callable[[list[str]], None] | None) -> RunResult:
    stored = stored_escalations(graph)
    # confirmed by a person after this run's date: the run leaves them as they stand, and with
    # them the FOCUS they put on their controllers — neither written to nor opened (a SEVERE
    # lifted since, found by a run dated before its confirmation, propagates nothing: it was
    # only proposed then, and stays lifted)
    frozen = {sid for sid, node in stored.items() if node.confirmed_after(as_of)}

    def severe_after(wanted: dict[str, Wanted]) -> set[str]:
        return {sid for sid, node in stored.items()
                if sid not in frozen and (node.active or node.lifted_after(as_of))
                and node.level == EscalationLevel.SEVERE.value
                and sid in wanted and wanted[sid].own}

    wanted = wanted_escalations(graph, rules, as_of, severe_after)
    changes, untouched = plan(rules, as_of, wanted, stored, actor, frozen)
    changed = sorted({c.subject for c in changes})
    if before_write:
        before_write(changed)
    lock.renew(force=True)
    done = 0

    def step(count: int) -> None:
        nonlocal done
        done += count
        lock.renew()
        if progress:
            progress(done, len(changes))

    if progress:
        progress(0, len(changes))
    applied = apply(graph, changes, progress=step)
    return RunResult(as_of, created=applied[CREATED], raised=applied[RAISED],
                     lowered=applied[LOWERED], lifted=applied[LIFTED],
                     unchanged=untouched + applied[UPDATED], changed=tuple(changed))


# -- confirmation (人工确认) ----------------------------------------------------------------------
ONE = f"""
UNWIND $ids AS sid
MATCH (s:{_SUBJECT} {{id: sid}})-[:{_HAS_ESCALATION}]->(e:{_ESC})
RETURN collect(e {{{ESCALATION_FIELDS}, .history,
  subjectRow: s {{{SUBJECT_SUMMARY}}},
  triggers: [(e)-[:{_TRIGGERED_BY}]->(r) | r {{{RECORD_ON_A_DATE}}}],
  objections: [(e)-[:{_TRIGGERED_BY}]->(r)<-[:{Link.OBJECTS_TO.value}]-
               (o:{Label.OBJECTION.value} {{status: $open}}) | [r.id, o.id]]}}) AS rows
"""


def escalations_of(graph: Graph, ids: list[str]) -> dict[str, dict[str, Any]]:
    """The escalation node of each subject that has one (any status), with its subject and
    triggering records: one query for many subjects."""
    rows = graph.read_rows(ONE, {"ids": ids, "open": ObjectionStatus.OPEN.value})
    return {row["subject"]: row for row in rows}


# The triggering records of an escalation that no longer stand on a day: revoked (撤销, also a
# version superseded by its correction), repaired, or a listing removed (移出) by then.
WITHDRAWN_TRIGGERS = f"""
MATCH (e:{_ESC} {{id: $id}})-[:{_TRIGGERED_BY}]->(r)
WHERE NOT ({in_force("r", "$today")}) OR (r.removedOn IS NOT NULL AND r.removedOn <= $today)
RETURN collect(r.id) AS rows
"""


def earliest_confirmation(rules: Rules, proposed_on: dt.date) -> dt.date:
    return proposed_on + dt.timedelta(days=rules.escalation.notice_days)


def confirm_escalation(graph: Graph, rules: Rules, subject: str, note: str, actor: str,
                       today: dt.date) -> dict[str, Any]:
    """SEVERE_PROPOSED → SEVERE (列入严重失信主体名单) by a person, after the notice period,
    with no open objection on a triggering record and every triggering record still standing
    (not revoked, repaired or removed since the run that proposed); then the legal
    representative and actual controller of a legal person are put at FOCUS (联合惩戒对象).
    Raises EscalationRefused."""
    found = escalations_of(graph, [subject]).get(subject)
    if found is None:
        raise EscalationRefused("this subject has no escalation, so nothing to confirm")
    node = Stored.from_row(found)
    if not node.active:
        lifted = as_date(found.get("liftedOn"))
        raise EscalationRefused(f"the escalation was lifted on {lifted}; nothing to confirm")
    if node.level == EscalationLevel.SEVERE.value:
        raise EscalationRefused(f"already confirmed at SEVERE on "
                                f"{as_date(found.get('confirmedOn'))} by "
                                f"{found.get('confirmedBy')}")
    if node.level != EscalationLevel.SEVERE_PROPOSED.value:
        raise EscalationRefused(f"the escalation is at {node.level}; only SEVERE_PROPOSED "
                                "(拟列入严重失信主体名单) can be confirmed")
    proposed = as_date(found.get("proposedOn"))
    assert proposed is not None
    # every reason the proposal cannot be confirmed today, as a repair's refusal gives them
    reasons: list[str] = []
    earliest = earliest_confirmation(rules, proposed)
    if today < earliest:
        reasons.append(
            f"the notice period ({rules.escalation.notice_days} days from the proposal of "
            f"{proposed}) is not over: confirm on or after {earliest.isoformat()}")
    if found["objections"]:
        pairs = ", ".join(f"{oid} on {rid}" for rid, oid in sorted(found["objections"]))
        reasons.append(f"open objections on triggering records ({pairs}): resolve them "
                       "before confirming")
    withdrawn = graph.read_rows(WITHDRAWN_TRIGGERS, {"id": escalation_id(subject),
                                                     "today": today})
    if withdrawn:
        reasons.append(
            f"triggering records no longer stand ({', '.join(sorted(map(str, withdrawn)))}: "
            "revoked, repaired or removed since the proposal was made): run the escalation "
            "rules as of today, then confirm what they still propose")
    if reasons:
        raise EscalationRefused("; ".join(reasons))
    props = {**_level_props(rules, EscalationLevel.SEVERE, today), "confirmedOn": today,
             "confirmedBy": actor}
    change = Change(subject, CONFIRMED, node.revision, props, None,
                    _event(CONFIRMED, EscalationLevel.SEVERE.value, today, actor, note,
                           node.rules))
    if not apply(graph, [change])[CONFIRMED]:
        raise EscalationRefused("the escalation changed while confirming; try again")
    propagated: tuple[str, ...] = ()
    if found["subjectRow"].get("person") is False:
        propagated = propagate(graph, rules, [subject], today, actor)
    # `propagatedTo`: the persons the confirmation put at FOCUS, for the audit to name
    return {**escalations_of(graph, [subject])[subject], "propagatedTo": list(propagated)}


def propagate(graph: Graph, rules: Rules, companies: list[str], today: dt.date,
              actor: str) -> tuple[str, ...]:
    """Put the controllers of legal persons just confirmed at SEVERE at FOCUS now, keeping
    whatever else they are escalated for; the next run re-evaluates them with every rule.
    Returns the subjects whose escalation it wrote."""
    targets: dict[str, set[str]] = defaultdict(set)
    for row in graph.read_rows(CONTROLLERS, {"companies": companies, "asOf": today}):
        targets[row["person"]].add(row["company"])
    if not targets:
        return ()
    stored = escalations_stored(graph, sorted(targets))
    wanted: dict[str, Wanted] = {}
    for sid, sources in targets.items():
        node = stored.get(sid)
        item = Wanted(sid)
        if node is not None and node.active:
            item.level = EscalationLevel(node.level)
            item.rules = set(node.rules)
            item.triggers = set(node.triggers)
            item.reasons = list(node.row.get("reasons") or [])
            item.propagated_from = set(node.propagated_from)
        item.propagated_from |= sources
        item.add(PROPAGATION, EscalationLevel.FOCUS, (),
                 "PROPAGATION: legal representative or actual controller of a subject listed "
                 "严重失信 (联合惩戒对象)")
        wanted[sid] = item
    changes, _ = plan(rules, today, wanted, stored, actor)
    apply(graph, changes)
    return tuple(sorted(change.subject for change in changes))


STORED_OF = f"""
UNWIND $ids AS eid
MATCH (e:{_ESC} {{id: eid}})
RETURN collect(e {{{ESCALATION_FIELDS},
  triggers: [(e)-[:{_TRIGGERED_BY}]->(r) | [r.kind, r.id]]}}) AS rows
"""


def escalations_stored(graph: Graph, ids: list[str]) -> dict[str, Stored]:
    rows = graph.read_rows(STORED_OF, {"ids": [escalation_id(sid) for sid in ids]})
    return {row["subject"]: Stored.from_row(row) for row in rows}


# -- the list (repeatOffenders) ------------------------------------------------------------------
_RANK = ("CASE e.level " + " ".join(f"WHEN '{level.value}' THEN {rank(level)}"
                                     for level in LEVELS) + " ELSE 0 END")


# What a listing shows of an escalation `e` (a map projection): its fields, its subject `s`'s
# summary and its triggers.
_ROW = f"""{ESCALATION_FIELDS}, .history, subjectRow: s {{{SUBJECT_SUMMARY}}},
    triggers: [(e)-[:{_TRIGGERED_BY}]->(r) | r {{{RECORD_ON_A_DATE}}}]"""

LIST_ACTIVE = f"""
MATCH (e:{_ESC})
WHERE e.status = $active AND ($level IS NULL OR e.level = $level)
MATCH (s:{_SUBJECT})-[:{_HAS_ESCALATION}]->(e)
WHERE $region IS NULL OR s.region STARTS WITH $region
WITH e, s, {_RANK} AS rank
ORDER BY rank DESC, e.id
WITH collect({{e: e, s: s, rank: rank}}) AS found
WITH size(found) AS total,
     [x IN found WHERE $afterRank IS NULL OR x.rank < $afterRank
                       OR (x.rank = $afterRank AND x.e.id > $afterId)][0..$first + 1] AS page
CALL (page) {{
  UNWIND page AS x
  WITH x.e AS e, x.s AS s, x.rank AS rank
  RETURN collect(e {{{_ROW}, rank: rank}}) AS rows
}}
RETURN total, rows
"""

# Every escalation's history, for the state on a date (a node keeps one subject's escalations
# across lifts and re-openings, so only its history knows an earlier date).
HISTORIES = f"""
MATCH (s:{_SUBJECT})-[:{_HAS_ESCALATION}]->(e:{_ESC})
WHERE $region IS NULL OR s.region STARTS WITH $region
RETURN collect(e {{.id, .history, .level, .status, .since}}) AS rows
"""

ROWS_BY_ID = f"""
UNWIND $ids AS eid
MATCH (s:{_SUBJECT})-[:{_HAS_ESCALATION}]->(e:{_ESC} {{id: eid}})
RETURN collect(e {{{_ROW}}}) AS rows
"""


@dataclass(frozen=True)
class StateOn:
    """An escalation as it stood on a date: its level and the day it reached it."""

    level: EscalationLevel
    since: dt.date
    rules: tuple[str, ...] = ()  # those of the run that decided it, when its event names them
    # the triggering records of that run, when its event names them (events written before
    # they did: None, and the escalation's current triggers dated by then stand in)
    triggers: tuple[Trigger, ...] | None = None


def history_events(history: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """An escalation's history as events, in the order written, the unreadable ones skipped:
    one hand-edited entry does not stop a report or an alert."""
    for item in history:
        try:
            event = json.loads(item) if isinstance(item, str) else dict(item)
        except (TypeError, ValueError):
            continue
        if isinstance(event, dict):
            yield event


def state_on(node: Mapping[str, Any], as_of: dt.date) -> StateOn | None:
    """The state of an escalation node on a date from its append-only history: the last event
    of a run dated on or before it (its `asOf`) decides — none when that was a lift, or before
    the first. A node written without history (or none readable) stands for its ACTIVE level
    from `since`."""
    events = _dated_events(node)
    if not events:
        since = as_date(node.get("since"))
        if node.get("status") != EscalationStatus.ACTIVE or not node.get("level") or (
                since is not None and since > as_of):
            return None
        return StateOn(EscalationLevel(node["level"]), since or as_of)
    return _replay(events, as_of)[0]


def _dated_events(node: Mapping[str, Any]) -> list[dict[str, Any]]:
    return sorted((event for event in history_events(node.get("history") or [])
                   if {"asOf", "at", "action", "level"} <= event.keys()),
                  key=lambda event: (event["asOf"], event["at"]))


def _replay(events: list[dict[str, Any]], as_of: dt.date
            ) -> tuple[StateOn | None, tuple[dt.date, StateOn] | None]:
    """The state on `as_of` of events in date order, and, when none stands because a lift
    ended it, that lift's day with the state it ended (a subject lifted, opened again and
    lifted again has, between the first lift and the re-opening, the first lift: the node's
    `liftedOn` is only its latest)."""
    state: StateOn | None = None
    lift: tuple[dt.date, StateOn] | None = None
    for event in events:
        day = dt.date.fromisoformat(event["asOf"])
        if day > as_of:
            break
        if event["action"] == LIFTED:
            if state is not None:
                lift = (day, state)
            state = None
        elif state is None or state.level != event["level"]:
            # a confirmation names no rules nor triggers: those of the run before it stand
            state = StateOn(EscalationLevel(event["level"]), day,
                            _event_rules(event) or (state.rules if state else ()),
                            _event_triggers(event, state.triggers if state else None))
        elif rules := _event_rules(event):
            state = StateOn(state.level, state.since, rules,
                            _event_triggers(event, state.triggers))
    return state, (lift if state is None else None)


def _event_rules(event: Mapping[str, Any]) -> tuple[str, ...]:
    found = event.get("rules")
    return tuple(str(rule) for rule in found) if isinstance(found, list) else ()


def _event_triggers(event: Mapping[str, Any],
                    before: tuple[Trigger, ...] | None) -> tuple[Trigger, ...] | None:
    found = event.get("triggers")
    if not isinstance(found, list):
        return before
    return tuple((str(pair[0]), str(pair[1])) for pair in found
                 if isinstance(pair, list) and len(pair) == 2)


def as_it_stood(row: Mapping[str, Any], state: StateOn, as_of: dt.date,
                records: Mapping[Trigger, dict[str, Any]] | None = None) -> dict[str, Any]:
    """What an escalation row showed on a past date beside its level then: the rules and
    triggering records of the run that decided it (`records`, read by `trigger_records`;
    without them, the current triggers dated by then), the history up to it, the proposal's
    date when it stood proposed, and no confirmation or lift made later — not today's
    reasons beside yesterday's level."""
    def by_then(day: Any) -> bool:
        found = dt.date.fromisoformat(day) if isinstance(day, str) else as_date(day)
        return found is None or found <= as_of

    if state.triggers is not None and records is not None:
        triggers = [records[key] for key in state.triggers if key in records]
    else:
        triggers = list(row.get("triggers") or [])
    proposed = state.since if state.level is EscalationLevel.SEVERE_PROPOSED else None
    if proposed is not None and row.get("level") == state.level.value and by_then(
            row.get("proposedOn")) and as_date(row.get("proposedOn")):
        # the proposal of record, made by then: its notice period is the one confirmation
        # keeps, though a run of an earlier date found the level standing before it
        proposed = as_date(row.get("proposedOn"))
    shown: dict[str, Any] = {
        "triggers": [r for r in triggers if by_then(r.get("date"))],
        "proposedOn": proposed,
        "history": [item for item in row.get("history") or []
                    if all(by_then(event.get("asOf")) for event in history_events([item]))],
        "liftedOn": None}
    if state.rules:
        shown["rules"] = list(state.rules)
    if not by_then(row.get("confirmedOn")):
        shown.update(confirmedOn=None, confirmedBy=None)
    return shown


TRIGGER_RECORDS = "\n".join(f"""CALL () {{
  UNWIND ${kind.value} AS rid
  MATCH (r:{RECORD_LABELS[kind].value} {{id: rid}})
  RETURN collect(r {{{RECORD_ON_A_DATE}}}) AS {kind.value}
}}""" for kind in TRIGGER_KINDS) + "\nRETURN " + " + ".join(
    kind.value for kind in TRIGGER_KINDS) + " AS rows"


def stood(rules: Rules, row: Mapping[str, Any], state: StateOn, as_of: dt.date,
          records: Mapping[Trigger, dict[str, Any]]) -> dict[str, Any]:
    """An escalation row as it stood on `as_of` (`state_on`): ACTIVE at its level then, with
    that level's measures from `rules`, and what `as_it_stood` shows beside it."""
    return {**row, **_level_props(rules, state.level, state.since),
            **as_it_stood(row, state, as_of, records), "status": EscalationStatus.ACTIVE.value}


def trigger_records(graph: Graph, keys: Iterable[Trigger]) -> dict[Trigger, dict[str, Any]]:
    """The records named by [kind, id] pairs (a run's triggers), as an escalation shows them."""
    wanted = set(keys)
    if not wanted:
        return {}
    params = {kind.value: sorted(rid for k, rid in wanted if k == kind.value)
              for kind in TRIGGER_KINDS}
    return {(row["kind"], row["id"]): dict(row)
            for row in graph.read_rows(TRIGGER_RECORDS, params, timeout=READ_TIMEOUT)}


def escalation_on(graph: Graph, rules: Rules, node: dict[str, Any] | None,
                  as_of: dt.date) -> dict[str, Any] | None:
    """An escalation node (`escalations_of`) as it stood on a date, as `repeatOffenders(asOf)`
    and the grade read it from its history: the level then, with that level's measures, the
    rules and triggering records of the run that decided it, and no confirmation or lift made
    later; one lifted by then shows as lifted (LIFTED from the day of that lift, as it stood
    before it — also in the gap between a lift and a re-opening); none when it did not stand
    yet."""
    if node is None:
        return None
    events = _dated_events(node)
    state, lift = _replay(events, as_of) if events else (state_on(node, as_of), None)
    if state is None:
        if lift is not None:
            # lifted by then: as it stood before that lift, LIFTED from its day — also
            # between a lift and a later re-opening, when the node's own liftedOn is later
            day, before = lift
            return {**stood(rules, node, before, as_of,
                            trigger_records(graph, before.triggers or ())),
                    "status": EscalationStatus.LIFTED.value, "liftedOn": day,
                    "proposedOn": None}
        lifted = as_date(node.get("liftedOn"))
        lifted_by_then = node.get("status") == EscalationStatus.LIFTED and (
            lifted is None or lifted <= as_of)
        return node if lifted_by_then and not events else None
    shown = stood(rules, node, state, as_of, trigger_records(graph, state.triggers or ()))
    if state.level == node.get("level") and node.get("measures"):
        shown["measures"] = node["measures"]  # the level it still has: the measures it took
    return shown


@dataclass(frozen=True)
class Page:
    total: int
    rows: list[dict[str, Any]]
    has_next: bool


def list_escalations(graph: Graph, rules: Rules, as_of: dt.date | None, level: str | None,
                     region: str | None, first: int, after: tuple[int, str] | None) -> Page:
    """Escalations worst level first, then by id. Without `as_of`: the ACTIVE ones; with it:
    those open on that date, at the level they had then (with its measures from `rules`).
    `region` is a prefix of the subject's region code."""
    if as_of is None:
        params = {"active": EscalationStatus.ACTIVE.value, "level": level, "region": region,
                  "first": first, "afterRank": after[0] if after else None,
                  "afterId": after[1] if after else None}
        found = graph.read(LIST_ACTIVE, params, timeout=READ_TIMEOUT)
        if not found:
            return Page(0, [], False)
        rows = list(found[0]["rows"])
        return Page(int(found[0]["total"]), rows[:first], len(rows) > first)
    states = {row["id"]: state for row in graph.read_rows(HISTORIES, {"region": region},
                                                         timeout=READ_TIMEOUT)
              if (state := state_on(row, as_of)) is not None
              and (level is None or state.level == level)}
    ranked = sorted(((rank(state.level), eid) for eid, state in states.items()),
                    key=lambda item: (-item[0], item[1]))
    if after is not None:
        ranked = [(r, eid) for r, eid in ranked if r < after[0] or (r == after[0]
                                                                    and eid > after[1])]
    page = ranked[:first + 1]
    found_rows = {row["id"]: row for row in graph.read_rows(
        ROWS_BY_ID, {"ids": [eid for _, eid in page[:first]]}, timeout=READ_TIMEOUT)}
    records = trigger_records(graph, {key for _, eid in page[:first]
                                      for key in states[eid].triggers or ()})
    rows = [{**stood(rules, found_rows[eid], states[eid], as_of, records), "rank": position}
            for position, eid in page[:first]]
    return Page(len(states), rows, len(page) > first)
