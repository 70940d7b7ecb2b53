"""Objections (异议, SPEC §8): a record disputed, and the decision on it.

Filing marks the record DISPUTED — it still counts, flagged — and keeps its status on the
objection (`previousStatus`). Resolving it:
- UPHOLD: the record stands; its status comes back (as its dates give it today);
- REVOKE: REVOKED from today (`revokedOn`, `revocationReason` = the note), it stops counting;
- CORRECT: a new version `<id>#v<n>` carrying the corrected fields, in force from today
  (`correctedOn`), `(new)-[:SUPERSEDES]->(old)`; the old version is REVOKED from today with
  `supersededBy`, so no date sees both. Without corrected fields (the contract's call names
  only the outcome and the note) the new version carries the old one's, the note saying what
  the correction was.
Each step is one transaction and nothing is deleted. A reload of the bundle undoes none of it:
the loader keeps REVOKED and DISPUTED, and a new version has its own key the bundle never has.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from functools import cache
from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.model import (
    RECORD_LABELS,
    SEVERITY_ALIASES,
    Label,
    Link,
    ObjectionOutcome,
    ObjectionStatus,
    PartyRole,
    RecordKind,
    RecordStatus,
    Severity,
)
from credgraph.loaders.derive import Deriver
from credgraph.queries.fragments import DATED_STATUS, RECORD_SUMMARY, status_on
from credgraph.queries.neighbourhood import as_date
from credgraph.queries.repair import (
    NotFound,
    Refused,
    find_record,
    naming,
    record_subjects,
    revoked_words,
)
from credgraph.rules import Rules

SUBJECT, OBJECTION = Label.SUBJECT.value, Label.OBJECTION.value
HAS_RECORD, OBJECTS_TO = Link.HAS_RECORD.value, Link.OBJECTS_TO.value
SUPERSEDES, ISSUED_BY = Link.SUPERSEDES.value, Link.ISSUED_BY.value

_ALL = tuple(RecordKind)
# The fields an objection may correct, and the record kinds that have them.
CORRECTABLE: dict[str, tuple[RecordKind, ...]] = {
    "date": _ALL, "title": _ALL, "authority": _ALL, "domain": _ALL,
    "severity": (RecordKind.PENALTY, RecordKind.LISTING),
    "content": (RecordKind.PENALTY, RecordKind.LICENSE, RecordKind.COMMITMENT),
    "fine": (RecordKind.PENALTY,), "confiscation": (RecordKind.PENALTY,),
    "publicityUntil": (RecordKind.PENALTY,),
    "listType": (RecordKind.LISTING,), "removedOn": (RecordKind.LISTING,),
    "amount": (RecordKind.LISTING, RecordKind.JUDGMENT, RecordKind.CONTRACT),
    "dueOn": (RecordKind.JUDGMENT, RecordKind.CONTRACT, RecordKind.COMMITMENT),
    "fulfilledOn": (RecordKind.JUDGMENT, RecordKind.CONTRACT),
    "subject": _ALL,
}
# A kind's own name for its date, kept equal to `date` when the date is corrected.
DATE_FIELDS = {RecordKind.LISTING: "listedOn", RecordKind.JUDGMENT: "filedOn",
               RecordKind.CONTRACT: "signedOn", RecordKind.COMMITMENT: "madeOn"}
# Dates that are facts of the past, so never after today (a listing's 移出日期 may lie ahead:
# a removal scheduled by a list kept for a fixed term, as a load takes it).
PAST_DATES = ("date", "fulfilledOn")
# The party a corrected `subject` replaces.
PRIMARY_ROLE = {RecordKind.JUDGMENT: PartyRole.DEBTOR, RecordKind.CONTRACT: PartyRole.COUNTERPARTY}
# What an Objection shows, and the record versions around it.
OBJECTION_FIELDS = (".id, .status, .reason, .outcome, .note, .filedAt, .resolvedAt, .filedBy, "
                    ".resolvedBy, .record, .correctedRecord, .previousStatus")


@dataclass(frozen=True)
class ObjectionView:
    objection: dict[str, Any]
    record: dict[str, Any]
    corrected: dict[str, Any] | None
    subjects: list[str]


def status_today(kind: RecordKind, props: dict[str, Any], previous: str,
                 today: dt.date) -> str:
    """A record's status as its dates give it today (as the loader derives it): a licence's
    as its stored 当前状态 and 有效期至 give it — a 吊销 its source delivered while the
    licence was disputed stands; kinds whose status no date decides keep `previous`."""
    if kind is RecordKind.LICENSE:
        return Deriver.licence_status(props.get("currentStatus"), as_date(props.get("validTo")),
                                      today)
    if kind in DATED_STATUS:
        return status_on({**props, "kind": kind.value, "status": RecordStatus.ACTIVE.value},
                         today)
    return previous


@cache
def file_statement(label: str) -> str:
    return f"""
