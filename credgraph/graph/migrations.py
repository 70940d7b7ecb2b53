"""Schema migrations: constraints and indexes derived from the declared model, applied in
order and recorded as a schema version (reported by `db status` and `/readyz`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import neo4j

from credgraph.graph.driver import Graph
from credgraph.graph.model import KEYED_LABELS, RECORD_LABELS, Label


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: Callable[[], list[str]]
    # what stored data the new code reads otherwise, rewritten after the statements
    data: Callable[[Graph], object] | None = None


# What queries start from besides the unique ids: subjects by region (a county's 双随机
# inspection plan) and by core name (resolution); penalties by date and by status (the
# escalation run's window and its repaired penalties). Every other record is reached from its
# subjects through HAS_RECORD, so an index on it would only cost writes.
LOOKUP_INDEXES: tuple[tuple[Label, str], ...] = (
    (Label.SUBJECT, "region"), (Label.SUBJECT, "nameNorm"),
    (Label.PENALTY, "date"), (Label.PENALTY, "status"),
)


def _index_name(label: Label, prop: str) -> str:
    return f"{label.value.lower()}_{prop.lower()}"


def _range_index(label: Label, prop: str) -> str:
    return (f"CREATE INDEX {_index_name(label, prop)} IF NOT EXISTS "
            f"FOR (n:{label.value}) ON (n.{prop})")


def _unique_id(label: Label) -> str:
    return (f"CREATE CONSTRAINT {_index_name(label, 'id')} IF NOT EXISTS "
            f"FOR (n:{label.value}) REQUIRE n.id IS UNIQUE")


# Made by migration 1 before it was narrowed to LOOKUP_INDEXES; no query reads them (SHOW
# INDEXES' readCount stayed 0 through the load, API, escalation and integrity benchmarks).
UNREAD_INDEXES = tuple(
    _index_name(label, prop)
    for label, prop in ((Label.SUBJECT, "kind"), *((label, prop)
                                                   for label in RECORD_LABELS.values()
                                                   for prop in ("domain", "status", "date")))
    if (label, prop) not in LOOKUP_INDEXES)


def _keys_and_lookups() -> list[str]:
    statements = [_unique_id(label) for label in KEYED_LABELS]
    statements.extend(_range_index(label, prop) for label, prop in LOOKUP_INDEXES)
    statements.append(_subject_names("n.name"))
    return statements


def _subject_names(fields: str = "n.name, n.nameNorm") -> str:
    return (f"CREATE FULLTEXT INDEX subject_names IF NOT EXISTS FOR (n:{Label.SUBJECT.value}) "
            f"ON EACH [{fields}] OPTIONS {{indexConfig: {{`fulltext.analyzer`: 'cjk'}}}}")


def _monitoring() -> list[str]:
    """Alerts are merged on their fingerprint (unique, so two writers never make two) and
    listed by status, rule, subject and first sighting; the monitoring bookkeeping nodes are
    looked up by id."""
    alert = Label.ALERT.value
    statements = [
        f"CREATE CONSTRAINT alert_fingerprint IF NOT EXISTS "
        f"FOR (n:{alert}) REQUIRE n.fingerprint IS UNIQUE",
        *(_range_index(Label.ALERT, prop) for prop in ("status", "rule", "subject", "firstSeen")),
    ]
    statements.extend(_unique_id(label) for label in (
        Label.WATCHLIST, Label.WATCH_STATE, Label.MONITOR_RUN))
    return statements


# Monitoring's lock before escalation had one too (migration 5 made its constraint).
_MONITOR_LOCK = "MonitorLock"


def _run_locks() -> list[str]:
    """One lock node per batch job, looked up by id; monitoring's lock node of earlier versions
    goes with its constraint. A run holding it (a killed run, or one of the earlier version
    still going) keeps holding monitoring's new lock: the next run takes over a killed one and
    marks it CRASHED, and waits for a live one's lock to expire."""
    return [_unique_id(Label.RUN_LOCK),
            f"MATCH (old:{_MONITOR_LOCK}) WHERE old.owner IS NOT NULL "
            f"MERGE (l:{Label.RUN_LOCK.value} {{id: 'monitoring'}}) "
            "ON CREATE SET l.owner = old.owner, l.host = old.host, l.pid = old.pid, "
            "l.since = old.since, l.expiresAt = old.expiresAt",
            f"DROP CONSTRAINT {_MONITOR_LOCK.lower()}_id IF EXISTS",
            f"MATCH (l:{_MONITOR_LOCK}) DELETE l"]


def _workflow() -> list[str]:
    """The audit log read newest first and by actor; open objections found by status."""
    return [_range_index(Label.AUDIT_EVENT, "at"), _range_index(Label.AUDIT_EVENT, "actor"),
            _range_index(Label.OBJECTION, "status")]


