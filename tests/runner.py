"""Running the `credgraph` command in-process against the test session's Neo4j."""

from __future__ import annotations

from click.testing import CliRunner, Result

from credgraph.cli import main
from credgraph.graph.server import LocalNeo4j
from credgraph.settings import Settings
from tests.conftest import TEST_SECRET


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment that points the command at the test server as an external one."""
    password = settings.neo4j_password or LocalNeo4j(settings).password()
    return {"NEO4J_URI": settings.bolt_uri, "NEO4J_PASSWORD": password,
            "NEO4J_DATABASE": settings.neo4j_database, "CREDGRAPH_SECRET": TEST_SECRET}


def invoke(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=cli_env(settings))
