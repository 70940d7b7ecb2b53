"""HTTP hygiene of the served app found by a held-out security review: a client that goes
away before its body arrives is no server error, a flood of made-up keys does not grow the
process, GraphQL answers (names, masked ID numbers) are not cached, and the explorer, which
keeps the key typed into it, cannot be framed by another site."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from starlette.testclient import TestClient

from credgraph.api.app import create_app
from credgraph.api.auth import KeyStore, Role
from credgraph.graph.driver import Graph
from credgraph.services import Services
from tests.conftest import Api
from tests.graphs import subject
from tests.ids import make_uscc

COMPANY = make_uscc(region="371402", org="MA3C00077")


def test_a_client_gone_before_its_body_is_no_server_error(services: Services) -> None:
    """The client sent its headers and part of the body, then hung up: nothing to answer,
    no traceback (uvicorn logged `Exception in ASGI application` with ClientDisconnect at
    ERROR, and /metrics counted an HTTP 500, for each)."""
    token = KeyStore(services.graph).create("gone", Role.ADMIN)
    app = create_app(services)
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/graphql", "raw_path": b"/graphql", "query_string": b"",
        "root_path": "", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000),
        "headers": [(b"host", b"x"), (b"content-type", b"application/json"),
                    (b"authorization", f"Bearer {token}".encode()),
                    (b"content-length", b"40")]}
    messages = [{"type": "http.request", "body": b'{"query": "{ __ty', "more_body": True},
                {"type": "http.disconnect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def call() -> None:
        await app(scope, receive, send)

    asyncio.run(call())  # raised ClientDisconnect
    assert sent == []
    with TestClient(app) as client:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).text
    assert 'credgraph_http_requests_total{path="/graphql",status="499"} 1.0' in text
    assert 'status="500"' not in text


def test_made_up_keys_are_not_remembered_for_ever(graph: Graph) -> None:
    """Every token sent was remembered, unknown ones too: a stream of made-up keys grew the
    process without end. The store keeps at most MAX_REMEMBERED lookups; a real key still
    answers once the flood has passed."""
    store = KeyStore(graph)
    store.MAX_REMEMBERED = 50
    token = store.create("real", Role.MONITOR)
    assert store.lookup(token) is not None
    for _ in range(400):
        assert store.lookup("cg_" + secrets.token_urlsafe(32)) is None
        assert len(store._cache) <= 50
    who = store.lookup(token)
    assert who is not None and who.role is Role.MONITOR


def test_answers_are_not_cached_and_the_explorer_is_not_framed(graph: Graph, api: Api) -> None:
    subject(graph, COMPANY, "德州市甲食品有限公司")
    query = f'{{ subject(id: "{COMPANY}") {{ name }} }}'
    posted = api.client.post("/graphql", json={"query": query}, headers=api.headers())
    got = api.client.get("/graphql", params={"query": query}, headers=api.headers())
    graphql = api.client.post("/graphql", json={"query": query}, headers={
        **api.headers(), "Accept": "application/graphql-response+json"})
    for response in (posted, got, graphql):
        assert response.json()["data"]["subject"]["name"] == "德州市甲食品有限公司"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
    explorer = api.client.get("/graphql", headers={"Accept": "text/html"})
    assert explorer.status_code == 200 and "GraphiQL" in explorer.text
    assert explorer.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in explorer.headers["content-security-policy"]
