"""Emptying a database: in bounded transactions, the schema version kept when asked."""

from __future__ import annotations

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
