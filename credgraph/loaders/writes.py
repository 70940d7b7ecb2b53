"""The Cypher of loading: idempotent `UNWIND $rows` MERGEs, labels and relation types spliced
only from the declared model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import cache
from typing import Any

import neo4j.exceptions

from credgraph.graph.driver import Graph, batched
from credgraph.graph.model import (
    RECORD_LABELS,
    RELATIONS,
    Label,
    Link,
    RecordKind,
    RecordStatus,
    RelationType,
)
from credgraph.queries.fragments import latest_version

_SUBJECT = Label.SUBJECT.value
_LEGAL = Label.LEGAL_PERSON.value
_PERSON = Label.NATURAL_PERSON.value
_AGENCY = Label.AGENCY.value
_OFFICIAL = Label.OFFICIAL.value
_HAS_RECORD = Link.HAS_RECORD.value
_ISSUED_BY = Link.ISSUED_BY.value
_SERVES_IN = RelationType.SERVES_IN.value
_SUBORDINATE_TO = RelationType.SUBORDINATE_TO.value
_SHARES_CONTACT = RelationType.SHARES_CONTACT.value

EXISTING = f"""
UNWIND $ids AS id
MATCH (n:{_SUBJECT} {{id: id}})
RETURN collect({{id: n.id, labels: labels(n)}}) AS rows
"""


def existing_subjects(graph: Graph, ids: set[str]) -> dict[str, set[str]]:
    if not ids:
        return {}
    rows = graph.read_rows(EXISTING, {"ids": list(ids)}, timeout=120)
    return {row["id"]: set(row["labels"]) for row in rows}


# A record's party and its issuer, created as stubs when a record names them first.
_PARTY = f"""UNWIND row.parties AS party
  MERGE (s:{_SUBJECT} {{id: party.id}})
  ON CREATE SET s += party.stub
  FOREACH (_ IN CASE WHEN party.person THEN [1] ELSE [] END | SET s:{_PERSON})
  FOREACH (_ IN CASE WHEN party.person THEN [] ELSE [1] END | SET s:{_LEGAL})
  FOREACH (_ IN CASE WHEN party.agency THEN [1] ELSE [] END | SET s:{_AGENCY})"""
_ISSUER = f"""WITH r, row WHERE row.issuer IS NOT NULL
  MERGE (a:{_SUBJECT} {{id: row.issuer}})
  ON CREATE SET a += row.issuerStub, a:{_LEGAL}
  FOREACH (_ IN CASE WHEN row.issuerAgency THEN [1] ELSE [] END | SET a:{_AGENCY})"""


@cache
def record_statement(kind: RecordKind) -> str:
    """Records that may be in the graph: updated in place (a status set by repair, objection or
    revocation kept), their parties and issuer re-linked. A REVOKED that no workflow set — a
    licence its source called 吊销/注销, with no `revokedOn`/`revokedBy` of a revocation —
    is the source's word and follows its later rows (吊销 corrected to 有效 is ACTIVE again).
    What the row's file has no column for (`defaults`, and the status, issuer or party it
    would derive) is written on creation only (`sources.keep_absent`)."""
    label = RECORD_LABELS[kind].value
    return f"""
UNWIND $rows AS row
MERGE (r:{label} {{id: row.id}})
ON CREATE SET r += row.defaults
SET r += row.props,
    r.status = CASE WHEN r.status IS NOT NULL AND row.statusKept THEN r.status
                    WHEN r.status IN $sticky
                         AND (r.status <> '{RecordStatus.REVOKED.value}'
                              OR r.revokedOn IS NOT NULL OR r.revokedBy IS NOT NULL)
                    THEN r.status ELSE row.status END
WITH r, row
CALL (r, row) {{
  {_PARTY}
  MERGE (s)-[:{_HAS_RECORD} {{role: party.role}}]->(r)
}}
CALL (r, row) {{
  MATCH (old:{_SUBJECT})-[h:{_HAS_RECORD}]->(r)
  WHERE NOT [old.id, h.role] IN row.partyKeys AND NOT h.role IN row.keptRoles
  DELETE h
}}
CALL (r, row) {{
  MATCH (r)-[i:{_ISSUED_BY}]->(x)
  WHERE NOT row.issuerKept AND (row.issuer IS NULL OR x.id <> row.issuer)
  DELETE i
}}
CALL (r, row) {{
  {_ISSUER}
  MERGE (r)-[:{_ISSUED_BY}]->(a)
}}
"""


@cache
def new_record_statement(kind: RecordKind) -> str:
    """`record_statement` for records not in the graph yet: CREATEd with their links, with no
    lookup of the record and no old links to clear."""
    label = RECORD_LABELS[kind].value
    return f"""
