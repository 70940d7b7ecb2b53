"""Fuzzing the GraphQL API with schemathesis (SPEC §10): every query the schema offers, with
generated arguments and selections, as admin against a small real city. Bounded: 25 generated
examples per query, no shrinking, about half a minute in all. Whatever is sent, the answer is
never a server error (HTTP 5xx, INTERNAL) and never holds a raw ID number.

(schemathesis' pytest loader reads a private attribute pytest 9 no longer has, so the cases
come from its Hypothesis strategies under `@given`.)"""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
import strawberry
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.graphql import nodes
from starlette.applications import Starlette

from credgraph.api.app import create_app
from credgraph.api.auth import KeyStore, Role
from credgraph.api.schema import Query
from credgraph.graph.driver import Graph
from credgraph.schema.identifiers import parse_id_number
from credgraph.services import Services
from tests.graphs import AS_OF, record, relate, subject
from tests.ids import make_id, make_uscc, raw_id_numbers

COMPANY = make_uscc(org="MA3C00001")
OWNER = make_uscc(region="371602", org="MA3D00009")
PERSON_ID = make_id(born="19800101", seq="123")
CODES = {"BAD_USER_INPUT", "NOT_FOUND", "FORBIDDEN", "LIMIT_EXCEEDED"}

# Ids the city knows, mistyped ones, and noise: arguments reach the analyses, not only the
# identifier checks.
IDS = st.one_of(st.sampled_from([COMPANY, OWNER, PERSON_ID, PERSON_ID[:17] + "0",
                                 COMPANY.lower(), "P" + "A" * 24]), st.text(max_size=40))
schemathesis.graphql.scalar("ID", IDS.map(nodes.String))
schemathesis.graphql.scalar("Date", st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31))
                            .map(lambda d: nodes.String(d.isoformat())))


@pytest.fixture()
def fuzz_app(graph: Graph, services: Services) -> tuple[Starlette, str]:
    person = services.privacy.person_key(parse_id_number(PERSON_ID))
    subject(graph, COMPANY, "德州市甲食品有限公司")
    subject(graph, OWNER, "滨州市乙投资有限公司", region="371602")
    subject(graph, person, "张三明", "NATURAL_PERSON")
    graph.write("MATCH (p {id: $id}) SET p.idMasked = '371402********1234'", {"id": person})
    relate(graph, person, COMPANY, "LEGAL_REPRESENTATIVE")
    relate(graph, OWNER, COMPANY, "SHAREHOLDER", ratio=0.6)
    relate(graph, person, OWNER, "ACTUAL_CONTROLLER")
    record(graph, COMPANY, "Penalty", "德市监罚〔2026〕9号", severity="一般", domain="food_drug",
           date=AS_OF, publicityUntil=dt.date(2030, 1, 1))
    record(graph, person, "Listing", "L-9", listType="失信被执行人", date=AS_OF, listedOn=AS_OF)
    token = KeyStore(graph).create("fuzzer", Role.ADMIN)
    return create_app(services), token


QUERIES = sorted(strawberry.Schema(query=Query)._schema.query_type.fields)


@pytest.mark.parametrize("field", QUERIES)
def test_no_server_error_and_no_raw_id(fuzz_app: tuple[Starlette, str], field: str) -> None:
    app, token = fuzz_app
    headers = {"Authorization": f"Bearer {token}"}
    operation = schemathesis.graphql.from_asgi("/graphql", app, headers=headers)["Query"][field]

    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    def answers_safely(case: schemathesis.Case) -> None:
        response = case.call(headers=headers)
        assert response.status_code < 500, response.text[:500]
        body = response.json()
        assert isinstance(body, dict)
        codes = {e.get("extensions", {}).get("code") for e in body.get("errors") or []}
        assert codes <= CODES, (case.body, body)
        assert not raw_id_numbers(response.text), response.text[:500]

    answers_safely()
