"""Schema migrations: constraints and indexes derived from the declared model, applied in
order and recorded as a schema version (reported by `db status` and `/readyz`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from credgraph.graph.driver import Graph
from credgraph.graph.model import KEYED_LABELS, RECORD_LABELS, Label


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: Callable[[], list[str]]


def _keys_and_lookups() -> list[str]:
    statements = [
        f"CREATE CONSTRAINT {label.value.lower()}_id IF NOT EXISTS "
        f"FOR (n:{label.value}) REQUIRE n.id IS UNIQUE"
        for label in KEYED_LABELS
    ]
    subject = Label.SUBJECT.value
    for prop in ("region", "kind", "nameNorm"):
        statements.append(
            f"CREATE INDEX subject_{prop.lower()} IF NOT EXISTS FOR (n:{subject}) ON (n.{prop})"
        )
    for label in RECORD_LABELS.values():
        for prop in ("domain", "status", "date"):
            statements.append(
                f"CREATE INDEX {label.value.lower()}_{prop} IF NOT EXISTS "
                f"FOR (n:{label.value}) ON (n.{prop})"
            )
    statements.append(
        f"CREATE FULLTEXT INDEX subject_names IF NOT EXISTS FOR (n:{subject}) "
        "ON EACH [n.name] OPTIONS {indexConfig: {`fulltext.analyzer`: 'cjk'}}"
    )
    return statements


def _sharing_quota() -> list[str]:
    """One counter per partner key and day, incremented under the unique key's lock."""
    label = Label.SHARING_QUOTA.value
    return [f"CREATE CONSTRAINT sharingquota_id IF NOT EXISTS FOR (n:{label}) "
            "REQUIRE n.id IS UNIQUE"]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "unique keys, lookup indexes, CJK full-text index on names", _keys_and_lookups),
    Migration(6, "daily sharing quota per partner key", _sharing_quota),
)
CURRENT_VERSION = MIGRATIONS[-1].version

_VERSION_ID = "schema"


def schema_version(graph: Graph) -> int:
    rows = graph.read(
        "MATCH (v:SchemaVersion {id: $id}) RETURN v.version AS version", {"id": _VERSION_ID}
    )
    return int(rows[0]["version"]) if rows else 0


def migrate(graph: Graph) -> list[Migration]:
    """Apply every migration above the recorded version; safe to run any number of times."""
    applied = []
    current = schema_version(graph)
    for migration in MIGRATIONS:
        if migration.version <= current:
            continue
        for statement in migration.statements():
            graph.write(statement, timeout=300)
        graph.write(
            "MERGE (v:SchemaVersion {id: $id}) SET v.version = $version, "
            "v.description = $description, v.appliedAt = datetime()",
            {"id": _VERSION_ID, "version": migration.version,
             "description": migration.description},
        )
        applied.append(migration)
    graph.write("CALL db.awaitIndexes(300)", timeout=310)
    return applied
