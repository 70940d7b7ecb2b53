"""Emptying a database: in bounded transactions, the schema version kept when asked."""

from __future__ import annotations

from typing import Any

import neo4j.exceptions
import pytest
from click.testing import CliRunner

from credgraph.cli import main
from credgraph.graph.driver import Graph
from credgraph.graph.maintenance import delete_all
from credgraph.graph.migrations import CURRENT_VERSION, schema_version
from credgraph.graph.server import LocalNeo4j
from credgraph.settings import Settings

HUB = """
CREATE (h:Subject:LegalPerson:Agency {id: 'hub'})
WITH h UNWIND range(1, 25000) AS i
CREATE (h)<-[:ISSUED_BY]-(:Record:Penalty {id: 'p' + i})
"""


def counts(graph: Graph) -> tuple[int, int]:
    row = graph.read("RETURN COUNT { MATCH (n) WHERE NOT n:SchemaVersion } AS nodes, "
                     "COUNT { ()-[]->() } AS rels")[0]
    return row["nodes"], row["rels"]


def test_delete_all_clears_a_hub_and_keeps_the_schema(graph: Graph) -> None:
    graph.write(HUB)
    assert counts(graph) == (25001, 25000)
    delete_all(graph, keep=("SchemaVersion",))
    assert counts(graph) == (0, 0)
    assert schema_version(graph) == CURRENT_VERSION


def test_reset_of_an_external_database(graph: Graph, settings: Settings) -> None:
    graph.write(HUB)
    password = settings.neo4j_password or LocalNeo4j(settings).password()
    env = {"NEO4J_URI": settings.bolt_uri, "NEO4J_PASSWORD": password,
           "NEO4J_DATABASE": settings.neo4j_database}
    refused = CliRunner().invoke(main, ["db", "reset"], env=env)
    assert refused.exit_code == 2 and counts(graph) == (25001, 25000)
    done = CliRunner().invoke(main, ["db", "reset", "--yes"], env=env)
    assert done.exit_code == 0, done.output
    assert "database reset" in done.output
    assert counts(graph) == (0, 0)
    assert schema_version(graph) == CURRENT_VERSION


class _FlakyDriver:
    """A driver whose first `fails` statements find Neo4j unreachable (a restart)."""

    def __init__(self, fails: int, error: Exception | None = None) -> None:
        self.fails = fails
        self.error = error or neo4j.exceptions.ServiceUnavailable("restarting")
        self.runs = 0

    def session(self, **_: Any) -> _FlakyDriver:
        return self

    def __enter__(self) -> _FlakyDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def run(self, *_: Any) -> _FlakyDriver:
        self.runs += 1
        if self.runs <= self.fails:
            raise self.error
        return self

    def consume(self) -> None:
        return None


def test_an_auto_commit_statement_rides_out_a_restart() -> None:
    """`run_autocommit` (the shared-contacts derivation, `db reset` against an external
    server) failed at once when Neo4j restarted — a load that had ridden out the restart in
    its writes (CREDGRAPH_DB_WAIT) ended exit 2 in its derivation; found stopping an external
    Neo4j during `credgraph load`. Retried for the graph's retry time, as the driver retries
    managed transactions; not retried past it, nor when the error is no passing one."""
    flaky = _FlakyDriver(fails=2)
    Graph(flaky, "neo4j", 1.0, retry_time=5.0).run_autocommit("RETURN 1")  # type: ignore[arg-type]
    assert flaky.runs == 3
    gone = _FlakyDriver(fails=100)
    with pytest.raises(neo4j.exceptions.ServiceUnavailable):
        Graph(gone, "neo4j", 1.0, retry_time=0.5).run_autocommit("RETURN 1")  # type: ignore[arg-type]
    assert 1 < gone.runs < 10
    wrong = _FlakyDriver(fails=1, error=neo4j.exceptions.CypherSyntaxError("no"))
    with pytest.raises(neo4j.exceptions.CypherSyntaxError):
        Graph(wrong, "neo4j", 1.0, retry_time=5.0).run_autocommit("RETURN 1")  # type: ignore[arg-type]
    assert wrong.runs == 1