MATCH (r:{label} {{id: $id}})
SET r._lock = true REMOVE r._lock
WITH r WHERE r.status = $seen
CREATE (o:{OBJECTION} $objection)-[:{OBJECTS_TO}]->(r)
SET r.status = $disputed
RETURN o {{{OBJECTION_FIELDS}}} AS objection, r {{{RECORD_SUMMARY}}} AS record
"""


def file_objection(graph: Graph, record_id: str, reason: str, actor: str, role: str,
                   today: dt.date) -> ObjectionView:
    record = find_record(graph, record_id)
    with naming(record_subjects(record)):
        status = record.get("status")
        if status == RecordStatus.DISPUTED:
            open_ = ", ".join(record.get("openObjections") or [])
            raise Refused(f"objection {open_} on {record_id} is already open; it is decided first")
        if status == RecordStatus.REVOKED and record.get("revokedOn") is None:
            # a licence its source called 吊销/撤销/注销: the source's word, not a revocation here
            raise Refused(f"{record_id} is REVOKED by its source (当前状态 "
                          f"{record.get('currentStatus')!r}); an objection to that goes to its "
                          "issuing authority, whose corrected row a later load applies")
        if status == RecordStatus.REVOKED:
            raise Refused(f"{revoked_words(record)}; there is nothing left to object to")
        if status == RecordStatus.REPAIRED:
            raise Refused(f"{record_id} was repaired on {as_date(record.get('repairedOn'))} and no "
                          "longer counts; an objection to it goes to its issuing authority")
        subjects = record_subjects(record)
        objection = {"id": f"OBJ-{uuid.uuid4().hex[:12].upper()}",
                     "status": ObjectionStatus.OPEN.value, "reason": reason,
                     "filedAt": dt.datetime.now(dt.UTC), "filedOn": today, "filedBy": actor,
                     "filedByRole": role, "record": record_id, "subjects": subjects,
                     "previousStatus": status}
        rows = graph.write(file_statement(RECORD_LABELS[RecordKind(record["kind"])].value), {
            "id": record_id, "seen": status, "objection": objection,
            "disputed": RecordStatus.DISPUTED.value})
        if not rows:
            raise Refused(f"{record_id} changed while the objection was filed; file it again")
        return ObjectionView(rows[0]["objection"], rows[0]["record"], None, subjects)


FIND_OBJECTION = f"""
MATCH (o:{OBJECTION} {{id: $id}})-[:{OBJECTS_TO}]->(r)
RETURN o {{{OBJECTION_FIELDS}, .subjects}} AS objection, r {{.*}} AS record
"""

@cache
def resolve_statement(outcome: ObjectionOutcome, label: str) -> str:
    """Close the objection (locked first, so two decisions cannot both pass) and apply its
    outcome to the record, all in one statement."""
    head = f"""
MATCH (o:{OBJECTION} {{id: $id}})-[:{OBJECTS_TO}]->(r:{label})
SET o._lock = true REMOVE o._lock
WITH o, r WHERE o.status = $open
SET o.status = $resolved, o.outcome = $outcome, o.note = $note, o.resolvedAt = $now,
    o.resolvedOn = $today, o.resolvedBy = $actor