UNWIND $rows AS row
CREATE (r:{label} {{id: row.id}})
SET r += row.defaults, r += row.props, r.status = row.status
WITH r, row
CALL (r, row) {{
  {_PARTY}
  CREATE (s)-[:{_HAS_RECORD} {{role: party.role}}]->(r)
}}
CALL (r, row) {{
  {_ISSUER}
  CREATE (r)-[:{_ISSUED_BY}]->(a)
}}
"""


@cache
def stored_records_statement(kind: RecordKind, inputs: tuple[str, ...]) -> str:
    """Of a batch's records, those stored: whether an objection corrected one (异议更正: the
    version kept as it was, and the latest of the versions after it — `current`, with its
    `currentStatus` —, which a second correction of `…#v2` makes `…#v3`), the parties of one
    the credit desk decided on (a repair or an objection, `decided`), and the `inputs` its
    derived values come from, if any are asked (`sources.with_stored`)."""
    fields = ", ".join(f".{prop}" for prop in inputs)
    projection = f", inputs: r {{{fields}}}" if inputs else ""
    desk = f"{Link.REPAIRS.value}|{Link.OBJECTS_TO.value}"
    return f"""
UNWIND $ids AS id
MATCH (r:{RECORD_LABELS[kind].value} {{id: id}})
WITH r, EXISTS {{ (r)<-[:{desk}]-() }} AS decided, {latest_version("r")} AS latest
RETURN collect({{id: r.id, current: latest.id, currentStatus: latest.status,
                 on: toString(r.revokedOn), status: r.status, decided: decided,
                 parties: CASE WHEN decided THEN [(s)-[h:{Link.HAS_RECORD.value}]->(r)
                                                  | [s.id, h.role]] ELSE [] END{projection}}})
       AS rows
