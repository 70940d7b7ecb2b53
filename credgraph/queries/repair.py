"""Credit repair (信用修复, SPEC §8): may this penalty be repaired today — and the repair.

A penalty is repairable, judged as of the day of the request, when
1. its minimum publicity period (最短公示期) has passed: the decision date plus the rules
   file's months for its severity (轻微 0, 一般 3, 严重 12; a domain may have its own);
2. it is fulfilled (履行完毕): no enforcement case (非诉执行) of the issuing authority against
   the subject, filed on or after the decision, is unfulfilled, and the penalty's note (备注)
   does not say it is unpaid or unperformed (the rules file's `unfulfilled_keywords`);
3. the subject is not barred for re-offending: a new penalty or listing within
   `reoffence_window_months` after an earlier repair bars repair until `ineligible_months`
   after that new record;
4. no objection (异议) on it is open;
and the subject gives a credit commitment (信用承诺). A grant writes, in one transaction, the
`:Repair` node, the commitment as a `:Commitment` record of the subject, and the penalty's
status REPAIRED with `repairedOn` = that day: from then on it no longer counts as risk, while
an earlier `asOf` still sees it as it was, and it stays in the subject's records.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.model import (
    RECORD_LABELS,
    REOFFENCE_RECORDS,
    REPAIRABLE_RECORDS,
    Label,
    Link,
    ObjectionStatus,
    PartyRole,
    RecordKind,
    RecordStatus,
    Severity,
    label_predicate,
)
from credgraph.loaders.derive import add_months
from credgraph.queries.fragments import (
    RECORD_SUMMARY,
    in_force,
    latest_version,
    record_by_id,
    status_on,
)
from credgraph.queries.neighbourhood import as_date
from credgraph.rules import Rules

SUBJECT, REPAIR, OBJECTION = Label.SUBJECT.value, Label.REPAIR.value, Label.OBJECTION.value
HAS_RECORD, REPAIRS = Link.HAS_RECORD.value, Link.REPAIRS.value
JUDGMENT = RECORD_LABELS[RecordKind.JUDGMENT].value
COMMITMENT = RECORD_LABELS[RecordKind.COMMITMENT].value
# What a CreditRecord shows (a map projection of a record).
COMMITMENT_KIND = "信用修复"


class NotFound(LookupError):
    """No record (or objection) has that id."""

    subjects: tuple[str, ...] = ()


class Refused(ValueError):
    """A request the desk does not take; the message says why and what to do."""

    subjects: tuple[str, ...] = ()


@contextmanager
def naming(subjects: Iterable[str]) -> Iterator[None]:
    """A refusal raised inside names the subjects of the record it was about (`subjects`), so
    that the audit of the refused request names them (SPEC §9: every step is audited, and
    `auditLog(subject:)` shows the attempt)."""
    try:
        yield
    except (NotFound, Refused) as exc:
        if not exc.subjects:
            exc.subjects = tuple(subjects)
        raise


FIND_RECORD = f"""
{record_by_id("r")}
RETURN collect(r {{.*,
  parties: [(s:{SUBJECT})-[h:{HAS_RECORD}]->(r) | {{id: s.id, role: h.role}}],
  issuer: head([(r)-[:{Link.ISSUED_BY.value}]->(a) | a.id]),
  openObjections: [(o:{OBJECTION})-[:{Link.OBJECTS_TO.value}]->(r)
                   WHERE o.status = $open | o.id],
  repairs: [(x:{REPAIR})-[:{REPAIRS}]->(r) | x {{.id, .grantedOn}}],
  latest: {latest_version("r")}
}}) AS rows
"""


def find_record(graph: Graph, record_id: str) -> dict[str, Any]:
    """A record by its natural key, whatever its kind, with its parties, issuing authority,
    open objections and repairs."""
    rows = graph.read_rows(FIND_RECORD, {"id": record_id, "open": ObjectionStatus.OPEN.value})
    if not rows:
        raise NotFound(f"no record has the id {record_id!r}")
    if len(rows) > 1:
        kinds = ", ".join(sorted(str(row.get("kind")) for row in rows))
        raise Refused(f"the id {record_id!r} names records of several kinds ({kinds})")
    return rows[0]


def revoked_words(record: dict[str, Any]) -> str:
    """Why a record revoked here is no longer asked about: a version corrected (异议更正) names
    the version in force, which the desk asks about instead — or says that the latest version
    was revoked in turn (an objection to it upheld as REVOKE), none being in force."""
    words = f"{record['id']} was revoked on {as_date(record.get('revokedOn'))}"
    latest = record.get("latest") or {}
    version = latest.get("id") or record.get("supersededBy")
    if not version:
        return words
    if latest.get("status") == RecordStatus.REVOKED:
        return f"{words}, corrected: its latest version {version} was revoked too"
    return f"{words}, corrected: the version in force is {version}"


def record_subjects(record: dict[str, Any]) -> list[str]:
    """Every party of a record (graph keys), its subject first."""
    parties = sorted(record.get("parties") or [],
                     key=lambda p: (p["role"] != PartyRole.SUBJECT.value, p["id"]))
    return list(dict.fromkeys(p["id"] for p in parties))


FACTS = f"""
MATCH (s:{SUBJECT} {{id: $subject}})
RETURN [(s)-[:{HAS_RECORD} {{role: $debtor}}]->(j:{JUDGMENT})
          <-[:{HAS_RECORD} {{role: $creditor}}]-(:{SUBJECT} {{id: $issuer}})
        WHERE coalesce(j.date, $decided) >= $decided
          AND (j.fulfilledOn IS NULL OR j.fulfilledOn > $today) AND {in_force("j", "$today")}
        | j.id] AS enforcement,
       [(s)-[:{HAS_RECORD}]->(done)<-[:{REPAIRS}]-(x:{REPAIR}) | x {{.id, .grantedOn,
          record: done.id,
          later: [(s)-[:{HAS_RECORD} {{role: $subjectRole}}]->(p)
                  WHERE {label_predicate("p", REOFFENCE_RECORDS)} AND p.date > x.grantedOn
                    AND {in_force("p", "$today")}
                  | p {{.id, .kind, .date}}]}}] AS repairs
