"""Looking up subjects by any identifier an investigator may hold (SPEC §6)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.model import RecordStatus
from credgraph.queries.fragments import (
    DECISION_FIELDS,
    RECORD_AUTHORITY,
    status_as_of,
    status_at,
)
from credgraph.schema.identifiers import (
    IdentifierError,
    is_person_number,
    looks_like_id_number,
    normalise,
    parse_id_number,
    parse_uscc,
)
from credgraph.schema.privacy import PERSON_KEY_HEX, PERSON_KEY_PREFIX, Privacy, is_person_key

MAX_ID_LENGTH = 64
_DIGITS_ONLY = re.compile("[0-9]+X?")  # an ID number's shape as much as a USCC's


def candidate_keys(value: str, privacy: Privacy) -> list[str]:
    """Graph keys an input may denote: a USCC, an opaque person key, or a raw ID number
    (hashed here, never sent further). Raises IdentifierError saying what is malformed."""
    if len(value) > MAX_ID_LENGTH:
        raise IdentifierError("length", f"an id has at most {MAX_ID_LENGTH} characters")
    text = normalise(value)
    if is_person_key(text):
        return [text]
    if text.startswith(PERSON_KEY_PREFIX) and len(text) != 18:
        # no USCC starts with P (its first character is a registering department): a person
        # key cut or lengthened in copying, told as such rather than as a USCC's length
        after = len(text) - len(PERSON_KEY_PREFIX)
        if after == PERSON_KEY_HEX:
            raise IdentifierError("character", "a person key has only 0-9 and A-F after the P")
        raise IdentifierError("length", f"a person key is P and {PERSON_KEY_HEX} hexadecimal "
                                        f"digits, this one has {after} characters after the P")
    if len(text) == 15 and text[:14].isdigit() and (text[14].isdigit() or text[14] == "X"):
        raise IdentifierError("length", "15 digits: a first-generation ID number (一代身份证) "
                                        "is not a key here; give the 18-digit ID number (a "
                                        "USCC has 18 characters too)")
    if len(text) != 18 and _DIGITS_ONLY.fullmatch(text):
        # digits alone are an ID number as likely as a USCC: not told as a USCC's length
        raise IdentifierError("length", f"an id is a USCC or an ID number, 18 characters; "
                                        f"this one has {len(text)}")
    if is_person_number(text):
        # 18 digits with a date at positions 7-14: an ID number, whose errors are reported.
        return [privacy.person_key(parse_id_number(text))]
    try:
        return [parse_uscc(text).code]
    except IdentifierError as as_uscc:
        if not looks_like_id_number(text):
            raise
        # 18 digits are an ID number sooner than a USCC: say what is wrong with both
        try:
            parse_id_number(text)
        except IdentifierError as as_person:
            raise IdentifierError(as_person.reason, f"{as_person}; not a USCC either "
                                                    f"({as_uscc})") from None
        raise


SUBJECT_BY_KEYS = """
MATCH (n:Subject) WHERE n.id IN $keys
RETURN n {.id, .name, .kind, .region, .status, .idMasked, .industry, .address,
          .established, .registeredCapital, .birthYear, .gender,
          labels: labels(n)} AS subject
LIMIT 1
"""


def find_subject(graph: Graph, keys: list[str]) -> dict[str, Any] | None:
    rows = graph.read(SUBJECT_BY_KEYS, {"keys": keys})
    return rows[0]["subject"] if rows else None


# Active: still in force (a DISPUTED record still counts, flagged — SPEC §8).
RECORDS = f"""
MATCH (s:Subject {{id: $id}})-[h:HAS_RECORD]->(r)
WHERE $kind IS NULL OR r.kind = $kind
WITH r, {status_at("r", "$today")} AS status
WHERE NOT $activeOnly OR status IN $active
WITH r, status ORDER BY r.date DESC, r.id LIMIT $limit
RETURN collect(r {{.id, .kind, .domain, .severity, status, .date, .title, {RECORD_AUTHORITY}}})
       AS rows
"""
ACTIVE_STATUSES = [RecordStatus.ACTIVE.value, RecordStatus.DISPUTED.value]


# The records that existed on a past date (a corrected version from its `correctedOn`) with
# what their status on that date is read from, the subject's part in each and its repair;
# newest first, at most $read of them.
RECORDS_ON = f"""
MATCH (s:Subject {{id: $id}})-[h:HAS_RECORD]->(r)
WHERE ($kind IS NULL OR r.kind = $kind) AND (r.date IS NULL OR r.date <= $asOf)
  AND (r.correctedOn IS NULL OR r.correctedOn <= $asOf)
WITH h, r ORDER BY r.date DESC, r.id LIMIT $read
RETURN collect(r {{.id, .kind, .domain, .date, .title, {RECORD_AUTHORITY}, .severity, .repair,
                  .supersededBy, .dueOn, .fulfilled, role: h.role, {DECISION_FIELDS}}}) AS rows
"""


def subject_records(graph: Graph, subject: str, kind: str | None, active_only: bool,
                    limit: int, today: dt.date, as_of: dt.date | None = None,
                    read: int = 1000) -> list[dict[str, Any]]:
    """A subject's records newest first with their status today — or, given `as_of`, those
    that existed then with their status on that day (a repair, revocation, correction or
    objection decided later not yet made, as the analyses of that date see them); `read`
    bounds the records judged for `active_only` on a past date."""
    if as_of is None:
        return graph.read_rows(RECORDS, {"id": subject, "kind": kind, "activeOnly": active_only,
                                         "active": ACTIVE_STATUSES, "limit": limit,
                                         "today": today})
    rows = graph.read_rows(RECORDS_ON, {"id": subject, "kind": kind, "asOf": as_of,
                                        "read": read if active_only else limit})
    dated = [{**row, "status": status_as_of(row, as_of)} for row in rows]
    return [row for row in dated if not active_only or row["status"] in ACTIVE_STATUSES][:limit]


# What an analysis shows of each subject it names (a map projection of `s`).
SUBJECT_SUMMARY = ".id, .name, .kind, .region, .status, .idMasked, " \
                  "person: s:NaturalPerson, agency: s:Agency"

SUBJECTS_BY_IDS = f"""
UNWIND $ids AS sid
MATCH (s:Subject {{id: sid}})
RETURN collect(s {{{SUBJECT_SUMMARY}}}) AS rows
"""


def subjects_by_ids(graph: Graph, ids: list[str]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in graph.read_rows(SUBJECTS_BY_IDS, {"ids": ids})}
