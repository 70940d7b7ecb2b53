"""The test session's Neo4j: `NEO4J_URI` when set, else a managed local server of its own
(state in .credgraph-test/, its own port), started once and stopped at the end."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from credgraph.graph.driver import Graph, connect
from credgraph.graph.maintenance import delete_all
from credgraph.graph.migrations import migrate
from credgraph.graph.model import RELATIONS, Label
from credgraph.graph.server import LocalNeo4j
from credgraph.queries.neighbourhood import warm_up
from credgraph.rules import Rules
from credgraph.schema.privacy import Privacy
from credgraph.services import Services
from credgraph.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# Second servers (a partner city's Neo4j and credgraph …) started early when tests need them.
pytest_plugins = ["tests.servers"]
TEST_SECRET = "test-secret-not-for-production-0123456789"
# The session's today: the `services` fixture's clock, and the date tests write data against —
# one date however long the session runs, midnight included.
TODAY = dt.date.today()


def _test_port(home: Path) -> int:
    """The port of this checkout's running test server, else 17687, else any free port."""
    if os.environ.get("CREDGRAPH_TEST_BOLT_PORT"):
        return int(os.environ["CREDGRAPH_TEST_BOLT_PORT"])
    conf = home / "neo4j" / "conf" / "neo4j.conf"
    if conf.exists():
        for line in conf.read_text().splitlines():
            if line.startswith("server.bolt.listen_address="):
                port = int(line.rsplit(":", 1)[1])
                if LocalNeo4j(Settings(home=home, bolt_port=port)).status().running:
                    return port
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", 17687))
            return 17687
        except OSError:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])


def make_settings(**overrides: object) -> Settings:
    if os.environ.get("NEO4J_URI"):
        return Settings(secret=TEST_SECRET, **overrides)  # type: ignore[arg-type]
    values: dict[str, object] = {
        "home": ROOT / ".credgraph-test",
        "heap": "1g",
        "pagecache": "512m",
        "secret": TEST_SECRET,
        "neo4j_uri": None,
        **overrides,
    }
    if "bolt_port" not in values:
        values["bolt_port"] = _test_port(ROOT / ".credgraph-test")
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def settings() -> Settings:
    return make_settings()


@pytest.fixture(scope="session")
def server(settings: Settings) -> Iterator[LocalNeo4j | None]:
    if settings.external:
        yield None
        return
    local = LocalNeo4j(settings)
    local.start()
    yield local
    if not os.environ.get("CREDGRAPH_TEST_KEEP"):
        local.stop()


@pytest.fixture(scope="session")
def session_graph(settings: Settings, server: LocalNeo4j | None) -> Iterator[Graph]:
    graph = connect(settings)
    migrate(graph)
    warm_up(graph, Rules.load().risk.max_depth, list(RELATIONS))
    yield graph
    graph.close()


@pytest.fixture()
def graph(session_graph: Graph) -> Graph:
    """A clean database (schema kept) for each test."""
    delete_all(session_graph, keep=(Label.SCHEMA_VERSION.value,))
    return session_graph


@pytest.fixture(scope="session")
def rules() -> Rules:
    return Rules.load()


@pytest.fixture(scope="session")
def privacy() -> Privacy:
    return Privacy(TEST_SECRET.encode())


@pytest.fixture()
def services(settings: Settings, graph: Graph, rules: Rules,
             privacy: Privacy) -> Iterator[Services]:
    built = Services.build(settings, graph, rules, privacy, today=lambda: TODAY)
    yield built
    built.audit.stop()  # this test's audit events written before the next test empties the db


class Api:
    """The real ASGI app with one key per role; `query` posts GraphQL as a given role."""

    def __init__(self, services: Services) -> None:
        from starlette.testclient import TestClient

        from credgraph.api.app import create_app
        from credgraph.api.auth import KeyStore, Role

        store = KeyStore(services.graph)
        self.tokens = {role.value: store.create(f"test-{role.value}", role) for role in Role}
        self.client = TestClient(create_app(services, store))

    def headers(self, role: str | None = "investigator") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}

    def query(self, query: str, role: str | None = "investigator",
              **variables: object) -> dict[str, object]:
        response = self.client.post("/graphql", json={"query": query, "variables": variables},
                                    headers=self.headers(role))
        body: dict[str, object] = response.json()
        self.last_text = response.text
        self.last_status = response.status_code
        return body


@pytest.fixture()
def api(services: Services) -> Api:
    return Api(services)