"""


@dataclass(frozen=True)
class Decision:
    eligible: bool
    earliest: dt.date | None
    reason: str
    record: dict[str, Any]
    repair: dict[str, Any] | None = None


def severity_of(record: dict[str, Any]) -> Severity:
    value = record.get("severity")
    return Severity(value) if value in set(Severity) else Severity.GENERAL


def blockers(record: dict[str, Any], facts: dict[str, Any], rules: Rules,
             today: dt.date) -> tuple[list[str], list[dt.date], int]:
    """Why the penalty may not be repaired today (empty: it may), the dates before which the
    time rules forbid it — the publicity end first, then every re-offence bar, also one
    already passed — and its minimum publicity in months."""
    section = rules.repair
    severity = severity_of(record)
    months = section.months(severity, record.get("domain"))
    decided = as_date(record.get("date")) or today
    publicity_ends = add_months(decided, months)
    reasons: list[str] = []
    dated = [publicity_ends]
    if today < publicity_ends:
        reasons.append(f"its minimum publicity period ({months} months for a {severity.value} "
                       f"penalty decided on {decided}) has not passed: repairable from "
                       f"{publicity_ends}")
    for case in facts["enforcement"]:
        reasons.append(f"it is not fulfilled: enforcement case {case} of the issuing "
                       "authority is unfulfilled")
    note = record.get("note") or ""
    said = [word for word in section.unfulfilled_keywords if word in note]
    if said:
        reasons.append(f"it is not fulfilled: its note says {'、'.join(said)}")
    for repair in facts["repairs"]:
        granted = as_date(repair["grantedOn"])
        if granted is None:
            continue
        window_ends = add_months(granted, section.reoffence_window_months)
        for later in sorted(repair["later"], key=lambda p: (as_date(p["date"]), p["id"])):
            when = as_date(later["date"])
            if when is None or when > window_ends:
                continue
            barred = add_months(when, section.ineligible_months)
            dated.append(barred)  # also once passed: a repair granted is possible from then
            if today < barred:
                reasons.append(
                    f"the subject re-offended: {later['kind'].lower()} {later['id']} of {when} "
                    f"came within {section.reoffence_window_months} months of the repair of "
                    f"{repair['record']} on {granted}, which bars repair until {barred}")
    for objection in record.get("openObjections") or []:
        reasons.append(f"objection {objection} on it is open and is decided first")
    return reasons, dated, months


@cache
def grant_statement(label: str) -> str:
    """The repair, the commitment and the REPAIRED status in one transaction; the record is
    locked first, so of two requests at once only one grants."""
    return f"""
