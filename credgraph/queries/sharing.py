"""Inter-city sharing, the incoming side (区域信用共享, SPEC §8): the status of a batch of
subjects a partner city asks about — active severe listings, escalation level, active
penalties per domain, credit grade — and nothing that names or identifies a person.

One Cypher read answers the whole batch; the daily quota is one counter write; every call is
audited with its purpose.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

from credgraph.graph.driver import Graph
from credgraph.graph.model import EscalationLevel, Label, Link, RecordStatus
from credgraph.queries.escalation import state_on
from credgraph.queries.fragments import in_force
from credgraph.queries.grading import credit_grades
from credgraph.queries.subjects import MAX_ID_LENGTH, candidate_keys
from credgraph.rules import Rules
from credgraph.schema.identifiers import IdentifierError, normalise, parse_id_number
from credgraph.schema.privacy import (
    Privacy,
    is_near_id_number,
    is_person_key,
    mask_id_number,
    scrub,
)


@dataclass(frozen=True)
class Asked:
    """One id as sent: the id its answer carries, and the graph key it denotes (None when
    malformed). A person is answered under the opaque key, never the number. federatedCheck
    holds a partner's answer to the same rules (sharing/client.py)."""

    sent: str
    echo: str
    key: str | None


def _person_shaped(text: str) -> bool:
    """18 digits with a real birth date: a mistyped ID number, even when its digits happen to
    make a valid USCC too — never echoed as sent."""
    try:
        parse_id_number(text)
    except IdentifierError as exc:
        return exc.reason == "check_digit"
    return True


def resolve_ids(ids: list[str], privacy: Privacy) -> list[Asked]:
    """Each id in order. A malformed id is not an error of the whole batch: it is answered
    `found: false` and echoed as sent (SPEC §9), so the partner recognises it — unless it
    holds something shaped like an ID number, which is echoed masked (a digit short or over
    too); one longer than any id is cut to MAX_ID_LENGTH."""
    asked = []
    for value in ids:
        try:
            key = candidate_keys(value, privacy)[0]
        except IdentifierError:
            folded = normalise(value)
            echo = mask_id_number(folded) if is_near_id_number(folded) else scrub(value)
            asked.append(Asked(value, echo[:MAX_ID_LENGTH], None))
            continue
        if is_person_key(key):
            asked.append(Asked(value, key, key))
        elif _person_shaped(normalise(value)):
            asked.append(Asked(value, mask_id_number(value), key))
        else:
            asked.append(Asked(value, value, key))
    return asked


@dataclass(frozen=True)
class Status:
    """What a partner learns of one subject found here."""

    severe_listings: int
    escalation: EscalationLevel | None
    penalties_by_domain: list[tuple[str, int]] = field(default_factory=list)


_HAS_RECORD = Link.HAS_RECORD.value
STATUSES = f"""
UNWIND $keys AS key
MATCH (s:{Label.SUBJECT.value} {{id: key}})
RETURN collect({{
  id: s.id,
  severeListings: COUNT {{
    (s)-[:{_HAS_RECORD}]->(l:{Label.LISTING.value})
    WHERE l.listType IN $severe AND coalesce(l.listedOn, l.date) <= $asOf
      AND (l.removedOn IS NULL OR l.removedOn > $asOf) AND {in_force("l")} }},
  penaltyDomains: [(s)-[:{_HAS_RECORD}]->(p:{Label.PENALTY.value})
    WHERE coalesce(p.status, '') <> $expired AND coalesce(p.date, $asOf) <= $asOf
      AND (p.publicityUntil IS NULL OR p.publicityUntil >= $asOf) AND {in_force("p")}
    | coalesce(p.domain, $fallback)],
  escalations: [(s)-[:{Link.HAS_ESCALATION.value}]->(e:{Label.ESCALATION.value})
    | e {{.history, .level, .status, .since}}]
}}) AS rows
"""
_LEVELS = list(EscalationLevel)


def statuses(graph: Graph, rules: Rules, keys: list[str], as_of: dt.date) -> dict[str, Status]:
    """The status of every subject among `keys` that exists, in one read."""
    rows = graph.read_rows(STATUSES, {
        "keys": sorted(set(keys)), "asOf": as_of, "severe": rules.listings.severe,
        "expired": RecordStatus.EXPIRED.value, "fallback": rules.domains.fallback,
    })
    found = {}
    for row in rows:
        # the level standing on the day, read from the history as creditGrade and
        # Subject.escalation(asOf) read it: a run dated ahead of today has lifted the node
        # already, but not the day's escalation
        standing = (state_on(node, as_of) for node in row["escalations"])
        levels = [state.level for state in standing if state is not None]
        domains = Counter(str(d) for d in row["penaltyDomains"])
        found[row["id"]] = Status(
            severe_listings=int(row["severeListings"]),
            escalation=max(levels, key=_LEVELS.index) if levels else None,
            penalties_by_domain=sorted(domains.items(), key=lambda item: (-item[1], item[0])),
        )
    return found


def grades_for(graph: Graph, rules: Rules, keys: list[str],
               as_of: dt.date) -> dict[str, str | None]:
    """The credit grade (分级分类, A–D) of each subject, in one query for the batch."""
    grades = credit_grades(graph, rules, keys, as_of)
    return {key: grades[key].grade if key in grades else None for key in keys}


QUOTA = f"""
MERGE (q:{Label.SHARING_QUOTA.value} {{id: $id}})
ON CREATE SET q.key = $key, q.day = $day, q.ids = 0
SET q.locked = true
WITH q, q.ids + $n AS after
SET q.ids = CASE WHEN after <= $limit THEN after ELSE q.ids END
REMOVE q.locked
RETURN after <= $limit AS allowed, q.ids AS used
"""


def take_quota(graph: Graph, key_id: str, day: dt.date, n: int, limit: int) -> tuple[bool, int]:
    """Count `n` ids against a key's quota for the day unless that would pass `limit`;
    (allowed, ids used today). The lock is taken before the read, so concurrent calls from
    several API processes never both slip under the limit."""
    row = graph.write(QUOTA, {"id": f"{key_id}:{day.isoformat()}", "key": key_id,
                              "day": day, "n": n, "limit": limit})[0]
    return bool(row["allowed"]), int(row["used"])