def _escalations() -> list[str]:
    """屡罚不改: escalations listed by status and level; companies found by 登记状态 (a text
    index, for `CONTAINS '吊销'`)."""
    return [
        *(_range_index(Label.ESCALATION, prop) for prop in ("status", "level")),
        f"CREATE TEXT INDEX subject_status_text IF NOT EXISTS FOR (n:{Label.SUBJECT.value}) "
        "ON (n.status)",
    ]


def _sharing_quota() -> list[str]:
    """One counter per partner key and day, incremented under the unique key's lock."""
    return [_unique_id(Label.SHARING_QUOTA)]


def _names_folded() -> list[str]:
    """The full-text index holds each subject's folded core (`nameNorm`) beside its name as
    written: a company registered in traditional characters (德州市華夏電纜有限公司) shared no
    character pair with a near name asked in simplified ones (华夏电缆有线公司), so a typo never
    found it. An index's fields cannot change in place: dropped and made again."""
    return ["DROP INDEX subject_names IF EXISTS", _subject_names()]


def _unread_indexes() -> list[str]:
    """Each of them was maintained on every subject or record written."""
    return [f"DROP INDEX {name} IF EXISTS" for name in UNREAD_INDEXES]


def _trail_alerts(graph: Graph) -> object:
    """G1, G2 and G4 alerts raised before their fingerprint left the trail out (an upgraded
    store's first monitoring run raised each of them again, as a new OPEN alert)."""
    from credgraph.queries.monitoring import rekey_trail_alerts

    return rekey_trail_alerts(graph)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "unique keys, lookup indexes, CJK full-text index on names", _keys_and_lookups),
    Migration(2, "escalation status and level indexes, text index on subject status",
              _escalations),
    Migration(3, "audit log by time and actor, objections by status", _workflow),
    Migration(5, "monitoring: alert fingerprints and listing indexes, watch and run state",
              _monitoring),
    Migration(6, "daily sharing quota per partner key", _sharing_quota),
    Migration(7, "indexes no query reads dropped: subject kind; record domain, status and "
              "date (but penalties' date and status)", _unread_indexes),
    Migration(8, "one lock per batch job (monitoring, escalation) in place of monitoring's own",
              _run_locks),
    Migration(9, "G1, G2 and G4 alerts keyed by pattern and records, as monitoring keys them",
              list, _trail_alerts),
    Migration(10, "the CJK full-text index on names holds the folded core name too",
              _names_folded),
)
CURRENT_VERSION = max(m.version for m in MIGRATIONS)

_VERSION_ID = "schema"


def _recorded(graph: Graph) -> tuple[int, set[int]]:
    """The highest version recorded and the versions recorded as applied."""
    rows = graph.read(
        "MATCH (v:SchemaVersion {id: $id}) RETURN v.version AS version, v.applied AS applied",
        {"id": _VERSION_ID}, timeout=60,
    )
    if not rows:
        return 0, set()
    return int(rows[0]["version"]), set(rows[0]["applied"] or [])


def schema_version(graph: Graph) -> int:
    """The schema version: the highest migration applied, if every one below it is too."""
    version, applied = _recorded(graph)
    missing = [m.version for m in MIGRATIONS if m.version <= version and m.version not in applied]
    return min(missing) - 1 if missing else version


# What Neo4j answers the second of two `CREATE … IF NOT EXISTS` of one index or constraint
# running at once: the check passed in both, the commit of the later one conflicts.
_CREATED_MEANWHILE = {
    "Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists",
    "Neo.ClientError.Schema.IndexAlreadyExists",
    "Neo.ClientError.Schema.ConstraintAlreadyExists",
}


def _create(graph: Graph, statement: str) -> None:
    """One schema statement; an index or constraint that another migration (two commands
    started together on a new or upgraded database) created meanwhile is what was asked for.
    That race failed the slower command: `Neo4j refused a write
    (Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists)`, exit 2."""
    try:
        graph.write(statement, timeout=300)
    except neo4j.exceptions.ClientError as exc:
        if exc.code not in _CREATED_MEANWHILE:
            raise


def migrate(graph: Graph) -> list[Migration]:
    """Apply every migration not yet recorded as applied (versions may have been added below
    the highest one); each statement is `IF NOT EXISTS`, so any number of runs is safe, two at
    once too."""
    applied = []
    done = _recorded(graph)[1]
    for migration in MIGRATIONS:
        if migration.version in done:
            continue
        for statement in migration.statements():
            _create(graph, statement)
        if migration.data is not None:
            migration.data(graph)
        done.add(migration.version)
        graph.write(
            "MERGE (v:SchemaVersion {id: $id}) SET v.version = $version, v.applied = $applied, "
            "v.description = $description, v.appliedAt = datetime()",
            {"id": _VERSION_ID, "version": max(done), "applied": sorted(done),
             "description": migration.description}, timeout=120,
        )
        applied.append(migration)
    graph.write("CALL db.awaitIndexes(300)", timeout=310)
    return applied