"""


def stored_records(graph: Graph, kind: RecordKind, ids: list[str],
                   inputs: tuple[str, ...] = ()) -> dict[str, Any]:
    """`stored_records_statement`'s rows by id; every stored record's `inputs` if any."""
    rows = graph.read_rows(stored_records_statement(kind, inputs),
                           {"ids": ids}, timeout=120)
    return {row["id"]: row for row in rows}


def write_records(graph: Graph, kind: RecordKind, rows: Iterable[dict[str, Any]],
                  batch_size: int, sticky: list[str], stored: set[str]) -> int:
    """Records of one kind, a batch at a time: those already in the graph MERGEd (statuses set
    by repair or objection kept, parties and issuer re-linked), brand-new ones — most of a
    daily update — CREATEd. Keys are unique within a batch (a file's last occurrence wins).
    `stored`: the keys among `rows` in the graph when the batch was read (`stored_records`)."""
    written = 0
    for batch in batched(rows, batch_size):
        fresh = [row for row in batch if row["id"] not in stored]
        known = [row for row in batch if row["id"] in stored]
        if fresh:
            try:
                graph.write_batches(new_record_statement(kind), fresh, batch_size)
            except neo4j.exceptions.ConstraintError:
                known += fresh  # another writer created some meanwhile: MERGE is always right
        if known:
            graph.write_batches(record_statement(kind), known, batch_size,
                                extra={"sticky": sticky})
        written += len(batch)
    return written


# The edge a tie's row writes: a dated row takes over the tie's undated edge; a row of a file
# with no start-date column (`startKept`) writes the tie's latest edge (an undated one first).
_TIE_KEY = """CALL ({a}, {b}, row) {{
  MATCH ({a})-[u:{rel} {{key: ''}}]->({b})
  WHERE row.key <> '' AND NOT EXISTS {{ ({a})-[:{rel} {{key: row.key}}]->({b}) }}
  SET u.key = row.key
}}
WITH {a}, {b}, row, CASE WHEN row.startKept
  THEN coalesce(COLLECT {{ MATCH ({a})-[e:{rel}]->({b}) RETURN e.key ORDER BY e.start DESC
                          LIMIT 1 }}[0], row.key)
  ELSE row.key END AS key"""


@cache
def relation_statement(rtype: RelationType) -> str:
    """A relation is one edge per start date (its key). A tie first delivered without a
    start date and later with one is the same tie: the dated row takes over the undated edge
    (which would otherwise stay live for ever beside the dated one that ended). A row from a
    file with no start-date column at all is about the tie as stored: its latest edge. A
    person who serves in an agency (任职) is an official, as one of the officials file is."""
    rel = RELATIONS[rtype].type
    official = (f"SET a:{_OFFICIAL}\n" if rtype is RelationType.SERVES_IN else "")
    return f"""
UNWIND $rows AS row
MATCH (a:{_SUBJECT} {{id: row.from}})
MATCH (b:{_SUBJECT} {{id: row.to}})
{_TIE_KEY.format(a="a", b="b", rel=rel)}
MERGE (a)-[r:{rel} {{key: key}}]->(b)
ON CREATE SET r += row.defaults
SET r += row.props
{official}"""


def write_relations(graph: Graph, rtype: RelationType, rows: list[dict[str, Any]],
                    batch_size: int) -> None:
    """Relations of one type in file order: a tie given twice in one batch (undated, then
    with its dates) is written in two passes, as a statement applies each clause to every
    row before the next and would not see the first row's edge from the second."""
    for layer in _layers(rows, ("from", "to")):
        graph.write_batches(relation_statement(rtype), layer, batch_size)


def _layers(rows: Iterable[dict[str, Any]], ends: tuple[str, str]) -> list[list[dict[str, Any]]]:
    """The rows in passes, each tie (its two `ends`) at most once a pass, in file order."""
    layers: list[list[dict[str, Any]]] = []
    seen: Counter[tuple[str, str]] = Counter()
    for row in rows:
        tie = (row[ends[0]], row[ends[1]])
        if seen[tie] == len(layers):
            layers.append([])
        layers[seen[tie]].append(row)
        seen[tie] += 1
    return layers


OFFICIALS = f"""
UNWIND $rows AS row
MERGE (p:{_SUBJECT} {{id: row.id}})
ON CREATE SET p.idEnc = row.idEnc
SET p:{_PERSON}:{_OFFICIAL}, p += row.props
WITH p, row
MATCH (a:{_SUBJECT} {{id: row.agency}})
{_TIE_KEY.format(a="p", b="a", rel=_SERVES_IN)}
MERGE (p)-[r:{_SERVES_IN} {{key: key}}]->(a)
ON CREATE SET r += row.defaults
SET r += row.rel
"""


def write_officials(graph: Graph, rows: list[dict[str, Any]], batch_size: int) -> None:
    """Officials' posts as relations are written (`write_relations`): a post is one edge per
    start date, a post first delivered without one taken over by its dated row, and what the
    file has no column for (离任日期, 职务, 职级) only a default."""
    for layer in _layers(rows, ("id", "agency")):
        graph.write_batches(OFFICIALS, layer, batch_size)


# An agency's `superior` column: an undated SUBORDINATE_TO unless the two are already tied (a
# relations row 隶属, dated or not, says more than the column does). A MERGE with no key
# matches a tie of any key; it locks both agencies before it creates, so two loads at once
# make one edge (a NOT EXISTS check before a CREATE did not see the other load's uncommitted
# edge, and each made one).
SUBORDINATE = f"""
UNWIND $rows AS row
MATCH (a:{_SUBJECT} {{id: row.from}})
MATCH (b:{_SUBJECT} {{id: row.to}})
MERGE (a)-[r:{_SUBORDINATE_TO}]->(b)
ON CREATE SET r.key = ''
"""

# 共用联系方式: subjects sharing a phone or an address, in groups small enough not to be hubs
# (a registration agent's address shared by hundreds links nobody). Written in transactions of
# a few thousand groups so a city of millions stays within the transaction memory limit.
# Subjects grouped by the value of their contact property `$via`.
CONTACT_GROUPS = f"""
MATCH (n:{_SUBJECT}) WHERE n[$via] IS NOT NULL AND n[$via] <> ''
WITH n[$via] AS value, collect(n) AS members"""

SHARED_CONTACTS = CONTACT_GROUPS + f"""
WHERE size(members) >= 2 AND size(members) <= $cap
CALL (members) {{
  UNWIND members AS a
  UNWIND members AS b
  WITH a, b WHERE a.id < b.id
  MERGE (a)-[r:{_SHARES_CONTACT} {{key: $via}}]->(b)
  SET r.via = $via
}} IN TRANSACTIONS OF 2000 ROWS
"""

# A pair that is no tie any more: a later load changed or removed the value one of the two had
# (they no longer share it), or so many subjects share it now that it is a hub.
UNSHARED_CONTACTS = f"""
MATCH (a:{_SUBJECT})-[r:{_SHARES_CONTACT} {{key: $via}}]->(b:{_SUBJECT})
WHERE a[$via] IS NULL OR b[$via] IS NULL OR a[$via] <> b[$via]
CALL (r) {{ DELETE r }} IN TRANSACTIONS OF 2000 ROWS
"""

HUB_CONTACTS = CONTACT_GROUPS + f"""
WHERE size(members) > $cap
UNWIND members AS a
MATCH (a)-[r:{_SHARES_CONTACT} {{key: $via}}]->(:{_SUBJECT})
CALL (r) {{ DELETE r }} IN TRANSACTIONS OF 2000 ROWS
"""

CONTACT_PROPERTIES = ("phone", "address")

COUNT_SHARED = f"MATCH ()-[r:{_SHARES_CONTACT} {{key: $via}}]->() RETURN count(r) AS pairs"


def derive_shared_contacts(graph: Graph, cap: int) -> dict[str, int]:
    pairs = {}
    for via in CONTACT_PROPERTIES:
        graph.run_autocommit(UNSHARED_CONTACTS, {"via": via})
        graph.run_autocommit(HUB_CONTACTS, {"via": via, "cap": cap})
        graph.run_autocommit(SHARED_CONTACTS, {"via": via, "cap": cap})
        rows = graph.read(COUNT_SHARED, {"via": via}, timeout=600)
        pairs[via] = int(rows[0]["pairs"]) if rows else 0
    return pairs
