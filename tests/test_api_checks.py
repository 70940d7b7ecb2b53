"""Readiness when Neo4j is gone or behind, API keys stored as hashes only, and the monitor
role's masking wherever a person appears (search results, risk paths)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import socket

import neo4j
import pytest
from starlette.testclient import TestClient

from credgraph.api.app import create_app
from credgraph.api.auth import KeyStore, Role
from credgraph.graph.driver import Graph
from credgraph.graph.migrations import CURRENT_VERSION, migrate, schema_version
from credgraph.schema.identifiers import parse_id_number
from credgraph.schema.privacy import mask_id_number
from credgraph.services import Services
from tests.conftest import Api
from tests.graphs import AS_OF, record, relate, subject
from tests.ids import make_id, make_uscc


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_readyz_503_when_neo4j_is_unreachable(services: Services,
                                              caplog: pytest.LogCaptureFixture) -> None:
    driver = neo4j.GraphDatabase.driver(f"bolt://127.0.0.1:{_dead_port()}",
                                        auth=("neo4j", "wrong"))
    dead = Graph(driver, "neo4j", tx_timeout=1.0)
    try:
        app = create_app(Services.build(services.settings, dead, services.rules,
                                        services.privacy), KeyStore(dead))
        with caplog.at_level(logging.WARNING):
            response = TestClient(app).get("/readyz")
    finally:
        driver.close()
    assert response.status_code == 503
    assert response.json() == {"status": "not ready"}
    assert "Neo4j unavailable" in caplog.text


def test_readyz_503_until_the_schema_is_migrated(services: Services, graph: Graph,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    """A store behind the code (an upgrade before `db migrate`) is not ready, and the log says
    why — it said nothing (found by the upgrade review)."""
    client = TestClient(create_app(services))
    assert client.get("/readyz").status_code == 200
    graph.write("MATCH (v:SchemaVersion) DELETE v")
    assert schema_version(graph) == 0 < CURRENT_VERSION
    with caplog.at_level(logging.WARNING):
        behind = client.get("/readyz")
    migrate(graph)
    assert (behind.status_code, behind.json()) == (503, {"status": "not ready"})
    assert (f"the store's schema is version 0, this code needs {CURRENT_VERSION} — run "
            "`credgraph db migrate`") in caplog.text
    assert client.get("/readyz").status_code == 200


def test_api_key_node_holds_only_the_hash(graph: Graph) -> None:
    store = KeyStore(graph)
    token = store.create("城市监测任务", Role.MONITOR)
    rows = graph.read("MATCH (k:ApiKey) RETURN properties(k) AS k")
    assert len(rows) == 1
    stored = rows[0]["k"]
    assert stored["id"] == hashlib.sha256(token.encode()).hexdigest()
    assert sorted(stored) == ["createdAt", "id", "name", "prefix", "revoked", "role"]
    assert (stored["name"], stored["role"], stored["revoked"]) == ("城市监测任务", "monitor", False)
    secret = token[len(stored["prefix"]):]
    assert len(secret) >= 32
    assert not [key for key, value in stored.items() if secret[:8] in str(value)]
    who = KeyStore(graph).lookup(token)
    assert who is not None and who.role is Role.MONITOR
    assert KeyStore(graph).lookup(token[:-1] + ("A" if token[-1] != "A" else "B")) is None


PERSON_NUMBER = make_id(region="371402", born="19750612", seq="031")
CO = make_uscc(region="371402", org="MA3C00011")
RISKY = make_uscc(region="371602", org="MA3C00012")


@pytest.fixture()
def represented(services: Services) -> tuple[Api, str]:
    """A person who represents two companies, one of them listed (失信被执行人)."""
    graph = services.graph
    number = parse_id_number(PERSON_NUMBER)
    key = services.privacy.person_key(number)
    subject(graph, key, "张三明", "NATURAL_PERSON")
    graph.write("MATCH (p {id: $id}) SET p.idMasked = $masked", {
        "id": key, "masked": mask_id_number(number)})
    subject(graph, CO, "德州市甲食品有限公司")
    subject(graph, RISKY, "滨州市乙商贸有限公司", region="371602")
    relate(graph, key, CO, "LEGAL_REPRESENTATIVE")
    relate(graph, key, RISKY, "LEGAL_REPRESENTATIVE")
    record(graph, RISKY, "Listing", "L-1", listType="失信被执行人", domain="judicial",
           date=AS_OF - dt.timedelta(days=10))
    return Api(services), key


def test_monitor_sees_persons_masked_in_search(represented: tuple[Api, str]) -> None:
    api, key = represented
    query = '{ searchSubjects(name: "张三明") { subject { id kind name idMasked } } }'
    seen = {role: api.query(query, role)["data"]["searchSubjects"]  # type: ignore[index]
            for role in ("monitor", "investigator")}
    assert seen["monitor"] == [{"subject": {"id": key, "kind": "NATURAL_PERSON",
                                            "name": "张*明", "idMasked": None}}]
    assert seen["investigator"] == [{"subject": {
        "id": key, "kind": "NATURAL_PERSON", "name": "张三明",
        "idMasked": mask_id_number(PERSON_NUMBER)}}]


def test_monitor_sees_persons_masked_on_risk_paths(represented: tuple[Api, str]) -> None:
    api, key = represented
    query = ('query($id: ID!) { riskAssessment(id: $id, asOf: "2026-06-30") { contributors {'
             ' subject { id } path { from { id name idMasked } to { id name } } } } }')
    paths = {}
    for role in ("monitor", "investigator"):
        body = api.query(query, role, id=CO)
        assert "errors" not in body, body
        contributors = body["data"]["riskAssessment"]["contributors"]  # type: ignore[index]
        assert [c["subject"]["id"] for c in contributors] == [RISKY]
        paths[role] = contributors[0]["path"]
    assert paths["monitor"] == [
        {"from": {"id": key, "name": "张*明", "idMasked": None},
         "to": {"id": CO, "name": "德州市甲食品有限公司"}},
        {"from": {"id": key, "name": "张*明", "idMasked": None},
         "to": {"id": RISKY, "name": "滨州市乙商贸有限公司"}}]
    assert [step["from"]["name"] for step in paths["investigator"]] == ["张三明", "张三明"]
    assert paths["investigator"][0]["from"]["idMasked"] == mask_id_number(PERSON_NUMBER)
