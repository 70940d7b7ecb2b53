"""Cypher fragments shared by the analyses, spliced only with declared names and typed ints."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from credgraph.graph.model import (
    RECORD_LABELS,
    Label,
    Link,
    PartyRole,
    RecordKind,
    RecordStatus,
)
from credgraph.loaders.derive import Deriver

# What a CreditRecord shows (SPEC §9), as a map projection's fields: `r {RECORD_SUMMARY}`.
RECORD_SUMMARY = ".id, .kind, .domain, .severity, .status, .date, .title, .authority"


def record_authority(record: str = "r") -> str:
    """A record's 机关 as a map projection's field: its own authority, else — a contract, which
    names its agency as the 政府方 party, not as an authority — that party's name (read only
    when the record has none). Every CreditRecord an answer shows reads it alike."""
    return (f"authority: CASE WHEN {record}.authority IS NULL "
            f"THEN [(gov)-[:{Link.HAS_RECORD.value} {{role: '{PartyRole.AGENCY.value}'}}]->"
            f"({record}) | gov.name][0] ELSE {record}.authority END")


RECORD_AUTHORITY = record_authority()


# A record `r`'s objections as `status_as_of` reads them (a pattern comprehension).
RECORD_OBJECTIONS = (f"[(r)<-[:{Link.OBJECTS_TO.value}]-(o:{Label.OBJECTION.value})"
                     " | o {.id, .filedOn, .resolvedOn, .resolvedAt, .outcome}]")

# What `status_as_of` reads of a record `r` (a map projection's fields): its dates and the
# decisions taken on it — repair, revocation, correction, and every objection — and a
# licence's 当前状态 as its source gave it.
DECISION_FIELDS = (
    ".status, .repairedOn, .revokedOn, .correctedOn, .publicityUntil, .validTo, .removedOn, "
    f".fulfilledOn, .currentStatus, objections: {RECORD_OBJECTIONS}")


# A CreditRecord with what its status on a past date is read from (`status_as_of`).
RECORD_ON_A_DATE = (".id, .kind, .domain, .severity, .date, .title, .authority, .listType, "
                    + DECISION_FIELDS)


def live(rel: str, at: str = "$asOf") -> str:
    """A relation live at a date (SPEC §4): started on or before it, its `end` not in the past
    — the end date is its last day (离任日期, 结束日期), as a licence's 有效期至 is. A relation
    whose `end` is past is kept as history but carries nothing at a later date."""
    return (f"({rel}.start IS NULL OR {rel}.start <= {at})"
            f" AND ({rel}.end IS NULL OR {rel}.end >= {at})")


def status_at(record: str, at: str = "$asOf") -> str:
    """A record's status on a date as its dates give it, without waiting for the next load: an
    ACTIVE penalty whose 公示期 has ended, licence past its 有效期至, listing removed (移出名单)
    or judgment fulfilled (履行完毕) is EXPIRED, as the loader derives it; other statuses are
    kept as stored."""
    return (f"CASE WHEN {record}.status = '{RecordStatus.ACTIVE.value}' AND ("
            f"({record}:{Label.PENALTY} AND {record}.publicityUntil < {at})"
            f" OR ({record}:{Label.LICENSE} AND {record}.validTo < {at})"
            f" OR ({record}:{Label.LISTING} AND {record}.removedOn <= {at})"
            f" OR ({record}:{Label.JUDGMENT} AND {record}.fulfilledOn <= {at}))"
            f" THEN '{RecordStatus.EXPIRED.value}' ELSE {record}.status END")


# The kinds whose status their dates alone decide (a licence's also comes from its source's
# 当前状态: revoked there, it stays so whatever its dates).
DATED_STATUS = (RecordKind.PENALTY, RecordKind.LISTING, RecordKind.JUDGMENT)


def status_on(record: Mapping[str, Any], at: dt.date) -> str:
    """`status_at` for a record already read with its kind and dates (a row without them keeps
    its stored status)."""
    status = str(record.get("status") or RecordStatus.ACTIVE.value)
    if status != RecordStatus.ACTIVE.value:
        return status
    kind = record.get("kind")
    until = _day(record.get("publicityUntil"))
    valid_to = _day(record.get("validTo"))
    removed = _day(record.get("removedOn"))
    fulfilled = _day(record.get("fulfilledOn"))
    if ((kind == RecordKind.PENALTY.value and until is not None and until < at)
            or (kind == RecordKind.LICENSE.value and valid_to is not None and valid_to < at)
            or (kind == RecordKind.LISTING.value and removed is not None and removed <= at)
            or (kind == RecordKind.JUDGMENT.value and fulfilled is not None and fulfilled <= at)):
        return RecordStatus.EXPIRED.value
    return status


def in_force(record: str, at: str = "$asOf") -> str:
    """A record that still counts at a date: not repaired (信用修复) nor revoked (撤销) by then.
    A repair or revocation takes effect from its day (`repairedOn`, `revokedOn`): an earlier
    date still sees the record as it was; a status without a date counts as always. A
    corrected version (异议更正) counts from its `correctedOn`, the day its predecessor was
    revoked, so no date sees both versions."""
    return (f"NOT ({record}.status IN ['REPAIRED', 'REVOKED'] AND "
            f"coalesce({record}.repairedOn, {record}.revokedOn, {at}) <= {at})"
            f" AND coalesce({record}.correctedOn, {at}) <= {at}")


def in_force_at(record: Mapping[str, Any], at: dt.date) -> bool:
    """`in_force` for a record already read (with its status, repairedOn, revokedOn and
    correctedOn), for scoring in Python."""
    if record.get("status") in (RecordStatus.REPAIRED, RecordStatus.REVOKED):
        since = _day(record.get("repairedOn")) or _day(record.get("revokedOn"))
        if since is None or since <= at:
            return False
    corrected = _day(record.get("correctedOn"))
    return corrected is None or corrected <= at


def _day(value: object) -> dt.date | None:
    to_native = getattr(value, "to_native", None)
    if to_native is not None:
        return to_native()
    return value if isinstance(value, dt.date) else None


def latest_version(record: str = "r") -> str:
    """The latest version of a record an objection corrected (异议更正: `…#v2`, corrected
    again `…#v3`), as {id, status} — the end of its SUPERSEDES chain; null when uncorrected."""
    supersedes = Link.SUPERSEDES.value
    return (f"CASE WHEN {record}.supersededBy IS NULL THEN null "
            f"ELSE coalesce(head([(n)-[:{supersedes}*]->({record}) "
            f"WHERE NOT EXISTS {{ ()-[:{supersedes}]->(n) }} | n {{.id, .status}}]), "
            f"{{id: {record}.supersededBy}}) END")


def record_by_id(variable: str = "r", param: str = "$id") -> str:
    """`CALL () { … }` binding `variable` to every record, of any kind, whose natural key is
    the parameter: one index seek per declared record label."""
    branches = " UNION ".join(
        f"MATCH ({variable}:{label.value} {{id: {param}}}) RETURN {variable}"
        for label in RECORD_LABELS.values())
    return f"CALL () {{ {branches} }}"


# The date that ends a record of a kind whose dates decide its status (an EXPIRED one stored
# without it stays EXPIRED whatever the date asked).
EXPIRY_DATE = {RecordKind.PENALTY.value: "publicityUntil", RecordKind.LISTING.value: "removedOn",
               RecordKind.JUDGMENT.value: "fulfilledOn"}


def status_as_of(record: Mapping[str, Any], as_of: dt.date) -> str:
    """A record's status on a date (a row read with `DECISION_FIELDS`), as the grade and the
    risk signals of that date see it (SPEC §8: an earlier asOf sees the record as it was): a
    repair or revocation decided later is not yet made; an objection is DISPUTED from the day
    it was filed to the day it was resolved; a penalty's publicity, a listing's removal and a
    judgment's fulfilment are read from their dates on that day, not on the day of the last
    load. A licence stored EXPIRED (its 有效期至 passed by the load day) is on an earlier day
    what its 当前状态 and 有效期至 made it then (`Deriver.licence_status`): in force before
    its 有效期至 unless its source calls it 无效; one stored ACTIVE expires on the day after its
    有效期至."""
    status = str(record.get("status") or RecordStatus.ACTIVE.value)
    if status in (RecordStatus.REPAIRED, RecordStatus.REVOKED):
        if not in_force_at(record, as_of):
            return status
        status = RecordStatus.ACTIVE.value  # decided after the date
    objections = record.get("objections") or []
    if status == RecordStatus.DISPUTED and not objections:
        return status  # no objection dates it (a row read without them): disputed always
    for objection in objections:
        filed_on, resolved_on = _day(objection.get("filedOn")), resolved_day(objection)
        if filed_on is not None and filed_on <= as_of and (resolved_on is None
                                                           or resolved_on > as_of):
            return RecordStatus.DISPUTED.value
    valid_to = _day(record.get("validTo"))
    if (record.get("kind") == RecordKind.LICENSE.value and valid_to is not None
            and status in (RecordStatus.EXPIRED, RecordStatus.DISPUTED)):
        # stored EXPIRED by the 有效期至 the load day had passed: on an earlier day it was
        # what its 当前状态 and 有效期至 made it then, as a load of that day derived it
        return Deriver.licence_status(record.get("currentStatus"), valid_to, as_of)
    ends = EXPIRY_DATE.get(str(record.get("kind")))
    if status == RecordStatus.DISPUTED or (
            status == RecordStatus.EXPIRED and ends is not None and record.get(ends) is not None):
        status = RecordStatus.ACTIVE.value  # disputed later; expired by the date read below
    return status_on({**record, "status": status}, as_of)


def resolved_day(objection: Mapping[str, Any]) -> dt.date | None:
    """The day an objection was resolved: `resolvedOn`, the service's day of the decision (as
    filedOn and revokedOn are) — for one resolved before it was kept, its instant `resolvedAt`
    (UTC) on the local clock."""
    on = _day(objection.get("resolvedOn"))
    if on is not None:
        return on
    resolved = _day(objection.get("resolvedAt"))
    return resolved.astimezone().date() if isinstance(resolved, dt.datetime) else resolved