"""
    tail = f"""
RETURN o {{{OBJECTION_FIELDS}}} AS objection, r {{{RECORD_SUMMARY}}} AS record,
       head([(n)-[:{SUPERSEDES}]->(r) WHERE n.id = o.correctedRecord | n {{{RECORD_SUMMARY}}}])
       AS corrected
"""
    if outcome is ObjectionOutcome.UPHOLD:
        return head + "SET r.status = $status" + tail
    if outcome is ObjectionOutcome.REVOKE:
        return head + """SET r.status = $revoked, r.revokedOn = $today,
    r.revocationReason = $note, r.revokedBy = o.id""" + tail
    return head + f"""
CREATE (n:{label})-[:{SUPERSEDES}]->(r)
SET n = r {{.*, id: $newId}}
SET n += $corrections, n.baseId = $baseId, n.version = $version,
    n.status = $status, n.correctedOn = $today, n.correctedBy = o.id
SET o.correctedRecord = $newId,
    r.status = $revoked, r.revokedOn = $today, r.supersededBy = $newId, r.revokedBy = o.id,
    r.revocationReason = $note
WITH o, r, n
CALL (r, n) {{
  MATCH (s:{SUBJECT})-[h:{HAS_RECORD}]->(r)
  WHERE $subject IS NULL OR h.role <> $primaryRole
  CREATE (s)-[:{HAS_RECORD} {{role: h.role}}]->(n)
}}
CALL (n) {{
  MATCH (s:{SUBJECT} {{id: $subject}})
  CREATE (s)-[:{HAS_RECORD} {{role: $primaryRole}}]->(n)
  SET n.subjectName = CASE WHEN n.subjectName IS NULL THEN null ELSE s.name END,
      n.debtorName = CASE WHEN n.debtorName IS NULL THEN null ELSE s.name END
}}
CALL (r, n) {{
  MATCH (r)-[:{ISSUED_BY}]->(a)
  CREATE (n)-[:{ISSUED_BY}]->(a)
}}
""" + tail


def resolve_objection(graph: Graph, rules: Rules, objection_id: str,
                      outcome: ObjectionOutcome, note: str, corrections: dict[str, Any] | None,
                      actor: str, today: dt.date) -> ObjectionView:
    rows = graph.read(FIND_OBJECTION, {"id": objection_id})
    if not rows:
        raise NotFound(f"no objection has the id {objection_id!r}")
    objection, record = rows[0]["objection"], rows[0]["record"]
    with naming(objection.get("subjects") or []):
        if objection["status"] != ObjectionStatus.OPEN:
            raise Refused(f"objection {objection_id} was already resolved ({objection['outcome']}) "
                          f"at {objection['resolvedAt']}; a new objection may be filed")
        if outcome is not ObjectionOutcome.CORRECT and corrections:
            raise Refused("corrections are given only with the outcome CORRECT")
        kind = RecordKind(record["kind"])
        previous = str(objection.get("previousStatus") or RecordStatus.ACTIVE.value)
        params: dict[str, Any] = {
            "id": objection_id, "open": ObjectionStatus.OPEN.value,
            "resolved": ObjectionStatus.RESOLVED.value, "outcome": outcome.value, "note": note,
            "now": dt.datetime.now(dt.UTC), "actor": actor, "today": today,
            "revoked": RecordStatus.REVOKED.value}
        if outcome is ObjectionOutcome.UPHOLD:
            params["status"] = status_today(kind, record, previous, today)
        elif outcome is ObjectionOutcome.CORRECT:
            changed = corrected_fields(kind, record, corrections or {}, rules, today)
            subject = changed.pop("subject", None)
            base = record.get("baseId") or record["id"]
            version = int(record.get("version") or 1) + 1
            params.update({
                "corrections": changed, "subject": subject, "newId": f"{base}#v{version}",
                "baseId": base, "version": version,
                "primaryRole": PRIMARY_ROLE.get(kind, PartyRole.SUBJECT).value,
                "status": status_today(kind, {**record, **changed}, previous, today)})
            if subject is not None and not graph.read(
                    f"MATCH (s:{SUBJECT} {{id: $id}}) RETURN s.id AS id", {"id": subject}):
                raise NotFound(f"no subject has the id {subject} given as the corrected subject")
        found = graph.write(resolve_statement(outcome, RECORD_LABELS[kind].value), params)
        if not found:
            raise Refused(f"objection {objection_id} changed while it was resolved; look again")
        return ObjectionView(found[0]["objection"], found[0]["record"], found[0]["corrected"],
                             list(objection.get("subjects") or []))


def corrected_fields(kind: RecordKind, record: dict[str, Any], corrections: dict[str, Any],
                     rules: Rules, today: dt.date) -> dict[str, Any]:
    """The properties of the new version: the corrections checked against the record's kind
    and the rules file, with what depends on them derived again (a penalty's publicity end
    from its date and severity unless given, a listing's severity from its type)."""
    changed: dict[str, Any] = {}
    for key, value in corrections.items():
        if value is None:
            continue
        if kind not in CORRECTABLE.get(key, ()):
            raise Refused(f"a {kind.value.lower()} has no field {key} to correct")
        if key in PAST_DATES and value > today:
            raise Refused(f"{key} {value} is in the future")
        if key in ("fine", "confiscation", "amount") and value < 0:
            raise Refused(f"{key} must not be negative")
        changed[key] = value
    if "severity" in changed:
        severity = SEVERITY_ALIASES.get(str(changed["severity"]).strip())
        if severity is None:
            raise Refused(f"severity must be one of {', '.join(s.value for s in Severity)}")
        changed["severity"] = severity.value
    if "domain" in changed:
        changed["domain"] = domain_key(str(changed["domain"]), rules)
    if "listType" in changed:
        list_type = str(changed["listType"]).strip()
        if list_type not in rules.listings.types:
            raise Refused(f"unknown list type {list_type!r}")
        changed["listType"] = list_type
        changed.setdefault("title", list_type)
        changed.setdefault("severity", (Severity.SEVERE if list_type in rules.listings.severe
                                        else Severity.GENERAL).value)
    if "date" in changed and kind in DATE_FIELDS:
        changed[DATE_FIELDS[kind]] = changed["date"]
    if kind is RecordKind.PENALTY and "publicityUntil" not in changed and (
            "date" in changed or "severity" in changed):
        decided = changed.get("date") or as_date(record.get("date")) or today
        grade = str(changed.get("severity") or record.get("severity") or Severity.GENERAL.value)
        changed["publicityUntil"] = Deriver(rules).publicity_until(decided, grade, None)
    return changed


def domain_key(text: str, rules: Rules) -> str:
    key = Deriver(rules).given_domain(text)
    if key is None:
        raise Refused(f"unknown domain {text.strip()!r}: one of "
                      f"{', '.join(sorted(rules.domains.of_records))}")
    return key


LIST = f"""
MATCH (o:{OBJECTION})-[:{OBJECTS_TO}]->(r)
WHERE ($status IS NULL OR o.status = $status) AND ($subject IS NULL OR $subject IN o.subjects)
  AND ($record IS NULL OR o.record = $record)
WITH o, r ORDER BY o.filedAt DESC, o.id DESC LIMIT $limit
RETURN collect({{objection: o {{{OBJECTION_FIELDS}, .subjects}}, record: r {{{RECORD_SUMMARY}}},
  corrected: head([(n)-[:{SUPERSEDES}]->(r) WHERE n.id = o.correctedRecord
                   | n {{{RECORD_SUMMARY}}}])}}) AS rows
"""


def objections(graph: Graph, status: ObjectionStatus | None, subject: str | None,
               record_id: str | None, limit: int) -> list[ObjectionView]:
    rows = graph.read_rows(LIST, {"status": status.value if status else None,
                                  "subject": subject, "record": record_id, "limit": limit})
    return [ObjectionView(row["objection"], row["record"], row["corrected"],
                          list(row["objection"].get("subjects") or [])) for row in rows]