MATCH (r:{label} {{id: $id}})
SET r._lock = true REMOVE r._lock
WITH r WHERE r.status = $seen
MATCH (s:{SUBJECT} {{id: $subject}})
SET r.status = $repaired, r.repairedOn = $today, r.repair = $repairId
CREATE (s)-[:{HAS_RECORD} {{role: $subjectRole}}]->(c:{COMMITMENT} $commitment)
CREATE (x:{REPAIR} $repair)-[:{REPAIRS}]->(r)
RETURN x.id AS id
"""


def request_repair(graph: Graph, rules: Rules, record_id: str, commitment: str, actor: str,
                   today: dt.date) -> Decision:
    """Judge a repair request as of `today`; grant it when every condition holds."""
    record = find_record(graph, record_id)
    with naming(record_subjects(record)):
        kind = RecordKind(record["kind"])
        if kind not in REPAIRABLE_RECORDS:
            raise Refused(f"{record_id} is a {kind.value.lower()}: only administrative "
                          "penalties (行政处罚) are repaired here; a listing leaves its list when "
                          "the listing authority removes it (移出)")
        status = record.get("status")
        if status == RecordStatus.REPAIRED:
            done = (record.get("repairs") or [{}])[0]
            return Decision(False, None, f"already repaired on {as_date(record.get('repairedOn'))}"
                            f" ({done.get('id')})", record)
        if status == RecordStatus.REVOKED:
            return Decision(False, None, f"{revoked_words(record)}: it no longer counts, so "
                            "there is nothing to repair", record)
        if status_on(record, today) == RecordStatus.EXPIRED:
            # a repair would only start a re-offence window and a repair bar (R5)
            until = as_date(record.get("publicityUntil"))
            ended = f"its publicity (公示期) ended on {until}" if until else "it has expired"
            return Decision(False, None, f"{ended}: it no longer counts nor is published, so "
                            "there is nothing to repair", record)
        subjects = [p["id"] for p in record["parties"] if p["role"] == PartyRole.SUBJECT]
        if not subjects:
            raise Refused(f"{record_id} has no subject to give the commitment")
        subject = subjects[0]
        facts = graph.read(FACTS, {
            "subject": subject, "issuer": record.get("issuer"), "decided": record.get("date"),
            "today": today, "debtor": PartyRole.DEBTOR.value, "creditor": PartyRole.CREDITOR.value,
            "subjectRole": PartyRole.SUBJECT.value})[0]
        reasons, dated, months = blockers(record, facts, rules, today)
        earliest = max(dated)
        if reasons:
            return Decision(False, earliest if earliest > today else None,
                            "not repairable yet: " + "; ".join(reasons), record)
        suffix = uuid.uuid4().hex[:12].upper()
        repair = {"id": f"RP-{suffix}", "record": record_id, "subject": subject,
                  "grantedOn": today, "commitment": f"CM-{suffix}", "eligibleFrom": earliest,
                  "severity": severity_of(record).value, "publicityMonths": months,
                  "decidedAt": dt.datetime.now(dt.UTC), "actor": actor}
        written = graph.write(grant_statement(RECORD_LABELS[kind].value), {
            "id": record_id, "seen": status, "subject": subject, "today": today,
            "repaired": RecordStatus.REPAIRED.value, "repairId": repair["id"],
            "subjectRole": PartyRole.SUBJECT.value, "repair": repair,
            "commitment": {
                "id": repair["commitment"], "kind": RecordKind.COMMITMENT.value,
                "domain": rules.domains.commitments, "status": RecordStatus.ACTIVE.value,
                "title": "信用修复承诺", "commitmentKind": COMMITMENT_KIND, "content": commitment,
                "madeOn": today, "date": today, "record": record_id, "repair": repair["id"]}})
        if not written:
            raise Refused(f"{record_id} changed while the request was decided; ask again")
        record = {**record, "status": RecordStatus.REPAIRED.value, "repairedOn": today}
        bar = f", the re-offence bar ended on {earliest}" if earliest > dated[0] else ""
        return Decision(True, earliest, f"repaired from {today}: the minimum publicity period "
                        f"({months} months) ended on {dated[0]}{bar}, the penalty is fulfilled and "
                        f"the commitment is recorded as {repair['commitment']}", record, repair)


REPAIRS_LIST = f"""
MATCH (x:{REPAIR})-[:{REPAIRS}]->(r)
WHERE ($subject IS NULL OR x.subject = $subject) AND ($record IS NULL OR x.record = $record)
WITH x, r ORDER BY x.grantedOn DESC, x.id DESC LIMIT $limit
RETURN collect(x {{.id, .subject, .grantedOn, .commitment, record: r {{{RECORD_SUMMARY}}},
  commitmentText: head(COLLECT {{ MATCH (c:{COMMITMENT} {{id: x.commitment}})
                                  RETURN c.content }})}}) AS rows
"""


def repairs(graph: Graph, subject: str | None, record_id: str | None,
            limit: int) -> list[dict[str, Any]]:
    return graph.read_rows(REPAIRS_LIST, {"subject": subject, "record": record_id,
                                          "limit": limit})
